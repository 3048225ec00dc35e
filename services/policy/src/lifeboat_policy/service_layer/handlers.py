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
from lifeboat_policy.adapters.usage import MeterRepository
from lifeboat_policy.domain import schedule
from lifeboat_policy.domain.model import CpSummary, Failure, QuiesceReport
from lifeboat_policy.service_layer import lifecycle
from lifeboat_policy.service_layer.units import load_contexts
from lifeboat_policy.service_layer.usage import record_volume_bytes
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import (
    ConsistencyPointCreated,
    ConsistencyPointFailed,
    ExecutionCompleted,
    ProtectionChange,
    QuiesceFailed,
)


async def on_cp_created(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, ConsistencyPointCreated)
    now = datetime.now(UTC)
    targets = sorted({message.group_id, *message.member_groups})
    groups = GroupRepository(ctx.session)
    newer = []
    for group in await groups.many(targets, for_update=True):
        if group.newest_cp is not None and group.newest_cp.taken_at >= message.taken_at:
            continue  # an older CP arriving late moves nothing back
        newer.append(group)
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
    await record_volume_bytes(MeterRepository(ctx.session), message, newer)
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
        if context is not None:  # a first full copy's hours must not linger in the estimate
            half = context.cadence.interval(message.taken_at).total_seconds() / 2
            unit.lead_seconds = min(unit.lead_seconds, half)
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
    """A recovery execution ended: apply what it did to the protection (``lifecycle``). From an
    orchestrator that sends no changes: after a failover (or migration) suspend the plan's groups
    (their source copies are no longer the live data)."""
    assert isinstance(message, ExecutionCompleted)
    if message.outcome != "succeeded":
        return
    now = datetime.now(UTC)
    by = f"orchestrator:{message.execution_id}"[:255]
    changes = message.protection
    if not changes and message.execution_kind in ("failover", "planned-migration", "failback"):
        changes = [
            ProtectionChange(group_id=g, action="suspend", reason="failover")
            for g in message.groups
        ]
    await lifecycle.apply(changes, ctx, by=by, now=now)


HANDLERS: Handlers = {
    ConsistencyPointCreated: on_cp_created,
    ConsistencyPointFailed: on_cp_failed,
    ExecutionCompleted: on_execution_completed,
    QuiesceFailed: on_quiesce_failed,
}
