"""The one wiring point of the policy service."""

from __future__ import annotations

from pathlib import Path

from lifeboat_policy.entrypoints.api import router
from lifeboat_policy.entrypoints.background import member_watch, rpo_scheduler, usage_meter
from lifeboat_policy.service_layer.handlers import HANDLERS
from lifeboat_policy.settings import PolicySettings
from lifeboat_shared.contracts import topics
from lifeboat_shared.service import ServiceSpec


def build(settings: PolicySettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="policy",
        settings=settings or PolicySettings(),
        description="Sites, policies, protection groups and application sets; emits RPO ticks.",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router],
        consumes=[topics.REPLICATOR_EVENTS, topics.ORCHESTRATOR_EVENTS],
        handlers=HANDLERS,
        background=[rpo_scheduler, member_watch, usage_meter],
    )
