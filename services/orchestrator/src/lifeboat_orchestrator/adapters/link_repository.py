"""Site-to-site link states in and out of the database, and the sites' health as the partition
rule reads it (declared state from ``sites``, the newest healthy probe from ``site_health``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.health_orm import site_health as h
from lifeboat_orchestrator.adapters.health_orm import site_links as t
from lifeboat_orchestrator.adapters.orm import sites as declared_sites
from lifeboat_orchestrator.domain.links import SiteLink, SiteSeen
from lifeboat_shared.persistence.types import aware


class LinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._pg = session.get_bind().dialect.name == "postgresql"

    @staticmethod
    def _link(row: sa.Row[Any]) -> SiteLink:
        m = row._mapping
        return SiteLink(
            source_site=m["source_site"],
            target_site=m["target_site"],
            reachable=bool(m["reachable"]),
            since=_opt(m["since"]),
            last_observed_at=_opt(m["last_observed_at"]),
            observer=m["observer"],
            detail=m["detail"],
            failures=[aware(datetime.fromisoformat(f)) for f in m["failures"]],
            successes=m["successes"],
        )

    async def get(self, source: str, target: str, *, for_update: bool = False) -> SiteLink | None:
        query = sa.select(t).where(t.c.source_site == source, t.c.target_site == target)
        if for_update and self._pg:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return self._link(row) if row else None

    async def all(self) -> list[SiteLink]:
        rows = await self.session.execute(sa.select(t).order_by(t.c.source_site, t.c.target_site))
        return [self._link(r) for r in rows]

    async def save(self, link: SiteLink, *, new: bool) -> None:
        values = {
            "reachable": link.reachable,
            "since": link.since,
            "last_observed_at": link.last_observed_at,
            "observer": link.observer,
            "detail": link.detail,
            "failures": [f.isoformat() for f in link.failures],
            "successes": link.successes,
        }
        if new:
            await self.session.execute(
                sa.insert(t).values(
                    source_site=link.source_site, target_site=link.target_site, **values
                )
            )
        else:
            await self.session.execute(
                sa.update(t)
                .where(t.c.source_site == link.source_site, t.c.target_site == link.target_site)
                .values(**values)
            )

    async def sites_seen(self) -> dict[str, SiteSeen]:
        """Every site with a declaration or a health row: declared state (a site never declared
        is up) and its newest healthy probe."""
        declared = {r.id: r.state for r in await self.session.execute(sa.select(declared_sites))}
        healthy = {
            r.site_id: (r.declared, r.last_healthy_at)
            for r in await self.session.execute(
                sa.select(h.c.site_id, h.c.declared, h.c.last_healthy_at)
            )
        }
        out: dict[str, SiteSeen] = {}
        for site_id in sorted(set(declared) | set(healthy)):
            state = declared.get(site_id) or healthy[site_id][0]
            last = healthy.get(site_id, (None, None))[1]
            out[site_id] = SiteSeen(site_id, state, _opt(last))
        return out


def _opt(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None
