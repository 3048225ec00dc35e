"""Invoice periods: UTC calendar months named ``YYYY-MM``. Pure Python."""

from __future__ import annotations

import re
from datetime import UTC, datetime

PERIOD_PATTERN = r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$"
"""1970-01 to 2999-12."""
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 1, tzinfo=UTC)


def period_of(moment: datetime) -> str:
    """The month (UTC) a moment falls in."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def bounds(period: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of a period, in UTC."""
    if not re.match(PERIOD_PATTERN, period):
        raise ValueError(f"period: {period!r} is not YYYY-MM (1970-01 to 2999-12)")
    year, month = int(period[:4]), int(period[5:])
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def next_period(period: str) -> str:
    return period_of(bounds(period)[1])


def periods_between(start: datetime, end: datetime) -> list[str]:
    """Every period overlapping ``[start, end)``."""
    out: list[str] = []
    period = period_of(start)
    while bounds(period)[0] < end:
        out.append(period)
        period = next_period(period)
    return out
