"""Test definitions in and out of the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.persistence.types import aware
from lifeboat_verifier.adapters.orm import test_definitions as d
from lifeboat_verifier.domain.definitions import CheckSpec, TestDefinition


def _definition(r: Any) -> TestDefinition:
    return TestDefinition(
        definition_id=r.definition_id,
        project_id=r.project_id,
        plan_id=r.plan_id,
        name=r.name,
        created_by=r.created_by,
        created_at=aware(r.created_at),
        schedule=r.schedule,
        consistency_point_id=r.consistency_point_id,
        target_site=r.target_site,
        checks=[CheckSpec.from_json(c) for c in r.checks or []],
        enabled=bool(r.enabled),
        next_due_at=aware(r.next_due_at) if r.next_due_at is not None else None,
    )


def _values(x: TestDefinition) -> dict[str, Any]:
    return {
        "project_id": x.project_id,
        "plan_id": x.plan_id,
        "name": x.name,
        "schedule": x.schedule,
        "consistency_point_id": x.consistency_point_id,
        "target_site": x.target_site,
        "checks": [c.to_json() for c in x.checks],
        "enabled": x.enabled,
        "next_due_at": x.next_due_at,
        "created_by": x.created_by,
        "created_at": x.created_at,
    }


class DefinitionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, x: TestDefinition) -> None:
        await self.session.execute(sa.insert(d).values(definition_id=x.definition_id, **_values(x)))

    async def save(self, x: TestDefinition) -> None:
        await self.session.execute(
            sa.update(d).where(d.c.definition_id == x.definition_id).values(**_values(x))
        )

    async def delete(self, definition_id: str) -> None:
        await self.session.execute(sa.delete(d).where(d.c.definition_id == definition_id))

    async def get(self, definition_id: str) -> TestDefinition | None:
        row = (
            await self.session.execute(sa.select(d).where(d.c.definition_id == definition_id))
        ).first()
        return _definition(row) if row is not None else None

    async def list(self, project_id: str | None = None) -> Sequence[TestDefinition]:
        query = sa.select(d).order_by(d.c.created_at)
        if project_id is not None:
            query = query.where(d.c.project_id == project_id)
        return [_definition(r) for r in await self.session.execute(query)]

    async def due(self, now: datetime, limit: int = 20) -> Sequence[TestDefinition]:
        query = (
            sa.select(d)
            .where(d.c.enabled.is_(True), d.c.next_due_at.is_not(None), d.c.next_due_at <= now)
            .order_by(d.c.next_due_at)
            .limit(limit)
        )
        return [_definition(r) for r in await self.session.execute(query)]

    async def advance(self, definition_id: str, was: datetime, to: datetime) -> bool:
        """Move the due time on, only if nobody did (the schedule's lease: one replica fires)."""
        result = await self.session.execute(
            sa.update(d)
            .where(d.c.definition_id == definition_id, d.c.next_due_at == was)
            .values(next_due_at=to)
        )
        return bool(getattr(result, "rowcount", 0))
