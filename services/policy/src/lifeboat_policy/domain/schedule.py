"""When a protection unit (a group, or an application set) is next due for a consistency point.

Pure functions over plain values: no clock, no I/O, so every rule here is tested without a
database and the scheduler, the bench and the tests share the same math.

The rules:
- An RPO unit is due ``rpo - lead`` after its newest CP's ``taken_at``, where ``lead`` is an
  estimate of one cycle's duration (tick to CP ``created_at``), clamped to half the RPO: a cycle
  started then ends with a CP whose recovery point is one RPO after the last one. The estimate
  follows a slow cycle quickly and a fast one slowly (an asymmetric EWMA, rising with weight
  0.5, falling with 0.1): it tracks the upper range of recent cycles rather than their mean, so
  the achieved RPO's tail stays under the target when cycle times vary (measured by P6,
  ``bench/rpo_sustained.py``).
- A tick that produced no CP (lost, or the replicator dropped it) is followed by another tick one
  ``max(rpo, 2 * lead)`` later: the replicator drops ticks for a group whose cycle still runs, so
  a repeated tick is cheap and a lost one never stalls the group.
- A failed cycle is retried after a quarter of the interval (1 s to 5 min).
- Cron units tick at the cron times (UTC); missed fire times collapse into one tick.
- A deterministic per-unit jitter (a hash of its id) spreads first ticks over up to half the
  interval (at most ``FIRST_SPREAD_MAX``), and cron ticks over at most 1% of the period
  (at most ``CRON_SPREAD_MAX``): 10,000 groups created at once, or a weekly cron shared by
  all of them, do not tick in the same second.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter

FIRST_SPREAD_MAX = timedelta(minutes=5)
CRON_SPREAD_MAX = timedelta(minutes=1)
EWMA_RISE = 0.5  # a cycle slower than the estimate moves it this much of the way up
EWMA_FALL = 0.1  # a faster one, this much of the way down
MIN_RETRY = timedelta(seconds=1)
MAX_FAILURE_RETRY = timedelta(minutes=5)


def jitter_fraction(unit_id: str) -> float:
    """A stable number in [0, 1) per unit: the same after every restart, uniform across ids."""
    digest = hashlib.sha256(unit_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Cadence:
    """How often a unit wants a consistency point: an RPO in seconds, or a cron expression."""

    rpo_seconds: int | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        if (self.rpo_seconds is None) == (self.cron is None):
            raise ValueError("a cadence is either an RPO or a cron schedule")

    @property
    def is_cron(self) -> bool:
        return self.cron is not None

    def interval(self, at: datetime) -> timedelta:
        """The RPO, or the gap between the next two cron fire times after ``at``."""
        if self.rpo_seconds is not None:
            return timedelta(seconds=self.rpo_seconds)
        assert self.cron is not None
        it = croniter(self.cron, at)
        first: datetime = it.get_next(datetime)
        second: datetime = it.get_next(datetime)
        return second - first

    def interval_seconds(self, at: datetime) -> int:
        return max(1, int(self.interval(at).total_seconds()))


def cron_period(expr: str, at: datetime) -> int:
    """The longest gap between fire times over the next few fires: the RPO a cron schedule
    promises (a weekday-only cron promises the weekend gap, not one day)."""
    it = croniter(expr, at)
    fires: list[datetime] = [it.get_next(datetime) for _ in range(16)]
    return max(1, int(max((b - a for a, b in itertools.pairwise(fires))).total_seconds()))


def next_cron_fire(expr: str, after: datetime, unit_id: str) -> datetime:
    """The first cron fire time strictly after ``after``, plus the unit's small jitter."""
    fire: datetime = croniter(expr, after).get_next(datetime)
    period = croniter(expr, fire).get_next(datetime) - fire
    spread = min(CRON_SPREAD_MAX, period / 100)
    return fire + spread * jitter_fraction(unit_id)


LEAD_MARGIN = 1.25  # cycles vary: tick a little earlier than the average needs
LEAD_SLACK_SECONDS = 0.5


def clamp_lead(lead_seconds: float, interval: timedelta) -> timedelta:
    lead = max(0.0, lead_seconds) * LEAD_MARGIN + LEAD_SLACK_SECONDS
    return min(timedelta(seconds=lead), interval / 2)


def update_lead(
    previous: float | None,
    taken_at: datetime,
    created_at: datetime,
    ticked_at: datetime | None = None,
) -> float:
    """Asymmetric EWMA of how long a tick takes to become a CP: ``created_at`` minus the tick's
    time when this CP answers the unit's last tick (bus, queueing and the snapshot included),
    else minus ``taken_at``. The achieved RPO just before a CP lands is
    ``rpo - lead + that time``."""
    start = ticked_at if ticked_at is not None and ticked_at <= taken_at else taken_at
    sample = max(0.0, (created_at - start).total_seconds())
    if previous is None:
        return sample
    alpha = EWMA_RISE if sample > previous else EWMA_FALL
    return (1 - alpha) * previous + alpha * sample


def first_due(unit_id: str, cadence: Cadence, created_at: datetime) -> datetime:
    """A new unit's first tick: spread over min(interval / 2, FIRST_SPREAD_MAX) by jitter."""
    if cadence.cron is not None:
        return next_cron_fire(cadence.cron, created_at, unit_id)
    spread = min(cadence.interval(created_at) / 2, FIRST_SPREAD_MAX)
    return created_at + spread * jitter_fraction(unit_id)


def due_after_tick(
    unit_id: str, cadence: Cadence, ticked_at: datetime, lead_seconds: float
) -> datetime:
    """After a tick: the retry time should no CP arrive (RPO), or the next fire time (cron).

    A cron unit whose tick produced no CP also retries, so a lost weekly tick costs at most one
    retry interval (an hour, or twice the cycle estimate), not a week."""
    lead = timedelta(seconds=max(0.0, lead_seconds))
    if cadence.cron is not None:
        retry = ticked_at + max(timedelta(hours=1), 2 * lead)
        return min(next_cron_fire(cadence.cron, ticked_at, unit_id), retry)
    interval = cadence.interval(ticked_at)
    return ticked_at + max(interval, 2 * lead, MIN_RETRY)


def due_after_cp(
    unit_id: str, cadence: Cadence, taken_at: datetime, lead_seconds: float, now: datetime
) -> datetime:
    """After a new consistency point: one RPO after its recovery point, minus the cycle's
    expected duration (never before ``now``); for cron, the next fire time after ``now``."""
    if cadence.cron is not None:
        return next_cron_fire(cadence.cron, now, unit_id)
    interval = cadence.interval(taken_at)
    return max(now, taken_at + interval - clamp_lead(lead_seconds, interval))


def due_after_failure(cadence: Cadence, failed_at: datetime, current: datetime | None) -> datetime:
    """A failed cycle is retried after a quarter of the interval (1 s .. 5 min), or at the time
    already planned if that is sooner."""
    backoff = min(max(cadence.interval(failed_at) / 4, MIN_RETRY), MAX_FAILURE_RETRY)
    retry = failed_at + backoff
    return retry if current is None else min(current, retry)


def breached(
    rpo_seconds: int, newest_cp_taken_at: datetime | None, since: datetime, now: datetime
) -> bool:
    """A unit is in breach when its newest CP (or, without one, its creation) is older than the
    target: the data that would be lost in a disaster now exceeds what was promised."""
    reference = newest_cp_taken_at or since
    return (now - reference).total_seconds() > rpo_seconds
