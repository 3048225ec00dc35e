"""REST API: start executions of a plan and watch every step."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from lifeboat_orchestrator.adapters.executions import ExecutionRepository
from lifeboat_orchestrator.adapters.plans import PlanRepository
from lifeboat_orchestrator.domain.execution import Execution
from lifeboat_orchestrator.entrypoints.plans_api import visible_plan
from lifeboat_orchestrator.service_layer.executions import ExecutionRejected, start_execution
from lifeboat_orchestrator.service_layer.wiring import kick
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
from lifeboat_shared.service.tenancy import FORBIDDEN_PROJECT, can_see, listed_project

router = APIRouter(tags=["executions"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="The same key twice starts one execution",
    ),
]


class ExecutionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "failover",
        "planned-migration",
        "test-failover",
        "test-cleanup",
        "reprotect",
        "failback",
        "reconcile",
    ]
    target_site: str | None = Field(
        default=None,
        max_length=128,
        description="Default: the first recovery site holding a verified CP of every group",
    )
    consistency_point_id: str | None = Field(default=None, max_length=128)
    test_id: str | None = Field(default=None, max_length=128, description="For test-cleanup")
    degraded: bool = Field(
        default=False,
        description="Split brain (UC6): bring the DR copy up while the primary still runs",
    )
    resolution: Literal["keep-primary", "keep-dr", "keep-both"] | None = Field(
        default=None, description="For reconcile: overrides the plan's split_brain.reconcile"
    )


class StepOut(BaseModel):
    id: str
    action: str
    tier: str | None
    site: str | None
    state: str
    attempts: int
    depends_on: list[str]
    result: dict[str, Any]
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class ExecutionOut(BaseModel):
    id: str
    plan_id: str
    kind: str
    state: str
    source_site: str
    target_site: str
    requested_by: str
    consistency_point_id: str | None
    recovery_point: datetime | None
    rpo_seconds: float | None = Field(
        description=(
            "Data lost, in seconds: from the recovery point (the CP's taken_at) to when the "
            "source stopped. Unplanned failover: the source's last healthy probe before the "
            "failover (its declaration down if no probe saw it alive after the CP; the "
            "failover's start if it was not declared down). Planned migration and failback: "
            "the source servers' stop; 0 when the final sync's verified CP was taken after it"
        )
    )
    rpo_basis: str | None = Field(
        default=None,
        description=(
            "How the end of the window was known: last-healthy-probe, declared-down, "
            "failover-start, final-sync-after-stop, measured, source-not-stopped; stateless "
            "(UC8: a plan of stateless members only, nothing replicated, rpo_seconds 0)"
        ),
    )
    source_stopped_at: datetime | None = Field(
        default=None, description="When the source stopped: the end of the data-loss window"
    )
    decision_seconds: float | None = Field(
        default=None,
        description=(
            "Unplanned failover: from the source stopping to the failover's start (detection "
            "and the operator's decision; no data is lost in it)"
        ),
    )
    rto_seconds: float | None
    done: int
    total: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class ExecutionDetail(ExecutionOut):
    steps: list[StepOut]


def _out(e: Execution, counts: tuple[int, int] | None = None) -> ExecutionOut:
    done, total = counts or e.progress()
    return ExecutionOut(
        id=e.id,
        plan_id=e.plan_id,
        kind=e.kind,
        state=e.state.value,
        source_site=e.source_site,
        target_site=e.target_site,
        requested_by=e.requested_by,
        consistency_point_id=e.consistency_point_id,
        recovery_point=e.recovery_point,
        rpo_seconds=e.params.get("rpo_seconds"),
        rpo_basis=e.params.get("rpo_basis"),
        source_stopped_at=e.params.get("source_stopped_at"),
        decision_seconds=e.params.get("decision_seconds"),
        rto_seconds=e.params.get("rto_seconds"),
        done=done,
        total=total,
        error=e.error,
        created_at=e.created_at,
        finished_at=e.finished_at,
    )


def _detail(e: Execution) -> ExecutionDetail:
    return ExecutionDetail(
        **_out(e).model_dump(),
        steps=[
            StepOut(
                id=s.id,
                action=s.action,
                tier=s.tier,
                site=s.site,
                state=s.state.value,
                attempts=s.attempts,
                depends_on=s.depends_on,
                result=s.result,
                error=s.error,
                started_at=s.started_at,
                finished_at=s.finished_at,
            )
            for s in e.steps
        ],
    )


@router.post(
    "/plans/{plan_id}/executions",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start an execution: failover, planned-migration, test-failover, test-cleanup, "
    "reprotect, failback or reconcile",
    description="failover, test-failover and planned-migration go to target_site, which must "
    "hold a verified consistency point of every group of the plan (409 naming the site and the "
    "groups lacking one; a planned migration may also go where the groups replicate to); "
    "without target_site, to the first of the plan's recovery sites that does.",
    responses={409: {"description": "The plan cannot do that now (detail says why)"}},
)
async def start(
    plan_id: str,
    body: ExecutionIn,
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> ExecutionDetail:
    plan = await visible_plan(runtime, who, plan_id)
    execution_id = (
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"lifeboat:{plan.id}:{idempotency_key}"))
        if idempotency_key
        else str(uuid.uuid4())
    )
    params: dict[str, Any] = {}
    if body.test_id:
        params["test_id"] = body.test_id
    if body.degraded:
        params["degraded"] = True
    if body.resolution:
        params["resolution"] = body.resolution
    if body.kind == "test-cleanup" and not body.test_id:
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["body", "test_id"],
                    "msg": "test-cleanup needs test_id",
                    "type": "value_error",
                }
            ],
        )
    try:
        async with runtime.db.transaction() as s:
            execution, _created = await start_execution(
                s,
                execution_id=execution_id,
                plan_id=plan.id,
                kind=body.kind,
                requested_by=f"operator:{who.user_id}",
                target_site=body.target_site,
                consistency_point_id=body.consistency_point_id,
                params=params,
            )
    except ExecutionRejected as exc:
        if exc.conflict:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=f"{exc.field}: {exc}") from exc
        raise HTTPException(
            422, detail=[{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]
        ) from exc
    kick(runtime)
    async with runtime.db.read() as s:
        fresh = await ExecutionRepository(s).get(execution.id)
    assert fresh is not None
    return _detail(fresh)


@router.get(
    "/executions",
    summary="The caller's project's executions (its plans'; an admin: all, or project_id's), "
    "newest first",
    responses=FORBIDDEN_PROJECT,
)
async def list_executions(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    plan_id: Annotated[str | None, Query(max_length=128)] = None,
    state: Annotated[
        str | None, Query(max_length=16, pattern="^(running|succeeded|failed|cancelled)$")
    ] = None,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
) -> list[ExecutionOut]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as s:
        plan_ids = None
        if project is not None:
            plan_ids = [p.id for p in await PlanRepository(s).all(project)]
        repo = ExecutionRepository(s)
        rows = await repo.all(plan_id=plan_id, state=state, plan_ids=plan_ids)
        counts = await repo.progress([e.id for e in rows])
    return [_out(e, counts.get(e.id)) for e in rows]


@router.get("/executions/{execution_id}", summary="One execution with every step")
async def show_execution(
    execution_id: str, runtime: RuntimeDep, who: CurrentPrincipal
) -> ExecutionDetail:
    async with runtime.db.read() as s:
        execution = await ExecutionRepository(s).get(execution_id)
        plan = await PlanRepository(s).get(execution.plan_id) if execution else None
    if execution is None or not can_see(who, plan.spec.project_id if plan else None):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"execution {execution_id} not found")
    return _detail(execution)
