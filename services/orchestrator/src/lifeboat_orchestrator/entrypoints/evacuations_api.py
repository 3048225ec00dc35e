"""REST API: site evacuations (UC9) in approved waves, with a live summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from lifeboat_orchestrator.service_layer import evacuation as service
from lifeboat_orchestrator.service_layer.wiring import kick
from lifeboat_shared.service import CurrentPrincipal, Principal, RuntimeDep
from lifeboat_shared.service.tenancy import FORBIDDEN_PROJECT, listed_project

router = APIRouter(tags=["evacuations"])


class EvacuationOut(BaseModel):
    id: str
    state: str
    spec: service.EvacuationSpec
    summary: dict[str, Any]
    waves: list[dict[str, Any]]
    not_evacuable: list[dict[str, Any]] = Field(
        description="Plans left behind: no allowed recovery site holds a verified consistency "
        "point of every group of the plan (plan_id, name, vms, reason naming each site and the "
        "groups it lacks)"
    )
    created_at: datetime
    updated_at: datetime


def _out(evac: dict[str, Any]) -> EvacuationOut:
    return EvacuationOut(
        id=evac["id"],
        state=evac["state"],
        spec=service.EvacuationSpec.model_validate(evac["spec"]),
        summary=service.summary(evac),
        waves=evac["waves"],
        not_evacuable=evac.get("not_evacuable") or [],
        created_at=evac["created_at"],
        updated_at=evac["updated_at"],
    )


def _visible(who: Principal, evac: dict[str, Any] | None) -> bool:
    """A tenant sees its project's evacuations only; an admin's (all projects) it does not."""
    if evac is None:
        return False
    return who.is_admin or evac["spec"].get("project_id") == who.project_id


def _not_found(evacuation_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"evacuation {evacuation_id} not found")


def _invalid(exc: service.EvacuationInvalid) -> HTTPException:
    if exc.field in ("wave", "consistency_points"):
        return HTTPException(status.HTTP_409_CONFLICT, detail=f"{exc.field}: {exc}")
    return HTTPException(
        422, detail=[{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]
    )


@router.post(
    "/evacuations",
    status_code=status.HTTP_201_CREATED,
    summary="Evacuate a site: its plans (a tenant: its project's) in waves (approved one by "
    "one unless approval=none)",
    description="Each plan goes to one of its recovery sites (within target_sites) that holds "
    "a verified consistency point of every group of the plan, the least loaded by VMs; plans "
    "with no such site are listed in not_evacuable with the reason and the evacuation ends "
    "`incomplete` (409 when no plan can be evacuated).",
    responses={
        **FORBIDDEN_PROJECT,
        409: {"description": "consistency_points: no plan has a site holding its CPs"},
    },
)
async def create(
    body: service.EvacuationSpec, runtime: RuntimeDep, who: CurrentPrincipal
) -> EvacuationOut:
    body = body.model_copy(update={"project_id": listed_project(who, body.project_id)})
    try:
        async with runtime.db.transaction() as s:
            evac = await service.create_evacuation(s, body)
    except service.EvacuationInvalid as exc:
        raise _invalid(exc) from exc
    kick(runtime)
    return _out(evac)


@router.get(
    "/evacuations",
    summary="Evacuations (a tenant: its project's), newest first, with their summaries",
)
async def list_all(runtime: RuntimeDep, who: CurrentPrincipal) -> list[EvacuationOut]:
    async with runtime.db.read() as s:
        return [_out(e) for e in await service.list_evacuations(s) if _visible(who, e)]


@router.get("/evacuations/{evacuation_id}", summary="One evacuation: waves, plans, live summary")
async def show(evacuation_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> EvacuationOut:
    async with runtime.db.read() as s:
        evac = await service.get_evacuation(s, evacuation_id)
    if evac is None or not _visible(who, evac):
        raise _not_found(evacuation_id)
    return _out(evac)


@router.post("/evacuations/{evacuation_id}/approve", summary="Approve the next waiting wave")
async def approve(evacuation_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> EvacuationOut:
    async with runtime.db.read() as s:
        if not _visible(who, await service.get_evacuation(s, evacuation_id)):
            raise _not_found(evacuation_id)
    try:
        async with runtime.db.transaction() as s:
            evac = await service.approve_next(s, evacuation_id)
    except service.EvacuationInvalid as exc:
        raise _invalid(exc) from exc
    if evac is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"evacuation {evacuation_id} not found"
        )
    kick(runtime)
    return _out(evac)
