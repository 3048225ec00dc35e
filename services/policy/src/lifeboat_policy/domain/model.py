"""Protection groups and their RPO schedule. Pure Python: no infrastructure imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class ProtectionGroup:
    """VMs and volumes of one application, protected together under one policy."""

    id: str
    project_id: str
    name: str
    rpo_seconds: int
    target_site: str
    created_at: datetime
    next_tick_at: datetime
    last_tick_seq: int = 0

    def take_due_tick(self, now: datetime) -> int | None:
        """If a consistency point is due, advance the schedule and return the tick's sequence.

        Missed intervals (the service was down) collapse into one tick: replicating twice in a
        row gains nothing, and the next tick is then one RPO interval from now.
        """
        if now < self.next_tick_at:
            return None
        self.last_tick_seq += 1
        interval = timedelta(seconds=self.rpo_seconds)
        self.next_tick_at = max(self.next_tick_at + interval, now + interval / 2)
        return self.last_tick_seq
