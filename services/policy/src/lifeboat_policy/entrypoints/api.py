"""REST API of the policy service: protection groups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from lifeboat_policy.adapters.repository import ProtectionGroupRepository
from lifeboat_policy.domain.model import ProtectionGroup
from lifeboat_policy.service_layer import handlers
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep

router = APIRouter(tags=["protection-groups"])

IdStr = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class ProtectionGroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, description="Unique within the project")
    project_id: IdStr = Field(description="OpenStack project that owns the protected resources")
    rpo_seconds: int = Field(ge=1, le=7 * 24 * 3600, description="Recovery point objective")
    target_site: IdStr = Field(description="DR site the group replicates to")


class ProtectionGroupOut(BaseModel):
    id: str
    name: str
    project_id: str
    rpo_seconds: int
    target_site: str
    created_at: datetime
    next_tick_at: datetime
    last_tick_seq: int

    @classmethod
    def of(cls, g: ProtectionGroup) -> ProtectionGroupOut:
        return cls(
            id=g.id,
            name=g.name,
            project_id=g.project_id,
            rpo_seconds=g.rpo_seconds,
            target_site=g.target_site,
            created_at=g.created_at,
            next_tick_at=g.next_tick_at,
            last_tick_seq=g.last_tick_seq,
        )


@router.post(
    "/protection-groups",
    status_code=status.HTTP_201_CREATED,
    summary="Create a protection group; its first RPO tick is due at once",
    responses={409: {"description": "A group with this name exists in the project"}},
)
async def create_group(
    body: ProtectionGroupCreate, runtime: RuntimeDep, _who: CurrentPrincipal
) -> ProtectionGroupOut:
    try:
        group = await handlers.create_protection_group(
            runtime.db,
            project_id=body.project_id,
            name=body.name,
            rpo_seconds=body.rpo_seconds,
            target_site=body.target_site,
        )
    except handlers.GroupNameTaken as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return ProtectionGroupOut.of(group)


@router.get("/protection-groups", summary="List protection groups")
async def list_groups(
    runtime: RuntimeDep,
    _who: CurrentPrincipal,
    project_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[ProtectionGroupOut]:
    return [ProtectionGroupOut.of(g) for g in await handlers.list_groups(runtime.db, project_id)]


@router.get(
    "/protection-groups/{group_id}",
    summary="Show a protection group",
    responses={404: {"description": "No such group"}},
)
async def get_group(
    group_id: str, runtime: RuntimeDep, _who: CurrentPrincipal
) -> ProtectionGroupOut:
    async with runtime.db.read() as session:
        group = await ProtectionGroupRepository(session).get(group_id)
    if group is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"group_id: no protection group {group_id}"
        )
    return ProtectionGroupOut.of(group)


@router.delete(
    "/protection-groups/{group_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a protection group (stops its RPO ticks)",
    responses={404: {"description": "No such group"}},
)
async def delete_group(group_id: str, runtime: RuntimeDep, _who: CurrentPrincipal) -> None:
    async with runtime.db.transaction() as session:
        if not await ProtectionGroupRepository(session).delete(group_id):
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail=f"group_id: no protection group {group_id}"
            )
