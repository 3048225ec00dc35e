"""DR VM-hours per server and window (domain.usage): running time split at aligned windows."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from lifeboat_orchestrator.domain.usage import DrMeter, advance

T0 = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def h(seconds: float) -> Decimal:
    return (Decimal(seconds) / 3600).quantize(Decimal("0.000001"))


def test_running_time_per_window_until_released() -> None:
    meter = DrMeter("plan", "srv", "p1", "site-b", 2, T0, at(45), running=True)
    (first,) = advance(meter, at(70), 60, True)  # failed over at 45 s
    assert (first.start, first.end, first.vm_hours) == (T0, at(60), h(15))
    assert first.vcpu_hours == h(30)
    assert advance(meter, at(100), 60, False) == []  # failback seen at 100 s
    (second,) = advance(meter, at(121), 60, False)
    assert (second.start, second.vm_hours) == (at(60), h(40))
    assert advance(meter, at(400), 60, False) == [] and meter.seconds == 0
