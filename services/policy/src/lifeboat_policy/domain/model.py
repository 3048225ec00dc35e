"""Sites, policies, protection groups and application sets. Pure Python: no infrastructure.

The replication settings a group needs travel inside each tick as a ``ReplicationSpec`` (see the
shared contracts); this module owns how one is put together from a group (or a set of groups),
its policy and its two sites.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from lifeboat_policy.domain.schedule import Cadence

SiteRole = Literal["protected", "recovery", "both"]


@dataclass
class Site:
    """One OpenStack deployment: the single source of truth for its identity (see README)."""

    site_id: str
    cloud: str
    role: SiteRole
    data_endpoint: str | None
    region: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def can_protect(self) -> bool:
        return self.role in ("protected", "both")

    @property
    def can_recover(self) -> bool:
        return self.role in ("recovery", "both")


@dataclass
class Policy:
    """How a group is protected. ``spec`` holds the validated settings as plain JSON: quiesce,
    retention, bandwidth_bytes_per_s, bind_address, encryption_required, replicate_on,
    strategy (absent in policies made before it existed: "blocks")."""

    id: str
    name: str
    rpo_seconds: int | None
    cron: str | None
    rpo_target_seconds: int
    """The RPO the policy promises: ``rpo_seconds``, or the longest gap of the cron schedule."""
    spec: dict[str, Any]
    created_at: datetime

    @property
    def cadence(self) -> Cadence:
        return Cadence(rpo_seconds=self.rpo_seconds, cron=self.cron)


@dataclass
class StatelessTemplate:
    """A VM with nothing to replicate (UC3, UC8): kept for the orchestrator to re-create."""

    name: str
    image: str
    flavor: str
    user_data: str | None = None


@dataclass
class Members:
    servers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    stateless: list[StatelessTemplate] = field(default_factory=list)

    @property
    def replicates(self) -> bool:
        """Servers or volumes to protect with CPs; False for stateless templates only (UC8)."""
        return bool(self.servers or self.volumes)


ReplicationMode = Literal["consistency-points", "none (stateless)"]
"""A group's ``replication`` in the API: CPs on its RPO schedule, or none at all (UC8: only
stateless templates, re-created from the template at failover; never ticked, never breached)."""


@dataclass
class CpSummary:
    id: str
    taken_at: datetime
    created_at: datetime


@dataclass
class Failure:
    stage: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class QuiesceReport:
    """The last cycle's quiesce failures (UC2c): which VMs (``None``: the group's hook) and why,
    and what the policy's rule made of it."""

    cycle_id: str
    outcome: str
    at: datetime
    failures: tuple[tuple[str | None, str], ...]  # (server_id, reason)


@dataclass
class ProtectionGroup:
    """VMs and volumes of one application, protected together under one policy (UC1-UC5)."""

    id: str
    project_id: str
    name: str
    source_site: str
    target_site: str
    policy_id: str
    rpo_target_seconds: int
    members: Members
    created_at: datetime
    app_set_id: str | None = None
    suspended: bool = False
    newest_cp: CpSummary | None = None
    last_failure: Failure | None = None
    last_quiesce: QuiesceReport | None = None
    breach_open: bool = False
    breach_episode: int = 0
    suspended_reason: str | None = None
    """Why ``suspended``: "operator", "failover", "split-brain" (None: not suspended)."""
    seed_volumes: dict[str, str] = field(default_factory=dict)
    """UC5c: source volume -> DR-side volume its first cycle starts from (verified by hashes)."""
    reverse_of: str | None = None
    """After reprotect: the forward group this one replicates back for."""

    @property
    def lifecycle_hold(self) -> bool:
        """Suspended by a failover or a split brain: only failback or reconcile resumes it
        (an operator's resume would replicate a stale copy over the live one)."""
        return self.suspended and self.suspended_reason in ("failover", "split-brain")

    @property
    def replication(self) -> ReplicationMode:
        return "consistency-points" if self.members.replicates else "none (stateless)"

    extra_target_sites: list[str] = field(default_factory=list)
    """More DR sites it replicates to (UC3a x UC9): one replication leg each (``leg_id``)."""

    @property
    def legs(self) -> list[str]:
        """Tick units of its extra targets."""
        return [leg_id(self.id, site) for site in self.extra_target_sites]


LEG_SITE_MAX = 64 - 36 - 1
"""Longest extra target site id: ``<uuid>:<site>`` fits the 64 characters other services keep
for a group id."""


def leg_id(group_id: str, site_id: str) -> str:
    """A group's replication leg to one of its extra target sites: its own tick unit and, at
    the replicator, its own chain of CPs (the replicator keys a chain by this id). CPs of the
    leg carry it as ``group_id``; the orchestrator maps ``<group>:<target_site>`` back."""
    return f"{group_id}:{site_id}"


def leg_of(unit_id: str) -> tuple[str, str] | None:
    """(group id, site) of a leg id; None for a group or set id (UUIDs: no colon)."""
    group, sep, site = unit_id.partition(":")
    return (group, site) if sep and group and site else None


@dataclass
class AppSet:
    """Several groups that share one consistency point (UC3); all on one site link."""

    id: str
    project_id: str
    name: str
    source_site: str
    target_site: str
    created_at: datetime


def strictest(policies: Sequence[Policy]) -> Policy:
    """The policy with the smallest RPO target: an application set ticks at its pace."""
    return min(policies, key=lambda p: (p.rpo_target_seconds, p.id))


def spec_payload(
    *,
    project_id: str,
    source: Site,
    target: Site,
    groups: Sequence[ProtectionGroup],
    policies: Sequence[Policy],
    member_groups: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``ReplicationSpec`` of a group, or of an application set of groups, as plain data.

    For a set: the union of the members; quiesce and retention of the strictest policy; the
    longest of each retention tier; the tightest bandwidth cap; encryption if any policy asks;
    the strictest policy's strategy (policies made before strategy existed: "blocks").
    """
    lead = strictest(policies).spec
    servers = sorted({s for g in groups for s in g.members.servers})
    volumes = sorted({v for g in groups for v in g.members.volumes})
    # Seeds live at the group's own DR site: a leg to an extra target site starts without.
    seeds = {
        src: dr
        for g in groups
        if g.target_site == target.site_id
        for src, dr in sorted(g.seed_volumes.items())
    }
    caps = [p.spec["bandwidth_bytes_per_s"] for p in policies if p.spec["bandwidth_bytes_per_s"]]
    retention = dict(lead["retention"])
    for tier in ("keep_last", "hourly", "daily", "weekly"):
        retention[tier] = max(p.spec["retention"][tier] for p in policies)
    return {
        "project_id": project_id,
        "source": _site_ref(source),
        "target": _site_ref(target),
        "servers": servers,
        "volumes": volumes,
        "member_groups": list(member_groups),
        "quiesce": lead["quiesce"],
        "retention": retention,
        "bandwidth_bytes_per_s": min(caps) if caps else None,
        # A reverse group sends from the other site: the forward sender's address is not there.
        "bind_address": None if any(g.reverse_of for g in groups) else lead["bind_address"],
        "encryption_required": any(p.spec["encryption_required"] for p in policies),
        "seed_volumes": seeds,
        "strategy": lead.get("strategy", "blocks"),
    }


def _site_ref(site: Site) -> dict[str, Any]:
    return {"site_id": site.site_id, "cloud": site.cloud, "data_endpoint": site.data_endpoint}


@dataclass
class TickUnit:
    """What the scheduler ticks: a group on its own, an application set, or a group's leg to
    one of its extra target sites (``kind``)."""

    unit_id: str
    kind: Literal["group", "set", "leg"]
    created_at: datetime
    next_due_at: datetime | None
    paused: bool = False
    last_tick_seq: int = 0
    last_tick_at: datetime | None = None
    lead_seconds: float | None = None
    newest_cp_taken_at: datetime | None = None
    pending_trigger: str | None = None
    """Why the next tick is due early ("resume"), reported in the tick's ``trigger``."""
