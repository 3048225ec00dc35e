"""Starting executions: check the plan can do it now, pick the consistency points, persist the
step graph. One function for the API, the ``StartExecution`` command and automatic failover."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.catalog import CatalogRepository
from lifeboat_orchestrator.adapters.executions import ExecutionRepository
from lifeboat_orchestrator.adapters.health_repository import SiteHealthRepository
from lifeboat_orchestrator.adapters.plans import Plan, PlanRepository
from lifeboat_orchestrator.adapters.repository import SiteRepository
from lifeboat_orchestrator.domain.execution import Execution, Kind, LinkedSites, build_steps
from lifeboat_orchestrator.domain.health import Declared
from lifeboat_orchestrator.domain.model import SiteState
from lifeboat_orchestrator.domain.protection import CpNeed, cp_need
from lifeboat_orchestrator.domain.rpo import source_stopped
from lifeboat_orchestrator.domain.targets import lacking, qualifying, why_none
from lifeboat_orchestrator.service_layer.targets import coverage, linked_placement, spec_to


class ExecutionRejected(ValueError):
    """The plan cannot run this now; ``field`` names what to fix (HTTP 409/422)."""

    def __init__(self, message: str, *, field: str = "kind", conflict: bool = True) -> None:
        super().__init__(message)
        self.field = field
        self.conflict = conflict


async def cp_need_of(catalog: CatalogRepository, plan: Plan, groups: list[str]) -> CpNeed:
    """Which of ``groups`` the recovery needs a CP of (``domain.protection``), from the
    replication specs the groups' ticks carried."""
    replicated: dict[str, list[str]] = {}
    with_volumes: list[str] = []
    for group in groups:
        spec = await catalog.spec(group)
        if spec is not None:
            replicated[group] = list(spec.servers)
            if spec.volumes:
                with_volumes.append(group)
    if any(t.volumes for t in plan.spec.tiers) and not plan.spec.servers:
        return CpNeed(list(groups))  # UC7: standalone volumes are restored from CPs
    return cp_need(plan.spec.servers, groups, replicated, with_volumes)


def direction(plan: Plan) -> tuple[str, list[str], list[str]]:
    """(where it runs, the sites it can go to, the groups protecting it now)."""
    state = plan.state
    if state.status == "reprotected" and state.protected_to:
        reverse = list(state.reverse_groups.values()) or (
            [state.reverse_group] if state.reverse_group else []
        )
        return state.active_site, [state.protected_to], reverse
    if state.status == "protected":
        return state.active_site, list(plan.spec.target_sites), list(plan.spec.groups)
    return state.active_site, [], []


async def start_execution(
    session: AsyncSession,
    *,
    execution_id: str,
    plan_id: str,
    kind: Kind,
    requested_by: str,
    target_site: str | None = None,
    consistency_point_id: str | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[Execution, bool]:
    """Returns (execution, created); an id seen before returns the existing execution."""
    executions = ExecutionRepository(session)
    existing = await executions.get(execution_id, steps=False)
    if existing is not None:
        return existing, False
    plan = await PlanRepository(session).get(plan_id, for_update=True)
    if plan is None:
        raise ExecutionRejected(f"plan {plan_id} not found", field="plan_id", conflict=False)
    params = dict(params or {})
    linked: LinkedSites | None = None
    group_sites: dict[str, str] = {}
    catalog = CatalogRepository(session)
    running = [e for e in await executions.running_for_plan(plan.id)]
    at, targets, groups = direction(plan)
    state = plan.state
    if kind in ("test-failover", "test-cleanup"):
        busy = [e for e in running if e.kind in ("test-failover", "test-cleanup")]
    else:
        busy = [e for e in running if e.kind not in ("test-failover", "test-cleanup")]
    if busy:
        raise ExecutionRejected(f"execution {busy[0].id} ({busy[0].kind}) is still running")

    source = at
    if kind == "failback":
        if state.status != "reprotected" or not state.protected_to:
            raise ExecutionRejected("failback needs a reprotected plan (run reprotect first)")
        target = state.protected_to
    elif kind == "reprotect":
        if state.status != "failed-over" or not (state.previous or not plan.spec.servers):
            raise ExecutionRejected("reprotect needs a plan that failed over")
        if state.previous:
            target = next(iter(state.previous.values())).site
        else:  # UC8, stateless members only: back towards the site it came from
            back = [plan.spec.source_site, *plan.spec.target_sites]
            target = next(s for s in back if s != state.active_site)
    elif kind == "reconcile":
        if state.status != "split-brain":
            raise ExecutionRejected("reconcile needs a plan in split brain")
        target = next(iter(state.dr_copy.values())).site
    elif kind == "test-cleanup":
        test_id = str(params.get("test_id", ""))
        test = await executions.get(test_id, steps=False)
        if test is None or test.plan_id != plan.id or test.kind != "test-failover":
            raise ExecutionRejected(f"no test failover {test_id} of this plan", field="test_id")
        source, target = test.source_site, test.target_site
        if test.params.get("sites"):  # a linked test: tear down at every site it used
            params["sites"] = list(test.params["sites"])
            linked = LinkedSites(networks={s: [] for s in params["sites"]})
    else:
        if not targets:
            raise ExecutionRejected(
                f"plan is {state.status} at {at}: nothing protects it (reprotect first)"
            )
        if target_site is not None and target_site not in targets:
            raise ExecutionRejected(
                f"{target_site} is not a recovery site of this plan ({', '.join(targets)})",
                field="target_site",
                conflict=False,
            )
        try:
            target = await _choose_target(session, plan, kind, targets, groups, target_site)
        except ExecutionRejected:
            split = None
            if kind == "test-failover" and target_site is None and consistency_point_id is None:
                need = await cp_need_of(catalog, plan, groups)
                cover = await coverage(catalog, groups, targets, needing=need.needed)
                split = await linked_placement(catalog, plan, cover)
            if split is None:
                raise
            group_sites, linked = split
            target = next(s for s in targets if s in linked.networks)
            params["sites"] = linked.sites(target)
            params["group_sites"] = group_sites
        if (
            kind == "failover"
            and params.get("degraded")
            and plan.spec.split_brain.on_partition != "both-online"
        ):
            raise ExecutionRejected(
                "split_brain.on_partition is primary-only: the DR copy may not run beside it",
                field="degraded",
            )
    execution = Execution(
        id=execution_id,
        plan_id=plan.id,
        kind=kind,
        source_site=source,
        target_site=target,
        requested_by=requested_by,
        created_at=datetime.now(UTC),
        params=params,
    )
    if not plan.spec.servers:
        execution.params["stateless"] = True  # UC8: no CP used, nothing replicated back
    if kind in ("failover", "test-failover", "planned-migration", "failback", "reprotect"):
        specs = {}
        legs: dict[str, str] = {}
        for group in groups if kind != "reprotect" else plan.spec.groups:
            # The replication that goes where this execution goes (a leg to an extra target).
            replicated_as, spec = await spec_to(catalog, group, group_sites.get(group, target))
            if spec is not None:
                specs[group] = spec.model_dump(mode="json")
            if replicated_as != group:
                legs[group] = replicated_as
        if legs:
            execution.params["legs"] = legs
        if state.status == "reprotected":
            # Replicating back since reprotect: the final sync goes the reverse way, with the
            # reverse groups' newest specs (their ticks), else the ones reprotect made.
            specs = {}
            for reverse, made in state.reverse_specs.items():
                known = await catalog.spec(reverse)
                specs[reverse] = known.model_dump(mode="json") if known is not None else made
            if not specs and state.reverse_spec and state.reverse_group:
                specs = {state.reverse_group: state.reverse_spec}
        execution.params["specs"] = specs
    if kind in ("failover", "test-failover"):
        need = await cp_need_of(catalog, plan, groups)
        if consistency_point_id and not need.needed:
            raise ExecutionRejected(
                "this plan needs no consistency point: it has only stateless members",
                field="consistency_point_id",
                conflict=False,
            )
        cps: dict[str, str] = {}
        for group in need.needed:
            if consistency_point_id:
                cp = await catalog.cp(consistency_point_id)
                if cp is None or cp.group_id not in need.needed or cp.target_site != target:
                    raise ExecutionRejected(
                        f"consistency point {consistency_point_id} is not one of this plan's "
                        f"at {target}",
                        field="consistency_point_id",
                        conflict=False,
                    )
                if cp.group_id != group:
                    cp = await catalog.newest_cp(group, target)
            else:
                cp = await catalog.newest_cp(group, group_sites.get(group, target))
            if cp is None:
                raise ExecutionRejected(
                    f"no verified consistency point of group {group} at "
                    f"{group_sites.get(group, target)} yet",
                    field="consistency_point_id",
                )
            cps[group] = cp.id
        execution.params["cps"] = cps
        if need.not_needed:
            execution.params["cps_not_needed"] = need.not_needed
        taken = [c.taken_at for g in cps.values() if (c := await catalog.cp(g)) is not None]
        # None for a plan of stateless members only (UC8): nothing replicated, no CP used.
        execution.recovery_point = min(taken) if taken else None
        execution.consistency_point_id = next(iter(cps.values()), None)
    if kind == "failover":
        await _record_source_stopped(session, execution)
    execution.steps = build_steps(kind, plan.spec, source, target, linked)
    await executions.add(execution)
    return execution, True


async def _choose_target(
    session: AsyncSession,
    plan: Plan,
    kind: Kind,
    targets: list[str],
    groups: list[str],
    target_site: str | None,
) -> str:
    """The explicit target if it holds a verified CP of every group (a planned migration: or
    is where they replicate to); without one, the first such recovery site of the plan."""
    state = plan.state
    reverse = None
    if state.status == "reprotected" and state.protected_to:
        names = list(state.reverse_groups.values()) or (
            [state.reverse_group] if state.reverse_group else []
        )
        reverse = {r: state.protected_to for r in names}
    planned = kind == "planned-migration"
    catalog = CatalogRepository(session)
    need = await cp_need_of(catalog, plan, groups)
    cover = await coverage(catalog, groups, targets, replicates_to=reverse, needing=need.needed)
    if target_site is not None:
        here = next(c for c in cover if c.site == target_site)
        if not here.qualifies(planned=planned):
            raise ExecutionRejected(lacking(here, planned=planned), field="target_site")
        return target_site
    ok = qualifying(cover, planned=planned)
    if not ok:
        raise ExecutionRejected(
            "no recovery site holds a verified consistency point of every group of the plan: "
            + why_none(cover, planned=planned),
            field="target_site",
        )
    return ok[0]


async def _record_source_stopped(session: AsyncSession, execution: Execution) -> None:
    """When the source stopped, as known now (probes are forgotten later): the end of the
    failover's data-loss window, recorded at its start (``domain.rpo``)."""
    site = await SiteRepository(session).get(execution.source_site)
    health = await SiteHealthRepository(session).get(execution.source_site)
    declared_down_at = None
    if site is not None and site.state is SiteState.DOWN:
        declared_down_at = site.changed_at
    elif health is not None and health.declared is Declared.DOWN:
        declared_down_at = health.declared_at  # the declaration is on its way to the catalog
    stopped = source_stopped(
        declared_down_at=declared_down_at,
        last_healthy_at=health.last_healthy_at if health is not None else None,
        recovery_point=execution.recovery_point,
        start=execution.created_at,
    )
    execution.params["source_stopped_at"] = stopped.at.isoformat()
    execution.params["source_stopped_basis"] = stopped.basis
