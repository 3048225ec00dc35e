"""The RPO scheduler: turn due tick units into RpoTickElapsed events, and raise breach alerts.

One pass takes up to ``limit`` due units oldest first, advances each unit's schedule and stages
its tick in the same transaction, so a crash either loses both (the unit is still due and ticks
on the next pass: nothing missed) or keeps both. The event id is ``rpo-tick-<unit>-<seq>``:
a tick is never published under two ids, and the outbox refuses the same id twice.

A unit whose tick cannot be built (its spec does not validate) or is over the bus's
``max_record_bytes`` is isolated: its tick is not staged, its groups' ``last_failure`` says why
(stage ``schedule``), it is logged and counted (``lifeboat_policy_tick_failures``), and it is
retried at its next due time; every other unit of the batch ticks as usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_policy import metrics
from lifeboat_policy.adapters.catalog import CatalogRepository
from lifeboat_policy.adapters.repository import GroupRepository, TickUnitRepository
from lifeboat_policy.domain import schedule
from lifeboat_policy.domain.model import Failure, TickUnit
from lifeboat_policy.service_layer.units import UnitContext, load_contexts
from lifeboat_shared.contracts.envelope import Envelope, encode_envelope
from lifeboat_shared.contracts.messages import RpoBreached, RpoTickElapsed
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service.runtime import ServiceRuntime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmittedTick:
    unit_id: str
    seq: int
    due_at: datetime
    emitted_at: datetime


async def emit_due_ticks(
    runtime: ServiceRuntime, now: datetime | None = None, *, limit: int = 500
) -> list[EmittedTick]:
    """One batch: stage the ticks of up to ``limit`` due units; returns what it emitted."""
    now = now or datetime.now(UTC)
    emitted: list[EmittedTick] = []
    async with runtime.db.transaction() as session:
        repo = TickUnitRepository(session)
        units = await repo.due(now, limit)
        if not units:
            return emitted
        contexts = await load_contexts(session, units)
        envelopes: list[Envelope] = []
        for unit in units:
            context = contexts.get(unit.unit_id)
            if context is None or not context.ticks:
                # Deleted meanwhile, a pause the unit has not seen, or nothing to replicate
                # (stateless templates only, UC8): stop ticking it.
                unit.paused, unit.next_due_at = context is not None, None
                continue
            assert unit.next_due_at is not None
            cadence = context.cadence
            seq = unit.last_tick_seq + 1
            trigger = unit.pending_trigger or ("schedule" if cadence.is_cron else "rpo")
            try:
                tick = RpoTickElapsed(
                    group_id=unit.unit_id,
                    project_id=context.project_id,
                    tick_seq=seq,
                    rpo_seconds=context.rpo_target_seconds,
                    due_at=unit.next_due_at,
                    trigger=trigger,
                    spec=context.spec(),
                )
                envelope = runtime.envelope(tick, event_id=f"rpo-tick-{unit.unit_id}-{seq}")
                size = len(encode_envelope(envelope).value)
                limit = runtime.settings.max_record_bytes
                if size > limit:
                    raise TickUnbuildable(
                        f"tick event of {size} bytes is over the bus limit of {limit} bytes "
                        "(max_record_bytes): shorten the group's members, hooks or policy"
                    )
            except (TickUnbuildable, ValidationError, ValueError) as exc:
                await _isolate(session, unit, context, exc, now)
                continue
            envelopes.append(envelope)
            emitted.append(EmittedTick(unit.unit_id, seq, unit.next_due_at, now))
            unit.last_tick_seq, unit.last_tick_at, unit.pending_trigger = seq, now, None
            unit.next_due_at = schedule.due_after_tick(
                unit.unit_id, cadence, now, unit.lead_seconds or 0.0
            )
        # Only schedule columns: the CP handler owns lead_seconds and newest_cp_taken_at.
        await repo.save_many(units)
        await add_to_outbox(session, envelopes)
    return emitted


class TickUnbuildable(ValueError):
    pass


async def _isolate(
    session: AsyncSession, unit: TickUnit, context: UnitContext, exc: Exception, now: datetime
) -> None:
    """Leave this unit out of the batch, say why on its groups, retry at its next due time."""
    reason = str(exc) if isinstance(exc, TickUnbuildable) else f"tick spec invalid: {exc}"
    reason = reason[:500]
    log.warning("RPO tick of %s not emitted: %s", unit.unit_id, reason)
    metrics.TICK_FAILURES.inc()
    groups = GroupRepository(session)
    for group in context.groups:
        group.last_failure = Failure("schedule", reason, now)
        await groups.save_failure(group)
    unit.next_due_at = schedule.due_after_tick(
        unit.unit_id, context.cadence, now, unit.lead_seconds or 0.0
    )


async def emit_breaches(runtime: ServiceRuntime, now: datetime | None = None) -> list[str]:
    """Open a breach episode (one RpoBreached event) for every group newly over its target.

    The episode closes when a CP brings the achieved RPO back under the target (see the CP
    handler), so an alert fires once per episode, not on every check. Suspended groups and
    links are left out: the operator chose to let their RPO grow (UC2e)."""
    now = now or datetime.now(UTC)
    opened: list[str] = []
    async with runtime.db.transaction() as session:
        groups = GroupRepository(session)
        links = await CatalogRepository(session).suspended_links()
        envelopes: list[Envelope] = []
        for group in await groups.breach_candidates(now):
            if (group.source_site, group.target_site) in links:
                continue
            group.breach_open = True
            group.breach_episode += 1
            await groups.save_breach(group)
            taken = group.newest_cp.taken_at if group.newest_cp else None
            reference = taken or group.created_at
            event = RpoBreached(
                group_id=group.id,
                project_id=group.project_id,
                rpo_seconds=group.rpo_target_seconds,
                achieved_rpo_seconds=max(0.0, (now - reference).total_seconds()),
                newest_cp_at=taken,
                detected_at=now,
            )
            event_id = f"rpo-breach-{group.id}-{group.breach_episode}"
            envelopes.append(runtime.envelope(event, event_id=event_id))
            opened.append(group.id)
        await add_to_outbox(session, envelopes)
    if opened:
        log.warning("RPO breached for %d groups", len(opened))
    return opened
