"""REST API: recovery plans (create, list, show, refresh, readiness check, delete)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from lifeboat_orchestrator.adapters.executions import ExecutionRepository
from lifeboat_orchestrator.adapters.plans import Plan, PlanRepository
from lifeboat_orchestrator.domain.lifecycle import NEXT
from lifeboat_orchestrator.domain.plan import Capture, PlanSpec, PlanState
from lifeboat_orchestrator.service_layer import plans as service
from lifeboat_orchestrator.service_layer.links import links_now, plan_partition
from lifeboat_orchestrator.service_layer.wiring import clouds_for, link_rules_for
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.net.egress import EgressPolicy, EgressRefused, check_literal
from lifeboat_shared.service import CurrentPrincipal, Principal, RuntimeDep
from lifeboat_shared.service.tenancy import (
    FORBIDDEN_PROJECT,
    can_see,
    listed_project,
    owning_project,
)

router = APIRouter(tags=["plans"])


class PlanOut(BaseModel):
    id: str
    name: str
    spec: PlanSpec
    state: PlanState
    readiness: dict[str, Any] | None = Field(
        description="The last readiness check: ready (some recovery site holds a verified CP of "
        "every group and passes every check), qualifying_sites (a verified CP of every group), "
        "ready_sites, sites (per recovery site: qualifies, ready, and for each group its newest "
        "verified consistency_point_id, taken_at and age_seconds, null where it has none), "
        "checks (site, check, ok, detail) and checked_at"
    )
    members: int
    next_executions: list[str] = Field(
        description="What can run next in this state (lifecycle: protected -> failed-over -> "
        "reprotected -> failback -> protected; split-brain -> reconcile)"
    )
    partition: dict[str, Any] | None = Field(
        default=None,
        description="UC6: the link between the site the plan runs at and one of its recovery "
        "sites is cut while both sites are up: {since, link, links, detail, on_partition, "
        "offer ('failover with degraded: true' when split_brain.on_partition is both-online, "
        "else null), note}; null when there is no partition",
    )
    created_at: datetime
    updated_at: datetime


class PlanDetail(PlanOut):
    capture: Capture


def _out(plan: Plan, partition: dict[str, Any] | None = None) -> PlanOut:
    return PlanOut(
        id=plan.id,
        name=plan.spec.name,
        spec=plan.spec,
        state=plan.state,
        readiness=plan.readiness,
        members=len(plan.capture.servers)
        + sum(m.count for t in plan.spec.tiers for m in t.stateless),
        next_executions=list(NEXT.get(plan.state.status, ())),
        partition=partition,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


def _invalid(exc: service.PlanInvalid) -> HTTPException:
    if exc.field == "plan_id":
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc))
    if exc.field in ("name", "plan"):
        return HTTPException(status.HTTP_409_CONFLICT, detail=f"{exc.field}: {exc}")
    return HTTPException(
        422, detail=[{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]
    )


def _check_hooks(spec: PlanSpec, runtime: RuntimeDep) -> None:
    """422 naming the field: a command hook this orchestrator has not installed, a webhook to a
    literal address the egress rules refuse (names are checked again when called)."""
    settings = runtime.settings
    assert isinstance(settings, OrchestratorSettings)
    egress = EgressPolicy(allow=tuple(settings.webhook_allow_networks))
    for i, tier in enumerate(spec.tiers):
        for key, hooks in (("pre_hooks", tier.pre_hooks), ("post_hooks", tier.post_hooks)):
            for j, hook in enumerate(hooks):
                loc: list[str | int] = ["body", "tiers", i, key, j]
                path = f"tiers.{i}.{key}.{j}"
                if hook.kind == "command" and hook.name not in settings.hooks:
                    msg = (
                        f"{path}.name: no command hook named {hook.name!r} is installed on the "
                        "orchestrator (LIFEBOAT_ORCHESTRATOR_HOOKS)"
                    )
                    detail = [{"loc": [*loc, "name"], "msg": msg, "type": "value_error"}]
                    raise HTTPException(422, detail)
                if hook.kind == "webhook":
                    try:
                        check_literal(str(hook.url), egress)
                    except EgressRefused as exc:
                        msg = f"{path}.url: {str(exc).removeprefix('url: ')}"
                        detail = [{"loc": [*loc, "url"], "msg": msg, "type": "value_error"}]
                        raise HTTPException(422, detail) from exc


async def _views(runtime: RuntimeDep, plans: list[Plan]) -> list[PlanOut]:
    """The plans with the partition each replicates across now, if any."""
    async with runtime.db.read() as s:
        links = (await links_now(s, link_rules_for(runtime))).links
    return [_out(p, plan_partition(p, links)) for p in plans]


async def visible_plan(runtime: RuntimeDep, who: Principal, plan_id: str) -> Plan:
    """The plan (by id or name) if the caller's project owns it or the caller is an admin; else
    404, the same answer as for a missing plan (tenant isolation)."""
    async with runtime.db.read() as s:
        plan = await PlanRepository(s).get(plan_id) or await PlanRepository(s).by_name(plan_id)
    if plan is None or not can_see(who, plan.spec.project_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"plan {plan_id} not found")
    return plan


@router.post(
    "/plans",
    status_code=status.HTTP_201_CREATED,
    summary="Create a recovery plan; captures its servers' configuration from the protected site",
    responses=FORBIDDEN_PROJECT,
)
async def create_plan(body: PlanSpec, runtime: RuntimeDep, who: CurrentPrincipal) -> PlanDetail:
    owning_project(who, body.project_id)  # a tenant's plan is its token's project's
    _check_hooks(body, runtime)
    try:
        plan = await service.create_plan(runtime.db, clouds_for(runtime), body)
    except service.PlanInvalid as exc:
        raise _invalid(exc) from exc
    return PlanDetail(**_out(plan).model_dump(), capture=plan.capture)


@router.get(
    "/plans",
    summary="The caller's project's recovery plans (an admin: all, or project_id's) with their "
    "state, readiness and any partition",
    responses=FORBIDDEN_PROJECT,
)
async def list_plans(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
) -> list[PlanOut]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as s:
        plans = list(await PlanRepository(s).all(project))
    return await _views(runtime, plans)


@router.get(
    "/plans/{plan_id}",
    summary="One plan (by id or name), with the captured servers and any partition (UC6)",
)
async def show_plan(plan_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> PlanDetail:
    plan = await visible_plan(runtime, who, plan_id)
    (view,) = await _views(runtime, [plan])
    return PlanDetail(**view.model_dump(), capture=plan.capture)


@router.post("/plans/{plan_id}/refresh", summary="Capture the servers' configuration again")
async def refresh_plan(plan_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> PlanDetail:
    plan = await visible_plan(runtime, who, plan_id)
    try:
        plan = await service.refresh_plan(runtime.db, clouds_for(runtime), plan.id)
    except service.PlanInvalid as exc:
        raise _invalid(exc) from exc
    return PlanDetail(**_out(plan).model_dump(), capture=plan.capture)


@router.post(
    "/plans/{plan_id}/readiness",
    summary="Dry run: check CPs, flavors, quotas, networks and images at every recovery site, "
    "and the site links (a partition is a failed check, with the degraded-mode offer)",
    description="Per recovery site: whether each group of the plan has a verified consistency "
    "point there (and its age), which sites qualify (a CP of every group) and which pass every "
    "check. Saved as the plan's readiness.",
)
async def check_readiness(plan_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> PlanOut:
    plan = await visible_plan(runtime, who, plan_id)
    try:
        plan = await service.readiness(
            runtime.db, clouds_for(runtime), plan.id, link_rules=link_rules_for(runtime)
        )
    except service.PlanInvalid as exc:
        raise _invalid(exc) from exc
    (view,) = await _views(runtime, [plan])
    return view


@router.delete("/plans/{plan_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a plan")
async def delete_plan(plan_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> None:
    plan = await visible_plan(runtime, who, plan_id)
    async with runtime.db.transaction() as s:
        if await ExecutionRepository(s).running_for_plan(plan.id):
            raise HTTPException(status.HTTP_409_CONFLICT, detail="plan: an execution is running")
        await PlanRepository(s).delete(plan.id)
