"""Messages the verifier emits."""

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

    def partition_key(self) -> str:
        return self.site_id
