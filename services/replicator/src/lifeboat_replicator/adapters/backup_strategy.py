"""UC7, the backup strategy: instead of streaming blocks, take a snapshot, back it up with
Cinder (incremental after the first), export the backup's record, import it at the DR site, and
restore a point in time there when needed. Slower RPO, but it needs nothing beyond Cinder's
backup service on both sites (sharing one backup store, as Cinder's export/import requires).

Export and import are admin-only under Cinder's default policy: pass admin-scoped projects of
the tenant (`driver.project("<site>-admin", "<tenant>")`) as `source_admin` / `target_admin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lifeboat_replicator.adapters import cinder_access
from lifeboat_shared.cloud import CloudProject, InvalidInput, LifeboatTag
from lifeboat_shared.cloud.backups import Backup


class BackupChainError(RuntimeError):
    """The incremental backup would not chain on the parent the caller named."""


@dataclass(frozen=True)
class BackupPoint:
    cycle_id: str
    volume_id: str
    snapshot_id: str
    source_backup_id: str
    target_backup_id: str
    parent_backup_id: str | None
    incremental: bool
    size_gib: int
    taken_at: datetime


async def newest_backup(source: CloudProject, volume_id: str) -> str | None:
    """The id of the volume's newest available backup: the one Cinder chains an incremental on."""
    found = [
        b
        for b in await source.block_storage.list_backups(volume_id=volume_id)
        if b.status == "available" and b.volume_id == volume_id
    ]
    found.sort(key=lambda b: b.created_at or "")
    return found[-1].id if found else None


async def find_cycle_backup(source: CloudProject, *, cycle_id: str, volume_id: str) -> str | None:
    """The backup a (crashed, re-run) cycle already made of this volume, if any."""
    for b in await source.block_storage.list_backups(volume_id=volume_id):
        if b.volume_id == volume_id and LifeboatTag(
            op=cycle_id, step="backup", key=volume_id
        ).matches_metadata(b.metadata):
            return b.id
    return None


async def back_up_snapshot(
    source: CloudProject,
    *,
    cycle_id: str,
    volume_id: str,
    snapshot_id: str,
    parent_backup_id: str | None,
) -> Backup:
    """Back up one snapshot (incremental on `parent_backup_id` when given, which must be the
    volume's newest available backup: Cinder chains on the newest). Tagged with the cycle: a
    re-run finds the backup it made instead of making another."""
    if (
        parent_backup_id is not None
        and await find_cycle_backup(source, cycle_id=cycle_id, volume_id=volume_id) is None
    ):
        newest = await newest_backup(source, volume_id)
        if newest != parent_backup_id:
            raise BackupChainError(
                f"parent_backup_id {parent_backup_id} is not the newest available backup of "
                f"volume {volume_id} (Cinder chains an incremental on the newest)"
            )
    return await source.block_storage.create_backup(
        volume_id,
        snapshot_id=snapshot_id,
        incremental=parent_backup_id is not None,
        force=True,
        name=f"lifeboat-{cycle_id}",
        tag=LifeboatTag(op=cycle_id, step="backup", key=volume_id),
    )


async def ship_backup(
    source_admin: CloudProject, target_admin: CloudProject, backup_id: str
) -> Backup:
    """Export the backup's record at the protected site and import it at the DR site (both
    admin-scoped to the tenant); returns the DR-side backup, waited until available. Imports
    are not tagged (an imported backup carries no metadata): the caller keeps the id."""
    record = await source_admin.block_storage.export_backup_record(backup_id)
    return await target_admin.block_storage.import_backup_record(record)


async def backup_cycle(
    source: CloudProject,
    target: CloudProject,
    *,
    cycle_id: str,
    volume_id: str,
    parent_backup_id: str | None,
    source_admin: CloudProject | None = None,
    target_admin: CloudProject | None = None,
    keep_snapshot: bool = False,
) -> BackupPoint:
    """snapshot -> backup (incremental on `parent_backup_id` when given) -> export the record
    -> import at the DR site. Snapshot and backup are tagged with the cycle (a retry finds them);
    the import is not (imported backups carry no metadata): remember its id."""
    src = source.block_storage
    if parent_backup_id is not None and await newest_backup(source, volume_id) != parent_backup_id:
        raise BackupChainError(
            f"parent_backup_id {parent_backup_id} is not the newest available backup of "
            f"volume {volume_id} (Cinder chains an incremental on the newest)"
        )
    snap = await src.create_snapshot(
        volume_id,
        name=f"lifeboat-backup-{cycle_id}",
        force=True,
        tag=LifeboatTag(op=cycle_id, step="backup-snapshot", key=volume_id),
    )
    backup = await back_up_snapshot(
        source,
        cycle_id=cycle_id,
        volume_id=volume_id,
        snapshot_id=snap.id,
        parent_backup_id=parent_backup_id,
    )
    imported = await ship_backup(source_admin or source, target_admin or target, backup.id)
    if not keep_snapshot:
        await src.delete_snapshot(snap.id)
    return BackupPoint(
        cycle_id=cycle_id,
        volume_id=volume_id,
        snapshot_id=snap.id,
        source_backup_id=backup.id,
        target_backup_id=imported.id,
        parent_backup_id=parent_backup_id,
        incremental=backup.is_incremental,
        size_gib=backup.size_gb or 0,
        taken_at=cinder_access.parse_time(snap.created_at or backup.created_at),
    )


async def restore_point(
    target: CloudProject, *, backup_id: str, name: str, op: str | None = None
) -> str:
    """Restore a (DR-site) backup to a new volume; returns its id. With `op`, the volume is
    tagged (op, "restore", backup_id) and a retried restore finds it."""
    if not name:
        raise InvalidInput("name must not be empty")
    tag = LifeboatTag(op=op, step="restore", key=backup_id) if op else None
    vol = await target.block_storage.restore_backup(backup_id, name=name, tag=tag)
    return vol.id
