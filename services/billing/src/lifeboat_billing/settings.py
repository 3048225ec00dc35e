"""Billing settings: ``LIFEBOAT_BILLING_*``, falling back to ``LIFEBOAT_*``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_BILLING_", extra="ignore")

    http_port: int = Field(default=8705, ge=0, le=65535)
    # The consumer, the outbox relay and the API only.
    db_pool_size: int = Field(default=3, ge=1, le=1000)
    db_max_overflow: int = Field(default=5, ge=0, le=1000)
    currency: str = Field(
        default="EUR",
        pattern=r"^[A-Z]{3}$",
        description="Invoice currency (ISO 4217); every rate card must use it",
    )
    auto_close_grace_hours: float | None = Field(
        default=72.0,
        ge=0,
        le=24 * 366,
        description="Close a month automatically this long after it ended (None: only by admin)",
    )
    close_check_interval_seconds: float = Field(default=300.0, gt=0, le=86400)
    metrics_refresh_seconds: float = Field(
        default=30.0, gt=0, le=86400, description="How often /metrics' rated usage is recomputed"
    )
