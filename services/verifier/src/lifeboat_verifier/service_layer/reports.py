"""Signed reports of bubble test runs: issue one per run, prune them past retention.

``issue_report(uow, evidence)`` is how a finished run becomes evidence: inside the caller's
transaction (``reports_uow(runtime)``, or ``ReportsUnitOfWork(session, key, issuer)`` around a
session the caller already holds, e.g. a handler's), it signs the run's report with the
deployment's key and stores the signed document. Idempotent by run id: a run reported twice
(a retried step, a restarted verifier) keeps its first report and id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.service.runtime import ServiceRuntime
from lifeboat_verifier.adapters.reports_repository import StoredReport, TestReportRepository
from lifeboat_verifier.adapters.signing import (
    SigningKey,
    SigningKeyError,
    document_bytes,
    sign_report,
)
from lifeboat_verifier.domain.evidence import Report, RunEvidence
from lifeboat_verifier.service_layer.wiring import forget, settings_of, signing_key_for

log = logging.getLogger(__name__)


@dataclass
class ReportsUnitOfWork:
    """One transaction's session plus what issuing a report needs: the key and the issuer."""

    session: AsyncSession
    key: SigningKey
    issuer: str

    @property
    def reports(self) -> TestReportRepository:
        return TestReportRepository(self.session)

    @classmethod
    def within(cls, runtime: ServiceRuntime, session: AsyncSession) -> ReportsUnitOfWork:
        """Around a transaction the caller already holds."""
        return cls(session, signing_key_for(runtime), settings_of(runtime).deployment_name)


@asynccontextmanager
async def reports_uow(runtime: ServiceRuntime) -> AsyncIterator[ReportsUnitOfWork]:
    """A new transaction (committed when the block ends without an error)."""
    async with runtime.db.transaction() as session:
        yield ReportsUnitOfWork.within(runtime, session)


async def issue_report(uow: ReportsUnitOfWork, evidence: RunEvidence | Mapping[str, Any]) -> str:
    """Sign and store the report of a run; its report id (the first one for this run)."""
    if not isinstance(evidence, RunEvidence):
        evidence = RunEvidence.model_validate(evidence)
    existing = await uow.reports.report_id_for_run(evidence.run_id)
    if existing is not None:
        return existing
    report = Report(
        report_id=f"rpt-{uuid.uuid4().hex}",
        issued_at=datetime.now(UTC),
        issuer=uow.issuer,
        evidence=evidence,
    )
    signed = sign_report(report, uow.key)
    stored_id = await uow.reports.add_once(
        StoredReport(
            report_id=report.report_id,
            run_id=evidence.run_id,
            plan_id=evidence.plan_id,
            project_id=evidence.project_id,
            passed=evidence.passed,
            started_by=evidence.started_by,
            finished_at=evidence.finished_at,
            issued_at=report.issued_at,
            key_fingerprint=signed.signature.key_fingerprint,
            document=document_bytes(signed).decode("utf-8"),
        )
    )
    if stored_id != report.report_id:  # another writer reported the run first
        return stored_id
    log.info(
        "test report %s issued for run %s (%s)",
        report.report_id,
        evidence.run_id,
        "passed" if evidence.passed else "failed",
    )
    return report.report_id


async def prune_reports(
    session: AsyncSession, *, retention_days: float, now: datetime | None = None
) -> int:
    """Delete the reports issued more than ``retention_days`` before ``now``; how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    return await TestReportRepository(session).delete_issued_before(cutoff)


async def report_keeper(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """The service's report loop: load (first start: generate) the signing key, then prune
    reports past ``report_retention_days`` every ``report_prune_interval_seconds``."""
    settings = settings_of(runtime)
    try:
        signing_key_for(runtime)
    except SigningKeyError as exc:
        # the service keeps running (runs, lists, retention); issuing a report fails until the
        # key is mounted, and GET /v1/signing-key answers 503 naming the setting
        log.error("test reports cannot be signed: %s", exc)
    try:
        while not stop.is_set():
            async with runtime.db.transaction() as session:
                pruned = await prune_reports(session, retention_days=settings.report_retention_days)
            if pruned:
                log.info("pruned %d test reports past retention", pruned)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.report_prune_interval_seconds)
    finally:
        forget(runtime)
