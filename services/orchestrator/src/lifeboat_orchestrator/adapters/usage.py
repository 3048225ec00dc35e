"""The DR usage meters (``dr_usage``), one row per plan and server running at a DR site."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.orm import dr_usage as t
from lifeboat_orchestrator.domain.usage import DrMeter
from lifeboat_shared.persistence.types import aware


def _meter(row: sa.Row[Any]) -> DrMeter:
    m = row._mapping
    return DrMeter(
        plan_id=m["plan_id"],
        server_id=m["server_id"],
        project_id=m["project_id"],
        site_id=m["site_id"],
        vcpus=int(m["vcpus"]),
        window_start=aware(m["window_start"]),
        last_at=aware(m["last_at"]),
        running=bool(m["running"]),
        seconds=float(m["seconds"]),
    )


def _values(meter: DrMeter) -> dict[str, Any]:
    return {
        "project_id": meter.project_id,
        "site_id": meter.site_id,
        "vcpus": meter.vcpus,
        "window_start": meter.window_start,
        "last_at": meter.last_at,
        "running": meter.running,
        "seconds": meter.seconds,
    }


class DrMeterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self) -> None:
        """One usage pass at a time across replicas (PostgreSQL; SQLite has a single writer)."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext('lifeboat_orchestrator_usage'))")
            )

    async def all(self) -> dict[tuple[str, str], DrMeter]:
        rows = await self.session.execute(sa.select(t))
        return {(r.plan_id, r.server_id): _meter(r) for r in rows}

    async def add(self, meter: DrMeter) -> None:
        await self.session.execute(
            sa.insert(t).values(plan_id=meter.plan_id, server_id=meter.server_id, **_values(meter))
        )

    async def save(self, meter: DrMeter) -> None:
        await self.session.execute(
            sa.update(t)
            .where(t.c.plan_id == meter.plan_id, t.c.server_id == meter.server_id)
            .values(**_values(meter))
        )

    async def delete(self, meter: DrMeter) -> None:
        await self.session.execute(
            sa.delete(t).where(t.c.plan_id == meter.plan_id, t.c.server_id == meter.server_id)
        )
