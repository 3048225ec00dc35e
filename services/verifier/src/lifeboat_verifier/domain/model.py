"""Bubble test runs as the verifier tracks them. Pure Python.

A run starts when the orchestrator reports a bubble ready; the checks themselves (TCP, HTTP,
command, data consistency) arrive with the verifier issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RunStatus(StrEnum):
    AWAITING_CHECKS = "awaiting-checks"
    PASSED = "passed"
    FAILED = "failed"


@dataclass
class TestRun:
    __test__ = False  # not a pytest test class

    test_id: str
    plan_id: str
    site_id: str
    network_id: str
    ready_at: datetime
    server_ids: list[str] = field(default_factory=list)
    status: RunStatus = RunStatus.AWAITING_CHECKS
    project_id: str | None = None
