"""Cinder through the driver: volumes, snapshots, volumes from snapshots, groups and group
snapshots, the attachments API, and idempotent find-or-create by Lifeboat tag."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat_shared.cloud import CloudProject, LifeboatTag, NotFound

from .conftest import Env, Janitor
from .targets import Target

pytestmark = pytest.mark.conformance


def _name(prefix: str) -> str:
    return f"conf-{prefix}-{uuid.uuid4().hex[:6]}"


async def test_volume_lifecycle(
    cloud: CloudProject, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    name = _name("vol")
    vol = await cloud.block_storage.create_volume(
        2, name=name, metadata={"app": "db"}, tag=make_tag("vol")
    )
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
    assert vol.status == "available"
    assert vol.size_gb == 2
    assert vol.metadata["app"] == "db"
    assert vol.metadata["lifeboat:op"].startswith("conf-")
    assert vol.id in {v.id for v in await cloud.block_storage.list_volumes()}
    await cloud.block_storage.set_volume_metadata(vol.id, {"tier": "1"})
    assert (await cloud.block_storage.get_volume(vol.id)).metadata["tier"] == "1"
    await cloud.block_storage.delete_volume(vol.id)
    with pytest.raises(NotFound):
        await cloud.block_storage.get_volume(vol.id)


async def test_volume_find_or_create_is_idempotent(
    cloud: CloudProject, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    tag, name = make_tag("vol"), _name("idem")
    first = await cloud.block_storage.create_volume(1, name=name, tag=tag)
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(first.id))
    second = await cloud.block_storage.create_volume(1, name=name, tag=tag)
    assert second.id == first.id
    found = await cloud.block_storage.find_volume(tag)
    assert found is not None
    assert found.id == first.id
    assert [v.id for v in await cloud.block_storage.list_volumes(name=name)] == [first.id]
    assert await cloud.block_storage.find_volume(make_tag("never-created")) is None


async def test_snapshot_and_volume_from_snapshot(
    cloud: CloudProject, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    vol = await cloud.block_storage.create_volume(1, name=_name("src"), tag=make_tag("src"))
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
    stag = make_tag("snap")
    snap = await cloud.block_storage.create_snapshot(vol.id, name=_name("snap"), tag=stag)
    janitor.add("snapshot", lambda: cloud.block_storage.delete_snapshot(snap.id))
    assert snap.status == "available"
    assert snap.volume_id == vol.id
    again = await cloud.block_storage.create_snapshot(vol.id, name=snap.name, tag=stag)
    assert again.id == snap.id
    assert [s.id for s in await cloud.block_storage.list_snapshots(volume_id=vol.id)] == [snap.id]

    copy = await cloud.block_storage.create_volume(
        1, name=_name("copy"), snapshot_id=snap.id, tag=make_tag("copy")
    )
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(copy.id))
    assert copy.snapshot_id == snap.id
    assert copy.status == "available"
    # A snapshot with a dependent volume may not be deleted on Ceph; the order above (volume
    # first, newest first) is what the janitor does.


async def test_volume_group_and_group_snapshot(
    cloud: CloudProject,
    env: Env,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    if env.group_type is None or env.volume_type is None:
        pytest.skip("the target offers no group type / volume type")
    gtag = make_tag("group")
    group = await cloud.block_storage.create_volume_group(
        _name("group"),
        group_type=env.group_type.id,
        volume_types=[env.volume_type.id],
        tag=gtag,
    )
    janitor.add("group", lambda: cloud.block_storage.delete_volume_group(group.id))
    assert group.status == "available"
    again = await cloud.block_storage.create_volume_group(
        group.name or "", group_type=env.group_type.id, volume_types=[env.volume_type.id], tag=gtag
    )
    assert again.id == group.id

    vols = []
    for i in range(2):
        v = await cloud.block_storage.create_volume(
            1,
            name=_name(f"member{i}"),
            volume_type=env.volume_type.name,
            group_id=group.id if i == 0 else None,
            tag=make_tag(f"member{i}"),
        )
        janitor.add("volume", functools.partial(cloud.block_storage.delete_volume, v.id))
        vols.append(v)
    assert vols[0].group_id == group.id
    await cloud.block_storage.add_volumes_to_group(group.id, [vols[0].id, vols[1].id])
    janitor.add(
        "leave group",
        lambda: cloud.block_storage.remove_volumes_from_group(group.id, [v.id for v in vols]),
    )
    members = (await cloud.block_storage.get_volume_group(group.id)).volume_ids
    assert set(members) == {v.id for v in vols}

    stag = make_tag("gsnap")
    gsnap = await cloud.block_storage.create_group_snapshot(group.id, _name("gsnap"), tag=stag)
    janitor.add("group snapshot", lambda: cloud.block_storage.delete_group_snapshot(gsnap.id))
    assert gsnap.status == "available"
    assert gsnap.group_id == group.id
    again_snap = await cloud.block_storage.create_group_snapshot(group.id, "x", tag=stag)
    assert again_snap.id == gsnap.id
    snaps = await cloud.block_storage.group_snapshot_members(gsnap.id)
    assert {s.volume_id for s in snaps} == {v.id for v in vols}
    assert all(s.status == "available" for s in snaps)


async def test_attachments_api_gives_connection_info(
    cloud: CloudProject,
    target: Target,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    vol = await cloud.block_storage.create_volume(1, name=_name("att"), tag=make_tag("att"))
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
    connector = {
        "host": "lifeboat-replicator",
        "ip": "127.0.0.1",
        "initiator": "iqn.2026-01.org.lifeboat:replicator",
        "platform": "x86_64",
        "os_type": "linux",
        "multipath": False,
    }
    att = await cloud.block_storage.create_attachment(vol.id, connector)
    janitor.add("attachment", lambda: cloud.block_storage.delete_attachment(att.id))
    assert att.volume_id == vol.id
    assert isinstance(att.connection_info, dict)
    assert att.connection_info
    assert att.id in {a.id for a in await cloud.block_storage.list_attachments(vol.id)}
    await cloud.block_storage.complete_attachment(att.id)
    in_use = await cloud.block_storage.wait_for_volume(vol.id, "in-use")
    assert in_use.status == "in-use"
    assert att.driver_volume_type
    if target.is_cloudsim:
        # cloudsim's data path: local connection info naming the volume's file.
        assert att.driver_volume_type == "local"
    if att.driver_volume_type == "local":
        assert att.device_path
        assert await asyncio.to_thread(Path(att.device_path).exists)
    await cloud.block_storage.delete_attachment(att.id)
    assert (await cloud.block_storage.wait_for_volume(vol.id, "available")).attachments == ()
    await cloud.block_storage.delete_attachment(att.id)  # already gone: harmless


def _write(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)
        f.flush()


def _read(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(length)


async def test_volume_from_snapshot_holds_the_snapshot_bytes(
    cloud: CloudProject, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    """The replicator's data path: reach volume data through an attachment's connection info,
    snapshot, and find exactly the snapshot's bytes in a volume made from it."""
    connector = {"host": "lifeboat-conformance", "ip": "127.0.0.1", "platform": "x86_64"}

    async def attach(volume_id: str) -> Path:
        att = await cloud.block_storage.create_attachment(volume_id, connector)
        janitor.add("attachment", lambda: cloud.block_storage.delete_attachment(att.id))
        await cloud.block_storage.complete_attachment(att.id)
        if att.device_path is None:
            pytest.skip(f"no local data path on this target ({att.driver_volume_type})")
        return Path(att.device_path)

    src = await cloud.block_storage.create_volume(1, name=_name("src"), tag=make_tag("src"))
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(src.id))
    src_path = await attach(src.id)
    before = {0: b"lifeboat-head" * 100, 600_000: b"middle" * 1000}
    for offset, data in before.items():
        await asyncio.to_thread(_write, src_path, offset, data)
    snap = await cloud.block_storage.create_snapshot(src.id, force=True, tag=make_tag("snap"))
    janitor.add("snapshot", lambda: cloud.block_storage.delete_snapshot(snap.id))
    await asyncio.to_thread(_write, src_path, 0, b"AFTER-SNAPSHOT")  # must not reach the copy

    copy = await cloud.block_storage.create_volume(
        1, name=_name("copy"), snapshot_id=snap.id, tag=make_tag("copy")
    )
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(copy.id))
    copy_path = await attach(copy.id)
    for offset, data in before.items():
        assert await asyncio.to_thread(_read, copy_path, offset, len(data)) == data
