"""ProtectedSite against a real cloudsim site: members, group snapshots, quiesced snapshots,
changed extents and snapshot read access."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence

import httpx
import pytest

from lifeboat_replicator.adapters.cinder_groups import is_ours
from lifeboat_replicator.adapters.protected_site import (
    Extent,
    GroupConflict,
    MemberNotFound,
    ProtectedSite,
    QuiesceRefused,
)
from lifeboat_shared.cloud import CloudProject, NotFound, models

from .conftest import CONNECTOR, Clouds, no_attachments, read_regions, write_volume

MIB = 1024 * 1024


async def _server_with_volumes(cloud: CloudProject, name: str) -> tuple[str, list[str]]:
    bs = cloud.block_storage
    boot = await bs.create_volume(1, name=f"{name}-root", bootable=True)
    data = [(await bs.create_volume(1, name=f"{name}-data{i}")).id for i in range(2)]
    flavor = min(await cloud.compute.list_flavors(), key=lambda f: (f.ram_mb, f.vcpus))
    server = await cloud.compute.create_server(
        name, flavor.id or flavor.name, boot_volume_id=boot.id, data_volume_ids=data
    )
    return server.id, [boot.id, *data]


def groups_type(types: Sequence[models.GroupType]) -> str:
    return next(t.id for t in types if t.name != "default_cgsnapshot_type")


async def test_members_group_snapshot_and_quiesce(clouds: Clouds, uid: Callable[[], str]) -> None:
    site = ProtectedSite(clouds.prot, connector=CONNECTOR)
    bs = clouds.prot.block_storage
    server_id, server_vols = await _server_with_volumes(clouds.prot, f"app-{uid()}")
    single = (await bs.create_volume(1, name=f"single-{uid()}")).id

    members = await site.expand_members([server_id], [single])
    assert [m.volume_id for m in members] == [*server_vols, single]
    assert [m.server_id for m in members] == [server_id] * 3 + [None]
    assert members[0].bootable and not members[3].bootable
    assert all(m.size_gib == 1 for m in members)
    assert all(m.device for m in members[:3])
    with pytest.raises(MemberNotFound, match="server"):
        await site.expand_members(["5a1b6c1e-0000-4000-8000-000000000000"], [])
    with pytest.raises(MemberNotFound, match="volume"):
        await site.expand_members([], ["5a1b6c1e-0000-4000-8000-000000000000"])

    vols = [m.volume_id for m in members]
    group_key, cycle = f"grp-{uid()}", f"cycle-{uid()}"
    snaps = await site.snapshot_group(cycle_id=cycle, group_key=group_key, volumes=vols)
    assert list(snaps) == vols
    taken = await asyncio.gather(*(bs.get_snapshot(s) for s in snaps.values()))
    assert {s.volume_id for s in taken} == set(vols)
    assert len({s.group_snapshot_id for s in taken}) == 1 and taken[0].group_snapshot_id
    assert all(s.status == "available" for s in taken)
    times = [await site.snapshot_taken_at(s) for s in snaps.values()]
    assert all(t.tzinfo is not None for t in times)
    assert (max(times) - min(times)).total_seconds() < 1  # one group snapshot call

    again = await site.snapshot_group(cycle_id=cycle, group_key=group_key, volumes=vols)
    assert again == snaps
    in_cinder = [s for s in await bs.list_snapshots() if s.volume_id in set(vols)]
    assert len(in_cinder) == len(vols)  # the retry made nothing new

    # Membership change: the same Cinder group, now without the single volume.
    cycle2 = f"cycle-{uid()}"
    snaps2 = await site.snapshot_group(cycle_id=cycle2, group_key=group_key, volumes=vols[:3])
    assert set(snaps2) == set(vols[:3])
    groups = [
        g for g in await bs.list_volume_groups() if f"key={group_key}]" in (g.description or "")
    ]
    assert len(groups) == 1
    assert set((await bs.get_volume_group(groups[0].id)).volume_ids) == set(vols[:3])

    # A member of another volume type: Cinder fixes a group's types at creation, so the
    # members move to a new group of ours holding both types.
    fast = await bs.create_volume(1, name=f"fast-{uid()}", volume_type="ssd")
    snaps3 = await site.snapshot_group(
        cycle_id=f"cycle-{uid()}", group_key=group_key, volumes=[*vols[:3], fast.id]
    )
    assert set(snaps3) == {*vols[:3], fast.id}
    ours = {
        g.id: set((await bs.get_volume_group(g.id)).volume_ids)
        for g in await bs.list_volume_groups()
        if f"key={group_key}]" in (g.description or "")
    }
    assert sorted(ours.values(), key=len) == [set(), {*vols[:3], fast.id}]
    alien = await bs.create_volume(1, name=f"alien-{uid()}", volume_type="ssd")
    gtype = groups_type(await bs.list_group_types())
    foreign = await bs.create_volume_group("foreign", group_type=gtype, volume_types=["ssd"])
    await bs.add_volumes_to_group(foreign.id, [alien.id])
    with pytest.raises(GroupConflict, match="did not make"):
        await site.snapshot_group(
            cycle_id=f"cycle-{uid()}", group_key=group_key, volumes=[alien.id]
        )
    assert (await bs.get_volume_group(foreign.id)).volume_ids == (alien.id,)
    assert len([g for g in await bs.list_volume_groups() if is_ours(g, group_key)]) == 2

    # Retention: group snapshots go as a whole; twice is fine.
    await site.delete_snapshots([*snaps.values(), *snaps2.values(), *snaps3.values()])
    await site.delete_snapshots(list(snaps.values()))
    assert not [s for s in await bs.list_snapshots() if s.volume_id in {*vols, fast.id}]
    assert await site.release_group(group_key) == []
    assert not [
        g for g in await bs.list_volume_groups() if f"key={group_key}]" in (g.description or "")
    ]
    in_groups = {v.id: v.group_id for v in await bs.list_volumes()}
    assert all(in_groups[v] is None for v in [*vols, fast.id])
    assert in_groups[alien.id] == foreign.id

    # Application-consistent: Nova's createImage quiesces through the guest agent.
    handle = clouds.sites.sites["prot"]
    qcycle = f"cycle-{uid()}"
    quiesced = await site.quiesced_server_snapshot(cycle_id=qcycle, server_id=server_id)
    assert set(quiesced) == set(server_vols)
    with handle.admin() as admin:
        status = admin.get(f"/servers/{server_id}/guest").raise_for_status().json()
    assert status["freezes"] == 1 and not status["frozen"]
    again_q = await site.quiesced_server_snapshot(cycle_id=qcycle, server_id=server_id)
    assert again_q == quiesced  # the retry found the image
    await site.delete_snapshots(list(quiesced.values()))
    await site.delete_server_image(cycle_id=qcycle, server_id=server_id)

    with handle.admin() as admin:
        admin.put(f"/servers/{server_id}/guest", json={"fail_quiesce": True}).raise_for_status()
    try:
        with pytest.raises(QuiesceRefused) as refused:
            await site.quiesced_server_snapshot(cycle_id=f"cycle-{uid()}", server_id=server_id)
        assert refused.value.server_id == server_id
        assert "quiesce" in refused.value.reason.lower()
    finally:
        with httpx.Client(
            base_url=handle.admin_url, headers={"X-Auth-Token": handle.admin_token}
        ) as admin:
            admin.put(f"/servers/{server_id}/guest", json={"fail_quiesce": False})
    assert not [s for s in await bs.list_snapshots() if s.volume_id in set(server_vols)]

    # No guest agent: Nova snapshots without quiescing; refused unless the caller accepts it.
    with handle.admin() as admin:
        admin.put(f"/servers/{server_id}/guest", json={"enabled": False}).raise_for_status()
    images_before = {i.id for i in await clouds.prot.image.list_images()}
    with pytest.raises(QuiesceRefused, match="without quiescing"):
        await site.quiesced_server_snapshot(cycle_id=f"cycle-{uid()}", server_id=server_id)
    assert not [s for s in await bs.list_snapshots() if s.volume_id in set(server_vols)]
    assert {i.id for i in await clouds.prot.image.list_images()} == images_before
    crash = await site.quiesced_server_snapshot(
        cycle_id=f"cycle-{uid()}", server_id=server_id, require_quiesce=False
    )
    assert set(crash) == set(server_vols)
    await site.delete_snapshots(list(crash.values()))


async def test_changed_extents_and_open_snapshot(clouds: Clouds, uid: Callable[[], str]) -> None:
    site = ProtectedSite(clouds.prot, connector=CONNECTOR)
    bs = clouds.prot.block_storage
    vol = await bs.create_volume(1, name=f"data-{uid()}")
    first = {0: os.urandom(4096), 5 * MIB: os.urandom(8192)}
    await write_volume(clouds.prot, vol.id, first)
    s1 = await bs.create_snapshot(vol.id)
    second = {10 * MIB + 100: os.urandom(3000)}
    await write_volume(clouds.prot, vol.id, second)
    s2 = await bs.create_snapshot(vol.id)

    delta = await site.changed_extents(vol.id, s1.id, s2.id)
    assert delta is not None and len(delta) == 1
    (ext,) = delta
    assert isinstance(ext, Extent)
    assert ext.offset <= 10 * MIB + 100 and ext.offset + ext.length >= 10 * MIB + 3100
    assert ext.length <= 128 * 1024  # extent granularity, not the whole volume
    everything = await site.changed_extents(vol.id, None, s1.id)
    assert everything is not None
    for off, data in first.items():
        assert any(e.offset <= off and off + len(data) <= e.offset + e.length for e in everything)
    assert not any(e.offset <= 10 * MIB < e.offset + e.length for e in everything)
    assert await site.changed_extents(vol.id, s2.id, s2.id) == []
    with pytest.raises(NotFound):
        await site.changed_extents("5a1b6c1e-0000-4000-8000-000000000000", None, s1.id)

    cycle = f"cycle-{uid()}"
    before = {v.id for v in await bs.list_volumes()}
    async with site.open_snapshot(cycle_id=cycle, snapshot_id=s2.id, size_gib=1) as path:
        assert path.stat().st_size == 1024**3
        regions = {
            **{o: len(d) for o, d in first.items()},
            **{o: len(d) for o, d in second.items()},
        }
        got = read_regions(path, regions | {20 * MIB: 4096})
        temp = [v for v in await bs.list_volumes() if v.id not in before]
        assert len(temp) == 1 and temp[0].snapshot_id == s2.id
        assert await bs.list_attachments(temp[0].id)
    assert got == {**first, **second, 20 * MIB: bytes(4096)}
    assert {v.id for v in await bs.list_volumes()} == before  # temp volume gone
    assert await no_attachments(clouds.prot, vol.id)

    # A body that fails still cleans up.
    with pytest.raises(RuntimeError, match="boom"):
        async with site.open_snapshot(cycle_id=cycle, snapshot_id=s1.id, size_gib=1):
            raise RuntimeError("boom")
    assert {v.id for v in await bs.list_volumes()} == before

    await site.delete_snapshots([s1.id, s2.id])
    await site.delete_snapshots([s1.id])
    await bs.delete_volume(vol.id)
