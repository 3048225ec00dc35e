"""The one wiring point of the replicator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lifeboat_replicator.adapters.rbd_site import RbdSiteVolumes, rbd_access
from lifeboat_replicator.datamover import LinkSecurity
from lifeboat_replicator.entrypoints.api import router
from lifeboat_replicator.entrypoints.api_restore import router as restore_router
from lifeboat_replicator.service_layer.cycle import CycleDeps
from lifeboat_replicator.service_layer.handlers import HANDLERS
from lifeboat_replicator.service_layer.hooks import HookHost
from lifeboat_replicator.service_layer.runner import CycleRunner
from lifeboat_replicator.service_layer.throttles import Throttles
from lifeboat_replicator.settings import ReplicatorSettings
from lifeboat_shared.cloud.sites import SiteClouds
from lifeboat_shared.contracts import topics
from lifeboat_shared.hooks import secret_values
from lifeboat_shared.net.egress import EgressPolicy
from lifeboat_shared.service import ServiceRuntime, ServiceSpec


async def _no_cp(_group_id: str) -> None:
    return None


async def cycle_runner(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Run replication cycles until stopped (the slow work, outside the consumer)."""
    settings = runtime.settings
    assert isinstance(settings, ReplicatorSettings)
    clouds = SiteClouds(settings.clouds_yaml)
    deps = CycleDeps(
        clouds=clouds,
        connector=settings.connector(),
        security=LinkSecurity.from_psk_file(settings.resolved_psk_file()),
        state_dir=settings.resolved_state_dir(),
        max_parallel_volumes=settings.max_parallel_volumes,
        link_retry_seconds=settings.link_retry_seconds,
        throttles=Throttles(settings.link_bandwidth_bytes_per_s),
        is_suspended=lambda _g: False,
        previous_cp=_no_cp,
        admin_cloud_suffix=settings.backup_admin_cloud_suffix,
        rbd_sites={
            site: RbdSiteVolumes(rbd_access(access)) for site, access in settings.rbd_sites.items()
        },
        hooks=HookHost(
            commands=settings.hooks,
            egress=EgressPolicy(allow=tuple(settings.webhook_allow_networks)),
            secrets=tuple(secret_values(settings)),
        ),
    )
    runner = CycleRunner(
        runtime,
        deps,
        max_attempts=settings.max_cycle_attempts,
        lease_seconds=settings.lease_seconds,
        max_concurrent_cycles=settings.max_concurrent_cycles,
    )
    try:
        await runner.run(stop, settings.runner_interval_seconds)
    finally:
        await clouds.aclose()


def build(settings: ReplicatorSettings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="replicator",
        settings=settings or ReplicatorSettings(),
        description="Replication cycles and verified consistency points.",
        migrations=str(Path(__file__).parent / "migrations"),
        routers=[router, restore_router],
        consumes=[topics.POLICY_EVENTS, topics.REPLICATOR_COMMANDS],
        handlers=HANDLERS,
        background=[cycle_runner],
    )
