"""Prometheus metrics (``lifeboat_`` prefix) shared by every service's runtime."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_HANDLED = Counter(
    "lifeboat_events_handled", "Events handled by a consumer group", ["group", "type", "outcome"]
)
EVENTS_DEAD_LETTERED = Counter(
    "lifeboat_events_dead_lettered", "Records sent to the dead-letter topic", ["group", "reason"]
)
HANDLE_SECONDS = Histogram(
    "lifeboat_event_handle_seconds", "Time to handle one batch of events", ["group"]
)
PUBLISH_TO_HANDLED_SECONDS = Histogram(
    "lifeboat_event_latency_seconds",
    "Event time (CloudEvents time) to handler commit",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_PUBLISHED = Counter("lifeboat_outbox_published", "Outbox rows relayed to the bus")
OUTBOX_RELAY_LAG = Gauge("lifeboat_outbox_relay_lag_seconds", "Age of the oldest unsent outbox row")
