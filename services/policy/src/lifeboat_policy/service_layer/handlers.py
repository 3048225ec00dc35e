"""Handlers of the replicator's events. They run in the consumer's transaction (inbox), so an
event redelivered after a crash finds itself already handled and changes nothing twice.

A consistency point moves the group's (or set's) schedule: the next tick is due one RPO after
its recovery point, minus the cycle's expected duration (see ``domain.schedule``). A CP of an
application set updates every member group's achieved RPO.

Quiesce (UC2c): a ``QuiesceFailed`` alert records the cycle's failing VMs on the group (and on every
member of a set) for its status; a newer CP whose cycle quiesced every VM clears them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lifeboat_policy.adapters.repository import GroupRepository, TickUnitRepository
from lifeboat_policy.domain import schedule
from lifeboat_policy.domain.model import CpSummary, Failure, QuiesceReport
from lifeboat_policy.service_layer.control import with_legs
from lifeboat_policy.service_layer.units import load_contexts, refresh_units
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import (
    ConsistencyPointCreated,
    ConsistencyPointFailed,
    ExecutionCompleted,
    QuiesceFailed,
    ReplicationSuspended,
)


async def on_cp_created(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, ConsistencyPointCreated)
    now = datetime.now(UTC)
    targets = sorted({message.group_id, *message.member_groups})
    groups = GroupRepository(ctx.session)
    for group in await groups.many(targets, for_update=True):
        if group.newest_cp is not None and group.newest_cp.taken_at >= message.taken_at:
            continue  # an older CP arriving late moves nothing back
        group.newest_cp = CpSummary(
            message.consistency_point_id, message.taken_at, message.created_at
        )
        age = (now - message.taken_at).total_seconds()
        if group.breach_open and age <= group.rpo_target_seconds:
            group.breach_open = False  # the breach episode ends
        await groups.save_cp(group)
        if group.last_quiesce is not None and not message.quiesce_failures:
            group.last_quiesce = None  # this CP's cycle quiesced every VM
            await groups.save_quiesce(group)
    repo = TickUnitRepository(ctx.session)
    units = await repo.many(targets, for_update=True)
    contexts = await load_contexts(ctx.session, units)
    for unit in units:
        if unit.newest_cp_taken_at is not None and unit.newest_cp_taken_at >= message.taken_at:
            continue
        unit.newest_cp_taken_at = message.taken_at
        unit.lead_seconds = schedule.update_lead(
            unit.lead_seconds, message.taken_at, message.created_at, unit.last_tick_at
        )
        context = contexts.get(unit.unit_id)
        if context is not None and not context.paused and not unit.paused:
            unit.next_due_at = schedule.due_after_cp(
                unit.unit_id, context.cadence, message.taken_at, unit.lead_seconds, now
            )
        await repo.save(unit)


async def on_cp_failed(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, ConsistencyPointFailed)
    groups = GroupRepository(ctx.session)
    affected = await groups.many([message.group_id], for_update=True)
    affected += await groups.query(app_set_ids=[message.group_id])
    for group in affected:
        group.last_failure = Failure(message.stage, message.reason, message.failed_at)
        await groups.save_failure(group)
    if message.stage == "suspended":
        return  # the replicator refused because the group is suspended: no retry
    repo = TickUnitRepository(ctx.session)
    units = await repo.many([message.group_id], for_update=True)
    contexts = await load_contexts(ctx.session, units)
    for unit in units:
        context = contexts.get(unit.unit_id)
        if context is None or context.paused or unit.paused:
            continue
        unit.next_due_at = schedule.due_after_failure(
            context.cadence, max(message.failed_at, datetime.now(UTC)), unit.next_due_at
        )
        await repo.save(unit)


async def on_quiesce_failed(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, QuiesceFailed)
    failures = tuple((f.server_id, f.reason) for f in message.failures) or tuple(
        (s, message.reason[:300])
        for s in message.failed_servers  # an older replicator
    )
    report = QuiesceReport(message.cycle_id, message.outcome, message.at, failures)
    groups = GroupRepository(ctx.session)
    affected = await groups.many([message.group_id], for_update=True)
    affected += await groups.query(app_set_ids=[message.group_id])
    for group in affected:
        if group.last_quiesce is not None and group.last_quiesce.at > message.at:
            continue  # a later cycle's report is already there
        group.last_quiesce = report
        await groups.save_quiesce(group)


async def on_execution_completed(message: Message, ctx: HandlerContext) -> None:
    """A plan failed over (or migrated): its groups' source copies are no longer the live data.
    Suspend them (ReplicationSuspended, scope "failover") so no cycle replicates a stale or
    divergent copy over the DR site; reprotect then replicates the other way."""
    assert isinstance(message, ExecutionCompleted)
    if message.outcome != "succeeded" or message.execution_kind not in (
        "failover",
        "planned-migration",
        "failback",
    ):
        return
    now = datetime.now(UTC)
    groups = GroupRepository(ctx.session)
    for group_id in message.groups:
        group = await groups.get(group_id, for_update=True)
        if group is None or group.suspended:
            continue
        group.suspended = True
        await groups.set_suspended(group_id, True)
        await refresh_units(
            ctx.session, [group.app_set_id or group.id, *group.legs], now, due_now=None
        )
        suspended = ReplicationSuspended(
            group_id=group.id,
            scope="failover",
            source_site=group.source_site,
            target_site=group.target_site,
            requested_by=f"orchestrator:{message.execution_id}"[:255],
            at=now,
        )
        for event in with_legs(group, suspended):
            ctx.emit(event)


HANDLERS: Handlers = {
    ConsistencyPointCreated: on_cp_created,
    ConsistencyPointFailed: on_cp_failed,
    ExecutionCompleted: on_execution_completed,
    QuiesceFailed: on_quiesce_failed,
}
