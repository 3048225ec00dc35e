"""Plans: create (capturing the protected servers), refresh, and the readiness check (a dry run
that validates the recovery sites ahead of time and becomes the plan's status)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from lifeboat_orchestrator.adapters.catalog import CatalogRepository, KnownSite
from lifeboat_orchestrator.adapters.plans import Plan, PlanRepository
from lifeboat_orchestrator.domain.links import LinkRules
from lifeboat_orchestrator.domain.plan import PlanSpec, PlanState
from lifeboat_orchestrator.domain.protection import NO_SERVERS
from lifeboat_orchestrator.domain.targets import SiteCoverage
from lifeboat_orchestrator.service_layer.capture import CaptureError, capture
from lifeboat_orchestrator.service_layer.executions import cp_need_of, direction
from lifeboat_orchestrator.service_layer.links import links_now, plan_partition
from lifeboat_orchestrator.service_layer.targets import coverage
from lifeboat_shared.cloud.errors import CloudError
from lifeboat_shared.cloud.sites import SiteClouds
from lifeboat_shared.persistence.database import Database


class PlanInvalid(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


async def _sites(db: Database, spec: PlanSpec) -> dict[str, KnownSite]:
    async with db.read() as s:
        sites = await CatalogRepository(s).sites()
    if spec.source_site not in sites:
        raise PlanInvalid(f"site {spec.source_site} is not registered", "source_site")
    for target in spec.target_sites:
        if target not in sites:
            raise PlanInvalid(f"site {target} is not registered", "target_sites")
    if spec.dns_site is not None and spec.dns_site not in sites:
        raise PlanInvalid(f"site {spec.dns_site} is not registered", "dns_site")
    return sites


async def _check_groups(db: Database, spec: PlanSpec) -> None:
    """Tenant isolation: a plan references only groups of its own project. The orchestrator
    knows a group's project from its replication spec (learnt from its ticks and CPs); a group
    it knows in another project is answered like a missing one."""
    async with db.read() as s:
        catalog = CatalogRepository(s)
        for group_id in spec.groups:
            known = await catalog.spec(group_id)
            if known is not None and known.project_id != spec.project_id:
                raise PlanInvalid(
                    f"no protection group {group_id} in project {spec.project_id}", "groups"
                )


async def create_plan(db: Database, clouds: SiteClouds, spec: PlanSpec) -> Plan:
    sites = await _sites(db, spec)
    await _check_groups(db, spec)
    async with db.read() as s:
        if await PlanRepository(s).by_name(spec.name) is not None:
            raise PlanInvalid(f"a plan named {spec.name} exists", "name")
    try:
        project = await clouds.project(sites[spec.source_site].ref)
        captured = await capture(project, spec)
    except CaptureError as exc:
        raise PlanInvalid(str(exc), "tiers") from exc
    except CloudError as exc:
        raise PlanInvalid(f"cannot read {spec.source_site}: {exc}", "source_site") from exc
    now = datetime.now(UTC)
    plan = Plan(
        id=str(uuid.uuid4()),
        spec=spec,
        capture=captured,
        state=PlanState(
            status="protected",
            active_site=spec.source_site,
            protected_to=spec.target_sites[0],
        ),
        created_at=now,
        updated_at=now,
    )
    async with db.transaction() as s:
        await PlanRepository(s).add(plan)
    return plan


async def refresh_plan(db: Database, clouds: SiteClouds, plan_id: str) -> Plan:
    """Capture the servers again (new volume, changed ports, resized flavor)."""
    async with db.read() as s:
        plan = await PlanRepository(s).get(plan_id)
    if plan is None:
        raise PlanInvalid(f"plan {plan_id} not found", "plan_id")
    if plan.state.status != "protected":
        raise PlanInvalid(f"plan is {plan.state.status}: capture happens while protected", "plan")
    sites = await _sites(db, plan.spec)
    try:
        project = await clouds.project(sites[plan.spec.source_site].ref)
        captured = await capture(project, plan.spec)
    except (CaptureError, CloudError) as exc:
        raise PlanInvalid(str(exc), "tiers") from exc
    async with db.transaction() as s:
        repo = PlanRepository(s)
        fresh = await repo.get(plan_id, for_update=True)
        assert fresh is not None
        fresh.capture = captured
        fresh.updated_at = datetime.now(UTC)
        await repo.save(fresh)
    return fresh


def _site_row(site: SiteCoverage, checks: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """One recovery site: each group's newest verified CP there and its age; whether the site
    qualifies (a CP of every group) and is ready (every check there passed)."""
    return {
        "site": site.site,
        "qualifies": site.qualifies(),
        "ready": all(c["ok"] for c in checks if c["site"] == site.site),
        "groups": [
            {
                "group": group,
                "consistency_point_id": cp.id if cp else None,
                "taken_at": cp.taken_at.isoformat() if cp else None,
                "age_seconds": round((now - cp.taken_at).total_seconds(), 1) if cp else None,
            }
            for group, cp in site.cps.items()
        ],
    }


def _check(out: list[dict[str, Any]], site: str, name: str, ok: bool, detail: str) -> None:
    out.append({"site": site, "check": name, "ok": ok, "detail": detail})


async def readiness(
    db: Database, clouds: SiteClouds, plan_id: str, *, link_rules: LinkRules | None = None
) -> Plan:
    """Validate every recovery site now: CPs, flavors, quotas, networks, images, and the site
    links (UC6: a partition is a failed check, with what the plan allows); saved as the plan's
    readiness (its status in listings). Ready: no partition, and at least one recovery site
    holds a CP of every group that needs one and passes every check (``ready_sites``);
    ``sites`` is the per-site table. A group the recovery needs no CP of (a plan of stateless
    members only, or a group protecting none of its servers: UC8) gets a passing check that
    says why."""
    async with db.read() as s:
        plan = await PlanRepository(s).get(plan_id)
        if plan is None:
            raise PlanInvalid(f"plan {plan_id} not found", "plan_id")
        catalog = CatalogRepository(s)
        sites = await catalog.sites()
        _at, targets, groups = direction(plan)
        need = await cp_need_of(catalog, plan, groups)
        cover = {c.site: c for c in await coverage(catalog, groups, targets, needing=need.needed)}
        links = (await links_now(s, link_rules or LinkRules())).links
    partition = plan_partition(plan, links)
    checks: list[dict[str, Any]] = []
    if partition is not None:
        offer = partition["offer"] or "none (primary-only)"
        _check(
            checks,
            plan.state.active_site,
            f"site link {partition['link']}",
            False,
            f"partition since {partition['since']}: {partition['detail']}; offer: {offer}",
        )
    if not targets:
        _check(checks, plan.state.active_site, "protection", False, f"plan is {plan.state.status}")
    now = datetime.now(UTC)
    for target in targets:
        if not plan.spec.servers and not groups:
            _check(checks, target, "consistency points", True, NO_SERVERS)
        for group, why in need.not_needed.items():  # UC8: recovered without a CP
            _check(checks, target, f"consistency point {group}", True, why)
        for group, cp in cover[target].cps.items():
            _check(
                checks,
                target,
                f"consistency point {group}",
                cp is not None,
                f"newest {cp.id} taken {(now - cp.taken_at).total_seconds():.0f} s ago"
                if cp
                else "no verified consistency point here",
            )
        if target not in sites:
            _check(checks, target, "site", False, "not registered")
            continue
        try:
            project = await clouds.project(sites[target].ref)
            inv = await project.inventory()
        except CloudError as exc:
            _check(checks, target, "reachable", False, str(exc))
            continue
        _check(checks, target, "reachable", True, "auth and inventory ok")
        flavors = {f.name for f in inv.flavors} | {f.id for f in inv.flavors if f.id}
        wanted_flavors = {
            plan.spec.flavor_mappings.get(s.flavor, s.flavor) for s in plan.capture.servers.values()
        } | {m.flavor for t in plan.spec.tiers for m in t.stateless}
        for flavor in sorted(wanted_flavors):
            _check(checks, target, f"flavor {flavor}", flavor in flavors, "")
        nets = {n.name for n in inv.networks} | {n.id for n in inv.networks}
        for net in plan.capture.networks.values():
            mapped = next(
                (
                    m.target_network or net.name
                    for m in plan.spec.network_mappings
                    if m.source_network in (net.network_id, net.name)
                ),
                net.name,
            )
            ok = mapped in nets or plan.spec.environment == "cold"
            _check(
                checks,
                target,
                f"network {mapped}",
                ok,
                "created at failover" if mapped not in nets else "",
            )
        images = {i.name for i in inv.images} | {i.id for i in inv.images}
        for member in (m for t in plan.spec.tiers for m in t.stateless):
            _check(checks, target, f"image {member.image}", member.image in images, "")
        needed_servers = len(plan.capture.servers) + sum(
            m.count for t in plan.spec.tiers for m in t.stateless
        )
        needed_volumes = sum(len(s.volumes) for s in plan.capture.servers.values())
        try:
            limits = await project.compute.limits()
        except CloudError as exc:
            _check(checks, target, "quota instances", False, f"cannot read limits: {exc}")
        else:
            cap = limits.get("maxTotalInstances", -1)
            free = cap - limits.get("totalInstancesUsed", 0) if cap >= 0 else None
            _check(
                checks,
                target,
                "quota instances",
                free is None or free >= needed_servers,
                f"need {needed_servers}, free {'unlimited' if free is None else free}",
            )
        _check(checks, target, "volumes to create", True, f"{needed_volumes}")
    table = [_site_row(cover[t], checks, now) for t in targets]
    ready_sites = [r["site"] for r in table if r["ready"]]
    async with db.transaction() as s:
        repo = PlanRepository(s)
        fresh = await repo.get(plan_id, for_update=True)
        assert fresh is not None
        fresh.readiness = {
            "ready": bool(ready_sites) and partition is None,
            "qualifying_sites": [r["site"] for r in table if r["qualifies"]],
            "ready_sites": ready_sites,
            "sites": table,
            "checks": checks,
            "checked_at": now.isoformat(),
            "partition": partition,
        }
        fresh.checked_at = now
        await repo.save(fresh)
    return fresh
