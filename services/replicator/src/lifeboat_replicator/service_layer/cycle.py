"""Runs one replication cycle through its stages, checkpointing after each piece of work.

snapshot (quiesce per policy -> group snapshot -> thaw) -> transfer (per volume, in parallel:
changed extents from the site's snapshot diff, else hash-compare against the manifest of the
last replicated snapshot; the receiver at the DR site writes, fsyncs, verifies) -> snapshot the
replicas -> commit (CP row, cycle done and its events in one transaction).

Every cloud resource a stage creates is tagged with the cycle id, so a stage re-run after a crash
finds what the first run made; a volume already marked transferred is not sent again, and a
half-sent volume resumes from the receiver's last acknowledged chunk (same transfer id).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat_replicator.adapters.protected_site import KnownGroups, ProtectedSite
from lifeboat_replicator.adapters.rbd_site import RbdSiteVolumes
from lifeboat_replicator.adapters.recovery_site import RecoverySite
from lifeboat_replicator.datamover import (
    AuthenticationFailed,
    LinkDown,
    LinkSecurity,
    TokenBucket,
    TransferCancelled,
    TransferError,
    send_volume,
)
from lifeboat_replicator.domain.model import (
    ConsistencyPoint,
    ReplicationCycle,
    Stage,
    VolumeProgress,
    protected_group_key,
)
from lifeboat_replicator.service_layer.hooks import HookHost
from lifeboat_replicator.service_layer.quiesce import QuiesceAlert, take_snapshots
from lifeboat_shared.cloud import CloudProject
from lifeboat_shared.cloud.sites import SiteClouds
from lifeboat_shared.contracts.messages import ReplicationSpec, SiteRef

log = logging.getLogger(__name__)


class CyclePaused(Exception):
    """The group or its site link was suspended mid-cycle (UC2e)."""


class TransientFault(Exception):
    """A link or site fault: the cycle waits and continues where it was, never fails for it."""


class CycleFailed(Exception):
    """``permanent``: retrying cannot help (a peer without the link key): fail at once."""

    def __init__(self, stage: str, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason
        self.permanent = permanent


@dataclass
class CycleDeps:
    clouds: SiteClouds
    connector: dict[str, object]
    security: LinkSecurity
    state_dir: Path
    max_parallel_volumes: int
    link_retry_seconds: float
    throttles: Callable[[ReplicationSpec, str], list[TokenBucket]]
    is_suspended: Callable[[str], bool]
    previous_cp: Callable[[str], Awaitable[ConsistencyPoint | None]]
    rbd_sites: dict[str, RbdSiteVolumes] = field(default_factory=dict)
    admin_cloud_suffix: str = "-admin"
    hooks: HookHost = field(default_factory=HookHost)
    known_groups: KnownGroups = field(default_factory=KnownGroups)

    async def admin_project(self, site: SiteRef, project: str) -> CloudProject:
        """The site's admin cloud (``<cloud><admin_cloud_suffix>`` in clouds.yaml) scoped to the
        tenant's project: Cinder's backup record export/import is admin-only (UC7)."""
        admin = SiteRef(site_id=site.site_id, cloud=f"{site.cloud}{self.admin_cloud_suffix}")
        return await self.clouds.project(admin, project)

    async def protected_site(self, site: SiteRef) -> ProtectedSite:
        """A site as the protected end of a cycle (librbd access when it is an RBD site)."""
        return ProtectedSite(
            await self.clouds.project(site),
            connector=self.connector,
            rbd=self.rbd_sites.get(site.site_id),
            known_groups=self.known_groups,
        )


@dataclass(frozen=True)
class SnapshotOutcome:
    skipped: bool
    alert: QuiesceAlert | None


Checkpoint = Callable[[ReplicationCycle], Awaitable[None]]


def _endpoint(spec: ReplicationSpec) -> tuple[str, int]:
    if not spec.target.data_endpoint:
        raise CycleFailed(
            "transfer", f"target site {spec.target.site_id} has no data_endpoint (receiver)"
        )
    host, _, port = spec.target.data_endpoint.rpartition(":")
    return host.strip("[]"), int(port)


async def snapshot_stage(
    cycle: ReplicationCycle, deps: CycleDeps, checkpoint: Checkpoint
) -> SnapshotOutcome:
    spec = ReplicationSpec.model_validate(cycle.spec)
    site = await deps.protected_site(spec.source)
    members = await site.expand_members(spec.servers, spec.volumes)
    if not members:
        raise CycleFailed("snapshot", "the group has no volumes to protect")
    by_server = {m.volume_id for m in members if m.server_id in set(spec.servers)}
    result = await take_snapshots(
        site,
        cycle_id=cycle.id,
        # A leg to an extra target site snapshots its group's Cinder group (a volume is in one).
        group_id=protected_group_key(cycle.group_id, spec.target.site_id),
        quiesce=spec.quiesce,
        servers=spec.servers,
        loose_volumes=[m.volume_id for m in members if m.volume_id not in by_server],
        all_volumes=[m.volume_id for m in members],
        hooks=deps.hooks,
        source_site=spec.source.site_id,
    )
    cycle.quiesce_failures = list(result.failures)
    cycle.consistency_reason = result.consistency_reason
    if result.snapshots is None:
        return SnapshotOutcome(skipped=True, alert=result.alert)
    missing = [m.volume_id for m in members if m.volume_id not in result.snapshots]
    if missing:
        raise CycleFailed("snapshot", f"no snapshot for volumes {missing}")
    taken = [await site.snapshot_taken_at(s) for s in result.snapshots.values()]
    cycle.volumes = [
        VolumeProgress(
            volume_id=m.volume_id,
            server_id=m.server_id,
            device=m.device,
            size_gib=m.size_gib,
            bootable=m.bootable,
            source_snapshot_id=result.snapshots[m.volume_id],
        )
        for m in members
    ]
    cycle.consistency = result.consistency
    cycle.taken_at = min(taken)  # the recovery point: conservative when VMs froze one by one
    cycle.stage = Stage.TRANSFER
    await checkpoint(cycle)
    if result.images_key:  # Nova's images only pointed at the snapshots we now hold
        for server_id in spec.servers:
            await site.delete_server_image(cycle_id=result.images_key, server_id=server_id)
    return SnapshotOutcome(skipped=False, alert=result.alert)


async def transfer_stage(cycle: ReplicationCycle, deps: CycleDeps, checkpoint: Checkpoint) -> None:
    spec = ReplicationSpec.model_validate(cycle.spec)
    source = await deps.protected_site(spec.source)
    target = RecoverySite(await deps.clouds.project(spec.target))
    address = _endpoint(spec)
    previous = None if cycle.full_resync else await deps.previous_cp(cycle.group_id)
    bases = {m.volume_id: m for m in previous.members} if previous else {}
    throttles = deps.throttles(spec, cycle.group_id)
    gate = asyncio.Semaphore(deps.max_parallel_volumes)
    lock = asyncio.Lock()
    cancel = threading.Event()  # set when the group is suspended: senders stop at a chunk

    async def watch_suspension() -> None:
        while not cancel.is_set():
            if deps.is_suspended(cycle.group_id):
                cancel.set()
            await asyncio.sleep(0.1)

    async def one(vol: VolumeProgress) -> None:
        async with gate:
            assert vol.source_snapshot_id is not None
            base = bases.get(vol.volume_id)
            if vol.replica_volume_id is None and base is not None and base.replica_volume_id:
                # The chain goes on where the previous CP left it (a seeded replica too: seeds
                # are not tagged, so a lookup by tag would make a new, empty replica).
                vol.replica_volume_id = base.replica_volume_id
            seed = spec.seed_volumes.get(vol.volume_id)
            if vol.replica_volume_id is None and seed is not None:
                vol.replica_volume_id = await target.check_seed_volume(seed, vol.size_gib)
                vol.seeded_from = seed
            if vol.replica_volume_id is None:
                vol.replica_volume_id = await target.ensure_replica_volume(
                    group_key=cycle.group_id,
                    source_volume_id=vol.volume_id,
                    size_gib=vol.size_gib,
                    name=f"lifeboat-replica-{vol.volume_id}",
                    bootable=vol.bootable,
                )
            base_snap = base.source_snapshot_id if base else None
            extents = None
            if base is not None or (previous is None and seed is None and not cycle.full_resync):
                # The site's diff since the last CP; for the first copy into a new, empty
                # replica, every allocated extent. A seed or a replica of unknown content
                # (full resync, a volume new to the group) is compared by hashes instead.
                extents = await source.changed_extents(
                    vol.volume_id, base_snap, vol.source_snapshot_id
                )
            manifests = deps.state_dir / "manifests"
            manifests.mkdir(parents=True, exist_ok=True)
            base_manifest = manifests / f"{vol.replica_volume_id}-{base_snap}.xxh3"
            new_manifest = manifests / f"{vol.replica_volume_id}-{vol.source_snapshot_id}.xxh3"
            size = vol.size_gib * 1024**3
            async with source.open_snapshot(
                cycle_id=cycle.id,
                snapshot_id=vol.source_snapshot_id,
                size_gib=vol.size_gib,
                volume_id=vol.volume_id,
                ranges_known=extents is not None,
            ) as path:
                try:
                    stats = await asyncio.to_thread(
                        send_volume,
                        address=address,
                        security=deps.security,
                        transfer_id=f"{cycle.id}-{vol.volume_id}",
                        source=path,
                        target=f"cinder:{vol.replica_volume_id}",
                        size=size,
                        extents=extents,
                        base_manifest=base_manifest
                        if extents is None and base_snap and base_manifest.exists()
                        else None,
                        write_manifest=new_manifest if extents is None else None,
                        throttles=throttles,
                        bind_address=str(spec.bind_address) if spec.bind_address else None,
                        retry_for=deps.link_retry_seconds,
                        cancel=cancel,
                    )
                except TransferCancelled as exc:
                    raise CyclePaused(f"group {cycle.group_id} suspended") from exc
                except LinkDown as exc:
                    raise TransientFault(f"link to {spec.target.site_id}: {exc}") from exc
                except AuthenticationFailed as exc:
                    raise CycleFailed(
                        "transfer",
                        f"authentication with the receiver of {spec.target.site_id} failed: {exc}",
                        permanent=True,
                    ) from exc
                except TransferError as exc:
                    raise CycleFailed("transfer", f"volume {vol.volume_id}: {exc}") from exc
            async with lock:
                vol.transferred = True
                vol.bytes_changed = stats.bytes_changed
                vol.bytes_sent = stats.bytes_on_wire
                if any(not v.transferred for v in cycle.volumes):
                    await checkpoint(cycle)  # after the last one, the stage's checkpoint does

    pending = [v for v in cycle.volumes if not v.transferred]
    watcher = asyncio.create_task(watch_suspension())
    try:
        results = await asyncio.gather(*(one(v) for v in pending), return_exceptions=True)
    finally:
        cancel.set()
        await watcher
    errors = [r for r in results if isinstance(r, BaseException)]
    for kind in (CyclePaused, CycleFailed, TransientFault):
        for err in errors:
            if isinstance(err, kind):
                raise err
    if errors:
        raise errors[0]
    cycle.stage = Stage.REPLICA_SNAPSHOT
    await checkpoint(cycle)


async def replica_snapshot_stage(
    cycle: ReplicationCycle, deps: CycleDeps, checkpoint: Checkpoint
) -> None:
    spec = ReplicationSpec.model_validate(cycle.spec)
    target = RecoverySite(await deps.clouds.project(spec.target))
    replicas = [v.replica_volume_id for v in cycle.volumes if v.replica_volume_id]
    snaps = await target.snapshot_replicas(cycle_id=cycle.id, replica_volume_ids=replicas)
    for vol in cycle.volumes:
        assert vol.replica_volume_id is not None
        vol.replica_snapshot_id = snaps[vol.replica_volume_id]
    cycle.stage = Stage.COMMIT
    await checkpoint(cycle)


async def prune(
    spec: ReplicationSpec, deps: CycleDeps, points: list[ConsistencyPoint]
) -> list[ConsistencyPoint]:
    """Delete the snapshots of ``points`` at both sites (idempotent: gone is fine)."""
    if not points:
        return []
    source = await deps.protected_site(spec.source)
    target = RecoverySite(await deps.clouds.project(spec.target))
    for cp in points:
        await source.delete_snapshots(
            [m.source_snapshot_id for m in cp.members if m.source_snapshot_id]
        )
        await target.delete_snapshots(
            [m.replica_snapshot_id for m in cp.members if m.replica_snapshot_id]
        )
        for m in cp.members:
            stale = (
                deps.state_dir / "manifests" / f"{m.replica_volume_id}-{m.source_snapshot_id}.xxh3"
            )
            stale.unlink(missing_ok=True)
    return points


async def discard_snapshots(cycle: ReplicationCycle, deps: CycleDeps) -> None:
    """Delete the snapshots a cycle took that no CP will own (it failed or was skipped)."""
    spec = ReplicationSpec.model_validate(cycle.spec)
    source_snaps = [v.source_snapshot_id for v in cycle.volumes if v.source_snapshot_id]
    replica_snaps = [v.replica_snapshot_id for v in cycle.volumes if v.replica_snapshot_id]
    if source_snaps:
        source = await deps.protected_site(spec.source)
        await source.delete_snapshots(source_snaps)
    if replica_snaps:
        await RecoverySite(await deps.clouds.project(spec.target)).delete_snapshots(replica_snaps)
