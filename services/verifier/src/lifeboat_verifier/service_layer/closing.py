"""A run's end: its verdict, its events (``runs.finish``) and its signed report, together."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import BubbleTestCompleted
from lifeboat_shared.service import ServiceRuntime
from lifeboat_verifier.adapters.signing import SigningKeyError
from lifeboat_verifier.domain.model import TestRun
from lifeboat_verifier.service_layer import runs
from lifeboat_verifier.service_layer.reports import ReportsUnitOfWork, issue_report

log = logging.getLogger(__name__)


async def close_run(
    runtime: ServiceRuntime, session: AsyncSession, run: TestRun, now: datetime
) -> list[Message]:
    """Finish ``run`` and issue its signed report in ``session``'s transaction; the completion
    event names the report. Without a signing key (production with no mounted key) the run
    still finishes, with no report, and the error is logged (the key's path, never its bytes)."""
    messages = runs.finish(run, now)
    assert run.evidence is not None  # finish() records it
    try:
        report_id: str | None = await issue_report(
            ReportsUnitOfWork.within(runtime, session), run.evidence
        )
    except SigningKeyError as exc:
        log.error("test run %s: no signed report issued: %s", run.test_id, exc)
        report_id = None
    return [
        m.model_copy(update={"report_id": report_id}) if isinstance(m, BubbleTestCompleted) else m
        for m in messages
    ]
