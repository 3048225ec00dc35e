"""Recovery plans in and out of the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.orm import plans as t
from lifeboat_orchestrator.domain.plan import Capture, PlanSpec, PlanState, stored_spec
from lifeboat_shared.persistence.types import aware


@dataclass
class Plan:
    id: str
    spec: PlanSpec
    capture: Capture
    state: PlanState
    created_at: datetime
    updated_at: datetime
    readiness: dict[str, Any] | None = None
    checked_at: datetime | None = None


class PlanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _plan(row: sa.Row[Any]) -> Plan:
        m = row._mapping
        return Plan(
            id=m["id"],
            spec=PlanSpec.model_validate(stored_spec(m["spec"])),
            capture=Capture.model_validate(m["capture"]),
            state=PlanState.model_validate(m["placement"]),
            created_at=aware(m["created_at"]),
            updated_at=aware(m["updated_at"]),
            readiness=m["readiness"],
            checked_at=aware(m["checked_at"]) if m["checked_at"] else None,
        )

    async def get(self, plan_id: str, *, for_update: bool = False) -> Plan | None:
        q = sa.select(t).where(t.c.id == plan_id)
        if for_update:
            q = q.with_for_update()
        row = (await self.session.execute(q)).first()
        return self._plan(row) if row else None

    async def by_name(self, name: str) -> Plan | None:
        row = (await self.session.execute(sa.select(t).where(t.c.name == name))).first()
        return self._plan(row) if row else None

    async def all(self, project_id: str | None = None) -> list[Plan]:
        """Every plan, or (tenant isolation) only ``project_id``'s."""
        plans = [self._plan(r) for r in await self.session.execute(sa.select(t).order_by(t.c.name))]
        if project_id is None:
            return plans
        return [p for p in plans if p.spec.project_id == project_id]

    def _values(self, plan: Plan) -> dict[str, Any]:
        return {
            "name": plan.spec.name,
            "spec": plan.spec.model_dump(mode="json"),
            "capture": plan.capture.model_dump(mode="json"),
            "state": plan.state.status,
            "active_site": plan.state.active_site,
            "placement": plan.state.model_dump(mode="json"),
            "readiness": plan.readiness,
            "checked_at": plan.checked_at,
            "created_at": plan.created_at,
            "updated_at": plan.updated_at,
        }

    async def add(self, plan: Plan) -> None:
        await self.session.execute(sa.insert(t).values(id=plan.id, **self._values(plan)))

    async def save(self, plan: Plan) -> None:
        await self.session.execute(
            sa.update(t).where(t.c.id == plan.id).values(**self._values(plan))
        )

    async def delete(self, plan_id: str) -> None:
        await self.session.execute(sa.delete(t).where(t.c.id == plan_id))
