"""Messages the policy service emits: RPO ticks, RPO breaches, suspend/resume, site registry."""

from typing import Literal

from pydantic import Field

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp
from lifeboat_shared.contracts.messages.protection import ReplicationSpec, SiteRef, Trigger


@register
class RpoTickElapsed(Event):
    """A consistency point is due for a protection group or application set."""

    topic = topics.POLICY_EVENTS

    group_id: Id = Field(description="The protection group, or the application set, to protect")
    project_id: Id
    tick_seq: int = Field(
        ge=0, description="Monotonic per group; lets the replicator drop stale ticks"
    )
    rpo_seconds: int = Field(gt=0)
    due_at: Timestamp
    trigger: Trigger = "rpo"
    spec: ReplicationSpec

    def partition_key(self) -> str:
        return self.group_id


@register
class RpoBreached(Event):
    """Alert: a group's achieved RPO (now - newest verified CP) exceeds its target."""

    topic = topics.POLICY_EVENTS

    group_id: Id
    project_id: Id
    rpo_seconds: int = Field(gt=0)
    achieved_rpo_seconds: float = Field(ge=0)
    newest_cp_at: Timestamp | None
    detected_at: Timestamp

    def partition_key(self) -> str:
        return self.group_id


@register
class ReplicationSuspended(Event):
    """An admin suspended a group (or every group on a site link, UC2e): no cycles, no failover."""

    topic = topics.POLICY_EVENTS

    group_id: Id
    scope: Literal["group", "site-link", "failover"]
    source_site: Id
    target_site: Id
    requested_by: str = Field(min_length=1, max_length=255)
    at: Timestamp
    project_id: Id | None = Field(
        default=None, description="Owning project (tenant isolation); None from older producers"
    )

    def partition_key(self) -> str:
        return self.group_id


@register
class ReplicationResumed(Event):
    topic = topics.POLICY_EVENTS

    group_id: Id
    scope: Literal["group", "site-link", "failover"]
    requested_by: str = Field(min_length=1, max_length=255)
    full_resync: bool = Field(
        default=False, description="Only on the operator's word: resend everything"
    )
    at: Timestamp
    project_id: Id | None = Field(
        default=None, description="Owning project (tenant isolation); None from older producers"
    )

    def partition_key(self) -> str:
        return self.group_id


@register
class SiteRegistered(Event):
    """The site registry (owned by the policy service) added or changed a site."""

    topic = topics.SITE_EVENTS

    site: SiteRef
    role: Literal["protected", "recovery", "both"]
    region: str | None = Field(default=None, max_length=255)
    at: Timestamp

    def partition_key(self) -> str:
        return self.site.site_id
