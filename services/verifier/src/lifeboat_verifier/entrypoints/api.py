"""REST API of the verifier: bubble test runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
from lifeboat_shared.service.tenancy import FORBIDDEN_PROJECT, listed_project
from lifeboat_verifier.adapters.repository import TestRunRepository
from lifeboat_verifier.entrypoints.definitions_api import run_out
from lifeboat_verifier.entrypoints.schemas import RunOut

router = APIRouter(tags=["test-runs"])


@router.get(
    "/test-runs",
    summary="The caller's project's bubble test runs (an admin: all, or project_id's), newest "
    "first",
    responses=FORBIDDEN_PROJECT,
)
async def list_runs(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    plan_id: Annotated[str | None, Query(max_length=64)] = None,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
    definition_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[RunOut]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as session:
        runs = await TestRunRepository(session).list(
            plan_id, project_id=project, definition_id=definition_id
        )
    return [run_out(r) for r in runs]
