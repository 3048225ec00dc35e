"""Signed test reports in and out of the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.persistence.types import aware
from lifeboat_verifier.adapters.orm import test_reports as t


@dataclass(frozen=True)
class StoredReport:
    """A report's row: what lists show, and the signed document as served."""

    report_id: str
    run_id: str
    plan_id: str
    project_id: str
    passed: bool
    started_by: str
    finished_at: datetime
    issued_at: datetime
    key_fingerprint: str
    document: str


_SUMMARY = [c for c in t.c if c.name != "document"]


class TestReportRepository:
    __test__ = False

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def report_id_for_run(self, run_id: str) -> str | None:
        row = await self.session.execute(sa.select(t.c.report_id).where(t.c.run_id == run_id))
        return row.scalar_one_or_none()

    async def add_once(self, report: StoredReport) -> str:
        """Store the report unless its run has one already (two writers racing included: the
        unique run id decides); the run's report id either way."""
        values = {
            "report_id": report.report_id,
            "run_id": report.run_id,
            "plan_id": report.plan_id,
            "project_id": report.project_id,
            "passed": report.passed,
            "started_by": report.started_by,
            "finished_at": report.finished_at,
            "issued_at": report.issued_at,
            "key_fingerprint": report.key_fingerprint,
            "document": report.document,
        }
        insert: sa.Executable
        if self.session.get_bind().dialect.name == "postgresql":
            insert = postgresql.insert(t).values(**values).on_conflict_do_nothing()
        else:
            insert = sqlite.insert(t).values(**values).on_conflict_do_nothing()
        await self.session.execute(insert)
        stored = await self.report_id_for_run(report.run_id)
        assert stored is not None
        return stored

    async def get(self, report_or_run_id: str) -> StoredReport | None:
        """By report id, else by the id of the run it reports."""
        for column in (t.c.report_id, t.c.run_id):
            query = sa.select(t).where(column == report_or_run_id)
            row = (await self.session.execute(query)).first()
            if row is not None:
                return _stored(row._mapping, row.document)
        return None

    async def list(
        self, plan_id: str | None = None, *, project_id: str | None = None, limit: int = 500
    ) -> Sequence[StoredReport]:
        """Newest first, without the documents."""
        query = sa.select(*_SUMMARY).order_by(t.c.issued_at.desc(), t.c.report_id).limit(limit)
        if plan_id:
            query = query.where(t.c.plan_id == plan_id)
        if project_id is not None:
            query = query.where(t.c.project_id == project_id)
        return [_stored(r._mapping, "") for r in await self.session.execute(query)]

    async def delete_issued_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(sa.delete(t).where(t.c.issued_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


def _stored(row: sa.RowMapping, document: str) -> StoredReport:
    return StoredReport(
        report_id=row["report_id"],
        run_id=row["run_id"],
        plan_id=row["plan_id"],
        project_id=row["project_id"],
        passed=bool(row["passed"]),
        started_by=row["started_by"],
        finished_at=aware(row["finished_at"]),
        issued_at=aware(row["issued_at"]),
        key_fingerprint=row["key_fingerprint"],
        document=document,
    )
