"""Bubble test runs as the verifier tracks them. Pure Python.

A run's ``test_id`` is the orchestrator's test-failover execution id (the verifier chooses it
for the runs it starts: the idempotency key of its ``StartExecution``; for a bubble an operator
started by hand, the orchestrator's). Phases, each durable so a restarted verifier resumes:

    requested -> ready -> cleaning -> done

``requested``: a test failover was asked for, no BubbleReady yet. ``ready``: the bubble is up,
checks are due (a replica holding the run's lease runs them). ``cleaning``: checks done (or the
failover failed), a test-cleanup was asked for; retried until the orchestrator reports it clean.
``done``: verdict, evidence and events written. ``status`` is the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    AWAITING_CHECKS = "awaiting-checks"
    PASSED = "passed"
    FAILED = "failed"


class RunPhase(StrEnum):
    REQUESTED = "requested"
    READY = "ready"
    CLEANING = "cleaning"
    DONE = "done"


class CleanupStatus(StrEnum):
    PENDING = "pending"
    REQUESTED = "requested"
    CLEAN = "clean"
    FAILED = "failed"  # the last attempt failed; retried


@dataclass
class CheckResult:
    name: str
    kind: str
    target: str
    passed: bool
    attempts: int
    started_at: datetime
    finished_at: datetime
    output_excerpt: str = ""
    reason: str | None = None

    @property
    def duration_seconds(self) -> float:
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "target": self.target,
            "passed": self.passed,
            "attempts": self.attempts,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "output_excerpt": self.output_excerpt[:2000],
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CheckResult:
        return cls(
            name=d["name"],
            kind=d["kind"],
            target=d["target"],
            passed=bool(d["passed"]),
            attempts=int(d["attempts"]),
            started_at=datetime.fromisoformat(d["started_at"]),
            finished_at=datetime.fromisoformat(d["finished_at"]),
            output_excerpt=d.get("output_excerpt", ""),
            reason=d.get("reason"),
        )


@dataclass
class TestRun:
    __test__ = False  # not a pytest test class

    test_id: str
    plan_id: str
    site_id: str | None = None
    network_id: str | None = None
    ready_at: datetime | None = None
    server_ids: list[str] = field(default_factory=list)
    status: RunStatus = RunStatus.AWAITING_CHECKS
    project_id: str | None = None
    definition_id: str | None = None
    phase: RunPhase = RunPhase.READY
    started_by: str = "orchestrator"
    started_at: datetime | None = None
    consistency_point_id: str | None = None
    cp_taken_at: datetime | None = None
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)  # CheckSpec.to_json of each
    results: list[CheckResult] = field(default_factory=list)
    failover_error: str | None = None
    cleanup: CleanupStatus = CleanupStatus.PENDING
    cleanup_attempts: int = 0
    cleanup_error: str | None = None
    resources_removed: int | None = None
    removed_at: datetime | None = None
    checks_done_at: datetime | None = None
    finished_at: datetime | None = None
    evidence: dict[str, Any] | None = None
    expires_at: datetime | None = None  # the bubble's own timeout (the orchestrator's teardown)

    @property
    def passed(self) -> bool:
        return (
            self.failover_error is None
            and self.ready_at is not None
            and all(r.passed for r in self.results)
        )

    @property
    def rto_seconds(self) -> float | None:
        """From the run's start to every check green (None: the run did not pass)."""
        if not self.passed or self.started_at is None:
            return None
        end = self.checks_done_at or self.ready_at
        assert end is not None
        return round((end - self.started_at).total_seconds(), 3)

    @property
    def rpo_seconds(self) -> float | None:
        """The recovered CP's age when the run started: the data a real failover would lose."""
        if self.cp_taken_at is None or self.started_at is None:
            return None
        return round(max(0.0, (self.started_at - self.cp_taken_at).total_seconds()), 3)

    @property
    def cleanup_execution_id(self) -> str:
        return f"{self.test_id[:80]}.verifier-cleanup-{self.cleanup_attempts}"
