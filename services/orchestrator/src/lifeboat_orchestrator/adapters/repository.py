"""Sites in and out of the database."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.orm import sites as t
from lifeboat_orchestrator.domain.model import Site, SiteState
from lifeboat_shared.persistence.types import aware


class SiteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _site(self, r: sa.Row[tuple[object, ...]]) -> Site:
        m = r._mapping
        return Site(
            id=m["id"],
            state=SiteState(m["state"]),
            changed_at=aware(m["changed_at"]),
            declared_by=m["declared_by"],
            reason=m["reason"],
        )

    async def get(self, site_id: str) -> Site | None:
        row = (await self.session.execute(sa.select(t).where(t.c.id == site_id))).first()
        return self._site(row) if row else None

    async def list(self) -> Sequence[Site]:
        return [self._site(r) for r in await self.session.execute(sa.select(t).order_by(t.c.id))]

    async def save(self, site: Site, *, new: bool) -> None:
        values = {
            "state": site.state.value,
            "changed_at": site.changed_at,
            "declared_by": site.declared_by,
            "reason": site.reason,
        }
        if new:
            await self.session.execute(sa.insert(t).values(id=site.id, **values))
        else:
            await self.session.execute(sa.update(t).where(t.c.id == site.id).values(**values))
