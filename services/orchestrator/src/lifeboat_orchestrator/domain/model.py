"""Sites and their health as the orchestrator sees them. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class SiteState(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass
class Site:
    id: str
    state: SiteState
    changed_at: datetime
    declared_by: str
    reason: str | None = None

    def declare(self, state: SiteState, at: datetime, by: str, reason: str | None) -> bool:
        """Apply a declaration; one older than the state it would replace is ignored."""
        if at < self.changed_at:
            return False
        changed = state != self.state
        self.state, self.changed_at, self.declared_by, self.reason = state, at, by, reason
        return changed
