"""A database outage longer than the retry budget must not dead-letter good events."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import sqlalchemy.exc

from lifeboat_shared.bus.consumer import ConsumerLoop
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.contracts.base import Message
from tests.integration.bus.harness import (
    BackendConfig,
    ProbeHandler,
    ProbeRecorded,
    handled_rows,
    prepare_service_db,
    probe,
    unique,
)


class FlakyDatabase(ProbeHandler):
    """Raises what SQLAlchemy raises when the database is unreachable, for ``outage`` seconds."""

    def __init__(self, outage: float) -> None:
        super().__init__()
        self.until = time.monotonic() + outage

    async def __call__(self, message: Message, ctx: HandlerContext) -> None:
        if time.monotonic() < self.until:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("down"))
        await super().__call__(message, ctx)


async def test_outage_is_retried_not_dead_lettered(tmp_path: Path) -> None:
    cfg = BackendConfig(
        kind="embedded",
        service_url=f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}",
        service_schema=None,
        bus_url=f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
    )
    db = cfg.make_db()
    await prepare_service_db(db)
    bus = cfg.make_bus()
    await bus.start()
    topic, dlq = unique("flaky"), unique("dlq")
    await bus.ensure_topics([topic, dlq])
    await bus.publish([probe(topic, "g1", i) for i in range(5)])
    loop = ConsumerLoop(
        bus=bus, db=db, group=unique("group"), topics=[topic],
        handlers={ProbeRecorded: FlakyDatabase(outage=1.5)}, source="/t",
        dead_letter_topic=dlq, max_attempts=3, backoff_base=0.05, backoff_max=0.2,
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    deadline = time.monotonic() + 20
    while len(await handled_rows(db)) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await task
    reader = bus.consumer(unique("reader"), [dlq])
    await reader.start()
    dead = await reader.poll(max_records=10, timeout=0.5)
    await reader.stop()
    await bus.stop()
    assert [r[2] for r in await handled_rows(db)] == [0, 1, 2, 3, 4]
    assert dead == [], "a transient outage dead-lettered good events"
    await db.dispose()
