"""The usage ledger: every usage event once, append-only, summed per project and metric.

Each entry keeps the id of the event that carried it (``event_id``) and the invoice period it is
billed in (``billed_period``): the calendar month (UTC) of its ``period_start``, or, when that
month was already closed for its project when the usage arrived, the next open month (then
``adjustment`` is true). Pure Python.
"""

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
    event_id: str | None = None
    unit: str | None = None
    resource_id: str | None = None
    plan_id: str | None = None
    billed_period: str | None = None
    adjustment: bool = False
    recorded_at: datetime | None = None


def totals_by_metric(entries: Iterable[UsageEntry]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        totals[entry.metric] += entry.quantity
    return dict(totals)
