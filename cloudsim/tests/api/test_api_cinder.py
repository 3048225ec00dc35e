"""Cinder through openstacksdk: volumes and status transitions, snapshots, volumes from
snapshots (byte-identical), groups + group snapshots, backups, attachments, changed extents."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from openstack import exceptions

MIB = 1024 * 1024


def _ready(conn: Any, res: object, status: str = "available") -> Any:
    return conn.block_storage.wait_for_status(res, status, wait=20, interval=0.05)


def _attach_path(conn: Any, volume_id: str, *, complete: bool = True) -> tuple[str, Path]:
    """Attach through the attachments API with a connector; returns (attachment id, file)."""
    att = conn.block_storage.create_attachment(
        volume_id, connector={"host": "lifeboat-test", "platform": "x86_64"}
    )
    info = att.connection_info
    # Real Cinder's attachments API answers flat: no nested "data", driver fields beside the type.
    assert info["driver_volume_type"] == "local"
    assert "data" not in info
    assert info["volume_id"] == volume_id and info["attachment_id"] == att.id
    assert info["access_mode"] == "rw"
    path = Path(info["device_path"])
    if complete:
        conn.block_storage.complete_attachment(att.id)
    return str(att.id), path


def test_volume_create_transitions_and_types(conn: Any) -> None:
    types = {t.name for t in conn.block_storage.types()}
    assert {"__DEFAULT__", "ssd"} <= types
    vol = conn.block_storage.create_volume(
        size=1, name="v-t", volume_type="ssd", metadata={"lifeboat:pg": "pg-9"}
    )
    assert vol.status == "creating"
    vol = _ready(conn, vol)
    assert vol.volume_type == "ssd"
    listed = [v.name for v in conn.block_storage.volumes(properties='{"lifeboat:pg": "pg-9"}')]
    assert listed == ["v-t"]
    conn.block_storage.extend_volume(vol, 3)
    vol = _ready(conn, conn.block_storage.get_volume(vol.id))
    assert vol.size == 3
    with pytest.raises(exceptions.BadRequestException, match="greater"):
        conn.block_storage.extend_volume(vol, 2)
    conn.block_storage.delete_volume(vol)
    with pytest.raises(exceptions.NotFoundException):
        conn.block_storage.get_volume(vol.id)


def test_attachments_and_snapshot_clone_byte_identical(conn: Any) -> None:
    vol = _ready(conn, conn.block_storage.create_volume(size=1, name="src"))
    aid, path = _attach_path(conn, vol.id, complete=False)
    assert conn.block_storage.get_volume(vol.id).status == "attaching"
    conn.block_storage.complete_attachment(aid)
    assert conn.block_storage.get_volume(vol.id).status == "in-use"
    payload = os.urandom(3 * 65536 + 100)
    with path.open("r+b") as fh:
        fh.seek(5 * MIB)
        fh.write(payload)
    snap = conn.block_storage.create_snapshot(
        volume_id=vol.id,
        name="s1",
        force=True,
    )
    snap = _ready(conn, snap)
    with path.open("r+b") as fh:  # later writes must not leak into the snapshot or its clone
        fh.seek(5 * MIB)
        fh.write(b"\xff" * 100)
    clone = _ready(conn, conn.block_storage.create_volume(snapshot_id=snap.id, name="clone"))
    caid, cpath = _attach_path(conn, clone.id)
    with cpath.open("rb") as fh:
        fh.seek(5 * MIB)
        assert fh.read(len(payload)) == payload
    assert cpath.stat().st_size == 1024**3
    conn.block_storage.delete_attachment(caid)
    conn.block_storage.delete_attachment(aid)
    assert conn.block_storage.get_volume(vol.id).status == "available"
    with pytest.raises(exceptions.BadRequestException):
        conn.block_storage.delete_volume(vol)  # has a snapshot
    conn.block_storage.delete_volume(clone)
    conn.block_storage.delete_snapshot(snap)
    conn.block_storage.delete_volume(vol)


def test_changed_extents_between_snapshots(conn: Any) -> None:
    vol = _ready(conn, conn.block_storage.create_volume(size=1, name="diff"))
    aid, path = _attach_path(conn, vol.id)
    with path.open("r+b") as fh:
        fh.seek(0)
        fh.write(b"a" * 65536)
    s1 = _ready(conn, conn.block_storage.create_snapshot(volume_id=vol.id, force=True))
    with path.open("r+b") as fh:
        fh.seek(10 * 65536)
        fh.write(b"b" * 10)
    s2 = _ready(conn, conn.block_storage.create_snapshot(volume_id=vol.id, force=True))
    url = f"/volumes/{vol.id}/changed_extents"
    full = conn.block_storage.get(url, params={"to_snapshot_id": s1.id}).json()
    assert full["changed_extents"]["extents"] == [{"offset": 0, "length": 65536}]
    diff = conn.block_storage.get(
        url,
        params={
            "from_snapshot_id": s1.id,
            "to_snapshot_id": s2.id,
        },
    ).json()
    assert diff["changed_extents"]["extents"] == [{"offset": 10 * 65536, "length": 65536}]
    bad = conn.block_storage.get(url, params={})
    assert bad.status_code == 400
    assert "to_snapshot_id" in bad.json()["badRequest"]["message"]
    conn.block_storage.delete_attachment(aid)


def test_group_snapshot_one_instant(conn: Any) -> None:
    gtype = next(conn.block_storage.group_types())
    vtype = next(t for t in conn.block_storage.types() if t.name == "__DEFAULT__")
    group = conn.block_storage.create_group(
        name="app", group_type=gtype.id, volume_types=[vtype.id]
    )
    group = _ready(conn, group)
    vols = [_ready(conn, conn.block_storage.create_volume(size=1, name=f"g{i}")) for i in range(2)]
    conn.block_storage.update_group(group, add_volumes=",".join(v.id for v in vols))
    assert set(conn.block_storage.get_group(group.id).volumes) == {v.id for v in vols}
    gs = _ready(conn, conn.block_storage.create_group_snapshot(group_id=group.id, name="gs1"))
    members = list(conn.block_storage.snapshots(details=True))
    members = [s for s in members if s.group_snapshot_id == gs.id]
    assert {s.volume_id for s in members} == {v.id for v in vols}
    with pytest.raises(exceptions.BadRequestException):
        conn.block_storage.delete_group(group)  # still has a group snapshot
    conn.block_storage.delete_group_snapshot(gs)
    conn.block_storage.delete_group(group, delete_volumes=True)
    conn.block_storage.wait_for_delete(group, wait=10, interval=0.05)
    for v in vols:
        with pytest.raises(exceptions.NotFoundException):
            conn.block_storage.get_volume(v.id)


def test_backups_full_incremental_restore(conn: Any, admin_conn: Any) -> None:
    vol = _ready(conn, conn.block_storage.create_volume(size=1, name="bk"))
    aid, path = _attach_path(conn, vol.id)
    with path.open("r+b") as fh:
        fh.write(b"full" * 1000)
    conn.block_storage.delete_attachment(aid)
    full = _ready(conn, conn.block_storage.create_backup(volume_id=vol.id, name="full"))
    aid, path = _attach_path(conn, vol.id)
    with path.open("r+b") as fh:
        fh.seek(MIB)
        fh.write(b"incr" * 1000)
    conn.block_storage.delete_attachment(aid)
    inc = _ready(
        conn,
        conn.block_storage.create_backup(
            volume_id=vol.id,
            name="inc",
            is_incremental=True,
        ),
    )
    assert inc.is_incremental
    assert conn.block_storage.get_backup(full.id).has_dependent_backups
    with pytest.raises(exceptions.BadRequestException, match="Incremental"):
        conn.block_storage.delete_backup(full)
    restored = conn.block_storage.restore_backup(inc, name="restored")
    new = _ready(conn, conn.block_storage.get_volume(restored.volume_id))
    aid, rpath = _attach_path(conn, new.id)
    with rpath.open("rb") as fh:
        assert fh.read(4000) == b"full" * 1000
        fh.seek(MIB)
        assert fh.read(4000) == b"incr" * 1000
    conn.block_storage.delete_attachment(aid)
    # export/import record is admin-only, as in Cinder
    with pytest.raises(exceptions.ForbiddenException):
        conn.block_storage.export_backup(inc)
    record = admin_conn.block_storage.export_backup(inc)["backup-record"]
    assert record["backup_service"]
    assert record["backup_url"]
    # openstacksdk 4.x's import_backup posts to the wrong URL, so the call is made directly
    resp = admin_conn.block_storage.post("/backups/import_record", json={"backup-record": record})
    assert resp.status_code == 201, resp.text
    imported = resp.json()["backup"]["id"]
    assert imported != inc.id
    again = admin_conn.block_storage.restore_backup(imported, name="from-import")
    new2 = _ready(admin_conn, admin_conn.block_storage.get_volume(again.volume_id))
    aid, ipath = _attach_path(admin_conn, new2.id)
    with ipath.open("rb") as fh:
        fh.seek(MIB)
        assert fh.read(4000) == b"incr" * 1000
    admin_conn.block_storage.delete_attachment(aid)


def test_volume_from_image_and_errors(conn: Any, image_id: Callable[[Any], str]) -> None:
    vol = _ready(conn, conn.block_storage.create_volume(size=1, image_id=image_id(conn)))
    assert vol.is_bootable
    with pytest.raises(exceptions.BadRequestException, match="size"):
        conn.block_storage.create_volume(size=0)
    with pytest.raises(exceptions.NotFoundException):
        conn.block_storage.create_volume(size=1, snapshot_id="nope")
    with pytest.raises(exceptions.NotFoundException):
        conn.block_storage.get_volume("nope")
    conn.block_storage.delete_volume(vol)


def test_volume_quota_413(conn: Any, admin_http: httpx.Client) -> None:
    used = len(list(conn.block_storage.volumes()))
    admin_http.put("/quotas/demo", json={"volumes": used})
    try:
        with pytest.raises(exceptions.HttpException) as err:
            conn.block_storage.create_volume(size=1)
        assert err.value.status_code == 413
        assert "VolumeLimitExceeded" in str(err.value)
    finally:
        admin_http.put("/quotas/demo", json={"volumes": 5000})


def test_clone_from_source_volume_and_types(conn: Any, admin_conn: Any) -> None:
    src = _ready(conn, conn.block_storage.create_volume(size=1, name="orig"))
    aid, path = _attach_path(conn, src.id)
    with path.open("r+b") as fh:
        fh.seek(7 * MIB)
        fh.write(b"clone-me")
    conn.block_storage.delete_attachment(aid)
    clone = _ready(conn, conn.block_storage.create_volume(source_volid=src.id, size=2))
    assert clone.size == 2
    caid, cpath = _attach_path(conn, clone.id)
    with cpath.open("rb") as fh:
        fh.seek(7 * MIB)
        assert fh.read(8) == b"clone-me"
    conn.block_storage.delete_attachment(caid)
    with pytest.raises(exceptions.ForbiddenException):
        conn.block_storage.create_type(name="gold")
    gold = admin_conn.block_storage.create_type(name="gold", extra_specs={"tier": "1"})
    assert "gold" in {t.name for t in conn.block_storage.types()}
    with pytest.raises(exceptions.ConflictException):
        admin_conn.block_storage.create_type(name="gold")
    vol = _ready(conn, conn.block_storage.create_volume(size=1, volume_type=gold.id))
    assert vol.volume_type == "gold"
    for v in (vol, clone, src):
        conn.block_storage.delete_volume(v)
