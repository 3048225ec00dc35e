"""A bubble test run's life, as decisions on the run and the messages they send. No I/O here
besides repositories: the driver (entrypoints/driver.py) runs the checks and commits.

Every path ends in a teardown request: a run whose checks are done, whose failover failed or
never reported a bubble, or whose bubble an operator started by hand. A teardown is asked again
(a new attempt id) until the orchestrator reports one clean (its teardown lists the site again
and fails if anything tagged with the test is left).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import (
    BubbleTestAlertRaised,
    BubbleTestCompleted,
    StartExecution,
    UsageRecorded,
)
from lifeboat_verifier.domain.definitions import CheckKind, CheckSpec, TestDefinition
from lifeboat_verifier.domain.model import (
    CheckResult,
    CleanupStatus,
    RunPhase,
    RunStatus,
    TestRun,
)
from lifeboat_verifier.service_layer.evidence_source import run_evidence

IMPLICIT_BOOT = CheckSpec(name="boot", kind=CheckKind.BOOT, timeout_seconds=30, retries=2)
"""A run without a definition (a bubble started by hand) checks what exists: every server."""

CLEANUP_MARK = ".verifier-cleanup-"
MAX_BLIND_CLEANUPS = 3  # teardown asks with no answer for a run that never had a bubble


def run_id_for(definition_id: str, due: datetime) -> str:
    """Scheduled runs: one id per definition and due time (a replayed fire starts nothing)."""
    return f"vt-{definition_id[:40]}-{int(due.timestamp())}"


def new_run(
    d: TestDefinition, run_id: str, started_by: str, now: datetime, failover_wait: float
) -> tuple[TestRun, list[Message]]:
    run = TestRun(
        test_id=run_id,
        plan_id=d.plan_id,
        site_id=d.target_site,
        project_id=d.project_id,
        definition_id=d.definition_id,
        phase=RunPhase.REQUESTED,
        started_by=started_by,
        started_at=now,
        consistency_point_id=d.consistency_point_id,
        checks=[c.to_json() for c in d.checks],
    )
    command = StartExecution(
        execution_id=run_id,
        plan_id=d.plan_id,
        execution_kind="test-failover",
        target_site=d.target_site,
        consistency_point_id=d.consistency_point_id,
        requested_by=started_by[:255],
        project_id=d.project_id,
    )
    return run, [command]


def check_specs(run: TestRun) -> list[CheckSpec]:
    if run.definition_id is None and not run.checks:
        return [IMPLICIT_BOOT]
    return [CheckSpec.from_json(c) for c in run.checks]


def operator_grace(run: TestRun, now: datetime) -> datetime | None:
    """Until when a bubble an operator started is left to them (None: tear down now)."""
    if run.definition_id is not None or run.cleanup_attempts or run.expires_at is None:
        return None
    until = run.expires_at + timedelta(seconds=5)
    return until if now < until else None


def checks_done(run: TestRun, results: Sequence[CheckResult], now: datetime) -> None:
    run.results = list(results)
    run.checks_done_at = now
    run.phase = RunPhase.CLEANING


def request_cleanup(run: TestRun) -> list[Message]:
    run.cleanup_attempts += 1
    run.cleanup = CleanupStatus.REQUESTED
    return [
        StartExecution(
            execution_id=run.cleanup_execution_id,
            plan_id=run.plan_id,
            execution_kind="test-cleanup",
            test_id=run.test_id,
            requested_by="verifier",
            project_id=run.project_id,
        )
    ]


def test_id_of_cleanup(execution_id: str) -> str | None:
    if CLEANUP_MARK in execution_id:
        return execution_id.split(CLEANUP_MARK, 1)[0]
    if execution_id.endswith(".cleanup"):  # the orchestrator's own expiry teardown
        return execution_id[: -len(".cleanup")]
    return None


def cleanup_failed(run: TestRun, error: str | None, now: datetime) -> list[Message]:
    run.cleanup = CleanupStatus.FAILED
    run.cleanup_error = (error or "teardown failed")[:2000]
    return [
        BubbleTestAlertRaised(
            run_id=run.test_id,
            plan_id=run.plan_id,
            site_id=run.site_id,
            project_id=run.project_id,
            definition_id=run.definition_id,
            reason="cleanup-failed",
            detail=f"attempt {run.cleanup_attempts}: {run.cleanup_error}"[:2000],
            at=now,
        )
    ]


def finish(run: TestRun, now: datetime) -> list[Message]:
    """The verdict, the evidence, and what it tells billing and people."""
    run.finished_at = now
    run.started_at = run.started_at or run.ready_at or now
    run.phase = RunPhase.DONE
    run.status = RunStatus.PASSED if run.passed else RunStatus.FAILED
    run.evidence = run_evidence(run)
    site = run.site_id or "unknown"
    cleanup = "clean" if run.cleanup is CleanupStatus.CLEAN else "failed"
    out: list[Message] = [
        BubbleTestCompleted(
            test_id=run.test_id,
            plan_id=run.plan_id,
            site_id=site,
            passed=run.passed,
            checks_passed=sum(1 for r in run.results if r.passed),
            checks_failed=sum(1 for r in run.results if not r.passed),
            completed_at=now,
            project_id=run.project_id,
            run_id=run.test_id,
            definition_id=run.definition_id,
            rto_seconds=run.rto_seconds,
            rpo_seconds=run.rpo_seconds,
            checks=[
                {k: v for k, v in r.to_json().items() if k != "output_excerpt"} for r in run.results
            ],
            cleanup=cleanup,
        )
    ]
    if not run.passed:
        failed = [f"{r.name} on {r.target}: {r.reason}" for r in run.results if not r.passed]
        detail = run.failover_error or "; ".join(failed) or "no bubble became ready"
        out.append(
            BubbleTestAlertRaised(
                run_id=run.test_id,
                plan_id=run.plan_id,
                site_id=run.site_id,
                project_id=run.project_id,
                definition_id=run.definition_id,
                reason="run-failed",
                detail=detail[:2000],
                at=now,
            )
        )
    if run.project_id is not None:
        out.extend(usage(run, site, now))
    return out


def usage(run: TestRun, site: str, now: datetime) -> list[Message]:
    assert run.project_id is not None
    start = run.started_at or now
    out: list[Message] = [
        UsageRecorded(
            usage_id=f"verifier.{run.test_id}.test_runs",
            project_id=run.project_id,
            site_id=site,
            metric="test_runs",
            quantity=Decimal(1),
            period_start=start,
            period_end=now,
            resource_id=run.test_id,
            plan_id=run.plan_id,
        )
    ]
    if run.ready_at is not None and run.server_ids:
        end = run.removed_at or now
        hours = max(timedelta(0), end - run.ready_at).total_seconds() / 3600
        out.append(
            UsageRecorded(
                usage_id=f"verifier.{run.test_id}.bubble_vm_hours",
                project_id=run.project_id,
                site_id=site,
                metric="bubble_vm_hours",
                quantity=Decimal(str(round(hours * len(run.server_ids), 6))),
                period_start=run.ready_at,
                period_end=max(end, run.ready_at),
                resource_id=run.test_id,
                plan_id=run.plan_id,
            )
        )
    return out
