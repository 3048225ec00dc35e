"""Usage: every service reports what a tenant consumed; billing rates it."""

from decimal import Decimal
from typing import Literal

from pydantic import Field

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp

Metric = Literal[
    "protected_vm_hours",
    "replicated_bytes",
    "stored_byte_hours",
    "dr_vm_hours",
    "test_failover_runs",
]


@register
class UsageRecorded(Event):
    topic = topics.USAGE_EVENTS

    usage_id: Id = Field(description="Idempotency key: the same usage is never rated twice")
    project_id: Id
    group_id: Id | None = None
    site_id: Id
    metric: Metric
    quantity: Decimal = Field(ge=0)
    period_start: Timestamp
    period_end: Timestamp

    def partition_key(self) -> str:
        return self.group_id or self.site_id
