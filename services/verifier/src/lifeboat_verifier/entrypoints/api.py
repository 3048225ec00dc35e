"""REST API of the verifier: bubble test runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
from lifeboat_shared.service.tenancy import FORBIDDEN_PROJECT, listed_project
from lifeboat_verifier.adapters.repository import TestRunRepository

router = APIRouter(tags=["test-runs"])


class TestRunOut(BaseModel):
    __test__ = False

    test_id: str
    plan_id: str
    site_id: str
    network_id: str
    server_ids: list[str]
    status: str
    ready_at: datetime
    project_id: str | None = Field(
        default=None, description="The plan's project (null: recorded before tenancy)"
    )


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
) -> list[TestRunOut]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as session:
        runs = await TestRunRepository(session).list(plan_id, project_id=project)
    return [
        TestRunOut(
            test_id=r.test_id,
            plan_id=r.plan_id,
            site_id=r.site_id,
            network_id=r.network_id,
            server_ids=r.server_ids,
            status=r.status.value,
            ready_at=r.ready_at,
            project_id=r.project_id,
        )
        for r in runs
    ]
