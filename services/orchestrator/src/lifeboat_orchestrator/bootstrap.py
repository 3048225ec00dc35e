"""The one wiring point of the orchestrator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from lifeboat_orchestrator.adapters.catalog import CatalogRepository
from lifeboat_orchestrator.domain.health import HealthRules
from lifeboat_orchestrator.entrypoints.api import router
from lifeboat_orchestrator.entrypoints.health_api import router as health_router
from lifeboat_orchestrator.entrypoints.links_api import router as links_router
from lifeboat_orchestrator.service_layer.handlers import HANDLERS
from lifeboat_orchestrator.service_layer.health import (
    ProbeConfig,
    make_health_handlers,
    site_prober,
)
from lifeboat_orchestrator.service_layer.links import make_link_handlers
from lifeboat_orchestrator.service_layer.runner import ExecutionRunner, RunnerConfig
from lifeboat_orchestrator.service_layer.usage import emit_dr_usage
from lifeboat_orchestrator.service_layer.wiring import (
    close_clouds,
    clouds_for,
    link_rules,
    set_runner,
)
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.contracts import topics
from lifeboat_shared.service import ServiceRuntime, ServiceSpec

log = logging.getLogger(__name__)


async def execution_runner(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    settings = runtime.settings
    assert isinstance(settings, OrchestratorSettings)
    runner = ExecutionRunner(
        runtime,
        clouds_for(runtime),
        RunnerConfig(
            runner_id=settings.resolved_runner_id(),
            lease_seconds=settings.lease_seconds,
            interval_seconds=settings.runner_interval_seconds,
            site_concurrency=settings.site_api_concurrency,
            max_step_attempts=settings.max_step_attempts,
            step_backoff_seconds=settings.step_backoff_seconds,
            sync_timeout_seconds=settings.sync_timeout_seconds,
            max_executions=settings.max_parallel_executions,
            chaos_kill_after_step=settings.chaos_kill_after_step,
            chaos_kill_at_step=settings.chaos_kill_at_step,
            hooks=settings.hook_host(),
        ),
    )
    set_runner(runtime, runner)
    try:
        await runner.run(stop)
    finally:
        set_runner(runtime, None)
        await close_clouds(runtime)


async def usage_meter(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """DR VM-hours and vCPU-hours per server and window (``service_layer.usage``)."""
    settings = runtime.settings
    assert isinstance(settings, OrchestratorSettings)
    if settings.usage_pass_interval_seconds <= 0:
        return
    while not stop.is_set():
        try:
            await emit_dr_usage(runtime, settings.usage_window_seconds)
        except Exception:
            log.exception("DR usage pass failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.usage_pass_interval_seconds)


def health_rules(s: OrchestratorSettings) -> HealthRules:
    return HealthRules(
        down_after_failures=s.down_after_failures,
        down_window_seconds=s.down_window_seconds,
        up_after_successes=s.up_after_successes,
        up_min_seconds=s.up_min_seconds,
        alert_min_severity=s.alert_min_severity,
    )


def probe_config(s: OrchestratorSettings) -> ProbeConfig:
    return ProbeConfig(
        clouds_yaml=s.clouds_yaml,
        interval_seconds=s.probe_interval_seconds,
        timeout_seconds=s.probe_timeout_seconds,
        lease_seconds=s.probe_lease_seconds,
    )


async def health_prober(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Probe the sites of the catalog (learnt from SiteRegistered) whose probe lease this replica
    holds, on a schedule: one prober per site however many replicas run."""
    settings = runtime.settings
    assert isinstance(settings, OrchestratorSettings)

    async def sites() -> dict[str, str]:
        async with runtime.db.read() as session:
            return {k: v.ref.cloud for k, v in (await CatalogRepository(session).sites()).items()}

    await site_prober(
        runtime,
        stop,
        sites=sites,
        config=probe_config(settings),
        owner=settings.resolved_runner_id(),
    )


def build(settings: OrchestratorSettings | None = None) -> ServiceSpec:
    s = settings or OrchestratorSettings()
    probe_config(s).check_against(health_rules(s))
    return ServiceSpec(
        name="orchestrator",
        settings=s,
        description="Sites and their health, recovery plans and their executions.",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, health_router, links_router],
        consumes=[
            topics.SITE_EVENTS,
            topics.POLICY_EVENTS,
            topics.REPLICATOR_COMMANDS,
            topics.REPLICATOR_EVENTS,
            topics.ORCHESTRATOR_COMMANDS,
        ],
        handlers={
            **HANDLERS,
            **make_health_handlers(health_rules(s)),
            **make_link_handlers(link_rules(s)),
        },
        background=[execution_runner, usage_meter, *([health_prober] if s.probe_enabled else [])],
    )
