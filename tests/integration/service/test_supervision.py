"""A service's background loop that crashes (an error its own handling let through) is run again
with backoff, not lost until the process restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lifeboat_shared.persistence.tables import messaging_metadata
from lifeboat_shared.service import ServiceRuntime, ServiceSpec
from lifeboat_shared.settings import ServiceSettings


async def test_a_crashed_background_loop_is_restarted_until_the_service_stops(
    tmp_path: Path,
) -> None:
    runs = 0
    healthy = asyncio.Event()

    async def flaky_loop(_runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise ConnectionError(f"peer unreachable (run {runs})")
        healthy.set()
        await stop.wait()

    settings = ServiceSettings(data_dir=tmp_path, auto_migrate=False)
    spec = ServiceSpec(name="probe", settings=settings, migrations="", background=[flaky_loop])
    runtime = ServiceRuntime(spec)
    async with runtime.db.engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
    await runtime.start()
    try:
        await asyncio.wait_for(healthy.wait(), timeout=30)
        assert runtime.restarts == {"flaky_loop": 2}
        assert (await runtime.readiness()) == {"database": "ok", "bus": "ok"}
    finally:
        await runtime.stop()
    assert runs == 3
    assert all(t.done() and not t.cancelled() for t in runtime.background_tasks())
