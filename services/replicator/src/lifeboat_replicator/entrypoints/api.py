"""REST API of the replicator: replication cycles and consistency points (read-only: cycles are
asked for through the policy service's ticks and replicate-now)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from lifeboat_replicator.adapters.repository import ConsistencyPointRepository, CycleRepository
from lifeboat_replicator.domain.model import (
    ConsistencyPoint,
    QuiesceFailure,
    ReplicationCycle,
    VolumeProgress,
)
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
from lifeboat_shared.service.tenancy import FORBIDDEN_PROJECT, can_see, listed_project

router = APIRouter(tags=["replication"])

GroupQuery = Annotated[str | None, Query(max_length=64, description="Only this group")]
ProjectQuery = Annotated[
    str | None,
    Query(
        max_length=128,
        description="Admins: only this project (default: all). Others see only their token's "
        "project; naming another one is refused (403)",
    ),
]


class VolumeOut(BaseModel):
    volume_id: str
    server_id: str | None
    device: str | None
    size_gib: int
    source_snapshot_id: str | None
    replica_volume_id: str | None
    replica_snapshot_id: str | None
    transferred: bool
    bytes_changed: int
    bytes_sent: int
    seeded_from: str | None = Field(
        default=None, description="UC5c: the DR-side seed volume its first copy started from"
    )
    source_backup_id: str | None = Field(
        default=None, description="Backup strategy (UC7): the backup at the protected site"
    )
    backup_id: str | None = Field(
        default=None,
        description="Backup strategy (UC7): the backup imported at the DR site (what a restore "
        "uses); replica_volume_id and replica_snapshot_id are then null",
    )
    backup_incremental: bool = Field(
        default=False, description="Backup strategy: chained on the previous CP's backup"
    )

    @classmethod
    def of(cls, v: VolumeProgress) -> VolumeOut:
        return cls.model_validate(v, from_attributes=True)


class QuiesceFailureOut(BaseModel):
    server_id: str | None = Field(description="None: the group's quiesce hook failed")
    reason: str

    @classmethod
    def of(cls, f: QuiesceFailure) -> QuiesceFailureOut:
        return cls(server_id=f.server_id, reason=f.reason)


REASON_DOC = "Why the consistency is crash, when it is (quiesce failed, method none, ...)"
FAILURES_DOC = "Every VM that could not be quiesced in this cycle, with a short reason"


class CycleOut(BaseModel):
    id: str
    group_id: str
    project_id: str
    trigger: str
    trigger_event_id: str
    tick_seq: int | None
    status: str
    stage: str
    attempts: int
    consistency: str | None
    consistency_reason: str | None = Field(description=REASON_DOC)
    quiesce_failures: list[QuiesceFailureOut] = Field(description=FAILURES_DOC)
    taken_at: datetime | None
    requested_at: datetime
    due_by: datetime | None = Field(
        description="When the group's RPO target would be missed (newest CP's recovery point + "
        "RPO); pending cycles are started soonest first (none: a first copy or replicate-now, "
        "due at once)"
    )
    finished_at: datetime | None
    error: str | None
    bytes_changed: int
    bytes_sent: int
    volumes: list[VolumeOut]

    @classmethod
    def of(cls, c: ReplicationCycle) -> CycleOut:
        return cls(
            id=c.id,
            group_id=c.group_id,
            project_id=c.project_id,
            trigger=c.trigger,
            trigger_event_id=c.trigger_event_id,
            tick_seq=c.tick_seq,
            status=c.status.value,
            stage=c.stage.value,
            attempts=c.attempts,
            consistency=c.consistency.value if c.consistency else None,
            consistency_reason=c.consistency_reason,
            quiesce_failures=[QuiesceFailureOut.of(f) for f in c.quiesce_failures],
            taken_at=c.taken_at,
            requested_at=c.requested_at,
            due_by=c.due_by,
            finished_at=c.finished_at,
            error=c.error,
            bytes_changed=c.bytes_changed,
            bytes_sent=c.bytes_sent,
            volumes=[VolumeOut.of(v) for v in c.volumes],
        )


class ConsistencyPointOut(BaseModel):
    id: str
    group_id: str
    project_id: str
    member_groups: list[str]
    source_site: str
    target_site: str
    consistency: str
    consistency_reason: str | None = Field(description=REASON_DOC)
    quiesce_failures: list[QuiesceFailureOut] = Field(description=FAILURES_DOC)
    taken_at: datetime
    created_at: datetime
    cycle_id: str
    bytes_sent: int
    pruned: bool
    members: list[VolumeOut]

    @classmethod
    def of(cls, cp: ConsistencyPoint) -> ConsistencyPointOut:
        return cls(
            id=cp.id,
            group_id=cp.group_id,
            project_id=cp.project_id,
            member_groups=list(cp.member_groups),
            source_site=cp.source_site,
            target_site=cp.target_site,
            consistency=cp.consistency.value,
            consistency_reason=cp.consistency_reason,
            quiesce_failures=[QuiesceFailureOut.of(f) for f in cp.quiesce_failures],
            taken_at=cp.taken_at,
            created_at=cp.created_at,
            cycle_id=cp.cycle_id,
            bytes_sent=cp.bytes_sent,
            pruned=cp.pruned,
            members=[VolumeOut.of(m) for m in cp.members],
        )


@router.get(
    "/replication-cycles",
    summary="List the caller's project's replication cycles, newest first",
    responses=FORBIDDEN_PROJECT,
)
async def list_cycles(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    group_id: GroupQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    project_id: ProjectQuery = None,
) -> list[CycleOut]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as session:
        cycles = await CycleRepository(session).list(group_id, limit, project_id=project)
    return [CycleOut.of(c) for c in cycles]


@router.get(
    "/replication-cycles/{cycle_id}",
    summary="Show one replication cycle with its per-volume progress",
    responses={404: {"description": "No such cycle"}},
)
async def get_cycle(cycle_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> CycleOut:
    async with runtime.db.read() as session:
        cycle = await CycleRepository(session).get(cycle_id)
    if cycle is None or not can_see(who, cycle.project_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"cycle_id: no replication cycle {cycle_id}")
    return CycleOut.of(cycle)


@router.get(
    "/consistency-points",
    summary="List the caller's project's verified consistency points at DR sites, newest first",
    responses=FORBIDDEN_PROJECT,
)
async def list_consistency_points(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    group_id: GroupQuery = None,
    include_pruned: Annotated[bool, Query(description="Also those retention removed")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    project_id: ProjectQuery = None,
) -> list[ConsistencyPointOut]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as session:
        points = await ConsistencyPointRepository(session).list(
            group_id, include_pruned=include_pruned, limit=limit, project_id=project
        )
    return [ConsistencyPointOut.of(p) for p in points]


@router.get(
    "/consistency-points/{cp_id}",
    summary="Show one consistency point: its volumes and their replica snapshots",
    responses={404: {"description": "No such consistency point"}},
)
async def get_consistency_point(
    cp_id: str, runtime: RuntimeDep, who: CurrentPrincipal
) -> ConsistencyPointOut:
    async with runtime.db.read() as session:
        cp = await ConsistencyPointRepository(session).get(cp_id)
    if cp is None or not can_see(who, cp.project_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"cp_id: no consistency point {cp_id}")
    return ConsistencyPointOut.of(cp)
