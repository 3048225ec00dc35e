"""A group replicating to more than one DR site (UC3a x UC9): one replication leg per extra
target, ticked on the group's policy under the id ``<group>:<site>``, paused and resumed with
the group and with its own site link, gone with the group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lifeboat_policy.service_layer.handlers import HANDLERS
from lifeboat_policy.service_layer.scheduler import emit_due_ticks
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.contracts.messages import (
    ExecutionCompleted,
    ReplicationResumed,
    ReplicationSuspended,
    RpoTickElapsed,
)
from tests.integration.policy.conftest import Policy, seed
from tests.integration.policy.test_ticks import cp

LATER = timedelta(days=1)


async def test_a_group_with_an_extra_target_ticks_one_leg_per_site(policy: Policy) -> None:
    ids = await seed(policy)
    body = {
        "name": "db",
        "project_id": "p1",
        "source_site": "a",
        "target_site": "b",
        "extra_target_sites": ["c"],
        "policy_id": ids["policy_id"],
        "members": {"servers": ["s1"], "volumes": ["v1"]},
    }
    c = policy.client
    long = "recovery-site-with-a-long-name"  # 30 > 27: "<uuid>:<site>" would pass 64
    await policy.post("/v1/sites", {"site_id": long, "cloud": "x", "role": "recovery"})
    for wrong, reason in (
        ([long], "longer than 27 characters"),
        (["b"], "lists target_site or a site twice"),
        (["c", "c"], "lists target_site or a site twice"),
        (["nowhere"], "no registered site 'nowhere'"),
        (["a"], "must differ from source_site"),
    ):
        r = await c.post("/v1/protection-groups", json={**body, "extra_target_sites": wrong})
        assert r.status_code == 422 and "extra_target_sites" in r.text and reason in r.text, r.text
    group = await policy.post("/v1/protection-groups", body)
    g, leg = group["id"], f"{group['id']}:c"
    assert group["extra_target_sites"] == ["c"]

    far = datetime.now(UTC) + LATER
    assert sorted(t.unit_id for t in await emit_due_ticks(policy.runtime, far)) == sorted([g, leg])
    ticks = {t.group_id: t for t in await policy.events(RpoTickElapsed)}
    assert {k: t.spec.target.site_id for k, t in ticks.items()} == {g: "b", leg: "c"}
    assert ticks[leg].spec.servers == ["s1"] and ticks[leg].spec.volumes == ["v1"]
    assert ticks[leg].rpo_seconds == 60 and ticks[leg].tick_seq == 1

    # The leg's CP moves the leg's schedule only; the group's status is its primary leg's.
    taken = datetime.now(UTC)
    await policy.deliver(cp(leg, taken, 1).model_copy(update={"target_site": "c"}))
    st = (await c.get(f"/v1/protection-groups/{g}/status")).json()
    assert st["newest_cp_taken_at"] is None
    # (both last ticked at `far`: due again one RPO after it, the leg one RPO after its CP)
    soon = taken + timedelta(seconds=70)
    assert [t.unit_id for t in await emit_due_ticks(policy.runtime, soon)] == [leg]

    # Suspending the group pauses every leg; resuming ticks them all at once.
    assert (await c.post(f"/v1/protection-groups/{g}/suspend")).status_code == 200
    assert await emit_due_ticks(policy.runtime, far + LATER) == []
    told = {(e.group_id, e.target_site) for e in await policy.events(ReplicationSuspended)}
    assert told == {(g, "b"), (leg, "c")}, "the replicator hears of each leg it replicates"
    assert (await c.post(f"/v1/protection-groups/{g}/resume")).status_code == 200
    assert {e.group_id for e in await policy.events(ReplicationResumed)} == {g, leg}
    now = datetime.now(UTC)
    assert sorted(t.unit_id for t in await emit_due_ticks(policy.runtime, now)) == sorted([g, leg])

    # The a -> c link down pauses the leg only; back up, the leg ticks at once.
    assert (await c.post("/v1/site-links/a/c/suspend")).status_code == 200
    link = [e for e in await policy.events(ReplicationSuspended) if e.scope == "site-link"]
    assert [(e.group_id, e.target_site) for e in link] == [(leg, "c")]
    ticked = [t.unit_id for t in await emit_due_ticks(policy.runtime, far + 2 * LATER)]
    assert ticked == [g]
    assert (await c.post("/v1/site-links/a/c/resume")).status_code == 200
    assert [t.unit_id for t in await emit_due_ticks(policy.runtime, datetime.now(UTC))] == [leg]

    # A failover to site-c (from the leg's CP) suspends the group and its legs.
    done = ExecutionCompleted(
        execution_id="e1",
        plan_id="p",
        execution_kind="failover",
        source_site="a",
        target_site="c",
        outcome="succeeded",
        groups=[g],
        recovery_point=taken,
        completed_at=datetime.now(UTC),
    )
    async with policy.runtime.db.transaction() as session:
        ctx = HandlerContext(session=session, envelope=policy.runtime.envelope(done), source="/t")
        await HANDLERS[ExecutionCompleted](done, ctx)
    failover = [e.message for e in ctx.staged if isinstance(e.message, ReplicationSuspended)]
    assert all(e.scope == "failover" for e in failover)
    assert {e.group_id for e in failover} == {g, leg}
    assert await emit_due_ticks(policy.runtime, far + 4 * LATER) == []
    # suspended by the failover: failback resumes it; an operator only with force
    assert (await c.post(f"/v1/protection-groups/{g}/resume")).status_code == 409
    r = await c.post(f"/v1/protection-groups/{g}/resume", json={"force": True})
    assert r.status_code == 200, r.text

    # Not in an application set (one link per set); deleted with the group.
    r = await c.post("/v1/app-sets", json={"name": "s", "project_id": "p1", "group_ids": [g]})
    assert r.status_code == 409 and "extra target sites" in r.text, r.text
    assert (await c.delete(f"/v1/protection-groups/{g}")).status_code == 204
    assert await emit_due_ticks(policy.runtime, far + 5 * LATER) == []
