"""Restarts and concurrent schedulers: no missed and no doubled ticks."""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime, timedelta

import httpx
from asgi_lifespan import LifespanManager

from lifeboat_policy.service_layer.scheduler import emit_due_ticks
from lifeboat_shared.contracts.messages import RpoTickElapsed
from tests.integration.policy.conftest import AUTH, Policy, make_group, seed, start_policy


async def test_restart_keeps_the_schedule(policy: Policy) -> None:
    ids = await seed(policy)
    groups = [await make_group(policy, ids["policy_id"], f"g{i}") for i in range(20)]
    t0 = datetime.now(UTC)
    ticks = list(await emit_due_ticks(policy.runtime, t0 + timedelta(seconds=31)))
    assert len(ticks) == 20  # every first tick falls within RPO/2 = 30 s

    # A second instance on the same database (a restart, or a replica) continues the sequence.
    app = start_policy(policy.settings, policy.name)
    async with LifespanManager(app, startup_timeout=60):
        runtime = app.state.runtime
        assert await emit_due_ticks(runtime, t0 + timedelta(seconds=31)) == []
        # Two schedulers at once (the restarted one and the old one) over five RPO intervals.
        for step in range(1, 6):
            now = t0 + timedelta(seconds=31 + 60 * step)
            a, b = await asyncio.gather(
                emit_due_ticks(policy.runtime, now), emit_due_ticks(runtime, now)
            )
            ticks += [*a, *b]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://p", headers=AUTH
        ) as c:
            assert len((await c.get("/v1/protection-groups")).json()) == 20
        events = [*await policy.events(RpoTickElapsed)]
    per_group = collections.defaultdict(list)
    for tick in ticks:
        per_group[tick.unit_id].append(tick.seq)
    assert sorted(per_group) == sorted(g["id"] for g in groups)
    for seqs in per_group.values():
        assert sorted(seqs) == [1, 2, 3, 4, 5, 6]  # none missed, none twice
    assert len(events) == 20 * 6
