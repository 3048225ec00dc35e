"""The RPO schedule of a protection group (pure domain, no I/O)."""

from datetime import UTC, datetime, timedelta

from lifeboat_policy.domain.model import ProtectionGroup

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def group() -> ProtectionGroup:
    return ProtectionGroup("g", "p", "db", 60, "b", T0, next_tick_at=T0)


def test_first_tick_is_due_at_once_then_every_rpo() -> None:
    g = group()
    assert g.take_due_tick(T0) == 1
    assert g.take_due_tick(T0 + timedelta(seconds=59)) is None
    assert g.take_due_tick(T0 + timedelta(seconds=60)) == 2


def test_missed_intervals_collapse_into_one_tick() -> None:
    g = group()
    g.take_due_tick(T0)
    late = T0 + timedelta(hours=1)
    assert g.take_due_tick(late) == 2
    assert g.take_due_tick(late) is None
    assert g.next_tick_at > late
