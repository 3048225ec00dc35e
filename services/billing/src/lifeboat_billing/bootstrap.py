"""The one wiring point of the billing service."""

from __future__ import annotations

from pathlib import Path

from lifeboat_billing.entrypoints.api import router
from lifeboat_billing.service_layer.handlers import HANDLERS
from lifeboat_billing.settings import BillingSettings
from lifeboat_shared.contracts import topics
from lifeboat_shared.service import ServiceSpec


def build(settings: BillingSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="billing",
        settings=settings or BillingSettings(),
        description="Usage events, rated ledger, per-project chargeback.",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router],
        consumes=[topics.USAGE_EVENTS],
        handlers=HANDLERS,
    )
