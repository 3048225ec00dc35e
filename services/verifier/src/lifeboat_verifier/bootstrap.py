"""The one wiring point of the verifier."""

from __future__ import annotations

from pathlib import Path

from lifeboat_shared.contracts import topics
from lifeboat_shared.service import ServiceSpec
from lifeboat_verifier.entrypoints.api import router
from lifeboat_verifier.entrypoints.definitions_api import router as definitions_router
from lifeboat_verifier.entrypoints.reports_api import router as reports_router
from lifeboat_verifier.entrypoints.runner import verifier_runner
from lifeboat_verifier.service_layer.handlers import HANDLERS
from lifeboat_verifier.service_layer.reports import report_keeper
from lifeboat_verifier.settings import VerifierSettings


def build(settings: VerifierSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="verifier",
        settings=settings or VerifierSettings(),
        description="Bubble tests: checks and signed reports.",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, reports_router, definitions_router],
        consumes=[topics.ORCHESTRATOR_EVENTS],
        handlers=HANDLERS,
        background=[report_keeper, verifier_runner],
    )
