"""Messages the policy service emits."""

from pydantic import Field

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp


@register
class RpoTickElapsed(Event):
    """A consistency point is due for a protection group (its RPO interval has elapsed)."""

    topic = topics.POLICY_EVENTS

    group_id: Id
    project_id: Id
    tick_seq: int = Field(
        ge=0, description="Monotonic per group; lets the replicator drop stale ticks"
    )
    rpo_seconds: int = Field(gt=0)
    due_at: Timestamp

    def partition_key(self) -> str:
        return self.group_id
