"""Rated usage on /metrics, for CloudKitty's Prometheus collector (and any Prometheus).

Counters computed from the ledger (so they survive restarts and replicas agree), per project,
metric and protection group (``group_id`` empty when the usage has none):

- ``lifeboat_billing_usage_quantity_total{project_id,metric,group_id,unit}``: all usage recorded;
- ``lifeboat_billing_rated_amount_total{project_id,metric,group_id,currency}``: its exact rated
  amount (before invoice-line rounding) with the cards in force and the projects' overrides.

They only grow while the ledger does (it is append-only), unless a rate card is created with an
``effective_from`` in the past, which re-rates usage from then on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from threading import Lock

from prometheus_client.core import REGISTRY, CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from lifeboat_billing.domain.model import UsageEntry
from lifeboat_billing.domain.rating import RateCard, rate
from lifeboat_shared.contracts.messages.billing import METRIC_UNITS

Key = tuple[str, str, str]


class RatedUsageCollector(Collector):
    def __init__(self) -> None:
        self._lock = Lock()
        self._quantity: dict[Key, Decimal] = {}
        self._amount: dict[Key, Decimal] = {}
        self._currency = "EUR"

    def update(
        self, entries: Iterable[UsageEntry], cards: Sequence[RateCard], currency: str
    ) -> None:
        quantity: dict[Key, Decimal] = defaultdict(Decimal)
        amount: dict[Key, Decimal] = defaultdict(Decimal)
        for item in rate(entries, cards).values():
            e = item.entry
            key = (e.project_id, e.metric, e.group_id or "")
            quantity[key] += e.quantity
            amount[key] += item.amount
        with self._lock:
            self._quantity, self._amount, self._currency = dict(quantity), dict(amount), currency

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            quantity, amount, currency = self._quantity, self._amount, self._currency
        q = CounterMetricFamily(
            "lifeboat_billing_usage_quantity",
            "DR usage recorded, in the metric's unit",
            labels=["project_id", "metric", "group_id", "unit"],
        )
        for (project, metric, group), value in sorted(quantity.items()):
            q.add_metric([project, metric, group, METRIC_UNITS.get(metric, "")], float(value))
        a = CounterMetricFamily(
            "lifeboat_billing_rated_amount",
            "Rated amount of the DR usage (rate cards in force, project overrides applied)",
            labels=["project_id", "metric", "group_id", "currency"],
        )
        for (project, metric, group), value in sorted(amount.items()):
            a.add_metric([project, metric, group, currency], float(value))
        yield q
        yield a


RATED = RatedUsageCollector()
REGISTRY.register(RATED)
