"""Billing handlers."""

from __future__ import annotations

from lifeboat_billing.adapters.repository import LedgerRepository
from lifeboat_billing.domain.model import UsageEntry
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import UsageRecorded


async def on_usage_recorded(message: Message, ctx: HandlerContext) -> None:
    """Record usage once per ``usage_id``, even if re-sent under another event id."""
    assert isinstance(message, UsageRecorded)
    repo = LedgerRepository(ctx.session)
    if await repo.has(message.usage_id):
        return
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
        )
    )


HANDLERS: Handlers = {UsageRecorded: on_usage_recorded}
