"""The one wiring point of the orchestrator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lifeboat_orchestrator.entrypoints.api import router
from lifeboat_orchestrator.service_layer.handlers import HANDLERS
from lifeboat_orchestrator.service_layer.runner import ExecutionRunner, RunnerConfig
from lifeboat_orchestrator.service_layer.wiring import close_clouds, clouds_for, set_runner
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.contracts import topics
from lifeboat_shared.service import ServiceRuntime, ServiceSpec


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
        ),
    )
    set_runner(runtime, runner)
    try:
        await runner.run(stop)
    finally:
        set_runner(runtime, None)
        await close_clouds(runtime)


def build(settings: OrchestratorSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="orchestrator",
        settings=settings or OrchestratorSettings(),
        description="Sites and their health, recovery plans and their executions.",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router],
        consumes=[
            topics.SITE_EVENTS,
            topics.POLICY_EVENTS,
            topics.REPLICATOR_COMMANDS,
            topics.REPLICATOR_EVENTS,
            topics.ORCHESTRATOR_COMMANDS,
        ],
        handlers=HANDLERS,
        background=[execution_runner],
    )
