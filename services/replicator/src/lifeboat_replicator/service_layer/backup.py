"""The transfer stage of the backup strategy (UC7): each volume's CP snapshot is backed up with
Cinder at the protected site (incremental on the previous CP's backup of that volume, full for
the first CP, a full resync, or when the chain was broken by another backup of the volume), its
record is exported and imported at the DR site, and the imported backup is checked there
(available, the volume's size) before the CP is committed. There are no replica volumes: a point
in time is restored from the imported backup on demand (``POST /v1/restores``, failover).

Checkpoints: the source backup id, then the DR backup id, per volume; a re-run finds the source
backup by its cycle tag. An import interrupted before its checkpoint is imported again (imports
carry no tag); the first import then stays behind at the DR site.
"""

from __future__ import annotations

import asyncio
import logging

from lifeboat_replicator.adapters.backup_strategy import (
    BackupChainError,
    back_up_snapshot,
    ship_backup,
)
from lifeboat_replicator.domain.model import ReplicationCycle, Stage, VolumeProgress
from lifeboat_replicator.service_layer.cycle import Checkpoint, CycleDeps, CycleFailed
from lifeboat_shared.contracts.messages import ReplicationSpec

log = logging.getLogger(__name__)


async def backup_stage(cycle: ReplicationCycle, deps: CycleDeps, checkpoint: Checkpoint) -> None:
    spec = ReplicationSpec.model_validate(cycle.spec)
    source = await deps.clouds.project(spec.source)
    source_admin = await deps.admin_project(spec.source, spec.project_id)
    target_admin = await deps.admin_project(spec.target, spec.project_id)
    previous = None if cycle.full_resync else await deps.previous_cp(cycle.group_id)
    parents = {
        m.volume_id: m.source_backup_id
        for m in (previous.members if previous else ())
        if m.source_backup_id
    }
    gate = asyncio.Semaphore(deps.max_parallel_volumes)
    lock = asyncio.Lock()

    async def one(vol: VolumeProgress) -> None:
        async with gate:
            assert vol.source_snapshot_id is not None
            if vol.source_backup_id is None:
                parent = parents.get(vol.volume_id)
                try:
                    made = await back_up_snapshot(
                        source,
                        cycle_id=cycle.id,
                        volume_id=vol.volume_id,
                        snapshot_id=vol.source_snapshot_id,
                        parent_backup_id=parent,
                    )
                except BackupChainError as exc:
                    log.warning("cycle %s: %s; taking a full backup instead", cycle.id, exc)
                    made = await back_up_snapshot(
                        source,
                        cycle_id=cycle.id,
                        volume_id=vol.volume_id,
                        snapshot_id=vol.source_snapshot_id,
                        parent_backup_id=None,
                    )
                async with lock:
                    vol.source_backup_id = made.id
                    vol.backup_incremental = made.is_incremental
                    await checkpoint(cycle)
            if vol.backup_id is None:
                imported = await ship_backup(source_admin, target_admin, vol.source_backup_id)
                if imported.status != "available" or (imported.size_gb or 0) < vol.size_gib:
                    raise CycleFailed(
                        "verify",
                        f"volume {vol.volume_id}: backup imported at {spec.target.site_id} is "
                        f"{imported.status}, {imported.size_gb} GiB (want {vol.size_gib})",
                    )
                async with lock:
                    vol.backup_id = imported.id
                    vol.transferred = True
                    await checkpoint(cycle)

    results = await asyncio.gather(
        *(one(v) for v in cycle.volumes if not v.transferred), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    cycle.stage = Stage.COMMIT  # no replica volumes to snapshot
    await checkpoint(cycle)
