"""Site health end to end against real cloudsim sites: the prober probes over HTTP, the
hysteresis runs in the consumer, declarations reach the ``sites`` table through the bus."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat_shared.contracts import encode_envelope, new_envelope
from lifeboat_shared.contracts.messages import SiteDeclaredDown, SiteDeclaredUp
from lifeboat_shared.contracts.messages.health import SiteHealthObserved
from tests.integration.orchestrator_health.conftest import RULES, HealthEnv


async def probes(env: HealthEnv, site: str) -> list[SiteHealthObserved]:
    return [o for o in await env.events(SiteHealthObserved, site) if o.source == "probe"]


async def healthy_probes(env: HealthEnv, site: str, count: int) -> None:
    async def enough() -> bool:
        return sum(p.healthy for p in await probes(env, site)) >= count

    await env.wait(f"{count} healthy probes of {site}", enough)


def alert(site: str | None, status: str, severity: str = "critical", fp: str = "fp-1") -> Any:
    labels = {"alertname": "SiteUnreachable", "severity": severity}
    if site is not None:
        labels["lifeboat_site"] = site
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": "blackbox probe of the site failed"},
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fp,
    }


def webhook(*alerts: Any, status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="SiteUnreachable"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "lifeboat",
        "groupLabels": {"alertname": "SiteUnreachable"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


async def test_site_declared_down_after_n_failures_and_up_after_recovery(
    health_env: HealthEnv,
) -> None:
    env, site = health_env, "hs-down"
    await healthy_probes(env, site, 2)
    assert await env.events(SiteDeclaredDown, site) == []

    env.admin(site, "down")
    await env.wait(f"{site} down in the sites table", lambda: _is(env, site, "down"))
    (down,) = await env.events(SiteDeclaredDown, site)
    assert down.declared_by == "probe"
    # The declaration came from the N newest probes, all failed; not from fewer.
    before = [p for p in await probes(env, site) if p.observed_at <= down.declared_at]
    assert [p.healthy for p in before[-RULES.down_after_failures :]] == [False] * 3
    assert before[-RULES.down_after_failures - 1].healthy
    assert all(not p.services["nova"] and "503" in p.detail for p in before[-3:])
    view = await env.health(site)
    assert view["declared"] == "down" and view["declared_by"] == "probe"
    assert "3 consecutive failed probes" in view["reason"]

    env.admin(site, "up")
    await env.wait(f"{site} up again", lambda: _is(env, site, "up"))
    (up,) = await env.events(SiteDeclaredUp, site)
    assert up.declared_by == "probe"
    seen = await probes(env, site)
    after = [p for p in seen if down.declared_at < p.observed_at <= up.declared_at]
    run: list[SiteHealthObserved] = []
    for p in after:
        run = [*run, p] if p.healthy else []
    assert len(run) >= RULES.up_after_successes
    assert up.declared_at - run[0].observed_at >= timedelta(seconds=RULES.up_min_seconds)
    assert after[-1].healthy and after[-1].observed_at == up.declared_at


async def test_a_flapping_site_is_never_declared_down(health_env: HealthEnv) -> None:
    env, site = health_env, "hs-flap"
    await healthy_probes(env, site, 1)
    handled = len(await probes(env, site))
    failed = 0
    deadline = time.monotonic() + 20
    # Flip the site after every probe it answers, so consecutive probes disagree.
    while failed < 6 and time.monotonic() < deadline:
        seen = await probes(env, site)
        if len(seen) > handled:
            handled = len(seen)
            newest = seen[-1]
            failed += not newest.healthy
            env.admin(site, "down" if newest.healthy else "up")
        await asyncio.sleep(0.02)
    env.admin(site, "up")
    assert failed >= 6, "the site did not flap"
    seen = await probes(env, site)
    fails = [p.observed_at for p in seen if not p.healthy]
    # Three failures inside the window: a rule without hysteresis would have fired.
    assert any(fails[i + 2] - fails[i] <= RULES.window for i in range(len(fails) - 2))
    await env.wait(
        "the handler caught up",
        lambda: _evaluated_after(env, site, seen[-1].observed_at),
    )
    assert await env.events(SiteDeclaredDown, site) == []
    assert (await env.health(site))["declared"] == "up"
    assert await env.site_state(site) is None  # never declared anything


async def test_an_alert_alone_is_not_enough_but_confirmed_by_a_probe_it_is(
    health_env: HealthEnv,
) -> None:
    env, site = health_env, "hs-alert"
    await healthy_probes(env, site, 1)
    got = await env.client.post(
        "/v1/alerts/alertmanager", json=webhook(alert(site, "firing"), alert(None, "firing"))
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["accepted"], body["ignored_without_site"]) == (1, 1)

    async def alert_seen() -> bool:
        return bool((await env.health(site))["firing_alerts"])

    await env.wait("the alert recorded", alert_seen)
    count = len(await probes(env, site))
    await env.wait("3 more (healthy) probes", lambda: _more_probes(env, site, count + 3))
    newest = (await probes(env, site))[-1]
    assert newest.healthy
    await env.wait("handled", lambda: _evaluated_after(env, site, newest.observed_at))
    assert await env.events(SiteDeclaredDown, site) == []
    assert "not confirmed" in (await env.health(site))["assessment"]

    env.admin(site, "down")
    await env.wait(f"{site} down", lambda: _is(env, site, "down"))
    (down,) = await env.events(SiteDeclaredDown, site)
    assert down.declared_by == "alertmanager" and "fp-1" in down.reason

    resolved = await env.client.post(
        "/v1/alerts/alertmanager", json=webhook(alert(site, "resolved"), status="resolved")
    )
    assert resolved.status_code == 200 and resolved.json()["accepted"] == 1
    env.admin(site, "up")
    await env.wait(f"{site} up", lambda: _is(env, site, "up"))
    assert (await env.health(site))["firing_alerts"] == []


async def test_external_monitoring_publishes_on_the_site_topic(health_env: HealthEnv) -> None:
    env, site = health_env, "ext-only"
    event = SiteHealthObserved(
        site_id=site,
        source="external",
        healthy=False,
        severity="CRITICAL",
        detail="zabbix: datacenter power feed lost",
        observed_at=datetime.now(UTC),
    )
    await env.runtime.bus.publish([encode_envelope(new_envelope(event, source="/zabbix"))])

    async def recorded() -> dict[str, Any] | None:
        got = await env.client.get(f"/v1/sites/{site}/health")
        return got.json() if got.status_code == 200 else None

    view = await env.wait("the external alert recorded", recorded)
    (firing,) = view["firing_alerts"]
    assert (firing["alert_id"], firing["source"], firing["severity"]) == (
        "external",
        "external",
        "critical",
    )
    assert view["declared"] == "up"  # no probe of ours confirms it


async def test_bad_webhook_payloads_are_refused_naming_the_field(health_env: HealthEnv) -> None:
    env = health_env
    bad_status = webhook(alert("hs-alert", "firing"))
    bad_status["alerts"][0]["status"] = "exploded"
    got = await env.client.post("/v1/alerts/alertmanager", json=bad_status)
    assert got.status_code == 422
    assert ["body", "alerts", 0, "status"] in [e["loc"] for e in got.json()["detail"]]
    no_version = webhook()
    del no_version["version"]
    got = await env.client.post("/v1/alerts/alertmanager", json=no_version)
    assert got.status_code == 422 and got.json()["detail"][0]["loc"] == ["body", "version"]
    got = await env.client.post(
        "/v1/alerts/alertmanager",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert got.status_code == 422
    invalid_site = webhook(alert("no spaces allowed", "firing"))
    got = await env.client.post("/v1/alerts/alertmanager", json=invalid_site)
    assert got.status_code == 200 and got.json()["ignored_invalid_site"] == 1
    unknown = webhook(alert("never-registered", "firing"), alert("never-seen", "resolved"))
    got = await env.client.post("/v1/alerts/alertmanager", json=unknown)
    assert got.status_code == 200, got.text
    assert (got.json()["accepted"], got.json()["ignored_unknown_site"]) == (0, 2)
    got = await env.client.post("/v1/sites/never-registered/declare-down", json={"reason": "x"})
    assert got.status_code == 404 and got.json()["detail"].startswith("site_id:")
    assert (await env.client.post("/v1/sites/never-registered/declare-up")).status_code == 404
    got = await env.client.get("/v1/sites/never-seen/health")
    assert got.status_code == 404 and "site_id" in got.json()["detail"]
    unauthenticated = await env.client.post(
        "/v1/alerts/alertmanager", json=webhook(), headers={"Authorization": ""}
    )
    assert unauthenticated.status_code == 401


async def _is(env: HealthEnv, site: str, state: str) -> bool:
    return await env.site_state(site) == state


async def _more_probes(env: HealthEnv, site: str, count: int) -> bool:
    return len(await probes(env, site)) >= count


async def _evaluated_after(env: HealthEnv, site: str, at: datetime) -> bool:
    view = await env.health(site)
    return view["evaluated_at"] is not None and datetime.fromisoformat(view["evaluated_at"]) >= at


async def test_each_api_is_probed_on_its_own(health_env: HealthEnv) -> None:
    env, site = health_env, "hs-partial"
    await healthy_probes(env, site, 1)
    with env.sites.sites[site].admin() as admin:
        rule = {"path": "*/types*", "error_rate": 1.0, "status": 503, "message": "cinder broken"}
        admin.put("/rules", json={"rules": [rule]}).raise_for_status()
        try:

            async def cinder_failed() -> SiteHealthObserved | None:
                return next((p for p in await probes(env, site) if not p.healthy), None)

            failed = await env.wait("a probe with Cinder failing", cinder_failed)
        finally:
            admin.delete("/rules").raise_for_status()
    assert failed.services == {"keystone": True, "nova": True, "cinder": False, "neutron": True}
    assert failed.detail.startswith("cinder: ") and "cinder broken" in failed.detail
