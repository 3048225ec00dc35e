"""Prometheus metrics of the policy service.

The achieved RPO is computed at scrape time (now - newest CP's ``taken_at``) from a snapshot the
scheduler refreshes every few seconds, so the gauge keeps rising between refreshes exactly as
the real exposure does. Registered once per process in the default registry that ``/metrics``
serves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

TICKS_EMITTED = Counter("lifeboat_policy_ticks_emitted", "RPO ticks staged by the scheduler")
TICK_LATENESS = Histogram(
    "lifeboat_policy_tick_lateness_seconds",
    "Emission time minus due time of RPO ticks",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
TICK_FAILURES = Counter(
    "lifeboat_policy_tick_failures",
    "RPO ticks not emitted: not buildable or over the bus limit (the unit is isolated)",
)
BREACHES = Counter("lifeboat_policy_rpo_breaches", "RPO breach episodes opened")

Snapshot = Sequence[tuple[str, str, int, datetime | None]]


class AchievedRpoCollector(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: Snapshot = ()

    def update(self, rows: Snapshot) -> None:
        with self._lock:
            self._rows = tuple(rows)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        now = datetime.now(UTC)
        achieved = GaugeMetricFamily(
            "lifeboat_policy_achieved_rpo_seconds",
            "Now minus the recovery point of the group's newest verified consistency point",
            labels=["group_id", "project_id"],
        )
        target = GaugeMetricFamily(
            "lifeboat_policy_target_rpo_seconds",
            "The group's RPO target (its policy's RPO, or its cron schedule's longest gap)",
            labels=["group_id", "project_id"],
        )
        with self._lock:
            rows = self._rows
        for group_id, project_id, rpo, taken_at in rows:
            target.add_metric([group_id, project_id], float(rpo))
            if taken_at is not None:
                age = max(0.0, (now - taken_at).total_seconds())
                achieved.add_metric([group_id, project_id], age)
        yield achieved
        yield target


ACHIEVED_RPO = AchievedRpoCollector()
REGISTRY.register(ACHIEVED_RPO)
