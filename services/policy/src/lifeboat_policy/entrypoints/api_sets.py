"""REST: application sets (UC3): groups that share one consistency point."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from lifeboat_policy.adapters.catalog import CatalogRepository
from lifeboat_policy.adapters.repository import GroupRepository
from lifeboat_policy.domain.model import AppSet
from lifeboat_policy.entrypoints.errors import CONFLICT, NOT_FOUND, raise_http
from lifeboat_policy.entrypoints.schemas import AppSetCreate, AppSetOut
from lifeboat_policy.service_layer import catalog
from lifeboat_policy.service_layer.errors import NotFound, PolicyServiceError
from lifeboat_shared.service import CurrentPrincipal, Principal, RuntimeDep
from lifeboat_shared.service.tenancy import (
    FORBIDDEN_PROJECT,
    can_see,
    listed_project,
    owning_project,
)

router = APIRouter(tags=["app-sets"])


def set_out(s: AppSet, group_ids: list[str]) -> AppSetOut:
    return AppSetOut(
        id=s.id,
        name=s.name,
        project_id=s.project_id,
        source_site=s.source_site,
        target_site=s.target_site,
        group_ids=sorted(group_ids),
        created_at=s.created_at,
    )


@router.post(
    "/app-sets",
    status_code=status.HTTP_201_CREATED,
    summary="Create an application set; from now on the set ticks, not its groups",
    responses={**CONFLICT, **FORBIDDEN_PROJECT},
)
async def create_app_set(
    body: AppSetCreate, runtime: RuntimeDep, who: CurrentPrincipal
) -> AppSetOut:
    project_id = owning_project(who, body.project_id)
    try:
        app_set, groups = await catalog.create_app_set(
            runtime, project_id=project_id, name=body.name, group_ids=body.group_ids
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    return set_out(app_set, [g.id for g in groups])


@router.get(
    "/app-sets",
    summary="List the caller's project's application sets (an admin: all, or project_id's)",
    responses=FORBIDDEN_PROJECT,
)
async def list_app_sets(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
) -> list[AppSetOut]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as session:
        sets = await CatalogRepository(session).app_sets(project)
        groups = await GroupRepository(session).query(app_set_ids=[s.id for s in sets])
    return [set_out(s, [g.id for g in groups if g.app_set_id == s.id]) for s in sets]


@router.get("/app-sets/{set_id}", summary="Show an application set", responses=NOT_FOUND)
async def get_app_set(set_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> AppSetOut:
    app_set = await _visible(runtime, who, set_id)
    async with runtime.db.read() as session:
        groups = await GroupRepository(session).query(app_set_ids=[set_id])
    return set_out(app_set, [g.id for g in groups])


async def _visible(runtime: RuntimeDep, who: Principal, set_id: str) -> AppSet:
    """The set if the caller's project owns it (or an admin asks); else 404 like a missing one."""
    async with runtime.db.read() as session:
        app_set = await CatalogRepository(session).get_app_set(set_id)
    if app_set is None or not can_see(who, app_set.project_id):
        raise_http(NotFound("set_id", f"no application set {set_id}"))
    return app_set


@router.delete(
    "/app-sets/{set_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an application set; its groups tick on their own again",
    responses=NOT_FOUND,
)
async def delete_app_set(set_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> None:
    await _visible(runtime, who, set_id)
    try:
        await catalog.delete_app_set(runtime, set_id)
    except PolicyServiceError as exc:
        raise_http(exc)
