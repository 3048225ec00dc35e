"""The one wiring point of the orchestrator."""

from __future__ import annotations

from pathlib import Path

from lifeboat_orchestrator.entrypoints.api import router
from lifeboat_orchestrator.service_layer.handlers import HANDLERS
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.contracts import topics
from lifeboat_shared.service import ServiceSpec


def build(settings: OrchestratorSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="orchestrator",
        settings=settings or OrchestratorSettings(),
        description="Sites and their health, recovery plans and their executions.",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router],
        consumes=[topics.SITE_EVENTS],
        handlers=HANDLERS,
    )
