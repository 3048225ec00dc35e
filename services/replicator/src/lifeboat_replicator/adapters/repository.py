"""Replication cycles in and out of the database."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_replicator.adapters.orm import replication_cycles as t
from lifeboat_replicator.domain.model import CycleStatus, ReplicationCycle, Trigger
from lifeboat_shared.persistence.types import aware


class CycleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, cycle: ReplicationCycle) -> None:
        await self.session.execute(
            sa.insert(t).values(
                id=cycle.id,
                group_id=cycle.group_id,
                trigger=cycle.trigger.value,
                trigger_event_id=cycle.trigger_event_id,
                tick_seq=cycle.tick_seq,
                status=cycle.status.value,
                requested_at=cycle.requested_at,
            )
        )

    async def list(
        self, group_id: str | None = None, limit: int = 100
    ) -> Sequence[ReplicationCycle]:
        query = sa.select(t).order_by(t.c.requested_at.desc(), t.c.id).limit(limit)
        if group_id:
            query = query.where(t.c.group_id == group_id)
        return [
            ReplicationCycle(
                id=r.id,
                group_id=r.group_id,
                trigger=Trigger(r.trigger),
                trigger_event_id=r.trigger_event_id,
                tick_seq=r.tick_seq,
                status=CycleStatus(r.status),
                requested_at=aware(r.requested_at),
            )
            for r in await self.session.execute(query)
        ]
