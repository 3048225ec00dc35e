"""The scheduler task as the service runs it (real clock): ticks, breach check, gauge."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from lifeboat_shared.contracts.messages import RpoBreached, RpoTickElapsed
from tests.integration.policy.conftest import AUTH, Policy, make_group, seed, start_policy


async def test_the_running_service_ticks_and_alerts_on_its_own(
    policy_settings: dict[str, Any],
) -> None:
    settings = {
        **policy_settings,
        "scheduler_enabled": True,
        "scheduler_interval_seconds": 0.1,
        "breach_check_interval_seconds": 0.2,
    }
    name = f"policy_{uuid.uuid4().hex[:10]}"
    app = start_policy(settings, name)
    async with LifespanManager(app, startup_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://p", headers=AUTH) as c:
            p = Policy(app, c, settings, name)
            ids = await seed(p, rpo_seconds=1)
            group = await make_group(p, ids["policy_id"], "live")
            deadline = time.monotonic() + 20
            ticks: list[RpoTickElapsed] = []
            alerts: list[RpoBreached] = []
            while (len(ticks) < 3 or not alerts) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                ticks = await p.events(RpoTickElapsed)
                alerts = await p.events(RpoBreached)
            # No CP comes back (no replicator here): the tick repeats every RPO, and the
            # group breaches its 1-s target once, not on every check.
            assert [t.tick_seq for t in ticks][:3] == [1, 2, 3]
            assert all(t.group_id == group["id"] for t in ticks)
            # "Once": judged after a later breach check has certainly run, not after a while. A
            # group made now breaches only once it is older than its 1-s RPO, so the check that
            # alerts it comes several checks after the first alert, each of which saw the first
            # group still in breach.
            later = await make_group(p, ids["policy_id"], "later")
            deadline = time.monotonic() + 20
            while not any(a.group_id == later["id"] for a in alerts):
                assert time.monotonic() < deadline, "the later group never breached"
                await asyncio.sleep(0.1)
                alerts = await p.events(RpoBreached)
            assert [a.group_id for a in alerts].count(group["id"]) == 1, alerts
            metrics = (await c.get("/metrics")).text
            assert f'lifeboat_policy_target_rpo_seconds{{group_id="{group["id"]}"' in metrics
            assert "lifeboat_policy_ticks_emitted_total" in metrics
