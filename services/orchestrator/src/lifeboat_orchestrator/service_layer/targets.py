"""Where a plan's CPs are: per recovery site, each group's newest verified CP (``domain.targets``),
read from the catalog the replicator's events fill."""

from __future__ import annotations

from lifeboat_orchestrator.adapters.catalog import CatalogRepository
from lifeboat_orchestrator.domain.targets import CpHere, SiteCoverage, leg_id
from lifeboat_shared.contracts.messages import ReplicationSpec


async def needs_cp(catalog: CatalogRepository, group: str) -> bool:
    """A group needs a CP unless its known replication spec protects nothing (stateless, UC8).
    A group whose spec was never seen (no tick yet) is assumed to need one."""
    spec = await catalog.spec(group)
    return spec is None or bool(spec.servers or spec.volumes or spec.member_groups)


async def spec_to(
    catalog: CatalogRepository, group: str, site: str
) -> tuple[str, ReplicationSpec | None]:
    """(id to replicate under, spec) of the group's replication to ``site``: the group itself,
    or its leg to that extra target site; else the group's own spec (None: never seen)."""
    spec = await catalog.spec(group)
    if spec is not None and spec.target.site_id == site:
        return group, spec
    leg = await catalog.spec(leg_id(group, site))
    if leg is not None:
        return leg_id(group, site), leg
    return group, spec


async def coverage(
    catalog: CatalogRepository,
    groups: list[str],
    targets: list[str],
    *,
    replicates_to: dict[str, str] | None = None,
    needing: list[str] | None = None,
) -> list[SiteCoverage]:
    """``replicates_to``: where groups replicate to when the catalog may not know it yet
    (group -> site; reprotect's reverse group). ``needing``: the groups whose CPs count (the
    plan's rule, ``domain.protection``); default: those whose known spec protects something."""
    if needing is None:
        needing = [g for g in groups if await needs_cp(catalog, g)]
    replicated: dict[str, set[str]] = {}
    for group in needing:
        spec = await catalog.spec(group)
        if spec is not None:
            replicated.setdefault(spec.target.site_id, set()).add(group)
        for site in targets:  # legs to extra target sites
            if await catalog.spec(leg_id(group, site)) is not None:
                replicated.setdefault(site, set()).add(group)
    for group, site in (replicates_to or {}).items():
        replicated.setdefault(site, set()).add(group)
    out: list[SiteCoverage] = []
    for site in targets:
        cps: dict[str, CpHere | None] = {}
        for group in needing:
            cp = await catalog.newest_cp(group, site)
            cps[group] = CpHere(cp.id, cp.taken_at) if cp is not None else None
        out.append(SiteCoverage(site, cps, frozenset(replicated.get(site, set()))))
    return out
