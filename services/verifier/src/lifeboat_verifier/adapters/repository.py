"""Test runs in and out of the database."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.persistence.types import aware
from lifeboat_verifier.adapters.orm import test_runs as t
from lifeboat_verifier.domain.model import RunStatus, TestRun


class TestRunRepository:
    __test__ = False

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def exists(self, test_id: str) -> bool:
        row = await self.session.execute(sa.select(t.c.test_id).where(t.c.test_id == test_id))
        return row.first() is not None

    async def add(self, run: TestRun) -> None:
        await self.session.execute(
            sa.insert(t).values(
                test_id=run.test_id,
                plan_id=run.plan_id,
                site_id=run.site_id,
                network_id=run.network_id,
                server_ids=run.server_ids,
                status=run.status.value,
                ready_at=run.ready_at,
                project_id=run.project_id,
            )
        )

    async def list(
        self, plan_id: str | None = None, *, project_id: str | None = None
    ) -> Sequence[TestRun]:
        query = sa.select(t).order_by(t.c.ready_at.desc())
        if plan_id:
            query = query.where(t.c.plan_id == plan_id)
        if project_id is not None:
            query = query.where(t.c.project_id == project_id)
        return [
            TestRun(
                test_id=r.test_id,
                plan_id=r.plan_id,
                site_id=r.site_id,
                network_id=r.network_id,
                server_ids=list(r.server_ids),
                status=RunStatus(r.status),
                ready_at=aware(r.ready_at),
                project_id=r.project_id,
            )
            for r in await self.session.execute(query)
        ]
