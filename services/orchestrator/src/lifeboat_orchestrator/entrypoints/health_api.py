"""REST surface of site health: the Alertmanager webhook and the hysteresis view of a site.

The webhook only turns alerts into ``SiteHealthObserved`` events (through the outbox); it never
declares anything itself, so an alert storm reaches the same hysteresis as every other source.
Alertmanager does not retry 4xx answers, so an alert we cannot use (no site label, an invalid
site id, or a site this orchestrator does not know: neither registered, probed nor declared) is
counted (in the answer and in ``lifeboat_orchestrator_alerts_ignored{reason}``) and skipped
rather than failing the whole notification.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from fastapi import Path as PathParam
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field

from lifeboat_orchestrator.adapters.catalog import CatalogRepository
from lifeboat_orchestrator.adapters.health_repository import SiteHealthRepository
from lifeboat_orchestrator.adapters.repository import SiteRepository
from lifeboat_shared.contracts.messages.health import SiteHealthObserved
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep, ServiceRuntime

router = APIRouter(tags=["site health"])
SITE_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
SEVERITY = re.compile(r"^[a-z0-9_\-]{1,32}$")
SITE_LABELS = ("lifeboat_site", "site")
SiteId = Annotated[str, PathParam(pattern=SITE_ID.pattern)]
Label = Annotated[str, Field(max_length=4096)]
Labels = Annotated[dict[Label, Label], Field(max_length=64)]
Url = Annotated[str, Field(max_length=4096)]
ALERTS_IGNORED = Counter(
    "lifeboat_orchestrator_alerts_ignored",
    "Alertmanager alerts skipped: no site label, an invalid site id, or an unknown site",
    ["reason"],
)


class AlertmanagerAlert(BaseModel):
    """One alert of Alertmanager's webhook payload (version 4)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: Url | None = Field(default=None, alias="generatorURL")
    fingerprint: str | None = Field(default=None, max_length=255)


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's standard webhook JSON; unknown top-level keys are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: Label
    group_key: Label | None = Field(default=None, alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    group_labels: Labels = Field(default_factory=dict, alias="groupLabels")
    common_labels: Labels = Field(default_factory=dict, alias="commonLabels")
    common_annotations: Labels = Field(default_factory=dict, alias="commonAnnotations")
    external_url: Url | None = Field(default=None, alias="externalURL")
    alerts: list[AlertmanagerAlert] = Field(max_length=1000)


class WebhookAccepted(BaseModel):
    accepted: int
    ignored_without_site: int
    ignored_invalid_site: int
    ignored_unknown_site: int = Field(
        default=0, description="Alerts naming a site neither registered nor ever probed"
    )
    event_ids: list[str]


async def known_sites(runtime: ServiceRuntime) -> set[str]:
    """Sites this orchestrator knows: registered (policy's SiteRegistered), probed or declared."""
    async with runtime.db.read() as session:
        known = set(await CatalogRepository(session).sites())
        known |= set(await SiteHealthRepository(session).site_ids())
        known |= {s.id for s in await SiteRepository(session).list()}
    return known


def observation(alert: AlertmanagerAlert, now: datetime) -> SiteHealthObserved | str:
    """The event for one alert, or why it is skipped ("no-site" / "invalid-site")."""
    site = next((alert.labels[k] for k in SITE_LABELS if alert.labels.get(k)), None)
    if site is None:
        return "no-site"
    if not SITE_ID.match(site):
        return "invalid-site"
    severity = alert.labels.get("severity", "none").strip().lower()
    if not SEVERITY.match(severity):
        severity = "none"  # cannot rank it: it can never take a site down
    name = alert.labels.get("alertname", "alert")
    text = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    alert_id = (
        alert.fingerprint
        or hashlib.sha256(repr(sorted(alert.labels.items())).encode()).hexdigest()[:16]
    )
    return SiteHealthObserved(
        site_id=site,
        source="alertmanager",
        healthy=alert.status == "resolved",
        severity=severity,
        detail=(f"{name}: {text}" if text else name)[:2000],
        alert_id=alert_id,
        observed_at=now,
    )


@router.post(
    "/alerts/alertmanager",
    summary="Prometheus Alertmanager webhook: each alert labelled with a site "
    "(lifeboat_site or site) becomes a SiteHealthObserved event",
)
async def alertmanager_webhook(
    body: AlertmanagerWebhook, runtime: RuntimeDep, _who: CurrentPrincipal
) -> WebhookAccepted:
    now = datetime.now(UTC)
    events: list[SiteHealthObserved] = []
    skipped = {"no-site": 0, "invalid-site": 0, "unknown-site": 0}
    for alert in body.alerts:
        result = observation(alert, now)
        if isinstance(result, str):
            skipped[result] += 1
        else:
            events.append(result)
    if events:
        known = await known_sites(runtime)
        unknown = [e for e in events if e.site_id not in known]
        skipped["unknown-site"] = len(unknown)
        events = [e for e in events if e.site_id in known]
    for reason, count in skipped.items():
        if count:
            ALERTS_IGNORED.labels(reason).inc(count)
    envelopes = [runtime.envelope(e) for e in events]
    if envelopes:
        async with runtime.db.transaction() as session:
            await add_to_outbox(session, envelopes)
    return WebhookAccepted(
        accepted=len(envelopes),
        ignored_without_site=skipped["no-site"],
        ignored_invalid_site=skipped["invalid-site"],
        ignored_unknown_site=skipped["unknown-site"],
        event_ids=[e.id for e in envelopes],
    )


class ProbeOut(BaseModel):
    observed_at: datetime
    healthy: bool
    services: dict[str, bool]
    detail: str


class AlertOut(BaseModel):
    alert_id: str
    source: str
    severity: str
    since: datetime
    last_seen: datetime
    detail: str


class SiteHealthOut(BaseModel):
    site_id: str
    declared: Literal["up", "down"]
    declared_at: datetime | None
    declared_by: str | None
    reason: str | None = Field(description="Why the current state was declared")
    assessment: str = Field(description="What the hysteresis concluded at the last observation")
    evaluated_at: datetime | None
    consecutive_healthy_probes: int
    healthy_since: datetime | None
    last_healthy_at: datetime | None = Field(
        default=None,
        description="The newest healthy probe (a failover's data-loss window ends there)",
    )
    recent_probes: list[ProbeOut] = Field(description="Newest first")
    firing_alerts: list[AlertOut]


@router.get(
    "/sites/{site_id}/health",
    summary="A site's health hysteresis: recent probes, firing alerts, declared state and why",
)
async def site_health(
    site_id: SiteId, runtime: RuntimeDep, _who: CurrentPrincipal
) -> SiteHealthOut:
    async with runtime.db.read() as session:
        health = await SiteHealthRepository(session).get(site_id)
    if health is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"site_id: no health observed for site {site_id!r}"
        )
    return SiteHealthOut(
        site_id=health.site_id,
        declared=health.declared.value,
        declared_at=health.declared_at,
        declared_by=health.declared_by,
        reason=health.reason,
        assessment=health.assessment,
        evaluated_at=health.evaluated_at,
        consecutive_healthy_probes=health.ok_run_count,
        healthy_since=health.ok_run_since,
        last_healthy_at=health.last_healthy_at,
        recent_probes=[
            ProbeOut(
                observed_at=p.at, healthy=p.healthy, services=dict(p.services), detail=p.detail
            )
            for p in reversed(health.probes)
        ],
        firing_alerts=[
            AlertOut(
                alert_id=a.alert_id,
                source=a.source,
                severity=a.severity,
                since=a.since,
                last_seen=a.last_seen,
                detail=a.detail,
            )
            for a in sorted(health.alerts.values(), key=lambda a: (a.since, a.alert_id))
        ],
    )
