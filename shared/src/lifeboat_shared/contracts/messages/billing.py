"""Usage: every service reports what a tenant consumed; billing rates it."""

from decimal import Decimal
from typing import Literal

from pydantic import Field

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp

Metric = Literal[
    "replicated_bytes",
    "stored_byte_hours",
    "stored_gb_hours",
    "protected_vm_hours",
    "protected_gb_hours",
    "dr_vm_hours",
    "dr_vcpu_hours",
    "bubble_vm_hours",
    "test_runs",
    "test_failover_runs",
]
"""What a tenant consumed. Who emits what (each usage once, never under two metrics):

- replicator: ``replicated_bytes`` (bytes sent per CP), ``stored_gb_hours`` (GB kept at the DR
  site by CP retention, per window); ``stored_byte_hours`` is the older producers' form.
- policy: ``protected_vm_hours`` and ``protected_gb_hours`` (servers and GB under protection, per
  window); older replicators sent ``protected_vm_hours`` from CPs.
- orchestrator: ``dr_vm_hours`` and ``dr_vcpu_hours`` for servers running at a DR site after a
  failover or planned migration (production use of the DR site; bubbles are not counted here).
- verifier: ``test_runs`` (one per bubble test) and ``bubble_vm_hours`` (bubble servers from
  ready to removed). ``test_failover_runs`` is the older producers' form.
"""

METRIC_UNITS: dict[str, str] = {
    "replicated_bytes": "B",
    "stored_byte_hours": "B*h",
    "stored_gb_hours": "GB*h",
    "protected_vm_hours": "VM*h",
    "protected_gb_hours": "GB*h",
    "dr_vm_hours": "VM*h",
    "dr_vcpu_hours": "vCPU*h",
    "bubble_vm_hours": "VM*h",
    "test_runs": "run",
    "test_failover_runs": "run",
}
"""The unit of each metric's quantity (GB = 10^9 bytes)."""


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
    unit: str | None = Field(
        default=None, max_length=16, description="Unit of quantity; None = METRIC_UNITS[metric]"
    )
    resource_id: Id | None = Field(
        default=None, description="What the usage is about: a volume, server, CP or test run id"
    )
    plan_id: Id | None = Field(default=None, description="Recovery plan, for plan-level usage")

    def partition_key(self) -> str:
        return self.group_id or self.site_id


@register
class InvoiceIssued(Event):
    """A project's period was closed: its invoice is frozen and will never change (usage of the
    period arriving later is billed in the next open period as an adjustment line)."""

    topic = topics.USAGE_EVENTS

    invoice_id: Id
    project_id: Id
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="UTC month, YYYY-MM")
    period_start: Timestamp
    period_end: Timestamp
    currency: str = Field(min_length=3, max_length=3)
    total: Decimal
    line_count: int = Field(ge=0)
    adjustment_total: Decimal = Field(
        default=Decimal(0), description="Part of total from late usage of closed periods"
    )
    closed_at: Timestamp

    def partition_key(self) -> str:
        return self.project_id
