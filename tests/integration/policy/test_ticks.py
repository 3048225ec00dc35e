"""RPO ticks: on time, carrying the spec, moved by consistency points; sets tick as one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from lifeboat_policy.domain import schedule
from lifeboat_policy.domain.schedule import jitter_fraction
from lifeboat_policy.service_layer.scheduler import emit_due_ticks
from lifeboat_shared.contracts.messages import (
    ConsistencyPointCreated,
    ConsistencyPointFailed,
    CpMember,
    RpoTickElapsed,
)
from tests.integration.policy.conftest import Policy, at, make_group, seed


def cp(
    group_id: str, taken_at: datetime, seconds: float, members: Sequence[str] = ()
) -> ConsistencyPointCreated:
    return ConsistencyPointCreated(
        group_id=group_id,
        consistency_point_id=f"cp-{group_id}-{taken_at.timestamp()}",
        project_id="p1",
        member_groups=list(members),
        source_site="a",
        target_site="b",
        consistency="crash",
        taken_at=taken_at,
        created_at=taken_at + timedelta(seconds=seconds),
        members=[
            CpMember(
                source_volume_id="v",
                size_gib=1,
                source_snapshot_id="s",
                replica_volume_id="rv",
                replica_snapshot_id="rs",
                bytes_changed=0,
                bytes_sent=0,
            )
        ],
        bytes_sent=0,
    )


async def status(p: Policy, group_id: str) -> dict[str, object]:
    response = await p.client.get(f"/v1/protection-groups/{group_id}/status")
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


async def test_first_tick_carries_the_spec_then_cps_move_the_schedule(policy: Policy) -> None:
    ids = await seed(policy, bandwidth_bytes_per_s=1000, bind_address="192.0.2.7")
    group = await make_group(policy, ids["policy_id"], "db", servers=["s1", "s2"])
    created = at(group["created_at"])
    first_due = at(str((await status(policy, group["id"]))["next_due_at"]))
    # Jitter spreads first ticks over min(RPO/2, 5 min): deterministic per group.
    expected = created + timedelta(seconds=30) * jitter_fraction(group["id"])
    assert abs((first_due - expected).total_seconds()) < 0.01
    assert await emit_due_ticks(policy.runtime, first_due - timedelta(milliseconds=5)) == []
    emitted = await emit_due_ticks(policy.runtime, first_due)
    assert [(t.unit_id, t.seq) for t in emitted] == [(group["id"], 1)]
    assert await emit_due_ticks(policy.runtime, first_due) == []  # never twice
    (tick,) = await policy.events(RpoTickElapsed)
    assert tick.trigger == "rpo" and tick.rpo_seconds == 60 and tick.due_at == first_due
    spec = tick.spec
    assert (spec.source.site_id, spec.source.cloud, spec.target.site_id) == ("a", "cloud-a", "b")
    assert spec.target.data_endpoint == "127.0.0.1:9001"
    assert spec.servers == ["s1", "s2"] and spec.volumes == ["vol-db"]
    assert spec.bandwidth_bytes_per_s == 1000 and str(spec.bind_address) == "192.0.2.7"
    envelope = next(e for e in await policy.envelopes() if isinstance(e.message, RpoTickElapsed))
    assert envelope.id == f"rpo-tick-{group['id']}-1"

    # No CP: the tick is repeated one RPO later (the replicator drops it if a cycle runs).
    retry = at(str((await status(policy, group["id"]))["next_due_at"]))
    assert retry == first_due + timedelta(seconds=60)

    # A CP that took 10 s: next due one RPO after its recovery point, minus the 10 s.
    taken = datetime.now(UTC) - timedelta(seconds=5)
    await policy.deliver(cp(group["id"], taken, 10))
    st = await status(policy, group["id"])
    lead = schedule.clamp_lead(10, timedelta(seconds=60))  # the CP's 10 s, with a margin
    assert at(str(st["next_due_at"])) == taken + timedelta(seconds=60) - lead
    assert st["newest_cp_taken_at"] is not None and 4 < float(str(st["achieved_rpo_seconds"])) < 60
    # An older CP arriving late changes nothing.
    await policy.deliver(cp(group["id"], taken - timedelta(seconds=30), 1))
    assert at(str((await status(policy, group["id"]))["newest_cp_taken_at"])) == taken
    # A failed cycle is retried after a quarter of the RPO.
    await policy.deliver(
        ConsistencyPointFailed(
            group_id=group["id"], stage="transfer", reason="link down", failed_at=taken
        )
    )
    st = await status(policy, group["id"])
    assert st["last_failure"] == {
        "stage": "transfer",
        "reason": "link down",
        "at": st["last_failure"]["at"],  # type: ignore[index]
    }
    assert at(str(st["next_due_at"])) <= datetime.now(UTC) + timedelta(seconds=15)


async def test_an_app_set_ticks_once_for_all_its_groups(policy: Policy) -> None:
    ids = await seed(policy)
    fast = await policy.post("/v1/policies", {"name": "fast", "rpo_seconds": 20})
    g1 = await make_group(policy, ids["policy_id"], "web", servers=["w1", "w2"])
    g2 = await make_group(policy, fast["id"], "db", servers=["d1"])
    lone = await make_group(policy, ids["policy_id"], "lone")
    app_set = await policy.post(
        "/v1/app-sets", {"name": "shop", "project_id": "p1", "group_ids": [g1["id"], g2["id"]]}
    )
    later = datetime.now(UTC) + timedelta(hours=1)
    emitted = await emit_due_ticks(policy.runtime, later)
    assert sorted(t.unit_id for t in emitted) == sorted([app_set["id"], lone["id"]])
    ticks = {t.group_id: t for t in await policy.events(RpoTickElapsed)}
    set_tick = ticks[app_set["id"]]
    assert sorted(set_tick.spec.member_groups) == sorted([g1["id"], g2["id"]])
    assert set_tick.spec.servers == ["d1", "w1", "w2"]
    assert set_tick.rpo_seconds == 20  # the strictest policy
    for g in (g1, g2):
        st = await status(policy, g["id"])
        assert st["ticks_as"] == app_set["id"] and st["next_due_at"] is not None
    # The set's CP is every member's newest CP.
    taken = datetime.now(UTC)
    await policy.deliver(cp(app_set["id"], taken, 2, [g1["id"], g2["id"]]))
    for g in (g1, g2):
        assert at(str((await status(policy, g["id"]))["newest_cp_taken_at"])) == taken
    # Deleting the set: the groups tick alone again, from their newest CP.
    assert (await policy.client.delete(f"/v1/app-sets/{app_set['id']}")).status_code == 204
    st = await status(policy, g2["id"])
    assert st["ticks_as"] == g2["id"]
    due = at(str(st["next_due_at"]))
    assert (
        taken + timedelta(seconds=10)
        <= due
        <= taken + timedelta(seconds=20) - schedule.clamp_lead(2, timedelta(seconds=20))
    )


async def test_cron_policy_ticks_at_the_cron_times(policy: Policy) -> None:
    ids = await seed(policy, rpo_seconds=None, cron="0 2 * * 0")  # weekly, Sunday 02:00 UTC
    group = await make_group(policy, ids["policy_id"], "cluster")
    due = at(str((await status(policy, group["id"]))["next_due_at"]))
    assert due.weekday() == 6 and due.hour == 2 and due.minute == 0  # + jitter < 60 s
    assert due > datetime.now(UTC)
    (tick,) = [t for t in await emit_due_ticks(policy.runtime, due)]
    (event,) = await policy.events(RpoTickElapsed)
    assert event.trigger == "schedule" and event.rpo_seconds == 7 * 24 * 3600
    # A CP arrives: the next tick is the next Sunday's fire time.
    await policy.deliver(cp(group["id"], tick.emitted_at, 600))
    following = at(str((await status(policy, group["id"]))["next_due_at"]))
    assert following.weekday() == 6 and following.hour == 2
