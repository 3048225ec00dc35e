"""Site health observations: one probe result or one external alert, before any hysteresis.

The orchestrator's probes and its Alertmanager webhook emit these, and external monitoring may
publish them on ``lifeboat.sites.events.v1`` itself; the orchestrator's hysteresis turns the
stream into the rare ``SiteDeclaredDown`` / ``SiteDeclaredUp`` that failover decisions act on.
A single observation never declares anything, so a noisy source cannot trigger a failover alone.
"""

from typing import Literal

from pydantic import Field, field_validator

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp

HealthSource = Literal["probe", "alertmanager", "external"]


@register
class SiteHealthObserved(Event):
    """One look at a site: a probe of its APIs, or an alert firing (healthy=False) or resolved."""

    topic = topics.SITE_EVENTS

    site_id: Id
    source: HealthSource
    healthy: bool = Field(description="Probe: every API answered; alert: the alert is resolved")
    severity: str = Field(
        default="info",
        min_length=1,
        max_length=32,
        pattern=r"^[a-z0-9_\-]+$",
        description="critical, error, warning, info, ... (case-insensitive; stored lower-case)",
    )
    services: dict[str, bool] = Field(
        default_factory=dict,
        max_length=32,
        description="Per API (keystone, nova, cinder, neutron) when from a probe",
    )
    detail: str = Field(default="", max_length=2000)
    alert_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Identifies an alert (Alertmanager fingerprint) so that its resolution "
        "clears it; without one, an external alert is identified by its source",
    )
    observed_at: Timestamp

    @field_validator("severity", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    def partition_key(self) -> str:
        return self.site_id
