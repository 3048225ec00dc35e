"""Protected VM/GB-hours per window (domain.usage): alignment, partial windows, no double count."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from lifeboat_policy.domain.usage import GB, Meter, Protected, advance, window_start

T0 = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)  # a window boundary for 60 s and 3600 s windows
ON = Protected(active=True, servers=2, volume_bytes=3 * GB)
OFF = Protected(active=False, servers=2, volume_bytes=3 * GB)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_windows_are_aligned_to_the_epoch() -> None:
    assert window_start(at(59.9), 60) == T0
    assert window_start(at(60), 60) == at(60)
    assert window_start(at(1799), 3600) == T0


def test_suspend_and_resume_count_only_the_protected_part_of_each_window() -> None:
    meter = Meter("g1", "p1", "site-a", T0, at(10), ON)
    assert advance(meter, at(30), 60, ON) == []
    assert advance(meter, at(40), 60, OFF) == []  # suspended at 40 s: 30 s protected
    (first,) = advance(meter, at(70), 60, OFF)  # nothing in the second window yet
    assert (first.start, first.end) == (T0, at(60))
    assert first.vm_hours == (Decimal(2 * 30) / 3600).quantize(Decimal("0.000001"))
    assert first.gb_hours == (Decimal(3 * 30) / 3600).quantize(Decimal("0.000001"))
    assert advance(meter, at(200), 60, ON) == []  # resumed at 200 s: empty windows skipped
    (second,) = advance(meter, at(250), 60, ON)
    assert (second.start, second.end) == (at(180), at(240))
    assert second.vm_hours == (Decimal(2 * 40) / 3600).quantize(Decimal("0.000001"))


def test_passes_at_any_points_close_the_same_windows_with_the_same_quantities() -> None:
    one = Meter("g1", "p1", "site-a", T0, T0, ON)
    many = Meter("g1", "p1", "site-a", T0, T0, ON)
    closed_one = advance(one, at(185), 60, ON)
    closed_many = [w for s in range(7, 186, 7) for w in advance(many, at(s), 60, ON)]
    closed_many += advance(many, at(185), 60, ON)
    assert closed_one == closed_many
    assert [w.start for w in closed_one] == [T0, at(60), at(120)]
    assert all(
        w.vm_hours == (Decimal(120) / 3600).quantize(Decimal("0.000001")) for w in closed_one
    )
