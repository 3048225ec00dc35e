"""Which recovery sites can take a plan (UC3a x UC9).

A plan lists several recovery sites, but each of its groups replicates to the sites its policy
names: a site can recover the plan only if it holds a verified consistency point of every group
of the plan that needs one (a group whose known replication spec has no server, volume or member
group is stateless and needs none). A planned migration takes its final CP where the group
replicates to, so for it a site also qualifies for a group whose replication spec targets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CpHere:
    """A group's newest verified CP at one site."""

    id: str
    taken_at: datetime


@dataclass(frozen=True)
class SiteCoverage:
    """One recovery site: the newest CP of each group that needs one there (None: none)."""

    site: str
    cps: dict[str, CpHere | None]
    replicated_here: frozenset[str] = field(default_factory=frozenset)

    def missing(self, *, planned: bool = False) -> list[str]:
        """Groups this site cannot recover: no CP there (nor, for a planned migration, a
        replication leg that would take the final CP there)."""
        return [
            g
            for g, cp in self.cps.items()
            if cp is None and not (planned and g in self.replicated_here)
        ]

    def qualifies(self, *, planned: bool = False) -> bool:
        return not self.missing(planned=planned)


def leg_id(group_id: str, site_id: str) -> str:
    """The policy service's id of a group's replication leg to an extra target site: its ticks
    and the replicator's CPs of that leg carry it as ``group_id``."""
    return f"{group_id}:{site_id}"


def group_of(group_id: str, target_site: str) -> str:
    """The group a CP belongs to: a leg's CP (``<group>:<target_site>``) is its group's CP at
    that site."""
    suffix = f":{target_site}"
    if group_id.endswith(suffix) and len(group_id) > len(suffix):
        return group_id[: -len(suffix)]
    return group_id


def qualifying(coverage: list[SiteCoverage], *, planned: bool = False) -> list[str]:
    """The sites that can take the plan, in the plan's order of preference."""
    return [c.site for c in coverage if c.qualifies(planned=planned)]


def lacking(site: SiteCoverage, *, planned: bool = False) -> str:
    """``site-b has no verified consistency point of group g1, g2``."""
    groups = site.missing(planned=planned)
    noun = "group" if len(groups) == 1 else "groups"
    return f"{site.site} has no verified consistency point of {noun} {', '.join(groups)}"


def why_none(coverage: list[SiteCoverage], *, planned: bool = False) -> str:
    """Why no site qualifies, site by site."""
    if not coverage:
        return "no recovery site to choose from"
    return "; ".join(lacking(c, planned=planned) for c in coverage)
