"""The plan's protection lifecycle, owned in one place (UC4-UC6). Pure Python.

    protected --failover / planned-migration--> failed-over --reprotect--> reprotected
        ^                                                                       |
        +----------------------------- failback -------------------------------+
    protected --failover (degraded, both online)--> split-brain --reconcile--> protected
                                                                   (keep-dr: failed-over)

Every transition also moves the protection, so an application never ends a successful
operation unprotected without saying so: the commit step computes the ``ProtectionChange``s that
``ExecutionCompleted`` carries and the policy service applies (it owns groups and ticks):

- failover, planned migration: the groups protecting the copy that stopped are suspended
  (reason ``failover``); a degraded failover (split brain) suspends them too (``split-brain``).
- reprotect: each forward group gets a reverse group (``<group>.reverse``) protecting the
  recovered servers back to the old site, on the forward policy's RPO schedule; its first CP is
  the seeded reverse sync.
- failback: the reverse groups retire; the forward groups follow the servers failback re-created
  (old id -> new id), are seeded from the DR copy failback stopped (same data: only
  differences travel) and resume: their next CP is due at once.
- reconcile: keep-primary and keep-both resume the forward groups; keep-dr leaves the plan
  failed over at the DR site (reprotect next).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lifeboat_orchestrator.domain.plan import Placement, PlanState
from lifeboat_shared.contracts.messages import ProtectionChange

NEXT: dict[str, tuple[str, ...]] = {
    "protected": ("failover", "planned-migration", "test-failover"),
    "failed-over": ("reprotect",),
    "reprotected": ("failback", "failover", "test-failover"),
    "split-brain": ("reconcile",),
}
"""What an operator can run next in each state (test-cleanup aside: it follows a test)."""


def reverse_group_id(forward_group: str) -> str:
    """The reverse direction's group after reprotect: derived, so a re-run finds the same."""
    return f"{forward_group[:119]}.reverse"


def suspend(groups: Sequence[str], reason: str) -> list[ProtectionChange]:
    return [ProtectionChange(group_id=g, action="suspend", reason=reason) for g in groups]


def reverse(
    members: Mapping[str, list[str]], *, running_at: str, back_to: str
) -> list[ProtectionChange]:
    """``members``: forward group -> the recovered servers it now stands for."""
    return [
        ProtectionChange(
            group_id=reverse_group_id(group),
            action="protect-reverse",
            reason="reprotect",
            reverse_of=group,
            source_site=running_at,
            target_site=back_to,
            servers=sorted(servers),
        )
        for group, servers in members.items()
    ]


def failed_back(
    forward_groups: Sequence[str],
    reverse_groups: Sequence[str],
    *,
    before: Mapping[str, Placement],
    after: Mapping[str, Placement],
    dr_copy: Mapping[str, Placement],
) -> list[ProtectionChange]:
    """``before``: the copy the forward groups name (left behind at failover, released by
    reprotect); ``after``: the servers failback made there; ``dr_copy``: the stopped DR copy
    whose volumes hold what ``after`` was restored from (the seeds)."""
    servers: dict[str, str] = {}
    volumes: dict[str, str] = {}
    seeds: dict[str, str] = {}
    for sid, new in after.items():
        old = before.get(sid)
        if old is not None:
            servers[old.server_id] = new.server_id
            for orig, vol in old.volumes.items():
                if orig in new.volumes:
                    volumes[vol] = new.volumes[orig]
        dr = dr_copy.get(sid)
        if dr is not None:
            for orig, vol in new.volumes.items():
                if orig in dr.volumes:
                    seeds[vol] = dr.volumes[orig]
    changes = [
        ProtectionChange(group_id=g, action="retire", reason="failback") for g in reverse_groups
    ]
    changes += [
        ProtectionChange(
            group_id=g,
            action="resume",
            reason="failback",
            replace_servers=servers,
            replace_volumes=volumes,
            seed_volumes=seeds,
        )
        for g in forward_groups
    ]
    return changes


def resumed(groups: Sequence[str], reason: str) -> list[ProtectionChange]:
    return [ProtectionChange(group_id=g, action="resume", reason=reason) for g in groups]


def protected_again(state: PlanState) -> bool:
    return state.status == "protected" and state.protected_to is not None
