"""The usage meters of the policy service (``protection_usage``), one row per group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_policy.adapters.orm import protection_groups as g
from lifeboat_policy.adapters.orm import protection_usage as t
from lifeboat_policy.domain.usage import Meter, Protected
from lifeboat_shared.persistence.types import aware


def _meter(row: sa.Row[Any]) -> Meter:
    m = row._mapping
    return Meter(
        group_id=m["group_id"],
        project_id=m["project_id"],
        site_id=m["site_id"],
        window_start=aware(m["window_start"]),
        last_at=aware(m["last_at"]),
        state=Protected(bool(m["active"]), int(m["servers"]), int(m["volume_bytes"])),
        active_seconds=float(m["active_seconds"]),
        vm_seconds=float(m["vm_seconds"]),
        byte_seconds=float(m["byte_seconds"]),
    )


def _values(meter: Meter) -> dict[str, Any]:
    return {
        "project_id": meter.project_id,
        "site_id": meter.site_id,
        "window_start": meter.window_start,
        "last_at": meter.last_at,
        "active": meter.state.active,
        "servers": meter.state.servers,
        "volume_bytes": meter.state.volume_bytes,
        "active_seconds": meter.active_seconds,
        "vm_seconds": meter.vm_seconds,
        "byte_seconds": meter.byte_seconds,
    }


class MeterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self) -> None:
        """One usage pass at a time across replicas (PostgreSQL; SQLite has a single writer):
        the second replica's pass then sees the first one's meters and adds only what is new."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext('lifeboat_policy_usage'))")
            )

    async def all(self) -> dict[str, Meter]:
        rows = await self.session.execute(sa.select(t))
        return {r.group_id: _meter(r) for r in rows}

    async def add(self, meter: Meter) -> None:
        await self.session.execute(sa.insert(t).values(group_id=meter.group_id, **_values(meter)))

    async def save(self, meter: Meter) -> None:
        await self.session.execute(
            sa.update(t).where(t.c.group_id == meter.group_id).values(**_values(meter))
        )

    async def delete(self, group_ids: Sequence[str]) -> None:
        if group_ids:
            await self.session.execute(sa.delete(t).where(t.c.group_id.in_(list(group_ids))))

    async def set_volume_bytes(self, group_id: str, volume_bytes: int) -> None:
        """The protected volumes' size, as the group's newest CP reported it."""
        await self.session.execute(
            sa.update(g).where(g.c.id == group_id).values(protected_bytes=volume_bytes)
        )

    async def volume_bytes(self) -> dict[str, int]:
        rows = await self.session.execute(sa.select(g.c.id, g.c.protected_bytes))
        return {r[0]: int(r[1] or 0) for r in rows}
