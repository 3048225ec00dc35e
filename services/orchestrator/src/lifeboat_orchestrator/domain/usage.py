"""DR VM-hours per server running at a DR site, per window. Pure Python.

A ``DrMeter`` per (plan, DR server) accrues, between two passes of the usage step, the time the
server ran at the DR site as the earlier pass saw it, split at windows aligned to the epoch
(every replica and restart names a window the same way). A closed window with running time in
it becomes a ``dr_vm_hours`` and a ``dr_vcpu_hours`` usage (x the flavor's vCPUs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal


def window_start(at: datetime, window_seconds: int) -> datetime:
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_seconds, UTC)


@dataclass
class DrMeter:
    plan_id: str
    server_id: str
    """The server at the DR site (the recovered one)."""
    project_id: str
    site_id: str
    vcpus: int
    window_start: datetime
    last_at: datetime
    running: bool
    seconds: float = 0.0


@dataclass(frozen=True)
class DrWindow:
    meter: DrMeter
    start: datetime
    end: datetime
    vm_hours: Decimal
    vcpu_hours: Decimal


def advance(meter: DrMeter, now: datetime, window_seconds: int, running: bool) -> list[DrWindow]:
    """Accrue the meter up to ``now``, close every window that ended, then take ``running``."""
    width = timedelta(seconds=window_seconds)
    closed: list[DrWindow] = []
    while True:
        end = meter.window_start + width
        upto = min(now, end)
        if meter.running:
            meter.seconds += max(0.0, (upto - meter.last_at).total_seconds())
        meter.last_at = max(meter.last_at, upto)
        if now < end:
            break
        if meter.seconds > 0:
            hours = Decimal(repr(meter.seconds)) / Decimal(3600)
            closed.append(
                DrWindow(
                    meter,
                    meter.window_start,
                    end,
                    hours.quantize(Decimal("0.000001")),
                    (hours * meter.vcpus).quantize(Decimal("0.000001")),
                )
            )
        meter.seconds = 0.0
        meter.window_start = end if meter.running else window_start(now, window_seconds)
        meter.last_at = max(meter.last_at, meter.window_start)
    meter.running = running
    return closed
