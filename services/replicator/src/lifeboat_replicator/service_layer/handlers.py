"""Message handlers of the replicator. They run inside the consumer's transaction (inbox).

Handlers only record intent (a pending cycle, a suspension); the cycle runner does the slow work
outside the consumer so a long transfer never holds a partition or a transaction.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from lifeboat_replicator.adapters.repository import (
    ConsistencyPointRepository,
    CycleRepository,
    GroupStateRepository,
)
from lifeboat_replicator.domain.model import CycleStatus, ReplicationCycle
from lifeboat_replicator.service_layer import wakeups
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import (
    ReplicateNow,
    ReplicationResumed,
    ReplicationSpec,
    ReplicationSuspended,
    RpoTickElapsed,
)

log = logging.getLogger(__name__)


async def _request_cycle(
    ctx: HandlerContext,
    *,
    group_id: str,
    spec: ReplicationSpec,
    trigger: str,
    tick_seq: int | None,
    full_resync: bool,
    rpo_seconds: int | None = None,
) -> None:
    cycles = CycleRepository(ctx.session)
    state = GroupStateRepository(ctx.session)
    running = await cycles.active_for_group(group_id)
    if running is not None:
        # One cycle per group at a time: it already covers everything written before its
        # snapshot; the next tick covers the rest.
        log.info("group %s: cycle %s still active; %s coalesced", group_id, running.id, trigger)
        return
    full_resync = await state.take_resync(group_id) or full_resync
    suspended = await state.is_suspended(group_id)
    newest = (
        await ConsistencyPointRepository(ctx.session).newest_taken_at(group_id)
        if rpo_seconds is not None
        else None
    )
    await cycles.add(
        ReplicationCycle(
            id=str(uuid.uuid4()),
            group_id=group_id,
            project_id=spec.project_id,
            trigger=trigger,
            trigger_event_id=ctx.envelope.id,
            requested_at=datetime.now(UTC),
            spec=spec.model_dump(mode="json"),
            tick_seq=tick_seq,
            due_by=newest + timedelta(seconds=rpo_seconds)
            if newest is not None and rpo_seconds is not None
            else None,
            full_resync=full_resync,
            status=CycleStatus.PAUSED if suspended else CycleStatus.PENDING,
        )
    )
    if not suspended:
        cycles.after_commit(wakeups.notify)  # this process's runner claims it at once


async def on_rpo_tick(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, RpoTickElapsed)
    if not await GroupStateRepository(ctx.session).accept_tick(message.group_id, message.tick_seq):
        log.info("group %s: stale tick %s dropped", message.group_id, message.tick_seq)
        return
    await _request_cycle(
        ctx,
        group_id=message.group_id,
        spec=message.spec,
        trigger=message.trigger,
        tick_seq=message.tick_seq,
        full_resync=False,
        rpo_seconds=message.rpo_seconds,
    )


async def on_replicate_now(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, ReplicateNow)
    await _request_cycle(
        ctx,
        group_id=message.group_id,
        spec=message.spec,
        trigger=message.trigger,
        tick_seq=None,
        full_resync=message.full_resync,
    )


async def on_suspended(message: Message, ctx: HandlerContext) -> None:
    """UC2e: no new work; a running cycle pauses at its next chunk and keeps its progress."""
    assert isinstance(message, ReplicationSuspended)
    await GroupStateRepository(ctx.session).set_suspended(message.group_id, True)
    await CycleRepository(ctx.session).set_status_for_group(
        message.group_id, [CycleStatus.PENDING], CycleStatus.PAUSED
    )


async def on_resumed(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, ReplicationResumed)
    state = GroupStateRepository(ctx.session)
    await state.set_suspended(message.group_id, False)
    if message.full_resync:
        await state.request_resync(message.group_id)
    cycles = CycleRepository(ctx.session)
    if message.scope == "failover":
        # Resumed after a failover and failback: a cycle paused before the failover copies
        # servers and volumes that are no longer the live data; the next tick starts afresh.
        await cycles.set_status_for_group(
            message.group_id,
            [CycleStatus.PAUSED],
            CycleStatus.FAILED,
            error="superseded: the group failed over and back; replicating its new members",
        )
        return
    await cycles.set_status_for_group(message.group_id, [CycleStatus.PAUSED], CycleStatus.PENDING)


HANDLERS: Handlers = {
    RpoTickElapsed: on_rpo_tick,
    ReplicateNow: on_replicate_now,
    ReplicationSuspended: on_suspended,
    ReplicationResumed: on_resumed,
}
