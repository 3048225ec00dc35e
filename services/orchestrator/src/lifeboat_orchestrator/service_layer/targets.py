"""Where a plan's CPs are: per recovery site, each group's newest verified CP (``domain.targets``),
read from the catalog the replicator's events fill."""

from __future__ import annotations

from lifeboat_orchestrator.adapters.catalog import CatalogRepository
from lifeboat_orchestrator.adapters.plans import Plan
from lifeboat_orchestrator.domain.execution import LinkedSites
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


async def linked_placement(
    catalog: CatalogRepository, plan: Plan, cover: list[SiteCoverage]
) -> tuple[dict[str, str], LinkedSites] | None:
    """UC3b: no one site holds a CP of every group, but each group has one at some recovery
    site: (group -> site, where each server and network goes) for a bubble test spread over
    those sites, each group at the first recovery site (plan order) holding its CP. None when a
    group has no CP anywhere or everything lands on one site."""
    groups = sorted({g for c in cover for g in c.cps})
    where: dict[str, str] = {}
    for group in groups:
        site = next((c.site for c in cover if c.cps.get(group) is not None), None)
        if site is None:
            return None
        where[group] = site
    if len(set(where.values())) < 2:
        return None
    first = next(c.site for c in cover if c.site in where.values())
    servers: dict[str, str] = {}
    for group, site in where.items():
        # The group's servers: as its replication spec names them, else as its CP holds them.
        spec = await catalog.spec(group)
        here = next(c for c in cover if c.site == site).cps[group]
        cp = await catalog.cp(here.id) if here is not None else None
        for sid in [
            *(spec.servers if spec is not None else []),
            *(m.server_id for m in (cp.members if cp is not None else []) if m.server_id),
        ]:
            servers.setdefault(sid, site)
    capture = plan.capture.servers
    networks: dict[str, list[str]] = {s: [] for s in set(where.values())}
    placed: set[str] = set()
    for sid, site in servers.items():
        for port in capture[sid].ports if sid in capture else []:
            if port.network_id not in networks[site]:
                networks[site].append(port.network_id)
            placed.add(port.network_id)
    # Everything else (servers of no known group, stateless members' networks) at the first.
    networks[first] += [n for n in plan.capture.networks if n not in placed]
    return where, LinkedSites(servers=servers, networks=networks)
