"""REST API: test definitions (tenant-owned) and their runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
from lifeboat_shared.service.auth import Principal
from lifeboat_shared.service.tenancy import (
    FORBIDDEN_PROJECT,
    can_see,
    listed_project,
    owning_project,
)
from lifeboat_verifier.adapters.definitions import DefinitionRepository
from lifeboat_verifier.adapters.repository import TestRunRepository
from lifeboat_verifier.domain.definitions import CheckSpec, TestDefinition
from lifeboat_verifier.domain.model import TestRun
from lifeboat_verifier.domain.schedule import ScheduleClock
from lifeboat_verifier.entrypoints.schemas import (
    CheckIn,
    DefinitionIn,
    DefinitionOut,
    DefinitionPatch,
    RunOut,
)
from lifeboat_verifier.service_layer.starting import start_run
from lifeboat_verifier.settings import VerifierSettings

router = APIRouter(tags=["test-definitions"])
NOT_FOUND: dict[int | str, dict[str, str]] = {404: {"description": "No such definition or run"}}


def _specs(checks: list[CheckIn]) -> list[CheckSpec]:
    return [CheckSpec.from_json(c.model_dump(exclude_none=True)) for c in checks]


def _out(d: TestDefinition) -> DefinitionOut:
    return DefinitionOut(
        definition_id=d.definition_id,
        project_id=d.project_id,
        plan_id=d.plan_id,
        name=d.name,
        schedule=d.schedule,
        consistency_point_id=d.consistency_point_id,
        target_site=d.target_site,
        checks=[c.to_json() for c in d.checks],
        enabled=d.enabled,
        next_due_at=d.next_due_at,
        created_by=d.created_by,
        created_at=d.created_at,
    )


def run_out(r: TestRun) -> RunOut:
    return RunOut(
        test_id=r.test_id,
        plan_id=r.plan_id,
        definition_id=r.definition_id,
        project_id=r.project_id,
        site_id=r.site_id,
        network_id=r.network_id,
        server_ids=r.server_ids,
        phase=r.phase.value,
        status=r.status.value,
        started_by=r.started_by,
        started_at=r.started_at,
        ready_at=r.ready_at,
        finished_at=r.finished_at,
        rto_seconds=r.rto_seconds,
        rpo_seconds=r.rpo_seconds,
        failover_error=r.failover_error,
        cleanup=r.cleanup.value,
        cleanup_attempts=r.cleanup_attempts,
        checks=[c.to_json() for c in r.results],
        evidence=r.evidence,
    )


def _settings(runtime: RuntimeDep) -> VerifierSettings:
    s = runtime.settings
    assert isinstance(s, VerifierSettings)
    return s


def _next_due(d: TestDefinition, settings: VerifierSettings) -> datetime | None:
    if d.schedule is None or not d.enabled:
        return None
    now = datetime.now(UTC)
    return ScheduleClock(settings.time_scale).next_fire(d.schedule, now, d.created_at)


def _who(p: Principal) -> str:
    return (p.user_name or p.user_id)[:200]


async def _visible(runtime: RuntimeDep, who: Principal, definition_id: str) -> TestDefinition:
    async with runtime.db.read() as s:
        d = await DefinitionRepository(s).get(definition_id)
    if d is None or not can_see(who, d.project_id):
        raise HTTPException(404, detail=f"test definition {definition_id} not found")
    return d


@router.post(
    "/test-definitions",
    status_code=201,
    summary="Define a bubble test of a recovery plan (schedule or on demand, CP, checks)",
    responses=FORBIDDEN_PROJECT,
)
async def create_definition(
    body: DefinitionIn, runtime: RuntimeDep, who: CurrentPrincipal
) -> DefinitionOut:
    d = TestDefinition(
        definition_id=f"td-{uuid.uuid4().hex[:16]}",
        project_id=owning_project(who, body.project_id),
        plan_id=body.plan_id,
        name=body.name,
        created_by=_who(who),
        created_at=datetime.now(UTC),
        schedule=body.schedule,
        consistency_point_id=body.consistency_point_id,
        target_site=body.target_site,
        checks=_specs(body.checks),
        enabled=body.enabled,
    )
    d.next_due_at = _next_due(d, _settings(runtime))
    async with runtime.db.transaction() as s:
        await DefinitionRepository(s).add(d)
    return _out(d)


@router.get(
    "/test-definitions",
    summary="The caller's project's test definitions (an admin: all, or project_id's)",
    responses=FORBIDDEN_PROJECT,
)
async def list_definitions(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
) -> list[DefinitionOut]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as s:
        return [_out(d) for d in await DefinitionRepository(s).list(project)]


@router.get(
    "/test-definitions/{definition_id}", summary="Show a test definition", responses=NOT_FOUND
)
async def get_definition(
    definition_id: str, runtime: RuntimeDep, who: CurrentPrincipal
) -> DefinitionOut:
    return _out(await _visible(runtime, who, definition_id))


@router.patch(
    "/test-definitions/{definition_id}",
    summary="Change a test definition (schedule, CP, checks, enabled)",
    responses=NOT_FOUND,
)
async def patch_definition(
    definition_id: str, body: DefinitionPatch, runtime: RuntimeDep, who: CurrentPrincipal
) -> DefinitionOut:
    d = await _visible(runtime, who, definition_id)
    fields = body.model_fields_set
    if body.name is not None:
        d.name = body.name
    if body.on_demand:
        d.schedule = None
    elif "schedule" in fields:
        d.schedule = body.schedule
    if "consistency_point_id" in fields:
        d.consistency_point_id = body.consistency_point_id
    if "target_site" in fields:
        d.target_site = body.target_site
    if body.checks is not None:
        d.checks = _specs(body.checks)
    if body.enabled is not None:
        d.enabled = body.enabled
    d.next_due_at = _next_due(d, _settings(runtime))
    async with runtime.db.transaction() as s:
        await DefinitionRepository(s).save(d)
    return _out(d)


@router.delete(
    "/test-definitions/{definition_id}",
    status_code=204,
    summary="Delete a test definition (its runs are kept)",
    responses=NOT_FOUND,
)
async def delete_definition(
    definition_id: str, runtime: RuntimeDep, who: CurrentPrincipal
) -> Response:
    await _visible(runtime, who, definition_id)
    async with runtime.db.transaction() as s:
        await DefinitionRepository(s).delete(definition_id)
    return Response(status_code=204)


@router.post(
    "/test-definitions/{definition_id}/runs",
    status_code=202,
    summary="Run the test now: a test failover, the checks, the teardown",
    responses=NOT_FOUND,
)
async def run_definition(definition_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> RunOut:
    d = await _visible(runtime, who, definition_id)
    now = datetime.now(UTC)
    run_id = f"vt-{uuid.uuid4().hex[:20]}"
    async with runtime.db.transaction() as s:
        run, msgs = await start_run(
            s, d, run_id, _who(who), now, _settings(runtime).failover_wait_seconds
        )
        await add_to_outbox(
            s,
            [
                runtime.envelope(m, event_id=f"verifier.{run.test_id}.start.{i}")
                for i, m in enumerate(msgs)
            ],
        )
    return run_out(run)


@router.get(
    "/test-runs/{test_id}", summary="Show a bubble test run (phase, checks, RTO, RPO, evidence)",
    responses=NOT_FOUND,
)  # fmt: skip
async def get_run(test_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> RunOut:
    async with runtime.db.read() as s:
        run = await TestRunRepository(s).get(test_id)
    if run is None or not can_see(who, run.project_id):
        raise HTTPException(404, detail=f"test run {test_id} not found")
    return run_out(run)
