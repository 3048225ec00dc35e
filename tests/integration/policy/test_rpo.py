"""Achieved RPO from CP events (through the bus, too), the gauge, one breach alert per episode."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from lifeboat_policy.entrypoints.background import refresh_gauge
from lifeboat_policy.service_layer.scheduler import emit_breaches
from lifeboat_shared.contracts.envelope import encode_envelope
from lifeboat_shared.contracts.messages import RpoBreached
from tests.integration.policy.conftest import Policy, at, make_group, seed
from tests.integration.policy.test_ticks import cp, status


async def test_breach_alert_once_per_episode(policy: Policy) -> None:
    ids = await seed(policy)
    g = await make_group(policy, ids["policy_id"], "erp")
    quiet = await make_group(policy, ids["policy_id"], "quiet")
    await policy.client.post(f"/v1/protection-groups/{quiet['id']}/suspend")
    created = at(g["created_at"])
    assert await emit_breaches(policy.runtime, created + timedelta(seconds=59)) == []
    over = created + timedelta(seconds=61)
    assert await emit_breaches(policy.runtime, over) == [g["id"]]  # the suspended one is quiet
    for later in (1, 30, 300):
        assert await emit_breaches(policy.runtime, over + timedelta(seconds=later)) == []
    (alert,) = await policy.events(RpoBreached)
    assert alert.rpo_seconds == 60 and alert.newest_cp_at is None
    assert 60 < alert.achieved_rpo_seconds < 62
    assert (await status(policy, g["id"]))["breached"] is True
    # A fresh CP ends the episode; a later staleness opens a second one (a new event id).
    taken = datetime.now(UTC)
    await policy.deliver(cp(g["id"], taken, 1))
    assert (await status(policy, g["id"]))["breached"] is False
    assert await emit_breaches(policy.runtime, taken + timedelta(seconds=30)) == []
    assert await emit_breaches(policy.runtime, taken + timedelta(seconds=90)) == [g["id"]]
    ids_ = [e.id for e in await policy.envelopes() if isinstance(e.message, RpoBreached)]
    assert ids_ == [f"rpo-breach-{g['id']}-1", f"rpo-breach-{g['id']}-2"]
    second = (await policy.events(RpoBreached))[1]
    assert second.newest_cp_at == taken


async def test_cp_event_over_the_bus_sets_achieved_rpo_and_gauge(policy: Policy) -> None:
    ids = await seed(policy)
    g = await make_group(policy, ids["policy_id"], "crm")
    taken = datetime.now(UTC) - timedelta(seconds=20)
    event = policy.runtime.envelope(cp(g["id"], taken, 3))
    await policy.runtime.bus.publish([encode_envelope(event)])
    deadline = time.monotonic() + 20
    st = await status(policy, g["id"])
    while st["newest_cp_id"] is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        st = await status(policy, g["id"])
    assert st["newest_cp_id"] == event.message.consistency_point_id  # type: ignore[attr-defined]
    assert 20 <= float(str(st["achieved_rpo_seconds"])) < 40
    await refresh_gauge(policy.runtime)
    text = (await policy.client.get("/metrics")).text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("lifeboat_policy_achieved_rpo_seconds{") and g["id"] in x
    )
    assert 20 <= float(line.rsplit(" ", 1)[1]) < 40
    assert (
        f'lifeboat_policy_target_rpo_seconds{{group_id="{g["id"]}",project_id="p1"}} 60.0' in text
    )
