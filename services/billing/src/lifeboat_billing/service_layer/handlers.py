"""Billing handlers: record each usage once, in the period it is billed in."""

from __future__ import annotations

from datetime import UTC, datetime

from lifeboat_billing.adapters.repository import InvoiceRepository, LedgerRepository
from lifeboat_billing.domain.model import UsageEntry
from lifeboat_billing.domain.periods import next_period, period_of
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import UsageRecorded


def billed_period(usage_period: str, closed: set[str]) -> str:
    """The usage's own month, or the first month after it not closed yet."""
    period = usage_period
    while period in closed:
        period = next_period(period)
    return period


async def on_usage_recorded(message: Message, ctx: HandlerContext) -> None:
    """Record usage once per ``usage_id``, even if re-sent under another event id. Usage of a
    closed period goes to the next open one as an adjustment (the closed invoice never changes)."""
    assert isinstance(message, UsageRecorded)
    repo = LedgerRepository(ctx.session)
    await repo.lock_project(message.project_id)
    if await repo.has(message.usage_id):
        return
    own = period_of(message.period_start)
    billed = billed_period(
        own, await InvoiceRepository(ctx.session).closed_periods(message.project_id)
    )
    await repo.add(
        UsageEntry(
            usage_id=message.usage_id,
            project_id=message.project_id,
            site_id=message.site_id,
            group_id=message.group_id,
            metric=message.metric,
            quantity=message.quantity,
            period_start=message.period_start,
            period_end=message.period_end,
            event_id=ctx.envelope.id,
            unit=message.unit,
            resource_id=message.resource_id,
            plan_id=message.plan_id,
            billed_period=billed,
            adjustment=billed != own,
            recorded_at=datetime.now(UTC),
        )
    )


HANDLERS: Handlers = {UsageRecorded: on_usage_recorded}
