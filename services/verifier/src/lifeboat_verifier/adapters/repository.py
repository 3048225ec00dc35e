"""Test runs in and out of the database, with the lease that lets one replica drive a run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.persistence.types import aware
from lifeboat_verifier.adapters.orm import test_runs as t
from lifeboat_verifier.domain.model import (
    CheckResult,
    CleanupStatus,
    RunPhase,
    RunStatus,
    TestRun,
)


def _opt(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None


def _values(run: TestRun) -> dict[str, Any]:
    return {
        "plan_id": run.plan_id,
        "site_id": run.site_id,
        "network_id": run.network_id,
        "server_ids": run.server_ids,
        "status": run.status.value,
        "ready_at": run.ready_at,
        "project_id": run.project_id,
        "definition_id": run.definition_id,
        "phase": run.phase.value,
        "started_by": run.started_by[:255],
        "started_at": run.started_at,
        "consistency_point_id": run.consistency_point_id,
        "cp_taken_at": run.cp_taken_at,
        "endpoints": run.endpoints,
        "checks": run.checks,
        "results": [r.to_json() for r in run.results],
        "failover_error": (run.failover_error or None) and run.failover_error[:2000],
        "cleanup": run.cleanup.value,
        "cleanup_attempts": run.cleanup_attempts,
        "cleanup_error": (run.cleanup_error or None) and run.cleanup_error[:2000],
        "resources_removed": run.resources_removed,
        "removed_at": run.removed_at,
        "checks_done_at": run.checks_done_at,
        "finished_at": run.finished_at,
        "evidence": run.evidence,
        "expires_at": run.expires_at,
    }


def _run(r: Any) -> TestRun:
    return TestRun(
        test_id=r.test_id,
        plan_id=r.plan_id,
        site_id=r.site_id,
        network_id=r.network_id,
        server_ids=list(r.server_ids or []),
        status=RunStatus(r.status),
        ready_at=_opt(r.ready_at),
        project_id=r.project_id,
        definition_id=r.definition_id,
        phase=RunPhase(r.phase) if r.phase else RunPhase.READY,
        started_by=r.started_by or "orchestrator",
        started_at=_opt(r.started_at),
        consistency_point_id=r.consistency_point_id,
        cp_taken_at=_opt(r.cp_taken_at),
        endpoints=list(r.endpoints or []),
        checks=list(r.checks or []),
        results=[CheckResult.from_json(x) for x in r.results or []],
        failover_error=r.failover_error,
        cleanup=CleanupStatus(r.cleanup) if r.cleanup else CleanupStatus.PENDING,
        cleanup_attempts=r.cleanup_attempts or 0,
        cleanup_error=r.cleanup_error,
        resources_removed=r.resources_removed,
        removed_at=_opt(r.removed_at),
        checks_done_at=_opt(r.checks_done_at),
        finished_at=_opt(r.finished_at),
        evidence=r.evidence,
        expires_at=_opt(r.expires_at),
    )


class TestRunRepository:
    __test__ = False

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def exists(self, test_id: str) -> bool:
        row = await self.session.execute(sa.select(t.c.test_id).where(t.c.test_id == test_id))
        return row.first() is not None

    async def get(self, test_id: str, *, for_update: bool = False) -> TestRun | None:
        query = sa.select(t).where(t.c.test_id == test_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _run(row) if row is not None else None

    async def add(self, run: TestRun) -> None:
        await self.session.execute(sa.insert(t).values(test_id=run.test_id, **_values(run)))

    async def save(self, run: TestRun) -> None:
        await self.session.execute(
            sa.update(t).where(t.c.test_id == run.test_id).values(**_values(run))
        )

    async def list(
        self,
        plan_id: str | None = None,
        *,
        project_id: str | None = None,
        definition_id: str | None = None,
        limit: int = 500,
    ) -> Sequence[TestRun]:
        order = sa.func.coalesce(t.c.started_at, t.c.ready_at)
        query = sa.select(t).order_by(order.desc()).limit(limit)
        if plan_id:
            query = query.where(t.c.plan_id == plan_id)
        if project_id is not None:
            query = query.where(t.c.project_id == project_id)
        if definition_id is not None:
            query = query.where(t.c.definition_id == definition_id)
        return [_run(r) for r in await self.session.execute(query)]

    async def due_ids(self, now: datetime, limit: int = 20) -> Sequence[str]:
        """Runs with work to do (checks or teardown) whose lease is free."""
        query = (
            sa.select(t.c.test_id)
            .where(
                t.c.phase.in_(
                    [RunPhase.REQUESTED.value, RunPhase.READY.value, RunPhase.CLEANING.value]
                )
            )
            .where(sa.or_(t.c.lease_until.is_(None), t.c.lease_until < now))
            .limit(limit)
        )
        return [r.test_id for r in await self.session.execute(query)]

    async def lease(self, test_id: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take the run's lease if free or expired (compare-and-set: one replica wins)."""
        result = await self.session.execute(
            sa.update(t)
            .where(t.c.test_id == test_id)
            .where(
                sa.or_(t.c.lease_until.is_(None), t.c.lease_until < now, t.c.lease_owner == owner)
            )
            .values(lease_owner=owner, lease_until=until)
        )
        return bool(getattr(result, "rowcount", 0))

    async def release(self, test_id: str, owner: str) -> None:
        await self.session.execute(
            sa.update(t)
            .where(t.c.test_id == test_id, t.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def due_now(self, test_id: str) -> None:
        await self.session.execute(
            sa.update(t).where(t.c.test_id == test_id).values(lease_owner=None, lease_until=None)
        )

    async def hold_until(self, test_id: str, until: datetime) -> None:
        """Keep the run out of the due list until ``until`` (a cleanup awaiting its outcome)."""
        await self.session.execute(
            sa.update(t).where(t.c.test_id == test_id).values(lease_owner=None, lease_until=until)
        )
