"""UC7 backup strategy between two real cloudsim sites: full then incremental backup, records
exported and imported at the DR site, restored there to identical bytes."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from lifeboat_replicator.adapters.backup_strategy import (
    BackupChainError,
    BackupPoint,
    backup_cycle,
    restore_point,
)
from lifeboat_replicator.adapters.cinder_access import attached_path
from lifeboat_shared.cloud import CloudProject, NotFound

from .conftest import CONNECTOR, Clouds, content_digest, write_volume

MIB = 1024 * 1024


async def _digest(project: CloudProject, volume_id: str) -> str:
    async with attached_path(project, volume_id, CONNECTOR, mode="ro") as path:
        return content_digest(path)


async def test_backup_cycle_and_restore_round_trip(clouds: Clouds, uid: Callable[[], str]) -> None:
    src = clouds.prot.block_storage
    vol = await src.create_volume(1, name=f"backed-{uid()}")
    await write_volume(clouds.prot, vol.id, {0: os.urandom(100_000), 300 * MIB: os.urandom(5000)})
    v1 = await _digest(clouds.prot, vol.id)

    async def cycle(parent: str | None) -> BackupPoint:
        return await backup_cycle(
            clouds.prot,
            clouds.dr,
            cycle_id=f"c-{uid()}",
            volume_id=vol.id,
            parent_backup_id=parent,
            source_admin=clouds.prot_admin,
            target_admin=clouds.dr_admin,
        )

    full = await cycle(None)
    assert not full.incremental and full.size_gib == 1
    assert full.taken_at.tzinfo is not None
    with pytest.raises(NotFound):
        await src.get_snapshot(full.snapshot_id)  # the cycle's snapshot is dropped after backup

    await write_volume(clouds.prot, vol.id, {600 * MIB + 7: os.urandom(70_000)})
    v2 = await _digest(clouds.prot, vol.id)
    assert v2 != v1
    with pytest.raises(BackupChainError):
        await cycle("0b5e7c1e-3333-4000-8000-000000000003")
    incr = await cycle(full.source_backup_id)
    assert incr.incremental and incr.parent_backup_id == full.source_backup_id
    assert (await src.get_backup(incr.source_backup_id)).is_incremental

    dr = clouds.dr.block_storage
    assert (await dr.get_backup(incr.target_backup_id)).status == "available"
    at_full = await restore_point(clouds.dr, backup_id=full.target_backup_id, name="restored-1")
    at_incr = await restore_point(
        clouds.dr, backup_id=incr.target_backup_id, name="restored-2", op=f"r-{uid()}"
    )
    assert await _digest(clouds.dr, at_full) == v1
    assert await _digest(clouds.dr, at_incr) == v2

    # Clean up newest first (Cinder refuses to delete a backup with incremental children).
    for vid in (at_full, at_incr):
        await dr.delete_volume(vid)
    for bid in (incr.target_backup_id, full.target_backup_id):
        await dr.delete_backup(bid)
    for bid in (incr.source_backup_id, full.source_backup_id):
        await src.delete_backup(bid)
    await src.delete_backup(full.source_backup_id)  # gone already: fine
    await src.delete_volume(vol.id)
