"""Invoices: a project's rated usage of a period, in lines per metric and protection group (or
plan, when the usage has no group). Usage billed late (its month was closed when it arrived)
makes separate ``adjustment`` lines naming the month they adjust. Pure Python."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from lifeboat_billing.domain.model import UsageEntry
from lifeboat_billing.domain.periods import period_of
from lifeboat_billing.domain.rating import RatedUsage, round_money
from lifeboat_shared.contracts.messages.billing import METRIC_UNITS

_NAMESPACE = uuid.UUID("6f1d7c62-0b8e-4a8e-9d61-2b3f5c7a9e10")


def invoice_id(project_id: str, period: str) -> str:
    """Stable: the same project and period always name the same invoice (draft or closed)."""
    return str(uuid.uuid5(_NAMESPACE, f"{project_id}/{period}"))


@dataclass(frozen=True)
class InvoiceLine:
    line_id: str
    kind: str
    """``usage`` or ``adjustment`` (usage of a closed month billed in this one)."""
    metric: str
    unit: str
    group_id: str | None
    plan_id: str | None
    adjusts_period: str | None
    quantity: Decimal
    amount: Decimal
    usage_count: int
    card_versions: tuple[int, ...]


@dataclass(frozen=True)
class Invoice:
    id: str
    project_id: str
    period: str
    start: datetime
    end: datetime
    currency: str
    status: str
    """``draft`` (open period, still changing), ``closed`` (frozen) or ``report`` (a range)."""
    lines: tuple[InvoiceLine, ...]
    total: Decimal
    closed_at: datetime | None = None
    usage_ids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per line id: the usage ids behind it."""


def line_key(entry: UsageEntry, *, report: bool = False) -> str:
    adjustment = entry.adjustment and not report
    owner = (
        f"group:{entry.group_id}"
        if entry.group_id
        else (f"plan:{entry.plan_id}" if entry.plan_id else "project")
    )
    head = f"adjustment:{period_of(entry.period_start)}" if adjustment else "usage"
    return f"{head}:{entry.metric}:{owner}"


def build_lines(
    rated: Iterable[RatedUsage], currency: str, *, report: bool = False
) -> tuple[tuple[InvoiceLine, ...], dict[str, tuple[str, ...]]]:
    grouped: dict[str, list[RatedUsage]] = defaultdict(list)
    for item in rated:
        grouped[line_key(item.entry, report=report)].append(item)
    lines: list[InvoiceLine] = []
    usage: dict[str, tuple[str, ...]] = {}
    for key in sorted(grouped):
        items = sorted(grouped[key], key=lambda r: (r.entry.period_start, r.entry.usage_id))
        first = items[0].entry
        adjustment = first.adjustment and not report
        lines.append(
            InvoiceLine(
                line_id=key,
                kind="adjustment" if adjustment else "usage",
                metric=first.metric,
                unit=METRIC_UNITS.get(first.metric, first.unit or ""),
                group_id=first.group_id,
                plan_id=None if first.group_id else first.plan_id,
                adjusts_period=period_of(first.period_start) if adjustment else None,
                quantity=sum((r.entry.quantity for r in items), Decimal(0)),
                amount=round_money(sum((r.amount for r in items), Decimal(0)), currency),
                usage_count=len(items),
                card_versions=tuple(
                    sorted({r.card_version for r in items if r.card_version is not None})
                ),
            )
        )
        usage[key] = tuple(r.entry.usage_id for r in items)
    return tuple(lines), usage


def total_of(lines: Iterable[InvoiceLine]) -> Decimal:
    return sum((line.amount for line in lines), Decimal(0))
