"""The one wiring point of the replicator."""

from __future__ import annotations

from pathlib import Path

from lifeboat_replicator.entrypoints.api import router
from lifeboat_replicator.service_layer.handlers import HANDLERS
from lifeboat_replicator.settings import ReplicatorSettings
from lifeboat_shared.contracts import topics
from lifeboat_shared.service import ServiceSpec


def build(settings: ReplicatorSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="replicator",
        settings=settings or ReplicatorSettings(),
        description="Replication streams and consistency points.",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router],
        consumes=[topics.POLICY_EVENTS, topics.REPLICATOR_COMMANDS],
        handlers=HANDLERS,
    )
