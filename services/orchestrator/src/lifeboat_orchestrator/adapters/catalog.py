"""What the orchestrator learns from other services' events: sites (from the policy service's
registry), each group's replication spec (from its ticks) and consistency points (from the
replicator). Event-carried state: the orchestrator can fail over with every other service down."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.orm import consistency_points as cps
from lifeboat_orchestrator.adapters.orm import group_specs as specs
from lifeboat_orchestrator.adapters.orm import site_catalog as sites
from lifeboat_orchestrator.domain.targets import group_of
from lifeboat_shared.contracts.messages import (
    ConsistencyPointCreated,
    CpMember,
    ReplicationSpec,
    SiteRef,
)
from lifeboat_shared.persistence.types import aware


@dataclass(frozen=True)
class KnownSite:
    ref: SiteRef
    role: str
    region: str | None


@dataclass(frozen=True)
class KnownCp:
    id: str
    group_id: str
    source_site: str
    target_site: str
    consistency: str
    taken_at: datetime
    created_at: datetime
    members: list[CpMember]


class CatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- sites -----------------------------------------------------------------------------
    async def put_site(self, site: SiteRef, role: str, region: str | None, at: datetime) -> None:
        values = {
            "cloud": site.cloud,
            "data_endpoint": site.data_endpoint,
            "role": role,
            "region": region,
            "updated_at": at,
        }
        done = await self.session.execute(
            sa.update(sites).where(sites.c.site_id == site.site_id).values(**values)
        )
        if not getattr(done, "rowcount", 0):
            await self.session.execute(sa.insert(sites).values(site_id=site.site_id, **values))

    async def sites(self) -> dict[str, KnownSite]:
        rows = await self.session.execute(sa.select(sites))
        out: dict[str, KnownSite] = {}
        for r in rows:
            m = r._mapping
            ref = SiteRef(site_id=m["site_id"], cloud=m["cloud"], data_endpoint=m["data_endpoint"])
            out[ref.site_id] = KnownSite(ref, m["role"], m["region"])
        return out

    async def site(self, site_id: str) -> KnownSite | None:
        return (await self.sites()).get(site_id)

    # --- group specs -------------------------------------------------------------------------
    async def put_spec(self, group_id: str, spec: ReplicationSpec, at: datetime) -> None:
        data = spec.model_dump(mode="json")
        row = (
            await self.session.execute(sa.select(specs.c.spec).where(specs.c.group_id == group_id))
        ).first()
        if row is None:
            await self.session.execute(
                sa.insert(specs).values(group_id=group_id, spec=data, updated_at=at)
            )
        elif row[0] != data:
            await self.session.execute(
                sa.update(specs)
                .where(specs.c.group_id == group_id)
                .values(spec=data, updated_at=at)
            )

    async def spec(self, group_id: str) -> ReplicationSpec | None:
        row = (
            await self.session.execute(sa.select(specs.c.spec).where(specs.c.group_id == group_id))
        ).first()
        return ReplicationSpec.model_validate(row[0]) if row else None

    # --- consistency points -----------------------------------------------------------------
    async def add_cp(self, cp: ConsistencyPointCreated) -> None:
        exists = (
            await self.session.execute(
                sa.select(cps.c.id).where(cps.c.id == cp.consistency_point_id)
            )
        ).first()
        if exists:
            return
        await self.session.execute(
            sa.insert(cps).values(
                id=cp.consistency_point_id,
                group_id=group_of(cp.group_id, cp.target_site),
                project_id=cp.project_id,
                source_site=cp.source_site,
                target_site=cp.target_site,
                consistency=cp.consistency,
                taken_at=cp.taken_at,
                created_at=cp.created_at,
                members=[m.model_dump(mode="json") for m in cp.members],
                pruned=False,
            )
        )

    async def prune_cp(self, cp_id: str) -> None:
        await self.session.execute(sa.update(cps).where(cps.c.id == cp_id).values(pruned=True))

    @staticmethod
    def _cp(row: sa.Row[Any]) -> KnownCp:
        m = row._mapping
        return KnownCp(
            id=m["id"],
            group_id=m["group_id"],
            source_site=m["source_site"],
            target_site=m["target_site"],
            consistency=m["consistency"],
            taken_at=aware(m["taken_at"]),
            created_at=aware(m["created_at"]),
            members=[CpMember.model_validate(x) for x in m["members"]],
        )

    async def cp(self, cp_id: str) -> KnownCp | None:
        row = (
            await self.session.execute(sa.select(cps).where(cps.c.id == cp_id, ~cps.c.pruned))
        ).first()
        return self._cp(row) if row else None

    async def newest_cp(
        self, group_id: str, target_site: str, *, after: datetime | None = None
    ) -> KnownCp | None:
        q = sa.select(cps).where(
            cps.c.group_id == group_id, cps.c.target_site == target_site, ~cps.c.pruned
        )
        if after is not None:
            q = q.where(cps.c.taken_at > after)
        row = (await self.session.execute(q.order_by(cps.c.taken_at.desc()).limit(1))).first()
        return self._cp(row) if row else None

    async def cps(self, group_id: str, limit: int = 50) -> list[KnownCp]:
        q = (
            sa.select(cps)
            .where(cps.c.group_id == group_id, ~cps.c.pruned)
            .order_by(cps.c.taken_at.desc())
            .limit(limit)
        )
        return [self._cp(r) for r in await self.session.execute(q)]
