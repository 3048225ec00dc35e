"""Messages to and from the orchestrator: failover and bubble tests."""

from typing import Literal

from pydantic import Field

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Command, Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp


@register
class StartFailover(Command):
    """An operator (or a site-down rule) asks to fail a recovery plan over to its DR site."""

    topic = topics.ORCHESTRATOR_COMMANDS

    execution_id: Id
    plan_id: Id
    source_site: Id
    target_site: Id
    mode: Literal["disaster", "planned", "test"]
    requested_by: str = Field(min_length=1, max_length=255)

    def partition_key(self) -> str:
        return self.source_site


@register
class FailoverStepProgressed(Event):
    topic = topics.ORCHESTRATOR_EVENTS

    execution_id: Id
    plan_id: Id
    source_site: Id
    step: str = Field(min_length=1, max_length=255)
    status: Literal["started", "succeeded", "failed", "skipped"]
    percent: int = Field(ge=0, le=100)
    at: Timestamp

    def partition_key(self) -> str:
        return self.source_site


@register
class FailoverCompleted(Event):
    topic = topics.ORCHESTRATOR_EVENTS

    execution_id: Id
    plan_id: Id
    source_site: Id
    target_site: Id
    outcome: Literal["succeeded", "failed", "cancelled"]
    recovery_point: Timestamp | None
    completed_at: Timestamp

    def partition_key(self) -> str:
        return self.source_site


@register
class BubbleReady(Event):
    """A test copy of a plan booted in an isolated network; the verifier may run its checks."""

    topic = topics.ORCHESTRATOR_EVENTS

    test_id: Id
    plan_id: Id
    site_id: Id
    network_id: Id
    server_ids: list[Id] = Field(min_length=1)
    ready_at: Timestamp

    def partition_key(self) -> str:
        return self.site_id
