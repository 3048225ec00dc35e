"""The scheduling math (pure domain, no I/O): first-tick spread, CP-driven due times, cron."""

from __future__ import annotations

import collections
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from lifeboat_policy.domain import schedule
from lifeboat_policy.domain.schedule import Cadence

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RPO = Cadence(rpo_seconds=300)


def test_first_ticks_of_10000_groups_created_at_once_are_spread() -> None:
    ids = [str(uuid.UUID(int=i, version=4)) for i in range(10_000)]
    dues = [schedule.first_due(i, RPO, T0) for i in ids]
    assert all(T0 <= d < T0 + timedelta(seconds=150) for d in dues)
    per_second = collections.Counter(int((d - T0).total_seconds()) for d in dues)
    mean = 10_000 / 150
    assert len(per_second) == 150  # every second of the window is used
    assert max(per_second.values()) < 1.6 * mean  # no second gets a herd
    # Deterministic: a restart computes the very same times.
    assert dues == [schedule.first_due(i, RPO, T0) for i in ids]


def test_first_tick_spread_is_capped_for_long_rpos() -> None:
    daily = Cadence(rpo_seconds=86_400)
    dues = [schedule.first_due(f"g{i}", daily, T0) for i in range(2000)]
    assert max(dues) - T0 <= schedule.FIRST_SPREAD_MAX
    assert max(dues) - T0 > schedule.FIRST_SPREAD_MAX * 0.99


def test_next_due_is_one_rpo_after_the_recovery_point_minus_the_cycle() -> None:
    lead = schedule.update_lead(None, T0, T0 + timedelta(seconds=40))
    assert lead == 40
    due = schedule.due_after_cp("g", RPO, T0, lead, now=T0 + timedelta(seconds=40))
    # ticked a little earlier than the average cycle needs (x1.25 + 0.5 s)
    assert due == T0 + timedelta(seconds=300 - 40 * 1.25 - 0.5)
    # measured from the tick when the CP answers it: queueing and the snapshot count too
    ticked = T0 - timedelta(seconds=3)
    assert schedule.update_lead(None, T0, T0 + timedelta(seconds=40), ticked) == 43
    # The lead follows a slower cycle quickly, a faster one slowly; clamped to half the RPO.
    lead = schedule.update_lead(lead, T0, T0 + timedelta(seconds=1000))
    assert lead == pytest.approx(0.5 * 40 + 0.5 * 1000)
    assert schedule.due_after_cp("g", RPO, T0, lead, T0) == T0 + timedelta(seconds=150)
    assert schedule.update_lead(40, T0, T0 + timedelta(seconds=10)) == pytest.approx(37)
    # A CP that arrives late makes the next tick due at once, never in the past.
    late = T0 + timedelta(seconds=900)
    assert schedule.due_after_cp("g", RPO, T0, 0, late) == late


def test_without_a_cp_the_tick_repeats_and_failures_retry_sooner() -> None:
    assert schedule.due_after_tick("g", RPO, T0, 0) == T0 + timedelta(seconds=300)
    assert schedule.due_after_tick("g", RPO, T0, 400) == T0 + timedelta(seconds=800)
    planned = T0 + timedelta(seconds=200)
    assert schedule.due_after_failure(RPO, T0, planned) == T0 + timedelta(seconds=75)
    assert schedule.due_after_failure(RPO, T0, T0 + timedelta(seconds=10)) == T0 + timedelta(
        seconds=10
    )
    daily = Cadence(rpo_seconds=86_400)
    assert schedule.due_after_failure(daily, T0, None) == T0 + schedule.MAX_FAILURE_RETRY


def test_cron_fires_at_its_times_with_a_small_spread() -> None:
    weekly = Cadence(cron="0 2 * * 0")
    due = schedule.first_due("g", weekly, T0)  # 2026-01-01 is a Thursday
    assert datetime(2026, 1, 4, 2, tzinfo=UTC) <= due < datetime(2026, 1, 4, 2, 1, tzinfo=UTC)
    after = schedule.due_after_tick("g", weekly, due, 0)
    assert after == due + timedelta(hours=1)  # retried if no CP comes
    nxt = schedule.due_after_cp("g", weekly, due, 600, due + timedelta(minutes=10))
    assert nxt - due == timedelta(days=7)
    assert schedule.cron_period("0 2 * * 0", T0) == 7 * 86_400
    assert schedule.cron_period("0 2 * * 1-5", T0) == 3 * 86_400  # the weekend gap


def test_breach_is_measured_from_the_newest_cp_or_creation() -> None:
    assert not schedule.breached(60, None, T0, T0 + timedelta(seconds=60))
    assert schedule.breached(60, None, T0, T0 + timedelta(seconds=61))
    recent = T0 + timedelta(seconds=50)
    assert not schedule.breached(60, recent, T0, T0 + timedelta(seconds=100))


def test_a_cadence_is_an_rpo_or_a_cron() -> None:
    with pytest.raises(ValueError, match="either"):
        Cadence()
    with pytest.raises(ValueError, match="either"):
        Cadence(rpo_seconds=1, cron="* * * * *")
