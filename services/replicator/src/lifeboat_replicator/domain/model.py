"""Replication cycles and consistency points. Pure Python: no infrastructure imports.

A cycle is one attempt to produce a consistency point (CP) for a protection group or application
set. It is a persisted state machine: each stage records what it achieved (snapshot ids, which
volumes arrived) before the next starts, so a cycle interrupted by a crash, a suspension or a
link fault continues from its last checkpoint and never redoes finished work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class CycleStatus(StrEnum):
    PENDING = "pending"  # waiting for the runner (new, resumed, or backing off after a fault)
    RUNNING = "running"
    PAUSED = "paused"  # the group or its site link is suspended (UC2e); resumes where it was
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # quiesce failed and the policy says skip the cycle

    @property
    def active(self) -> bool:
        return self in (CycleStatus.PENDING, CycleStatus.RUNNING, CycleStatus.PAUSED)


class Stage(StrEnum):
    SNAPSHOT = "snapshot"  # quiesce + group snapshot + thaw
    TRANSFER = "transfer"  # changed data to the replica volumes, fsync, verify (or, for the
    # backup strategy: back up each snapshot, export the record, import it at the DR site)
    REPLICA_SNAPSHOT = "replica-snapshot"
    COMMIT = "commit"
    DONE = "done"


class Consistency(StrEnum):
    CRASH = "crash"
    APPLICATION = "application"


@dataclass(frozen=True)
class QuiesceFailure:
    """A VM that could not be quiesced (``server_id`` None: the group's hook failed), with a
    short reason: bounded, and never more than a short excerpt of a hook's output."""

    server_id: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"server_id": self.server_id, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuiesceFailure:
        return cls(server_id=data.get("server_id"), reason=str(data["reason"]))


@dataclass
class VolumeProgress:
    """One member volume inside a cycle."""

    volume_id: str
    server_id: str | None
    device: str | None
    size_gib: int
    bootable: bool
    source_snapshot_id: str | None = None
    replica_volume_id: str | None = None
    replica_snapshot_id: str | None = None
    transferred: bool = False
    bytes_changed: int = 0
    bytes_sent: int = 0
    seeded_from: str | None = None
    """UC5c: the DR-side volume this member's first copy started from (verified by hashes)."""
    # backup strategy (UC7): the Cinder backup of the snapshot at each site
    source_backup_id: str | None = None
    backup_id: str | None = None  # imported at the DR site: what a restore uses
    backup_incremental: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VolumeProgress:
        return cls(**data)


@dataclass
class ReplicationCycle:
    id: str
    group_id: str
    project_id: str
    trigger: str
    trigger_event_id: str
    requested_at: datetime
    spec: dict[str, Any]
    tick_seq: int | None = None
    due_by: datetime | None = None
    """When the group's achieved RPO would pass its target (newest CP's recovery point + RPO):
    runners claim the soonest first; None (a first copy, replicate-now) counts as due now."""
    full_resync: bool = False
    status: CycleStatus = CycleStatus.PENDING
    stage: Stage = Stage.SNAPSHOT
    attempts: int = 0
    not_before: datetime | None = None
    consistency: Consistency | None = None
    consistency_reason: str | None = None  # why the snapshot is crash-consistent, if it is
    quiesce_failures: list[QuiesceFailure] = field(default_factory=list)
    taken_at: datetime | None = None
    volumes: list[VolumeProgress] = field(default_factory=list)
    error: str | None = None
    finished_at: datetime | None = None

    @property
    def bytes_sent(self) -> int:
        return sum(v.bytes_sent for v in self.volumes)

    @property
    def bytes_changed(self) -> int:
        return sum(v.bytes_changed for v in self.volumes)


@dataclass(frozen=True)
class ConsistencyPoint:
    id: str
    group_id: str
    project_id: str
    source_site: str
    target_site: str
    consistency: Consistency
    taken_at: datetime
    created_at: datetime
    cycle_id: str
    members: tuple[VolumeProgress, ...]
    member_groups: tuple[str, ...] = ()
    pruned: bool = False
    consistency_reason: str | None = None
    quiesce_failures: tuple[QuiesceFailure, ...] = ()

    @property
    def bytes_sent(self) -> int:
        return sum(m.bytes_sent for m in self.members)

    @property
    def bytes_changed(self) -> int:
        return sum(m.bytes_changed for m in self.members)


def next_backoff(attempts: int, *, base: float = 1.0, cap: float = 60.0) -> timedelta:
    """Wait before the next attempt of a cycle that hit a transient fault (link down, 5xx)."""
    return timedelta(seconds=min(cap, base * (2 ** max(0, attempts - 1))))


def protected_group_key(group_id: str, target_site: str) -> str:
    """The protection group whose volumes a cycle snapshots: a group replicating to more than one
    DR site has a leg per extra target, ``<group>:<target_site>`` (its own chain of CPs), but its
    volumes sit in one Cinder group (a volume can be in only one), named by the group."""
    suffix = f":{target_site}"
    if group_id.endswith(suffix) and len(group_id) > len(suffix):
        return group_id[: -len(suffix)]
    return group_id
