"""Probe leases: which orchestrator replica probes which site.

Every replica runs the prober, but each site must be probed by one of them only: two probers
would each feed the hysteresis their own failures, so a site would be declared down after half
the failures the rules ask for. A lease is a row (site, owner, expiry) taken by compare-and-set:
one conditional UPDATE (free, expired or already ours) checked by its row count, or an INSERT
that does nothing if the row appeared meanwhile. No lock is held between statements, so this
works the same on PostgreSQL and SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.health_orm import site_probe_leases as pl


class ProbeLeaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def take(self, site_id: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or renew the lease of one site; True if ``owner`` holds it until ``until``."""
        renewed = await self.session.execute(
            sa.update(pl)
            .where(pl.c.site_id == site_id, sa.or_(pl.c.owner == owner, pl.c.lease_until < now))
            .values(owner=owner, lease_until=until)
        )
        if renewed.rowcount:  # type: ignore[attr-defined]
            return True
        values = {"site_id": site_id, "owner": owner, "lease_until": until}
        insert: sa.Executable
        if self.session.get_bind().dialect.name == "postgresql":
            insert = postgresql.insert(pl).values(**values).on_conflict_do_nothing()
        else:
            insert = sqlite.insert(pl).values(**values).on_conflict_do_nothing()
        return bool((await self.session.execute(insert)).rowcount)  # type: ignore[attr-defined]

    async def holds(self, site_id: str, owner: str) -> bool:
        """The fence before recording a probe: the lease is still ours (expired but not taken
        over is still ours). A conditional no-op UPDATE, so on PostgreSQL the row stays locked
        to the caller's commit and nobody takes the lease in between."""
        result = await self.session.execute(
            sa.update(pl).where(pl.c.site_id == site_id, pl.c.owner == owner).values(owner=owner)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, site_ids: Iterable[str], owner: str) -> None:
        """Give up our leases (a clean stop): another replica takes them on its next round."""
        ids = list(site_ids)
        if ids:
            await self.session.execute(
                sa.delete(pl).where(pl.c.site_id.in_(ids), pl.c.owner == owner)
            )

    async def owners(self) -> dict[str, tuple[str, datetime]]:
        rows = await self.session.execute(sa.select(pl.c.site_id, pl.c.owner, pl.c.lease_until))
        return {r[0]: (r[1], r[2]) for r in rows}
