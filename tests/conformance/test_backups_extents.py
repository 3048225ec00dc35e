"""Cinder backups (full, incremental, export/import of the record, restore), changed extents
between snapshots (cloudsim's extension; None on real Cinder) and extend, through the driver."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from lifeboat_shared.cloud import CloudProject, InvalidInput, LifeboatTag, NotFound

from .conftest import Janitor
from .simadmin import SimAdmin
from .targets import Target

pytestmark = pytest.mark.conformance

MIB = 1024 * 1024
CONNECTOR = {"host": "lifeboat-conformance", "ip": "127.0.0.1", "platform": "x86_64"}


def _name(prefix: str) -> str:
    return f"conf-{prefix}-{uuid.uuid4().hex[:6]}"


@asynccontextmanager
async def _local_path(cloud: CloudProject, volume_id: str) -> AsyncIterator[Path]:
    att = await cloud.block_storage.create_attachment(volume_id, CONNECTOR)
    try:
        if att.device_path is None:
            pytest.skip(f"connection type {att.driver_volume_type!r} is not a local path")
        await cloud.block_storage.complete_attachment(att.id)
        yield Path(att.device_path)
    finally:
        await cloud.block_storage.delete_attachment(att.id)
        await cloud.block_storage.wait_for_volume(volume_id, "available")


def _pwrite(path: Path, chunks: dict[int, bytes]) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        for offset, data in chunks.items():
            os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def _pread(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(length)


async def _write(cloud: CloudProject, volume_id: str, chunks: dict[int, bytes]) -> None:
    async with _local_path(cloud, volume_id) as path:
        await asyncio.to_thread(_pwrite, path, chunks)


async def test_changed_extents_between_snapshots(
    cloud: CloudProject, target: Target, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    bs = cloud.block_storage
    vol = await bs.create_volume(1, name=_name("cx"), tag=make_tag("cx"))
    janitor.add("volume", lambda: bs.delete_volume(vol.id))
    s0 = await bs.create_snapshot(vol.id, tag=make_tag("s0"))
    janitor.add("snapshot", lambda: bs.delete_snapshot(s0.id))
    if not target.is_cloudsim:
        assert await bs.changed_extents(vol.id, None, s0.id) is None  # no such API in Cinder
        return
    assert await bs.changed_extents(vol.id, None, s0.id) == []  # nothing written yet
    await _write(cloud, vol.id, {3 * MIB: os.urandom(5000)})
    s1 = await bs.create_snapshot(vol.id, tag=make_tag("s1"))
    janitor.add("snapshot", lambda: bs.delete_snapshot(s1.id))
    await _write(cloud, vol.id, {700 * MIB + 1: b"x" * 10})
    s2 = await bs.create_snapshot(vol.id, tag=make_tag("s2"))
    janitor.add("snapshot", lambda: bs.delete_snapshot(s2.id))

    first = await bs.changed_extents(vol.id, None, s1.id)
    assert first is not None and len(first) == 1
    assert first[0][0] <= 3 * MIB and sum(first[0]) >= 3 * MIB + 5000
    delta = await bs.changed_extents(vol.id, s1.id, s2.id)
    assert delta is not None and len(delta) == 1
    off, length = delta[0]
    assert off <= 700 * MIB + 1 and off + length >= 700 * MIB + 11 and length <= 128 * 1024
    with pytest.raises(NotFound):
        await bs.changed_extents(str(uuid.uuid4()), None, s1.id)
    with pytest.raises(NotFound):
        await bs.changed_extents(vol.id, None, str(uuid.uuid4()))
    with pytest.raises(InvalidInput):
        await bs.changed_extents(vol.id, None, "")

    # A site without the extension answers 404 for the route (as real Cinder does): None.
    assert target.admin_url and target.admin_token
    sim = SimAdmin(target.admin_url, target.admin_token)
    route = {"method": "GET", "path": "/volume/v3/*/volumes/*/changed_extents"}
    await sim.set_rules([{**route, "error_rate": 1.0, "status": 404, "message": "Not Found"}])
    try:
        assert await bs.changed_extents(vol.id, s1.id, s2.id) is None
        with pytest.raises(NotFound):  # still NotFound when the volume itself is missing
            await bs.changed_extents(str(uuid.uuid4()), None, s1.id)
    finally:
        await sim.clear_rules()


async def test_snapshot_block_reads(
    cloud: CloudProject, target: Target, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    """cloudsim serves a snapshot's bytes over its API (like the EBS direct APIs); real Cinder
    has no such route: `snapshot_reads` says False there and the replicator uses a volume."""
    bs = cloud.block_storage
    vol = await bs.create_volume(1, name=_name("rd"), tag=make_tag("rd"))
    janitor.add("volume", lambda: bs.delete_volume(vol.id))
    data = os.urandom(5000)
    await _write(cloud, vol.id, {3 * MIB + 7: data})
    snap = await bs.create_snapshot(vol.id, tag=make_tag("rd1"))
    janitor.add("snapshot", lambda: bs.delete_snapshot(snap.id))
    await _write(cloud, vol.id, {3 * MIB + 7: b"later" * 1000})  # after the snapshot
    if not target.is_cloudsim:
        assert await bs.snapshot_reads(snap.id) is False
        return
    assert await bs.snapshot_reads(snap.id) is True
    got = await asyncio.to_thread(bs.read_snapshot_blocks, snap.id, 3 * MIB, 5100)
    assert got == bytes(7) + data + bytes(93)
    # Reads stream into the caller's buffer and hand the connection back for reuse.
    into = memoryview(bytearray(5100))
    await asyncio.to_thread(bs.read_snapshot_blocks_into, snap.id, 3 * MIB, into)
    kept = _pooled_sockets(cloud)
    for _ in range(3):
        await asyncio.to_thread(bs.read_snapshot_blocks_into, snap.id, 3 * MIB, into)
        assert bytes(into) == got
    assert kept and _pooled_sockets(cloud) == kept  # the same connection every time
    with pytest.raises(NotFound):
        await bs.snapshot_reads(str(uuid.uuid4()))
    with pytest.raises(Exception, match=r"400|beyond"):  # past the end: refused, not padded
        await asyncio.to_thread(bs.read_snapshot_blocks, snap.id, 1024 * MIB - 10, 20)


def _pooled_sockets(cloud: CloudProject) -> set[tuple[str, int]]:
    """Local addresses of the open sockets idle in the project's HTTP connection pools."""
    manager = cloud.context.conn.session.session.get_adapter("http://").poolmanager
    found = set()
    for key in manager.pools.keys():  # noqa: SIM118 (a RecentlyUsedContainer: no __iter__)
        for conn in list(manager.pools[key].pool.queue):
            if conn is not None and conn.sock is not None:
                found.add(conn.sock.getsockname())
    return found


async def test_extend_volume(
    cloud: CloudProject, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    bs = cloud.block_storage
    vol = await bs.create_volume(1, name=_name("ext"), tag=make_tag("ext"))
    janitor.add("volume", lambda: bs.delete_volume(vol.id))
    await bs.extend_volume(vol.id, 2)
    assert (await bs.get_volume(vol.id)).size_gb == 2
    await bs.extend_volume(vol.id, 2)  # already that size: nothing to do
    await bs.extend_volume(vol.id, 1)  # never shrinks
    assert (await bs.get_volume(vol.id)).size_gb == 2


async def test_backups_incremental_export_import_restore(
    cloud: CloudProject,
    admin_cloud: CloudProject,
    target: Target,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    if target.admin_cloud == target.cloud:
        pytest.skip("export/import of backup records needs an admin entry")
    bs = cloud.block_storage
    vol = await bs.create_volume(1, name=_name("bk"), tag=make_tag("bk"))
    janitor.add("volume", lambda: bs.delete_volume(vol.id))
    local = target.is_cloudsim
    if local:
        await _write(cloud, vol.id, {0: b"first" * 100})
    snap = await bs.create_snapshot(vol.id, tag=make_tag("bks"))
    janitor.add("snapshot", lambda: bs.delete_snapshot(snap.id))
    tag = make_tag("backup")
    full = await bs.create_backup(vol.id, snapshot_id=snap.id, name=_name("full"), tag=tag)
    janitor.add("backup", lambda: bs.delete_backup(full.id))
    assert full.status == "available" and not full.is_incremental
    assert full.volume_id == vol.id and full.snapshot_id == snap.id
    assert (await bs.create_backup(vol.id, snapshot_id=snap.id, tag=tag)).id == full.id

    if local:
        await _write(cloud, vol.id, {900 * MIB: b"second" * 100})
    incr = await bs.create_backup(vol.id, incremental=True, force=True, tag=make_tag("incr"))
    janitor.add("backup", lambda: bs.delete_backup(incr.id))
    assert incr.is_incremental
    assert (await bs.get_backup(full.id)).has_dependent_backups
    assert {full.id, incr.id} <= {b.id for b in await bs.list_backups(volume_id=vol.id)}

    admin = admin_cloud.block_storage
    record = await admin.export_backup_record(incr.id)
    assert record["backup_service"] and record["backup_url"]
    with pytest.raises(InvalidInput, match="backup_url"):
        await admin.import_backup_record({"backup_service": record["backup_service"]})
    imported = await admin.import_backup_record(record)
    janitor.add("imported backup", lambda: admin.delete_backup(imported.id))
    assert imported.id not in (full.id, incr.id) and imported.status == "available"

    rtag = make_tag("restored")
    restored = await admin.restore_backup(imported.id, name=_name("restored"), tag=rtag)
    janitor.add("restored volume", lambda: admin.delete_volume(restored.id))
    assert restored.status == "available" and restored.size_gb == 1
    assert (await admin.restore_backup(imported.id, tag=rtag)).id == restored.id
    if local:
        async with _local_path(admin_cloud, restored.id) as path:
            assert await asyncio.to_thread(_pread, path, 0, 500) == b"first" * 100
            assert await asyncio.to_thread(_pread, path, 900 * MIB, 600) == b"second" * 100

    await admin.delete_backup(imported.id)
    await admin.delete_backup(imported.id)  # gone already: fine
    with pytest.raises(NotFound):
        await admin.get_backup(imported.id)
