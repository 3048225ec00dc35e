"""Sites, policies, application sets, site links and replicate-now requests in and out of the
database (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_policy.adapters.orm import app_sets, policies, replicate_requests, site_links, sites
from lifeboat_policy.domain.model import AppSet, Policy, Site
from lifeboat_shared.persistence.types import aware

Row = sa.Row[tuple[object, ...]]


def _site(row: Row) -> Site:
    m = row._mapping
    return Site(
        site_id=m["site_id"],
        cloud=m["cloud"],
        role=m["role"],
        data_endpoint=m["data_endpoint"],
        region=m["region"],
        created_at=aware(m["created_at"]),
        updated_at=aware(m["updated_at"]),
    )


def _policy(row: Row) -> Policy:
    m = row._mapping
    return Policy(
        id=m["id"],
        name=m["name"],
        rpo_seconds=m["rpo_seconds"],
        cron=m["cron"],
        rpo_target_seconds=m["rpo_target_seconds"],
        spec=dict(m["spec"]),
        created_at=aware(m["created_at"]),
    )


def _app_set(row: Row) -> AppSet:
    m = row._mapping
    return AppSet(
        id=m["id"],
        project_id=m["project_id"],
        name=m["name"],
        source_site=m["source_site"],
        target_site=m["target_site"],
        created_at=aware(m["created_at"]),
    )


class CatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # sites
    async def get_site(self, site_id: str) -> Site | None:
        row = (
            await self.session.execute(sa.select(sites).where(sites.c.site_id == site_id))
        ).first()
        return _site(row) if row else None

    async def sites(self) -> dict[str, Site]:
        rows = await self.session.execute(sa.select(sites).order_by(sites.c.site_id))
        return {s.site_id: s for s in map(_site, rows)}

    async def add_site(self, site: Site) -> None:
        await self.session.execute(sa.insert(sites).values(**_site_values(site)))

    async def update_site(self, site: Site) -> None:
        values = _site_values(site)
        del values["created_at"]
        await self.session.execute(
            sa.update(sites).where(sites.c.site_id == site.site_id).values(**values)
        )

    # policies
    async def get_policy(self, policy_id: str) -> Policy | None:
        query = sa.select(policies).where(policies.c.id == policy_id)
        row = (await self.session.execute(query)).first()
        return _policy(row) if row else None

    async def find_policy(self, name: str) -> Policy | None:
        query = sa.select(policies).where(policies.c.name == name)
        row = (await self.session.execute(query)).first()
        return _policy(row) if row else None

    async def policies(self, ids: Sequence[str] | None = None) -> dict[str, Policy]:
        query = sa.select(policies).order_by(policies.c.created_at, policies.c.id)
        if ids is not None:
            query = query.where(policies.c.id.in_(list(ids)))
        return {p.id: p for p in map(_policy, await self.session.execute(query))}

    async def add_policy(self, policy: Policy) -> None:
        await self.session.execute(
            sa.insert(policies).values(
                id=policy.id,
                name=policy.name,
                rpo_seconds=policy.rpo_seconds,
                cron=policy.cron,
                rpo_target_seconds=policy.rpo_target_seconds,
                spec=policy.spec,
                created_at=policy.created_at,
            )
        )

    async def delete_policy(self, policy_id: str) -> bool:
        result = await self.session.execute(sa.delete(policies).where(policies.c.id == policy_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # application sets
    async def get_app_set(self, set_id: str) -> AppSet | None:
        row = (
            await self.session.execute(sa.select(app_sets).where(app_sets.c.id == set_id))
        ).first()
        return _app_set(row) if row else None

    async def find_app_set(self, project_id: str, name: str) -> AppSet | None:
        query = sa.select(app_sets).where(
            app_sets.c.project_id == project_id, app_sets.c.name == name
        )
        row = (await self.session.execute(query)).first()
        return _app_set(row) if row else None

    async def app_sets(
        self, project_id: str | None = None, ids: Sequence[str] | None = None
    ) -> list[AppSet]:
        query = sa.select(app_sets).order_by(app_sets.c.created_at, app_sets.c.id)
        if project_id:
            query = query.where(app_sets.c.project_id == project_id)
        if ids is not None:
            query = query.where(app_sets.c.id.in_(list(ids)))
        return [_app_set(r) for r in await self.session.execute(query)]

    async def add_app_set(self, app_set: AppSet) -> None:
        await self.session.execute(
            sa.insert(app_sets).values(
                id=app_set.id,
                project_id=app_set.project_id,
                name=app_set.name,
                source_site=app_set.source_site,
                target_site=app_set.target_site,
                created_at=app_set.created_at,
            )
        )

    async def delete_app_set(self, set_id: str) -> bool:
        result = await self.session.execute(sa.delete(app_sets).where(app_sets.c.id == set_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # site links
    async def suspended_links(self) -> set[tuple[str, str]]:
        query = sa.select(site_links.c.source_site, site_links.c.target_site).where(
            site_links.c.suspended.is_(True)
        )
        return {(r[0], r[1]) for r in await self.session.execute(query)}

    async def link_suspended(self, source: str, target: str) -> bool:
        return (source, target) in await self.suspended_links()

    async def set_link(
        self, source: str, target: str, *, suspended: bool, by: str, at: datetime
    ) -> None:
        await self.session.execute(
            sa.delete(site_links).where(
                site_links.c.source_site == source, site_links.c.target_site == target
            )
        )
        await self.session.execute(
            sa.insert(site_links).values(
                source_site=source,
                target_site=target,
                suspended=suspended,
                requested_by=by,
                updated_at=at,
            )
        )

    # replicate-now requests (idempotency keys)
    async def find_request(self, request_id: str) -> tuple[str, str, str] | None:
        query = sa.select(
            replicate_requests.c.group_id,
            replicate_requests.c.unit_id,
            replicate_requests.c.trigger,
        ).where(replicate_requests.c.request_id == request_id)
        row = (await self.session.execute(query)).first()
        return (row[0], row[1], row[2]) if row else None

    async def add_request(
        self, request_id: str, group_id: str, unit_id: str, trigger: str, at: datetime
    ) -> None:
        await self.session.execute(
            sa.insert(replicate_requests).values(
                request_id=request_id,
                group_id=group_id,
                unit_id=unit_id,
                trigger=trigger,
                created_at=at,
            )
        )


def _site_values(site: Site) -> dict[str, object]:
    return {
        "site_id": site.site_id,
        "cloud": site.cloud,
        "role": site.role,
        "data_endpoint": site.data_endpoint,
        "region": site.region,
        "created_at": site.created_at,
        "updated_at": site.updated_at,
    }
