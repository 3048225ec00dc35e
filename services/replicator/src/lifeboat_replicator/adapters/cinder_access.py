"""What the replicator's site adapters share: reaching a volume's bytes through a Cinder
attachment (the way a real host does: a connector in, connection info out), waiting for
snapshots, and idempotent snapshot deletion.

Attachments give `local` connections (cloudsim, Cinder's file-backed drivers: a path this host
can open) or `rbd` (Ceph: read and written through librbd with the site's own cephx user when the
site is in the replicator's `rbd_sites`, see rbd_site.py). iSCSI, NVMe-oF, FC and the rest would
need os-brick and root to become a device, which Lifeboat does not do: those fail with a clear
error naming the type.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lifeboat_shared.cloud import CloudError, CloudProject, NotFound, OperationTimedOut, models

GIB = 1024**3


class UnsupportedConnection(NotImplementedError):
    """The site answered with a connection type this host cannot open without os-brick."""

    def __init__(self, volume_id: str, driver_volume_type: str | None) -> None:
        self.volume_id = volume_id
        self.driver_volume_type = driver_volume_type
        hint = (
            "add the site to LIFEBOAT_REPLICATOR_RBD_SITES (ceph.conf, a cephx user and its "
            "keyring) so its volumes are read and written through librbd"
            if driver_volume_type == "rbd"
            else "supported: 'local' and 'rbd' (Ceph); block protocols such as iSCSI or NVMe-oF "
            "would need os-brick and root on the replicator host, which Lifeboat does not use"
        )
        super().__init__(
            f"volume {volume_id}: connection type {driver_volume_type!r} is not supported here: "
            + hint
        )


def local_device_path(att: models.Attachment) -> Path:
    """The local path of an attachment's data, or UnsupportedConnection."""
    if att.driver_volume_type != "local":
        raise UnsupportedConnection(att.volume_id, att.driver_volume_type)
    if not att.device_path:
        raise UnsupportedConnection(att.volume_id, "local (without device_path)")
    return Path(att.device_path)


@asynccontextmanager
async def attached_path(
    project: CloudProject,
    volume_id: str,
    connector: Mapping[str, Any],
    *,
    mode: str = "rw",
) -> AsyncIterator[Path]:
    """Attach `volume_id` to this host (attachments API), yield its local path, detach on exit
    (also when the body fails)."""
    bs = project.block_storage
    att = await bs.create_attachment(volume_id, connector, mode=mode)
    try:
        path = local_device_path(att)
        await bs.complete_attachment(att.id)
        yield path
    finally:
        # Detaching must happen even when the caller was cancelled mid-transfer.
        await asyncio.shield(bs.delete_attachment(att.id))


async def drop_attachments(project: CloudProject, volume_id: str) -> None:
    """Delete every attachment of a volume Lifeboat owns (left by a crashed earlier attempt)."""
    for att in await project.block_storage.list_attachments(volume_id):
        await project.block_storage.delete_attachment(att.id)


async def wait_snapshots_available(
    project: CloudProject, snapshot_ids: Sequence[str], *, timeout: float = 600.0
) -> None:
    """Poll until every snapshot is available (Nova's createImage returns before they are)."""
    deadline = time.monotonic() + timeout
    pending = list(snapshot_ids)
    interval = 0.05
    while pending:
        states = await asyncio.gather(*(project.block_storage.get_snapshot(s) for s in pending))
        failed = [s.id for s in states if s.status.lower() == "error"]
        if failed:
            raise CloudError(f"snapshots ended in status 'error': {failed}")
        pending = [s.id for s in states if s.status.lower() != "available"]
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise OperationTimedOut(
                f"snapshots still not available after {timeout:.0f}s: {pending}"
            )
        await asyncio.sleep(interval)
        interval = min(interval * 1.5, 2.0)


def parse_time(value: str | None) -> datetime:
    """An API timestamp as an aware datetime (Cinder omits the zone: it is UTC)."""
    if not value:
        raise ValueError("the cloud returned no timestamp")
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


async def delete_snapshots(project: CloudProject, snapshot_ids: Sequence[str]) -> None:
    """Delete snapshots; ones already gone are fine. A member of a group snapshot goes with its
    whole group snapshot (Cinder refuses to delete members one by one)."""
    bs = project.block_storage
    groups: set[str] = set()
    singles: list[str] = []
    for sid in dict.fromkeys(snapshot_ids):
        try:
            snap = await bs.get_snapshot(sid)
        except NotFound:
            continue
        if snap.group_snapshot_id:
            groups.add(snap.group_snapshot_id)
        else:
            singles.append(sid)
    for gsid in sorted(groups):
        await bs.delete_group_snapshot(gsid)
    for sid in singles:
        with suppress(NotFound):
            await bs.delete_snapshot(sid)
