"""REST API of the verifier: bubble test runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
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


@router.get("/test-runs", summary="Bubble test runs, newest first")
async def list_runs(
    runtime: RuntimeDep,
    _who: CurrentPrincipal,
    plan_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[TestRunOut]:
    async with runtime.db.read() as session:
        runs = await TestRunRepository(session).list(plan_id)
    return [
        TestRunOut(
            test_id=r.test_id,
            plan_id=r.plan_id,
            site_id=r.site_id,
            network_id=r.network_id,
            server_ids=r.server_ids,
            status=r.status.value,
            ready_at=r.ready_at,
        )
        for r in runs
    ]
