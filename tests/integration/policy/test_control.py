"""Replicate-now (idempotent) and suspend/resume of groups and site links (UC2e, UC4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lifeboat_policy.service_layer.scheduler import emit_due_ticks
from lifeboat_shared.contracts.messages import (
    ReplicateNow,
    ReplicationResumed,
    ReplicationSuspended,
    RpoTickElapsed,
)
from tests.integration.policy.conftest import Policy, make_group, seed

LATER = timedelta(days=1)


async def test_replicate_now_is_idempotent_per_key(policy: Policy) -> None:
    ids = await seed(policy, replicate_on={"detach": True})
    g = await make_group(policy, ids["policy_id"], "dev")
    other = await make_group(policy, ids["policy_id"], "dev2")
    c = policy.client
    url = f"/v1/protection-groups/{g['id']}/replicate-now"
    first = await c.post(url, headers={"Idempotency-Key": "req-1"})
    again = await c.post(url, headers={"Idempotency-Key": "req-1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    clash = await c.post(
        f"/v1/protection-groups/{other['id']}/replicate-now", headers={"Idempotency-Key": "req-1"}
    )
    assert clash.status_code == 409 and clash.json()["detail"].startswith("Idempotency-Key:")
    fresh = await c.post(url)
    assert fresh.status_code == 202 and fresh.json()["request_id"] != "req-1"
    detach = await c.post(url, json={"trigger": "detach"})
    assert detach.status_code == 202
    shutdown = await c.post(url, json={"trigger": "shutdown"})
    assert shutdown.status_code == 409 and shutdown.json()["detail"].startswith("trigger:")
    commands = await policy.events(ReplicateNow)
    assert [(x.request_id == "req-1", x.trigger) for x in commands] == [
        (True, "replicate-now"),
        (False, "replicate-now"),
        (False, "detach"),
    ]
    assert all(x.group_id == g["id"] and x.spec.volumes == ["vol-dev"] for x in commands)
    envelope_ids = [e.id for e in await policy.envelopes() if isinstance(e.message, ReplicateNow)]
    assert envelope_ids[0] == "replicate-now-req-1"
    missing = await c.post("/v1/protection-groups/nope/replicate-now")
    assert missing.status_code == 404


async def test_suspended_group_gets_no_ticks_and_resume_ticks_at_once(policy: Policy) -> None:
    ids = await seed(policy)
    g = await make_group(policy, ids["policy_id"], "core")
    peer = await make_group(policy, ids["policy_id"], "peer")
    c = policy.client
    r = await c.post(f"/v1/protection-groups/{g['id']}/suspend")
    assert r.status_code == 200 and r.json()["suspended"] is True
    assert (await c.post(f"/v1/protection-groups/{g['id']}/suspend")).status_code == 200
    st = (await c.get(f"/v1/protection-groups/{g['id']}/status")).json()
    assert st["suspended_by"] == "group" and st["next_due_at"] is None
    far = datetime.now(UTC) + LATER
    assert [t.unit_id for t in await emit_due_ticks(policy.runtime, far)] == [peer["id"]]
    blocked = await c.post(f"/v1/protection-groups/{g['id']}/replicate-now")
    assert blocked.status_code == 409
    (suspended,) = await policy.events(ReplicationSuspended)  # once, though asked twice
    assert (suspended.group_id, suspended.scope, suspended.target_site) == (g["id"], "group", "b")

    resumed = await c.post(f"/v1/protection-groups/{g['id']}/resume", json={"full_resync": True})
    assert resumed.status_code == 200 and resumed.json()["suspended"] is False
    (event,) = await policy.events(ReplicationResumed)
    assert event.full_resync is True and event.scope == "group"
    now = datetime.now(UTC)
    assert [t.unit_id for t in await emit_due_ticks(policy.runtime, now)] == [g["id"]]
    tick = next(t for t in await policy.events(RpoTickElapsed) if t.group_id == g["id"])
    assert tick.trigger == "resume" and tick.tick_seq == 1


async def test_site_link_suspend_stops_every_group_on_it(policy: Policy) -> None:
    ids = await seed(policy)
    on_link = [await make_group(policy, ids["policy_id"], f"g{i}") for i in range(3)]
    elsewhere = await make_group(policy, ids["policy_id"], "other", target="c")
    c = policy.client
    await c.post(f"/v1/protection-groups/{on_link[0]['id']}/suspend")
    r = await c.post("/v1/site-links/a/b/suspend")
    assert r.status_code == 200, r.text
    assert sorted(r.json()["groups_notified"]) == sorted(g["id"] for g in on_link[1:])
    far = datetime.now(UTC) + LATER
    assert [t.unit_id for t in await emit_due_ticks(policy.runtime, far)] == [elsewhere["id"]]
    late = await make_group(policy, ids["policy_id"], "late")  # created while the link is down
    st = (await c.get(f"/v1/protection-groups/{late['id']}/status")).json()
    assert st["suspended_by"] == "site-link" and st["next_due_at"] is None
    assert (await c.post("/v1/site-links/a/nowhere/suspend")).status_code == 404

    r = await c.post("/v1/site-links/a/b/resume")
    assert sorted(r.json()["groups_notified"]) == sorted(g["id"] for g in [*on_link[1:], late])
    now = datetime.now(UTC)
    ticked = sorted(t.unit_id for t in await emit_due_ticks(policy.runtime, now))
    # The group suspended on its own stays suspended; the others tick at once (the late one
    # has never ticked: it is due now too).
    assert ticked == sorted([on_link[1]["id"], on_link[2]["id"], late["id"]])
    scopes = {(e.group_id, e.scope) for e in await policy.events(ReplicationSuspended)}
    assert (on_link[1]["id"], "site-link") in scopes and (on_link[0]["id"], "group") in scopes
