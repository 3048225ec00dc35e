"""Which consistency points retention keeps (UC5: keep the last N plus hourly/daily/weekly tiers).

The newest CP is always kept: its source snapshots are the base the next changed-block diff needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from lifeboat_replicator.domain.model import ConsistencyPoint


def _bucket(at: datetime, tier: str) -> tuple[int, ...]:
    if tier == "hourly":
        return (at.year, at.month, at.day, at.hour)
    if tier == "daily":
        return (at.year, at.month, at.day)
    iso = at.isocalendar()
    return (iso.year, iso.week)


def points_to_prune(
    points: Sequence[ConsistencyPoint],
    *,
    keep_last: int,
    hourly: int = 0,
    daily: int = 0,
    weekly: int = 0,
) -> list[ConsistencyPoint]:
    """The CPs to delete, oldest first. ``points`` may be in any order; pruned ones are ignored."""
    live = sorted((p for p in points if not p.pruned), key=lambda p: p.taken_at, reverse=True)
    keep = {p.id for p in live[: max(1, keep_last)]}
    for tier, count in (("hourly", hourly), ("daily", daily), ("weekly", weekly)):
        if count <= 0:
            continue
        seen: list[tuple[int, ...]] = []
        for p in live:  # newest first: the newest CP of each bucket represents it
            bucket = _bucket(p.taken_at, tier)
            if bucket in seen:
                continue
            seen.append(bucket)
            if len(seen) > count:
                break
            keep.add(p.id)
    return sorted((p for p in live if p.id not in keep), key=lambda p: p.taken_at)
