"""Messages to and from the replicator."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Command, Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp
from lifeboat_shared.contracts.messages.protection import ReplicationSpec, Trigger


@register
class ReplicateNow(Command):
    """Take a consistency point for a group now, outside its schedule (UC4: a tenant asked, or a
    protected VM was shut down / a volume detached)."""

    topic = topics.REPLICATOR_COMMANDS

    group_id: Id
    request_id: Id = Field(description="Idempotency key of the request")
    requested_by: str = Field(min_length=1, max_length=255)
    trigger: Trigger = "replicate-now"
    full_resync: bool = False
    spec: ReplicationSpec

    def partition_key(self) -> str:
        return self.group_id


class CpMember(BaseModel):
    """One protected volume inside a consistency point."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_volume_id: Id
    server_id: Id | None = None
    device: str | None = Field(default=None, max_length=255)
    size_gib: int = Field(ge=1)
    source_snapshot_id: Id
    replica_volume_id: Id | None = Field(
        default=None, description="Blocks strategy: the replica volume at the DR site"
    )
    replica_snapshot_id: Id | None = Field(
        default=None, description="Blocks strategy: the replica's snapshot at this CP"
    )
    bytes_changed: int = Field(
        ge=0,
        description="Bytes of the ranges the change detection selected and the sender read "
        "(before compression): the site's snapshot-diff extents as reported (Cinder/RBD: whole "
        "extents, cloudsim: 64 KiB), or the 64 KiB blocks whose hashes differed; an upper bound "
        "of what the guest wrote, not the bytes it changed",
    )
    bytes_sent: int = Field(
        ge=0,
        description="Bytes on the wire for this volume: compressed, encrypted, framed, "
        "including the hash exchange of a seeded or resynced copy",
    )
    seeded: bool = Field(
        default=False,
        description="UC5c: this member's replica started from a seed volume (its first copy "
        "compared hashes and sent only the differing blocks)",
    )
    backup_id: Id | None = Field(
        default=None,
        description="Backup strategy (UC7): the backup imported at the DR site at this CP "
        "(restore it to get the volume as it was)",
    )
    source_backup_id: Id | None = Field(
        default=None, description="Backup strategy: the backup at the protected site"
    )
    backup_incremental: bool = Field(
        default=False, description="Backup strategy: the backup chains on the previous CP's"
    )

    @model_validator(mode="after")
    def _has_a_copy(self) -> "CpMember":
        if self.backup_id is None and (
            self.replica_volume_id is None or self.replica_snapshot_id is None
        ):
            raise ValueError(
                "a member needs replica_volume_id and replica_snapshot_id, or backup_id"
            )
        return self


class QuiesceFailure(BaseModel):
    """One VM (or, for a hook, the group: ``server_id`` None) that could not be quiesced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server_id: Id | None = None
    reason: str = Field(min_length=1, max_length=300)


@register
class ConsistencyPointCreated(Event):
    """Every volume of the group arrived at the DR site, was verified and snapshotted there."""

    topic = topics.REPLICATOR_EVENTS

    group_id: Id
    consistency_point_id: Id
    project_id: Id
    member_groups: list[Id] = Field(default_factory=list)
    source_site: Id
    target_site: Id
    consistency: Literal["crash", "application"]
    taken_at: Timestamp = Field(
        description="The instant of the source snapshot: the recovery point"
    )
    created_at: Timestamp
    members: list[CpMember] = Field(min_length=1)
    bytes_sent: int = Field(ge=0)
    consistency_reason: str | None = Field(
        default=None, max_length=500, description="Why the CP is crash-consistent, if it is"
    )
    quiesce_failures: list[QuiesceFailure] = Field(
        default_factory=list, description="VMs that could not be quiesced for this CP"
    )

    def partition_key(self) -> str:
        return self.group_id


@register
class ConsistencyPointFailed(Event):
    """A replication cycle ended without a consistency point."""

    topic = topics.REPLICATOR_EVENTS

    group_id: Id
    project_id: Id | None = None
    stage: Literal["quiesce", "snapshot", "transfer", "verify", "commit", "suspended"]
    reason: str = Field(min_length=1, max_length=2000)
    failed_at: Timestamp

    def partition_key(self) -> str:
        return self.group_id


@register
class QuiesceFailed(Event):
    """Alert (UC2c): the guest agent or a hook could not freeze; the policy's rule was applied."""

    topic = topics.REPLICATOR_EVENTS

    group_id: Id
    project_id: Id
    cycle_id: Id
    failed_servers: list[Id] = Field(default_factory=list)
    rule: Literal["crash-consistent", "retry", "skip"]
    outcome: Literal["fell-back-to-crash-consistent", "retried-ok", "cycle-skipped"]
    reason: str = Field(min_length=1, max_length=2000)
    at: Timestamp
    failures: list[QuiesceFailure] = Field(
        default_factory=list, description="Every VM that failed, each with a short reason"
    )

    def partition_key(self) -> str:
        return self.group_id


@register
class ConsistencyPointPruned(Event):
    """Retention removed a consistency point's snapshots at both sites."""

    topic = topics.REPLICATOR_EVENTS

    group_id: Id
    consistency_point_id: Id
    at: Timestamp
    project_id: Id | None = Field(
        default=None, description="Owning project (tenant isolation); None from older producers"
    )

    def partition_key(self) -> str:
        return self.group_id
