"""Messages to and from the replicator."""

from typing import Literal

from pydantic import Field

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Command, Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp


@register
class ReplicateNow(Command):
    """Take a consistency point for a group now, outside its schedule."""

    topic = topics.REPLICATOR_COMMANDS

    group_id: Id
    requested_by: str = Field(min_length=1, max_length=255)

    def partition_key(self) -> str:
        return self.group_id


@register
class ConsistencyPointCreated(Event):
    """Every volume of the group arrived at the DR site and was verified."""

    topic = topics.REPLICATOR_EVENTS

    group_id: Id
    consistency_point_id: Id
    source_site: Id
    target_site: Id
    consistency: Literal["crash", "application"]
    taken_at: Timestamp
    volume_count: int = Field(ge=1)
    bytes_sent: int = Field(ge=0)

    def partition_key(self) -> str:
        return self.group_id


@register
class ConsistencyPointFailed(Event):
    """A replication cycle ended without a consistency point."""

    topic = topics.REPLICATOR_EVENTS

    group_id: Id
    stage: Literal["quiesce", "snapshot", "transfer", "verify", "commit"]
    reason: str = Field(min_length=1, max_length=2000)
    failed_at: Timestamp

    def partition_key(self) -> str:
        return self.group_id
