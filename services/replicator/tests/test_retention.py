"""Retention tiers (UC5): what survives pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lifeboat_replicator.domain.model import Consistency, ConsistencyPoint, next_backoff
from lifeboat_replicator.domain.retention import points_to_prune

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday


def cp(minutes: int, *, pruned: bool = False) -> ConsistencyPoint:
    at = T0 + timedelta(minutes=minutes)
    return ConsistencyPoint(
        id=f"cp-{minutes}",
        group_id="g",
        project_id="p",
        source_site="a",
        target_site="b",
        consistency=Consistency.CRASH,
        taken_at=at,
        created_at=at,
        cycle_id=f"c-{minutes}",
        members=(),
        pruned=pruned,
    )


def test_keep_last_n_and_always_the_newest() -> None:
    points = [cp(m) for m in range(0, 50, 10)]
    doomed = points_to_prune(points, keep_last=2)
    assert [p.id for p in doomed] == ["cp-0", "cp-10", "cp-20"]  # oldest first
    assert points_to_prune(points[:1], keep_last=0) == []  # the newest is the next diff's base


def test_hourly_daily_weekly_tiers_keep_the_newest_of_each_bucket() -> None:
    # every 20 minutes for 9 days
    points = [cp(m) for m in range(0, 9 * 24 * 60, 20)]
    kept = {p.id for p in points} - {p.id for p in points_to_prune(points, keep_last=3, hourly=5)}
    newest = sorted(points, key=lambda p: p.taken_at)[-1]
    assert len(kept) == 3 + 4  # the newest 3 share the last hour; 4 more hours
    assert newest.id in kept
    daily = points_to_prune(points, keep_last=1, daily=7)
    kept_daily = sorted(set(points) - set(daily), key=lambda p: p.taken_at)
    assert len(kept_daily) == 7
    assert len({p.taken_at.date() for p in kept_daily}) == 7
    weekly = set(points) - set(points_to_prune(points, keep_last=1, weekly=2))
    assert len({p.taken_at.isocalendar().week for p in weekly}) == 2


def test_pruned_points_are_ignored_and_backoff_is_capped() -> None:
    points = [cp(0, pruned=True), cp(10), cp(20)]
    assert [p.id for p in points_to_prune(points, keep_last=1)] == ["cp-10"]
    assert next_backoff(1).total_seconds() == 1
    assert next_backoff(4).total_seconds() == 8
    assert next_backoff(40).total_seconds() == 60
