"""When a scheduled definition fires next, on a clock that tests may speed up.

``time_scale`` > 1 compresses schedule time: with 604800 (a week per second) a weekly cron
fires about every second of wall time. Cron is evaluated on a virtual clock that starts at
``epoch`` and runs ``time_scale`` times faster than the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def valid_cron(expr: str) -> bool:
    return bool(croniter.is_valid(expr))


@dataclass(frozen=True)
class ScheduleClock:
    time_scale: float = 1.0
    epoch: datetime = EPOCH

    def virtual(self, wall: datetime) -> datetime:
        if self.time_scale == 1.0:
            return wall
        return self.epoch + (wall - self.epoch) * self.time_scale

    def wall(self, virtual: datetime) -> datetime:
        if self.time_scale == 1.0:
            return virtual
        return self.epoch + (virtual - self.epoch) / self.time_scale

    def next_fire(self, expr: str, after_wall: datetime) -> datetime:
        """The wall time of the first fire strictly after ``after_wall``."""
        nxt: datetime = croniter(expr, self.virtual(after_wall)).get_next(datetime)
        return self.wall(nxt.astimezone(UTC))
