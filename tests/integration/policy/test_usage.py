"""Protected VM-hours and GB-hours per group and window, through the outbox (issue #16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from lifeboat_policy.service_layer.usage import emit_usage
from lifeboat_shared.contracts.messages import ConsistencyPointCreated, CpMember, UsageRecorded
from tests.integration.policy.conftest import Policy, make_group, seed

W = 60


def h(seconds: float) -> Decimal:
    return (Decimal(seconds) / 3600).quantize(Decimal("0.000001"))


async def test_protected_hours_per_window_once_with_suspend(policy: Policy) -> None:
    ids = await seed(policy)
    g = await make_group(policy, ids["policy_id"], "web", servers=["s1", "s2"])
    member = CpMember(
        source_volume_id="vol-web",
        server_id=None,
        device=None,
        size_gib=2,
        source_snapshot_id="x",
        bytes_changed=0,
        bytes_sent=0,
        replica_volume_id="r",
        replica_snapshot_id="rs",
    )
    now = datetime.now(UTC)
    await policy.deliver(
        ConsistencyPointCreated(
            group_id=g["id"],
            consistency_point_id="cp-1",
            project_id="p1",
            source_site="a",
            target_site="b",
            consistency="crash",
            taken_at=now,
            created_at=now,
            members=[member],
            bytes_sent=0,
        )
    )
    base = datetime.fromtimestamp((int(now.timestamp()) // W + 1) * W, UTC)
    runtime = policy.runtime
    await emit_usage(runtime, W, base)  # the meter starts at a window boundary
    await emit_usage(runtime, W, base + timedelta(seconds=20))
    r = await policy.client.post(f"/v1/protection-groups/{g['id']}/suspend")
    assert r.status_code == 200
    await emit_usage(runtime, W, base + timedelta(seconds=30))  # sees the suspension
    await emit_usage(runtime, W, base + timedelta(seconds=61))
    await emit_usage(runtime, W, base + timedelta(seconds=61))  # a second replica: nothing new
    usage = [u for u in await policy.events(UsageRecorded) if u.group_id == g["id"]]
    stamp = int(base.timestamp())
    assert sorted(u.usage_id for u in usage) == [
        f"protected_gb_hours-{g['id']}-{stamp}",
        f"protected_vm_hours-{g['id']}-{stamp}",
    ]
    by = {u.metric: u for u in usage}
    assert (
        by["protected_vm_hours"].quantity == h(2 * 30) and by["protected_vm_hours"].unit == "VM*h"
    )
    gb = 2 * 1024**3 / 1e9
    assert by["protected_gb_hours"].quantity == h(gb * 30)
    assert by["protected_gb_hours"].unit == "GB*h"
    assert by["protected_vm_hours"].period_start == base
    assert by["protected_vm_hours"].period_end == base + timedelta(seconds=W)
    assert by["protected_vm_hours"].resource_id == g["id"]
    # suspended for the whole next window: nothing; resumed: counted again from the pass
    await emit_usage(runtime, W, base + timedelta(seconds=125))
    r = await policy.client.post(f"/v1/protection-groups/{g['id']}/resume")
    assert r.status_code == 200
    await emit_usage(runtime, W, base + timedelta(seconds=130))
    await emit_usage(runtime, W, base + timedelta(seconds=181))
    usage = [u for u in await policy.events(UsageRecorded) if u.group_id == g["id"]]
    later = [u for u in usage if u.period_start > base]
    assert {(u.metric, u.period_start - base) for u in later} == {
        ("protected_vm_hours", timedelta(seconds=120)),
        ("protected_gb_hours", timedelta(seconds=120)),
    }
    vm = next(u for u in later if u.metric == "protected_vm_hours")
    assert vm.quantity == h(2 * 50)
