"""The usage ledger in and out of the database."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_billing.adapters.orm import usage_ledger as t
from lifeboat_billing.domain.model import UsageEntry
from lifeboat_shared.persistence.types import aware


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def has(self, usage_id: str) -> bool:
        row = await self.session.execute(sa.select(t.c.usage_id).where(t.c.usage_id == usage_id))
        return row.first() is not None

    async def add(self, entry: UsageEntry) -> None:
        await self.session.execute(
            sa.insert(t).values(
                usage_id=entry.usage_id,
                project_id=entry.project_id,
                site_id=entry.site_id,
                group_id=entry.group_id,
                metric=entry.metric,
                quantity=entry.quantity,
                period_start=entry.period_start,
                period_end=entry.period_end,
            )
        )

    async def list(self, project_id: str | None = None) -> Sequence[UsageEntry]:
        query = sa.select(t).order_by(t.c.period_start, t.c.usage_id)
        if project_id:
            query = query.where(t.c.project_id == project_id)
        return [
            UsageEntry(
                usage_id=r.usage_id,
                project_id=r.project_id,
                site_id=r.site_id,
                group_id=r.group_id,
                metric=r.metric,
                quantity=Decimal(r.quantity),
                period_start=aware(r.period_start),
                period_end=aware(r.period_end),
            )
            for r in await self.session.execute(query)
        ]
