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


async def test_a_stateless_only_group_is_never_ticked_nor_breached(
    policy_settings: dict[str, Any],
) -> None:
    """UC8: a group of stateless templates only has nothing to replicate: accepted, never ticked,
    never in breach, its status says so; a mixed group beside it ticks and breaches as usual."""
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
            template = {"name": "web", "image": "cirros", "flavor": "m1.tiny"}

            def body(group: str, members: dict[str, Any]) -> dict[str, Any]:
                return {
                    "name": group,
                    "project_id": "p1",
                    "source_site": "a",
                    "target_site": "b",
                    "policy_id": ids["policy_id"],
                    "members": members,
                }

            web = await p.post("/v1/protection-groups", body("web", {"stateless": [template]}))
            assert web["replication"] == "none (stateless)"
            # Suspend and resume make a tick due at once for a group that replicates: not here.
            await p.post(f"/v1/protection-groups/{web['id']}/suspend", {})
            await p.post(f"/v1/protection-groups/{web['id']}/resume", {})
            refused = await c.post(f"/v1/protection-groups/{web['id']}/replicate-now")
            assert refused.status_code == 409, refused.text
            assert refused.json()["detail"].startswith("group_id:")
            assert "stateless" in refused.json()["detail"]
            # Created after the stateless group: by the time it has ticked 3 times and breached
            # its 1-s RPO, the stateless one would have been due at least as often.
            mixed = await p.post(
                "/v1/protection-groups",
                body(
                    "shop",
                    {"servers": ["srv-db"], "volumes": ["vol-db"], "stateless": [template]},
                ),
            )
            assert mixed["replication"] == "consistency-points"
            deadline = time.monotonic() + 20
            ticks: list[RpoTickElapsed] = []
            alerts: list[RpoBreached] = []
            while len([t for t in ticks if t.group_id == mixed["id"]]) < 3 or not alerts:
                assert time.monotonic() < deadline, (ticks, alerts)
                await asyncio.sleep(0.1)
                ticks = await p.events(RpoTickElapsed)
                alerts = await p.events(RpoBreached)
            assert {t.group_id for t in ticks} == {mixed["id"]}, "the stateless group ticked"
            assert {a.group_id for a in alerts} == {mixed["id"]}, "the stateless group breached"
            mixed_tick = next(t for t in ticks if t.group_id == mixed["id"])
            assert mixed_tick.spec.servers == ["srv-db"] and mixed_tick.spec.volumes == ["vol-db"]
            status = (await c.get(f"/v1/protection-groups/{web['id']}/status")).json()
            assert status["replication"] == "none (stateless)"
            assert status["next_due_at"] is None and status["last_tick_seq"] == 0
            assert status["breached"] is False and status["achieved_rpo_seconds"] is None
            shop = (await c.get(f"/v1/protection-groups/{mixed['id']}/status")).json()
            assert shop["replication"] == "consistency-points" and shop["breached"] is True
            assert shop["last_tick_seq"] >= 3 and shop["next_due_at"] is not None
            metrics = (await c.get("/metrics")).text
            assert f'lifeboat_policy_target_rpo_seconds{{group_id="{mixed["id"]}"' in metrics
            assert f'group_id="{web["id"]}"' not in metrics


async def test_ticks_go_out_when_due_not_at_the_next_pass_interval(
    policy_settings: dict[str, Any],
) -> None:
    """The scheduler sleeps until the soonest unit is due, not a whole pass interval, and hears
    of a group created meanwhile: with a 10-s interval and no CP coming back, a 1-s RPO group's
    first tick and its repeats each go out within 2 s of their due time (fixed 10-s passes sent
    them up to 10 s late)."""
    settings = {
        **policy_settings,
        "scheduler_enabled": True,
        "scheduler_interval_seconds": 10.0,
        "breach_check_interval_seconds": 60.0,
    }
    name = f"policy_{uuid.uuid4().hex[:10]}"
    app = start_policy(settings, name)
    async with LifespanManager(app, startup_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://p", headers=AUTH) as c:
            p = Policy(app, c, settings, name)
            ids = await seed(p, rpo_seconds=1)
            group = await make_group(p, ids["policy_id"], "punctual")
            deadline = time.monotonic() + 30
            ticks: list[tuple[RpoTickElapsed, float]] = []
            while len(ticks) < 3:
                assert time.monotonic() < deadline, f"only {len(ticks)} ticks in 30 s"
                await asyncio.sleep(0.1)
                ticks = [
                    (e.message, (e.time - e.message.due_at).total_seconds())
                    for e in await p.envelopes()
                    if isinstance(e.message, RpoTickElapsed)
                ]
            assert all(t.group_id == group["id"] for t, _ in ticks)
            assert [t.tick_seq for t, _ in ticks][:3] == [1, 2, 3]
            late = [lateness for _, lateness in ticks[:3]]
            assert all(lateness < 2.0 for lateness in late), late
