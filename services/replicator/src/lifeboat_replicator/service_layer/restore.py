"""Restore a point in time (UC7) at a group's DR site: the newest verified CP at or before a
time (or a CP named by id), each chosen member volume into a new volume. A backup-strategy CP
restores its imported backup; a blocks-strategy CP makes a volume from its replica snapshot.
The source site is not touched. Every new volume is tagged (restore id, volume): a retried
request with the same ``restore_id`` finds the volumes the first one made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lifeboat_replicator.domain.model import ConsistencyPoint, VolumeProgress
from lifeboat_shared.cloud import CloudProject, LifeboatTag


class RestoreRefused(Exception):
    """Bad input, named by field (``status``: 404 when nothing matches, else 422)."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


@dataclass(frozen=True)
class RestoredVolume:
    source_volume_id: str
    volume_id: str
    from_backup_id: str | None
    from_snapshot_id: str | None


def choose_point(
    points: Sequence[ConsistencyPoint],
    *,
    group_id: str,
    cp_id: str | None,
    at: datetime | None,
) -> ConsistencyPoint:
    """The CP to restore: ``cp_id`` if given (it must be the group's), else the newest one taken
    at or before ``at``, else the newest. ``points``: the group's unpruned CPs, any order."""
    if cp_id is not None and at is not None:
        raise RestoreRefused("at", "give consistency_point_id or at, not both")
    if cp_id is not None:
        for cp in points:
            if cp.id == cp_id:
                return cp
        raise RestoreRefused(
            "consistency_point_id", f"no kept consistency point {cp_id} of group {group_id}", 404
        )
    ordered = sorted(points, key=lambda c: c.taken_at, reverse=True)
    if at is not None:
        if at.tzinfo is None:
            raise RestoreRefused("at", "give a time zone (e.g. 2026-12-05T18:00:00Z)")
        ordered = [c for c in ordered if c.taken_at <= at]
    if not ordered:
        where = f" taken at or before {at.isoformat()}" if at is not None else ""
        raise RestoreRefused("group_id", f"group {group_id} has no consistency point{where}", 404)
    return ordered[0]


def choose_members(cp: ConsistencyPoint, volume_ids: Sequence[str]) -> list[VolumeProgress]:
    if not volume_ids:
        return list(cp.members)
    by_id = {m.volume_id: m for m in cp.members}
    missing = [v for v in volume_ids if v not in by_id]
    if missing:
        raise RestoreRefused(
            "volume_ids", f"not in consistency point {cp.id}: {', '.join(missing)}"
        )
    return [by_id[v] for v in volume_ids]


async def restore_members(
    target: CloudProject, members: Sequence[VolumeProgress], *, restore_id: str, name_prefix: str
) -> list[RestoredVolume]:
    """New volumes at the DR site, one per member, as they were at the CP (in parallel)."""

    async def one(m: VolumeProgress) -> RestoredVolume:
        tag = LifeboatTag(op=restore_id, step="restore", key=m.volume_id)
        name = f"{name_prefix}{m.volume_id}"
        if m.backup_id is not None:
            vol = await target.block_storage.restore_backup(m.backup_id, name=name, tag=tag)
            return RestoredVolume(m.volume_id, vol.id, m.backup_id, None)
        if m.replica_snapshot_id is None:
            raise RestoreRefused("consistency_point_id", f"member {m.volume_id} has no copy")
        vol = await target.block_storage.create_volume(
            m.size_gib,
            name=name,
            snapshot_id=m.replica_snapshot_id,
            bootable=m.bootable,
            metadata={"lifeboat:source-volume": m.volume_id},
            tag=tag,
        )
        return RestoredVolume(m.volume_id, vol.id, None, m.replica_snapshot_id)

    return list(await asyncio.gather(*(one(m) for m in members)))
