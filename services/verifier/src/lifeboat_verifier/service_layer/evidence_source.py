"""The run's evidence as a plain dict in the shape of ``domain.evidence.RunEvidence`` (the
signed-report work builds that model and ``service_layer.reports.issue_report``; this module
only assembles the fields, so the two can be joined without touching the run driver)."""

from __future__ import annotations

from typing import Any

from lifeboat_verifier.domain.model import CleanupStatus, TestRun


def run_evidence(run: TestRun) -> dict[str, Any]:
    assert run.started_at is not None and run.finished_at is not None
    created = list(run.server_ids)
    clean = run.cleanup is CleanupStatus.CLEAN
    return {
        "run_id": run.test_id,
        "definition_id": run.definition_id,
        "plan_id": run.plan_id,
        "project_id": run.project_id,
        "site_ids": [run.site_id] if run.site_id else [],
        "started_by": run.started_by,
        "cp_id": run.consistency_point_id,
        "cp_taken_at": run.cp_taken_at.isoformat() if run.cp_taken_at else None,
        "started_at": run.started_at.isoformat(),
        "ready_at": run.ready_at.isoformat() if run.ready_at else None,
        "finished_at": run.finished_at.isoformat(),
        "passed": run.passed,
        "rto_seconds": run.rto_seconds,
        "rpo_seconds": run.rpo_seconds,
        "checks": [r.to_json() for r in run.results],
        "resources_created": created,
        "resources_removed": created if clean else [],
        "cleanup_ok": clean,
    }
