"""The usage ledger: every usage event once, summed per project and metric. Pure Python."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class UsageEntry:
    usage_id: str
    project_id: str
    site_id: str
    group_id: str | None
    metric: str
    quantity: Decimal
    period_start: datetime
    period_end: datetime


def totals_by_metric(entries: Iterable[UsageEntry]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        totals[entry.metric] += entry.quantity
    return dict(totals)
