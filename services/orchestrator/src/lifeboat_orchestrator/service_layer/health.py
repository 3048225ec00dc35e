"""Site health: observations in, declarations out; and the prober that makes observations.

Every source of health information (our probes, the Alertmanager webhook, external monitoring
publishing on ``lifeboat.sites.events.v1``) becomes a ``SiteHealthObserved`` event, and one
handler feeds them all to the hysteresis (``domain.health``). So there is one ordering (the
site's partition), one state, and a declaration is emitted in the same transaction as the state
change that caused it (the consumer writes ``ctx.emit``'s events to the outbox).

The prober does not act on what it sees: it only emits observations through the outbox, so a
probe's result and the decision taken on it go through the same path as anybody else's.

Every orchestrator replica runs the prober, but each site is probed by one replica at a time: the
one holding the site's probe lease (``adapters.probe_leases``), taken or renewed at the start of
each round and re-checked in the transaction that records the observation. Two probers of one site
would feed the hysteresis twice the failures. When the holder dies its lease expires and another
replica takes the site on its next round; a replica that stops cleanly gives its leases back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from lifeboat_orchestrator.adapters.health_repository import SiteHealthRepository
from lifeboat_orchestrator.adapters.probe_leases import ProbeLeaseRepository
from lifeboat_orchestrator.domain.health import (
    Declared,
    HealthRules,
    ProbeResult,
    SiteHealth,
    Transition,
)
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.cloud import CloudDriver, CloudDriverSettings, CloudError, SiteConfig
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import SiteDeclaredDown, SiteDeclaredUp
from lifeboat_shared.contracts.messages.health import SiteHealthObserved
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service.runtime import ServiceRuntime

log = logging.getLogger(__name__)

SERVICES = ("keystone", "nova", "cinder", "neutron")
SitesSource = Callable[[], Awaitable[Mapping[str, str]]]
"""Known sites: site id -> clouds.yaml cloud name (the lead's site catalog plugs in here)."""
DeclaredBy = Literal["probe", "alertmanager", "external"]


# --- observations -> hysteresis -> declarations ----------------------------------------------


async def apply_observation(
    ctx: HandlerContext, message: SiteHealthObserved, rules: HealthRules
) -> Transition | None:
    """Record one observation, re-evaluate the site, and stage the declaration if any."""
    repo = SiteHealthRepository(ctx.session)
    health = await repo.get(message.site_id, for_update=True)
    new = health is None
    if health is None:
        health = SiteHealth(site_id=message.site_id)
    if message.source == "probe":
        probe = ProbeResult(
            at=message.observed_at,
            healthy=message.healthy,
            services=dict(message.services),
            detail=message.detail,
        )
        newest = health.last_probe
        transition = health.observe_probe(probe, rules)
        if newest is None or probe.at >= newest.at:
            await repo.add_probe(message.site_id, probe, keep=rules.keep_probes)
    else:
        alert_id = message.alert_id or message.source
        existed = alert_id in health.alerts
        transition = health.observe_alert(
            alert_id=alert_id,
            source=message.source,
            firing=not message.healthy,
            severity=message.severity,
            at=message.observed_at,
            detail=message.detail,
            rules=rules,
        )
        if message.healthy:
            await repo.delete_alert(message.site_id, alert_id)
        else:
            await repo.put_alert(message.site_id, health.alerts[alert_id], new=not existed)
    await repo.save_state(health, new=new)
    if transition is not None:
        _emit(ctx, message.site_id, transition)
    return transition


def _emit(ctx: HandlerContext, site_id: str, transition: Transition) -> None:
    # Deterministic id: a retried handler stages the same declaration, not a second one.
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"lifeboat:{ctx.envelope.id}/declaration"))
    declaration: Message
    if transition.state is Declared.DOWN:
        declaration = SiteDeclaredDown(
            site_id=site_id,
            reason=transition.reason,
            declared_by=_by(transition.by),
            declared_at=transition.at,
        )
    else:
        declaration = SiteDeclaredUp(
            site_id=site_id, declared_by=_by(transition.by), declared_at=transition.at
        )
    ctx.emit(declaration, event_id=event_id)
    log.warning(
        "site %s declared %s by %s: %s", site_id, transition.state, transition.by, transition.reason
    )


def _by(by: str) -> DeclaredBy:
    if by == "probe":
        return "probe"
    if by == "alertmanager":
        return "alertmanager"
    return "external"


def make_health_handlers(rules: HealthRules) -> Handlers:
    """The handler map with the deployment's rules (bootstrap builds them from settings)."""

    async def on_health_observed(message: Message, ctx: HandlerContext) -> None:
        assert isinstance(message, SiteHealthObserved)
        await apply_observation(ctx, message, rules)

    return {SiteHealthObserved: on_health_observed}


async def on_health_observed(message: Message, ctx: HandlerContext) -> None:
    """The handler with the default rules."""
    assert isinstance(message, SiteHealthObserved)
    await apply_observation(ctx, message, DEFAULT_RULES)


DEFAULT_RULES = HealthRules()
HEALTH_HANDLERS: Handlers = {SiteHealthObserved: on_health_observed}


# --- the prober ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeConfig:
    clouds_yaml: Path | None = None
    interval_seconds: float = 10.0
    timeout_seconds: float = 5.0
    concurrency: int = 16
    """Sites probed at once."""
    lease_seconds: float | None = None
    """How long a replica's probe lease on a site lasts without renewal (default: twice the
    longer of the interval and one probe's worst case, so a slow round does not lose it)."""

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0:
            raise ValueError("probe_interval_seconds: must be positive")
        if self.timeout_seconds <= 0:
            raise ValueError("probe_timeout_seconds: must be positive")
        if self.lease_seconds is not None and self.lease_seconds <= self.interval_seconds:
            raise ValueError("probe_lease_seconds: must be longer than probe_interval_seconds")

    @property
    def lease(self) -> timedelta:
        if self.lease_seconds is not None:
            return timedelta(seconds=self.lease_seconds)
        worst_probe = self.timeout_seconds * 2 + 1
        return timedelta(seconds=2 * max(self.interval_seconds, worst_probe))
        if self.concurrency < 1:
            raise ValueError("probe concurrency: must be at least 1")

    def check_against(self, rules: HealthRules) -> None:
        """Refuse settings under which probes alone could never declare a site down: N failed
        probes must fit in the window."""
        needed = (rules.down_after_failures - 1) * self.interval_seconds
        if needed >= rules.down_window_seconds:
            raise ValueError(
                f"down_window_seconds: {rules.down_window_seconds:g} s cannot hold "
                f"{rules.down_after_failures} probes {self.interval_seconds:g} s apart "
                f"(needs more than {needed:g} s)"
            )


async def probe_site(site_id: str, cloud: str, config: ProbeConfig) -> SiteHealthObserved:
    """Probe Keystone (authenticate), then Nova, Cinder and Neutron (one cheap list each).

    A fresh driver per probe: the Keystone check must really authenticate, not reuse a cached
    token, and a probe must not retry (a slow answer is itself the symptom).
    """
    started = datetime.now(UTC)
    services = dict.fromkeys(SERVICES, False)
    problems: list[str] = []
    driver = CloudDriver(
        [SiteConfig(name=site_id, cloud=cloud, clouds_yaml=config.clouds_yaml)],
        CloudDriverSettings(
            retry_attempts=1, http_timeout=config.timeout_seconds, max_workers_per_site=4
        ),
    )
    try:
        async with asyncio.timeout(config.timeout_seconds * 2 + 1):
            project = await driver.project(site_id)
            await project.check_auth()
            services["keystone"] = True
            results = await asyncio.gather(
                project.compute.list_flavors(),
                project.block_storage.list_volume_types(),
                project.network.list_networks(),
                return_exceptions=True,
            )
            for name, result in zip(SERVICES[1:], results, strict=True):
                if isinstance(result, BaseException):
                    problems.append(f"{name}: {_describe(result)}")
                else:
                    services[name] = True
    except TimeoutError:
        problems.append(f"no answer within {config.timeout_seconds * 2 + 1:g} s")
    except Exception as exc:  # a probe reports every failure; it must never crash the loop
        problems.append(f"keystone: {_describe(exc)}")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(driver.aclose(), timeout=config.timeout_seconds)
    healthy = all(services.values())
    return SiteHealthObserved(
        site_id=site_id,
        source="probe",
        healthy=healthy,
        severity="info" if healthy else "critical",
        services=services,
        detail=("all APIs answered" if healthy else "; ".join(problems))[:2000],
        observed_at=started,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, CloudError) else f"{type(exc).__name__}: {exc}"
    return text[:500]


async def probe_and_record(
    runtime: ServiceRuntime,
    site_id: str,
    cloud: str,
    config: ProbeConfig,
    *,
    owner: str | None = None,
) -> SiteHealthObserved | None:
    """One site's probe, staged in the outbox at once (a hung site delays no other). With an
    ``owner``, only if that owner still holds the site's probe lease when recording (None if
    another replica took the site over meanwhile)."""
    observation = await probe_site(site_id, cloud, config)
    envelope = runtime.envelope(observation)
    async with runtime.db.transaction() as session:
        if owner is not None:
            if not await ProbeLeaseRepository(session).holds(site_id, owner):
                log.info("site %s: probe lease lost to another replica; result dropped", site_id)
                return None
            # Which replica probed: CloudEvents' source names the producing instance.
            envelope = dataclasses.replace(envelope, source=f"{envelope.source}/probers/{owner}")
        await add_to_outbox(session, [envelope])
    return observation


async def probe_round(
    runtime: ServiceRuntime,
    sites: Mapping[str, str],
    config: ProbeConfig,
    *,
    owner: str | None = None,
) -> list[SiteHealthObserved]:
    gate = asyncio.Semaphore(config.concurrency)

    async def one(site_id: str, cloud: str) -> SiteHealthObserved | None:
        async with gate:
            return await probe_and_record(runtime, site_id, cloud, config, owner=owner)

    done = await asyncio.gather(*(one(s, c) for s, c in sorted(sites.items())))
    return [o for o in done if o is not None]


async def take_probe_leases(
    runtime: ServiceRuntime, sites: Mapping[str, str], owner: str, config: ProbeConfig
) -> set[str]:
    """Take or renew the probe lease of every known site that is free, expired or ours; returns
    the sites this replica probes this round."""
    now = datetime.now(UTC)
    mine: set[str] = set()
    async with runtime.db.transaction() as session:
        leases = ProbeLeaseRepository(session)
        for site_id in sorted(sites):
            if await leases.take(site_id, owner, now, now + config.lease):
                mine.add(site_id)
    return mine


async def site_prober(
    runtime: ServiceRuntime,
    stop: asyncio.Event,
    *,
    sites: SitesSource,
    config: ProbeConfig,
    owner: str | None = None,
) -> None:
    """Background task: every ``interval_seconds`` until ``stop``, probe the known sites whose
    probe lease this replica holds (``owner``: its name; a fresh one per task by default)."""
    owner = owner or f"prober-{uuid.uuid4().hex[:12]}"
    loop = asyncio.get_running_loop()
    held: set[str] = set()
    try:
        while not stop.is_set():
            started = loop.time()
            try:
                known = await sites()
                mine = await take_probe_leases(runtime, known, owner, config) if known else set()
                if mine != held:
                    log.info("probing sites %s (%s)", sorted(mine) or "none", owner)
                held = mine
                if mine:
                    await probe_round(
                        runtime, {k: v for k, v in known.items() if k in mine}, config, owner=owner
                    )
            except Exception:
                log.exception("site probe round failed")
            delay = max(0.0, config.interval_seconds - (loop.time() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
    finally:
        if held:  # hand the sites over at once rather than after the lease expires
            with contextlib.suppress(Exception):
                async with runtime.db.transaction() as session:
                    await ProbeLeaseRepository(session).release(held, owner)
