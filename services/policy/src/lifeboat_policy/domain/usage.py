"""Protected VM-hours and GB-hours per protection group and window. Pure Python.

A ``Meter`` per group accrues, between two passes of the usage step, the state it saw at the
earlier pass (active or not, how many servers, how many bytes of volumes) times the time between
them, split at window boundaries. Windows are aligned to the epoch (``window_start``), so every
replica and every restart names a window the same way; a closed window with protected time in
it becomes one usage per metric. A state change (suspend, resume, new members) is therefore
counted from the first pass that sees it: at most one pass interval late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

GB = 10**9


def window_start(at: datetime, window_seconds: int) -> datetime:
    """The start of the epoch-aligned window holding ``at``."""
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_seconds, UTC)


@dataclass(frozen=True)
class Protected:
    """What a group has under protection now (``active``: neither suspended nor retired)."""

    active: bool
    servers: int
    volume_bytes: int


@dataclass
class Meter:
    group_id: str
    project_id: str
    site_id: str
    window_start: datetime
    last_at: datetime
    state: Protected
    active_seconds: float = 0.0
    vm_seconds: float = 0.0
    byte_seconds: float = 0.0


@dataclass(frozen=True)
class ClosedWindow:
    group_id: str
    project_id: str
    site_id: str
    start: datetime
    end: datetime
    vm_hours: Decimal
    gb_hours: Decimal


def advance(
    meter: Meter, now: datetime, window_seconds: int, state: Protected
) -> list[ClosedWindow]:
    """Accrue the meter's state up to ``now``, close every window that ended, then take
    ``state`` as what holds from ``now`` on."""
    width = timedelta(seconds=window_seconds)
    closed: list[ClosedWindow] = []
    while True:
        end = meter.window_start + width
        upto = min(now, end)
        dt = max(0.0, (upto - meter.last_at).total_seconds())
        if meter.state.active and dt:
            meter.active_seconds += dt
            meter.vm_seconds += meter.state.servers * dt
            meter.byte_seconds += meter.state.volume_bytes * dt
        meter.last_at = max(meter.last_at, upto)
        if now < end:
            break
        if meter.active_seconds > 0:
            closed.append(
                ClosedWindow(
                    meter.group_id,
                    meter.project_id,
                    meter.site_id,
                    meter.window_start,
                    end,
                    _hours(meter.vm_seconds),
                    _hours(meter.byte_seconds / GB),
                )
            )
        meter.active_seconds = meter.vm_seconds = meter.byte_seconds = 0.0
        # an inactive meter skips the empty windows in between at once
        meter.window_start = end if meter.state.active else window_start(now, window_seconds)
        meter.last_at = max(meter.last_at, meter.window_start)
    meter.state = state
    return closed


def _hours(seconds: float) -> Decimal:
    return (Decimal(repr(seconds)) / Decimal(3600)).quantize(Decimal("0.000001"))
