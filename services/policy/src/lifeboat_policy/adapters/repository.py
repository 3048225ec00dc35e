"""Protection groups in and out of the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_policy.adapters.orm import protection_groups as t
from lifeboat_policy.domain.model import ProtectionGroup
from lifeboat_shared.persistence.types import aware


def _to_domain(row: sa.Row[tuple[object, ...]]) -> ProtectionGroup:
    m = row._mapping
    return ProtectionGroup(
        id=m["id"],
        project_id=m["project_id"],
        name=m["name"],
        rpo_seconds=m["rpo_seconds"],
        target_site=m["target_site"],
        created_at=aware(m["created_at"]),
        next_tick_at=aware(m["next_tick_at"]),
        last_tick_seq=m["last_tick_seq"],
    )


class ProtectionGroupRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, group: ProtectionGroup) -> None:
        await self.session.execute(
            sa.insert(t).values(
                id=group.id,
                project_id=group.project_id,
                name=group.name,
                rpo_seconds=group.rpo_seconds,
                target_site=group.target_site,
                created_at=group.created_at,
                next_tick_at=group.next_tick_at,
                last_tick_seq=group.last_tick_seq,
            )
        )

    async def get(self, group_id: str) -> ProtectionGroup | None:
        row = (await self.session.execute(sa.select(t).where(t.c.id == group_id))).first()
        return _to_domain(row) if row else None

    async def find_by_name(self, project_id: str, name: str) -> ProtectionGroup | None:
        row = (
            await self.session.execute(
                sa.select(t).where(t.c.project_id == project_id, t.c.name == name)
            )
        ).first()
        return _to_domain(row) if row else None

    async def list(self, project_id: str | None = None) -> Sequence[ProtectionGroup]:
        query = sa.select(t).order_by(t.c.created_at, t.c.id)
        if project_id:
            query = query.where(t.c.project_id == project_id)
        return [_to_domain(r) for r in await self.session.execute(query)]

    async def due(self, now: datetime, limit: int = 500) -> Sequence[ProtectionGroup]:
        query = sa.select(t).where(t.c.next_tick_at <= now).order_by(t.c.next_tick_at).limit(limit)
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [_to_domain(r) for r in await self.session.execute(query)]

    async def save_schedule(self, group: ProtectionGroup) -> None:
        await self.session.execute(
            sa.update(t)
            .where(t.c.id == group.id)
            .values(next_tick_at=group.next_tick_at, last_tick_seq=group.last_tick_seq)
        )

    async def delete(self, group_id: str) -> bool:
        result = await self.session.execute(sa.delete(t).where(t.c.id == group_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]
