"""An independent recomputation of invoices from raw usage events and rate cards, written from the
billing README's rules (not from the service's code): card in force at the usage's start (latest
effective_from, then highest version), tiers graduated by the month's cumulative quantity per
project and metric in usage-time order (late usage after everything billed in its month),
override price replaces tiers, discount off every amount, each line rounded half-even to cents."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Card:
    version: int
    effective_from: datetime
    prices: dict[str, Any]
    """metric -> {"unit_price": str, "tiers": [{"up_to": str | None, "unit_price": str}]}"""
    overrides: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    usage_id: str
    project_id: str
    group_id: str | None
    plan_id: str | None
    metric: str
    quantity: Decimal
    start: datetime


def month(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def card_at(cards: list[Card], at: datetime) -> Card | None:
    live = [c for c in cards if c.effective_from <= at]
    return max(live, key=lambda c: (c.effective_from, c.version)) if live else None


def tiered_cost(tiers: list[dict[str, Any]], before: Decimal, qty: Decimal) -> Decimal:
    """Cost of units (before, before+qty] through the tiers, one band at a time."""
    cost, low = Decimal(0), Decimal(0)
    for tier in tiers:
        high = None if tier["up_to"] is None else Decimal(tier["up_to"])
        band_lo = max(low, before)
        band_hi = before + qty if high is None else min(high, before + qty)
        if band_hi > band_lo:
            cost += (band_hi - band_lo) * Decimal(tier["unit_price"])
        if high is None:
            return cost
        low = high
    if before + qty > low:  # beyond the last bounded tier: its price
        cost += (before + qty - max(low, before)) * Decimal(tiers[-1]["unit_price"])
    return cost


def amounts(base: Iterable[Usage], late: Iterable[Usage], cards: list[Card]) -> dict[str, Decimal]:
    """usage_id -> exact amount; ``late`` usage is counted after all ``base`` usage of its month."""
    runs: dict[tuple[str, str, str], list[tuple[int, Usage]]] = defaultdict(list)
    for rank, group in ((0, base), (1, late)):
        for u in group:
            runs[(u.project_id, u.metric, month(u.start))].append((rank, u))
    out: dict[str, Decimal] = {}
    for (project, metric, _), items in runs.items():
        seen = Decimal(0)
        for _, u in sorted(items, key=lambda x: (x[0], x[1].start, x[1].usage_id)):
            card = card_at(cards, u.start)
            cost = Decimal(0)
            if card is not None:
                ov = card.overrides.get(project, {})
                price = card.prices.get(metric)
                if metric in ov.get("prices", {}):
                    cost = u.quantity * Decimal(ov["prices"][metric])
                elif price and price.get("tiers"):
                    cost = tiered_cost(price["tiers"], seen, u.quantity)
                elif price:
                    cost = u.quantity * Decimal(price["unit_price"])
                cost = cost * (1 - Decimal(ov.get("discount_percent", "0")) / 100)
            seen += u.quantity
            out[u.usage_id] = cost
    return out


def owner(u: Usage) -> str:
    return u.group_id or (f"plan {u.plan_id}" if u.plan_id else "project")


def lines(usage: Iterable[Usage], cost: dict[str, Decimal]) -> dict[tuple[str, str], Decimal]:
    """(metric, group or plan) -> amount rounded half-even to cents."""
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for u in usage:
        sums[(u.metric, owner(u))] += cost[u.usage_id]
    return {k: v.quantize(CENT, rounding=ROUND_HALF_EVEN) for k, v in sums.items()}


def total(line_amounts: dict[tuple[str, str], Decimal]) -> Decimal:
    return sum(line_amounts.values(), Decimal(0))
