"""The one wiring point of the billing service."""

from __future__ import annotations

from pathlib import Path

from lifeboat_billing.entrypoints.api import router
from lifeboat_billing.entrypoints.invoices_api import router as invoices_router
from lifeboat_billing.entrypoints.rate_cards_api import router as rate_cards_router
from lifeboat_billing.service_layer.background import metrics_refresher, period_closer
from lifeboat_billing.service_layer.handlers import HANDLERS
from lifeboat_billing.settings import BillingSettings
from lifeboat_shared.contracts import topics
from lifeboat_shared.service import ServiceSpec


def build(settings: BillingSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="billing",
        settings=settings or BillingSettings(),
        description="Usage events, rate cards, rated ledger, invoices per project and month.",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, rate_cards_router, invoices_router],
        consumes=[topics.USAGE_EVENTS],
        handlers=HANDLERS,
        background=[period_closer, metrics_refresher],
    )
