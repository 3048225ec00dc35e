"""Replication cycles: one attempt to produce a consistency point for a protection group.

The data path (quiesce, group snapshot, changed-block transfer, verify) arrives with the
replicator issue; for now a cycle records that a consistency point was asked for, by which
trigger, so the schedule can be followed end to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class CycleStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Trigger(StrEnum):
    RPO_TICK = "rpo-tick"
    REPLICATE_NOW = "replicate-now"


@dataclass
class ReplicationCycle:
    id: str
    group_id: str
    trigger: Trigger
    trigger_event_id: str
    requested_at: datetime
    tick_seq: int | None = None
    status: CycleStatus = CycleStatus.PENDING
