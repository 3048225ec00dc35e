"""Site health events (from the orchestrator's probes or external monitoring)."""

from typing import Literal

from pydantic import Field

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp


@register
class SiteDeclaredDown(Event):
    topic = topics.SITE_EVENTS

    site_id: Id
    reason: str = Field(min_length=1, max_length=2000)
    declared_by: Literal["probe", "operator", "alertmanager", "external"]
    declared_at: Timestamp

    def partition_key(self) -> str:
        return self.site_id


@register
class SiteDeclaredUp(Event):
    topic = topics.SITE_EVENTS

    site_id: Id
    declared_by: Literal["probe", "operator", "alertmanager", "external"]
    declared_at: Timestamp

    def partition_key(self) -> str:
        return self.site_id
