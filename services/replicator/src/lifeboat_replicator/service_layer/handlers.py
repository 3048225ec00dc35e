"""Message handlers of the replicator. They run inside the consumer's transaction (inbox)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from lifeboat_replicator.adapters.repository import CycleRepository
from lifeboat_replicator.domain.model import ReplicationCycle, Trigger
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import ReplicateNow, RpoTickElapsed


async def on_rpo_tick(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, RpoTickElapsed)
    await CycleRepository(ctx.session).add(
        ReplicationCycle(
            id=str(uuid.uuid4()),
            group_id=message.group_id,
            trigger=Trigger.RPO_TICK,
            trigger_event_id=ctx.envelope.id,
            tick_seq=message.tick_seq,
            requested_at=datetime.now(UTC),
        )
    )


async def on_replicate_now(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, ReplicateNow)
    await CycleRepository(ctx.session).add(
        ReplicationCycle(
            id=str(uuid.uuid4()),
            group_id=message.group_id,
            trigger=Trigger.REPLICATE_NOW,
            trigger_event_id=ctx.envelope.id,
            requested_at=datetime.now(UTC),
        )
    )


HANDLERS: Handlers = {RpoTickElapsed: on_rpo_tick, ReplicateNow: on_replicate_now}
