"""Which of a plan's groups must have a consistency point before it can be recovered (UC8).

Servers are recovered from CPs; stateless members are made from their templates and need none.
So a plan with no protected server needs no CP at all, whatever groups it lists. In a plan with
servers, a group needs a CP unless the orchestrator knows (from the replication specs its ticks
carried) that the other groups protect every server of the plan and this one protects none of
them: e.g. a group of stateless templates only, which the policy service never ticks. While a
server's group is not known yet, every group needs a CP (the safe answer). Pure Python.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

NO_SERVERS = "not needed: the plan has only stateless members (nothing replicates)"
NO_PLAN_SERVER = "not needed: protects none of the plan's servers (stateless)"


@dataclass(frozen=True)
class CpNeed:
    needed: list[str]
    """Groups whose newest verified CP the recovery uses, in the plan's order."""
    not_needed: dict[str, str] = field(default_factory=dict)
    """The other groups, each with the reason it needs none."""


def cp_need(
    servers: Collection[str],
    groups: list[str],
    replicated: Mapping[str, Collection[str]],
    with_volumes: Collection[str] = (),
) -> CpNeed:
    """``servers``: the protected servers to recover; ``groups``: the groups protecting the plan
    now; ``replicated``: the servers each group's known replication spec protects (a group
    with no spec seen yet is absent); ``with_volumes``: groups whose spec also names volumes
    of their own (always needed when the plan has servers)."""
    if not servers:
        return CpNeed([], {g: NO_SERVERS for g in groups})
    wanted = set(servers)
    known = {g: set(replicated[g]) for g in groups if g in replicated}
    covered = set().union(*known.values()) if known else set()
    if not wanted <= covered:
        return CpNeed(list(groups))
    needed = [g for g in groups if known.get(g, set()) & wanted or g in with_volumes]
    return CpNeed(needed, {g: NO_PLAN_SERVER for g in groups if g not in needed})
