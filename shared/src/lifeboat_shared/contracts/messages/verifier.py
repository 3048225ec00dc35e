"""Messages the verifier emits."""

from typing import Any, Literal

from pydantic import Field

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp


@register
class BubbleTestCompleted(Event):
    topic = topics.VERIFIER_EVENTS

    test_id: Id
    plan_id: Id
    site_id: Id
    passed: bool
    checks_passed: int = Field(ge=0)
    checks_failed: int = Field(ge=0)
    completed_at: Timestamp
    project_id: Id | None = Field(
        default=None, description="Owning project (tenant isolation); None from older producers"
    )

    run_id: Id | None = Field(default=None, description="The run (= test_id); None from older")
    definition_id: Id | None = Field(
        default=None, description="The test definition; None: a bubble started by hand"
    )
    rto_seconds: float | None = Field(
        default=None, description="From the run's start to every check green (passed runs)"
    )
    rpo_seconds: float | None = Field(
        default=None, description="Age of the recovered consistency point when the run started"
    )
    checks: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=1000,
        description="Per check: name, kind, target, passed, attempts, duration_seconds, reason",
    )
    cleanup: Literal["clean", "failed", "pending"] | None = Field(
        default=None, description="Teardown outcome (clean: the orchestrator found nothing left)"
    )
    report_id: Id | None = Field(default=None, description="The signed report, once issued")

    def partition_key(self) -> str:
        return self.site_id


@register
class BubbleTestAlertRaised(Event):
    """A bubble test failed, or its teardown did (retried until clean): someone should look."""

    topic = topics.VERIFIER_EVENTS

    run_id: Id
    plan_id: Id
    site_id: Id | None = None
    project_id: Id | None = None
    definition_id: Id | None = None
    reason: Literal["run-failed", "cleanup-failed"]
    detail: str = Field(max_length=2000)
    at: Timestamp

    def partition_key(self) -> str:
        return self.plan_id
