"""REST API of the orchestrator: sites and operator declarations of site health."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from lifeboat_orchestrator.adapters.repository import SiteRepository
from lifeboat_orchestrator.entrypoints import evacuations_api, executions_api, plans_api
from lifeboat_orchestrator.entrypoints.health_api import known_sites
from lifeboat_shared.contracts.messages import SiteDeclaredDown, SiteDeclaredUp
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep, ServiceRuntime

router = APIRouter(tags=["sites"])
router.include_router(plans_api.router)
router.include_router(executions_api.router)
router.include_router(evacuations_api.router)
SiteId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.:\-]{1,128}$")]


class SiteOut(BaseModel):
    id: str
    state: str
    changed_at: datetime
    declared_by: str
    reason: str | None


class Declaration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="declared by operator", min_length=1, max_length=2000)


class EventAccepted(BaseModel):
    event_id: str
    type: str


@router.get("/sites", summary="Sites and their last declared health")
async def list_sites(runtime: RuntimeDep, _who: CurrentPrincipal) -> list[SiteOut]:
    async with runtime.db.read() as session:
        sites = await SiteRepository(session).list()
    return [
        SiteOut(
            id=s.id,
            state=s.state.value,
            changed_at=s.changed_at,
            declared_by=s.declared_by,
            reason=s.reason,
        )
        for s in sites
    ]


async def _known(runtime: ServiceRuntime, site_id: str) -> None:
    if site_id not in await known_sites(runtime):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"site_id: no site {site_id!r} is registered, probed or declared",
        )


@router.post(
    "/sites/{site_id}/declare-down",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Operator declares a site down (emits SiteDeclaredDown)",
)
async def declare_down(
    site_id: SiteId, body: Declaration, runtime: RuntimeDep, _who: CurrentPrincipal
) -> EventAccepted:
    await _known(runtime, site_id)
    message = SiteDeclaredDown(
        site_id=site_id, reason=body.reason, declared_by="operator", declared_at=datetime.now(UTC)
    )
    envelope = runtime.envelope(message)
    async with runtime.db.transaction() as session:
        await add_to_outbox(session, [envelope])
    return EventAccepted(event_id=envelope.id, type=envelope.type)


@router.post(
    "/sites/{site_id}/declare-up",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Operator declares a site up again (emits SiteDeclaredUp)",
)
async def declare_up(site_id: SiteId, runtime: RuntimeDep, _who: CurrentPrincipal) -> EventAccepted:
    await _known(runtime, site_id)
    message = SiteDeclaredUp(site_id=site_id, declared_by="operator", declared_at=datetime.now(UTC))
    envelope = runtime.envelope(message)
    async with runtime.db.transaction() as session:
        await add_to_outbox(session, [envelope])
    return EventAccepted(event_id=envelope.id, type=envelope.type)
