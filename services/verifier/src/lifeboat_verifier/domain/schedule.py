"""When a scheduled definition fires next, on a clock that tests may speed up.

``time_scale`` > 1 compresses schedule time: with 604800 (a week per second) a weekly cron
fires about every second of wall time. Cron is then evaluated on a virtual clock that equals the
wall clock at ``anchor`` (the definition's creation: every replica computes the same fires) and
runs ``time_scale`` times faster from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter


def valid_cron(expr: str) -> bool:
    return bool(croniter.is_valid(expr))


@dataclass(frozen=True)
class ScheduleClock:
    time_scale: float = 1.0

    def virtual(self, wall: datetime, anchor: datetime) -> datetime:
        if self.time_scale == 1.0:
            return wall
        return anchor + (wall - anchor) * self.time_scale

    def wall(self, virtual: datetime, anchor: datetime) -> datetime:
        if self.time_scale == 1.0:
            return virtual
        return anchor + (virtual - anchor) / self.time_scale

    def next_fire(self, expr: str, after_wall: datetime, anchor: datetime) -> datetime:
        """The wall time of the first fire strictly after ``after_wall``."""
        nxt: datetime = croniter(expr, self.virtual(after_wall, anchor)).get_next(datetime)
        return self.wall(nxt.astimezone(UTC), anchor)
