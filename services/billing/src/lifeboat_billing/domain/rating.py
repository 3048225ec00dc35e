"""Rate cards and rating: what each usage costs. Pure Python.

- A rate card is immutable once created; a newer ``version`` with a later ``effective_from``
  supersedes it from then on. The card in force for a usage is the one with the latest
  ``effective_from`` at or before the usage's ``period_start`` (ties: the highest version).
- Prices are Decimal per unit of the metric (``METRIC_UNITS``). A metric the card does not price
  costs 0 (its quantity still shows on the invoice).
- Tiers are graduated by quantity within the usage's month: per project and metric, the month's
  usage is walked in usage-time order (``period_start``, then ``usage_id``; late usage billed as an
  adjustment after everything billed in its own month), and each part of a quantity is priced at
  the tier its cumulative position falls in, using the tiers of the usage's own card.
- Per-project overrides (in the card): an override unit price for a metric (flat, replaces the
  tiers) and/or a discount percentage applied to every amount of that project.
- Rounding: amounts are kept exact per usage; each invoice line's amount is rounded once, with
  ROUND_HALF_EVEN, to the currency's minor unit (2 decimals; 0 for JPY/KRW); the invoice total is
  the sum of its rounded lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from lifeboat_billing.domain.model import UsageEntry
from lifeboat_billing.domain.periods import period_of

MINOR_UNITS: dict[str, int] = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None
    """Upper bound of the tier in cumulative quantity within the month; None: everything above."""
    unit_price: Decimal


@dataclass(frozen=True)
class MetricPrice:
    unit_price: Decimal
    tiers: tuple[Tier, ...] = ()
    """When given, they price the metric instead of ``unit_price``."""


@dataclass(frozen=True)
class ProjectOverride:
    discount_percent: Decimal = Decimal(0)
    prices: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class RateCard:
    version: int
    name: str
    currency: str
    effective_from: datetime
    prices: Mapping[str, MetricPrice]
    overrides: Mapping[str, ProjectOverride] = field(default_factory=dict)
    created_at: datetime | None = None


def round_money(amount: Decimal, currency: str) -> Decimal:
    digits = MINOR_UNITS.get(currency.upper(), 2)
    return amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)


def card_in_force(cards: Sequence[RateCard], at: datetime) -> RateCard | None:
    best: RateCard | None = None
    for card in cards:
        if card.effective_from <= at and (
            best is None
            or (card.effective_from, card.version) > (best.effective_from, best.version)
        ):
            best = card
    return best


def _graduated(tiers: Sequence[Tier], position: Decimal, quantity: Decimal) -> Decimal:
    """The price of ``quantity`` units starting at cumulative ``position`` through the tiers."""
    amount, lower, left, at = Decimal(0), Decimal(0), quantity, position
    for tier in tiers:
        upper = tier.up_to
        if upper is not None and at >= upper:
            lower = upper
            continue
        take = left if upper is None else min(left, upper - max(at, lower))
        amount += take * tier.unit_price
        left -= take
        at += take
        if left <= 0:
            break
        lower = upper if upper is not None else lower
    if left > 0:  # tiers ending in a bound: the rest at the last tier's price
        amount += left * tiers[-1].unit_price
    return amount


@dataclass(frozen=True)
class RatedUsage:
    entry: UsageEntry
    amount: Decimal
    """Exact, not rounded."""
    card_version: int | None


def _order(entry: UsageEntry) -> tuple[int, str, datetime, str]:
    return (int(entry.adjustment), entry.billed_period or "", entry.period_start, entry.usage_id)


def rate(entries: Iterable[UsageEntry], cards: Sequence[RateCard]) -> dict[str, RatedUsage]:
    """Every entry's exact amount, keyed by usage id. ``entries`` must hold every entry of each
    (project, metric, month) they touch, for the tiers' cumulative positions."""
    runs: dict[tuple[str, str, str], list[UsageEntry]] = defaultdict(list)
    for entry in entries:
        runs[(entry.project_id, entry.metric, period_of(entry.period_start))].append(entry)
    rated: dict[str, RatedUsage] = {}
    for (project, metric, _month), run in runs.items():
        position = Decimal(0)
        for entry in sorted(run, key=_order):
            card = card_in_force(cards, entry.period_start)
            amount = Decimal(0)
            if card is not None:
                override = card.overrides.get(project)
                price = card.prices.get(metric)
                if override is not None and metric in override.prices:
                    amount = entry.quantity * override.prices[metric]
                elif price is not None and price.tiers:
                    amount = _graduated(price.tiers, position, entry.quantity)
                elif price is not None:
                    amount = entry.quantity * price.unit_price
                if override is not None and override.discount_percent:
                    amount = amount * (HUNDRED - override.discount_percent) / HUNDRED
            position += entry.quantity
            rated[entry.usage_id] = RatedUsage(
                entry, amount, card.version if card is not None else None
            )
    return rated
