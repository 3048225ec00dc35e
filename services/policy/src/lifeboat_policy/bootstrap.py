"""The one wiring point of the policy service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from lifeboat_policy.entrypoints.api import router
from lifeboat_policy.service_layer.handlers import emit_due_ticks
from lifeboat_policy.settings import PolicySettings
from lifeboat_shared.service import ServiceRuntime, ServiceSpec

log = logging.getLogger(__name__)


async def rpo_scheduler(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Emit RPO ticks for due groups until stopped."""
    assert isinstance(runtime.settings, PolicySettings)
    interval = runtime.settings.scheduler_interval_seconds
    while not stop.is_set():
        try:
            await emit_due_ticks(runtime)
        except Exception:
            log.exception("RPO scheduler pass failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def build(settings: PolicySettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="policy",
        settings=settings or PolicySettings(),
        description="Protection groups and policies; emits RPO ticks.",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router],
        background=[rpo_scheduler],
    )
