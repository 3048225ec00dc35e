"""REST API of the replicator: replication cycles and the replicate-now command."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from lifeboat_replicator.adapters.repository import CycleRepository
from lifeboat_shared.contracts.messages import ReplicateNow
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep

router = APIRouter(tags=["replication"])


class CycleOut(BaseModel):
    id: str
    group_id: str
    trigger: str
    trigger_event_id: str
    tick_seq: int | None
    status: str
    requested_at: datetime


class ReplicateNowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")


class CommandAccepted(BaseModel):
    command_id: str
    type: str


@router.get("/replication-cycles", summary="List replication cycles, newest first")
async def list_cycles(
    runtime: RuntimeDep,
    _who: CurrentPrincipal,
    group_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CycleOut]:
    async with runtime.db.read() as session:
        cycles = await CycleRepository(session).list(group_id, limit)
    return [
        CycleOut(
            id=c.id,
            group_id=c.group_id,
            trigger=c.trigger.value,
            trigger_event_id=c.trigger_event_id,
            tick_seq=c.tick_seq,
            status=c.status.value,
            requested_at=c.requested_at,
        )
        for c in cycles
    ]


@router.post(
    "/replicate-now",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask for a consistency point now (a ReplicateNow command on the bus)",
)
async def replicate_now(
    body: ReplicateNowIn, runtime: RuntimeDep, who: CurrentPrincipal
) -> CommandAccepted:
    envelope = runtime.envelope(ReplicateNow(group_id=body.group_id, requested_by=who.user_id))
    async with runtime.db.transaction() as session:
        await add_to_outbox(session, [envelope])
    return CommandAccepted(command_id=envelope.id, type=envelope.type)
