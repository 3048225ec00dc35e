"""Site health state in and out of the database.

Writes are incremental (one probe row added, the oldest pruned; one alert row upserted or
deleted) because probes arrive every few seconds per site and rewriting the whole history on
each one would be wasteful. Reads for update lock the site's row on PostgreSQL; events of one
site share a partition, so this only guards against a second consumer during a rebalance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.health_orm import site_health as h
from lifeboat_orchestrator.adapters.health_orm import site_health_alerts as al
from lifeboat_orchestrator.adapters.health_orm import site_health_probes as pr
from lifeboat_orchestrator.domain.health import Alert, Declared, ProbeResult, SiteHealth
from lifeboat_shared.persistence.types import aware


class SiteHealthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._pg = session.get_bind().dialect.name == "postgresql"

    async def get(self, site_id: str, *, for_update: bool = False) -> SiteHealth | None:
        query = sa.select(h).where(h.c.site_id == site_id)
        if for_update and self._pg:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        m = row._mapping
        probes = await self.session.execute(
            sa.select(pr).where(pr.c.site_id == site_id).order_by(pr.c.observed_at, pr.c.id)
        )
        alerts = await self.session.execute(sa.select(al).where(al.c.site_id == site_id))
        return SiteHealth(
            site_id=site_id,
            declared=Declared(m["declared"]),
            declared_at=_opt(m["declared_at"]),
            declared_by=m["declared_by"],
            reason=m["reason"],
            probes=[
                ProbeResult(
                    at=aware(p.observed_at),
                    healthy=bool(p.healthy),
                    services=dict(p.services),
                    detail=p.detail,
                )
                for p in probes
            ],
            ok_run_count=m["ok_run_count"],
            ok_run_since=_opt(m["ok_run_since"]),
            last_healthy_at=_opt(m["last_healthy_at"]),
            alerts={
                a.alert_id: Alert(
                    alert_id=a.alert_id,
                    source=a.source,
                    severity=a.severity,
                    since=aware(a.since),
                    last_seen=aware(a.last_seen),
                    detail=a.detail,
                )
                for a in alerts
            },
            assessment=m["assessment"],
            evaluated_at=_opt(m["evaluated_at"]),
        )

    async def site_ids(self) -> Sequence[str]:
        rows = await self.session.execute(sa.select(h.c.site_id).order_by(h.c.site_id))
        return [r[0] for r in rows]

    async def save_state(self, health: SiteHealth, *, new: bool) -> None:
        values = {
            "declared": health.declared.value,
            "declared_at": health.declared_at,
            "declared_by": health.declared_by,
            "reason": health.reason,
            "ok_run_count": health.ok_run_count,
            "ok_run_since": health.ok_run_since,
            "assessment": health.assessment,
            "evaluated_at": health.evaluated_at,
            "last_healthy_at": health.last_healthy_at,
        }
        if new:
            await self.session.execute(sa.insert(h).values(site_id=health.site_id, **values))
        else:
            await self.session.execute(
                sa.update(h).where(h.c.site_id == health.site_id).values(**values)
            )

    async def add_probe(self, site_id: str, probe: ProbeResult, *, keep: int) -> None:
        """Insert a probe result and drop all but the newest ``keep`` of the site."""
        await self.session.execute(
            sa.insert(pr).values(
                site_id=site_id,
                observed_at=probe.at,
                healthy=probe.healthy,
                services=dict(probe.services),
                detail=probe.detail,
            )
        )
        newest = (
            sa.select(pr.c.id)
            .where(pr.c.site_id == site_id)
            .order_by(pr.c.observed_at.desc(), pr.c.id.desc())
            .limit(keep)
        )
        await self.session.execute(
            sa.delete(pr).where(pr.c.site_id == site_id, pr.c.id.not_in(newest))
        )

    async def put_alert(self, site_id: str, alert: Alert, *, new: bool) -> None:
        values = {
            "source": alert.source,
            "severity": alert.severity,
            "since": alert.since,
            "last_seen": alert.last_seen,
            "detail": alert.detail,
        }
        if new:
            await self.session.execute(
                sa.insert(al).values(site_id=site_id, alert_id=alert.alert_id, **values)
            )
        else:
            await self.session.execute(
                sa.update(al)
                .where(al.c.site_id == site_id, al.c.alert_id == alert.alert_id)
                .values(**values)
            )

    async def delete_alert(self, site_id: str, alert_id: str) -> None:
        await self.session.execute(
            sa.delete(al).where(al.c.site_id == site_id, al.c.alert_id == alert_id)
        )


def _opt(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None
