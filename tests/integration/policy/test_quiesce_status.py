"""UC2c: a group's status shows the VMs its last cycle could not quiesce, and why; a newer CP whose
cycle quiesced every VM clears them. The events are the replicator's, delivered to the consumer's
handlers in its inbox transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lifeboat_shared.contracts.messages import QuiesceFailed, QuiesceFailure
from tests.integration.policy.conftest import Policy, make_group, seed
from tests.integration.policy.test_ticks import cp, status


async def test_group_status_names_every_vm_the_last_cycle_could_not_quiesce(
    policy: Policy,
) -> None:
    ids = await seed(policy)
    group = await make_group(policy, ids["policy_id"], "web", servers=["s1", "s2", "s3"])
    assert (await status(policy, group["id"]))["last_quiesce_failures"] is None
    taken = datetime.now(UTC) - timedelta(seconds=5)
    failures = [
        QuiesceFailure(server_id="s1", reason="quiesce refused: guest agent not responding"),
        QuiesceFailure(server_id="s3", reason="quiesce refused: fsfreeze timed out"),
    ]
    await policy.deliver(
        QuiesceFailed(
            group_id=group["id"],
            project_id="p1",
            cycle_id="cycle-1",
            failed_servers=["s1", "s3"],
            rule="crash-consistent",
            outcome="fell-back-to-crash-consistent",
            reason="quiesce failed on 2 of 3 servers",
            at=taken,
            failures=failures,
        )
    )
    crash = cp(group["id"], taken, 2).model_copy(update={"quiesce_failures": failures})
    await policy.deliver(crash)  # the same cycle's CP: the failures stay
    shown = (await status(policy, group["id"]))["last_quiesce_failures"]
    assert isinstance(shown, dict)
    assert shown["cycle_id"] == "cycle-1"
    assert shown["outcome"] == "fell-back-to-crash-consistent"
    assert shown["failures"] == [f.model_dump() for f in failures]
    # the next cycle quiesced every VM: its CP clears them
    await policy.deliver(cp(group["id"], taken + timedelta(seconds=60), 2))
    assert (await status(policy, group["id"]))["last_quiesce_failures"] is None
