"""State rules of the real APIs that Lifeboat's workflows rely on (what is refused, and how).

Every rule must hold on both cloudsim and real OpenStack.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from lifeboat_shared.cloud import BadRequest, CloudProject, Conflict, LifeboatTag

from .conftest import BaseNet, Env, Janitor

pytestmark = pytest.mark.conformance


def _name(prefix: str) -> str:
    return f"conf-{prefix}-{uuid.uuid4().hex[:6]}"


async def test_in_use_volume_cannot_be_deleted(
    cloud: CloudProject,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
    env: Env,
    base_net: BaseNet,
) -> None:
    vol = await cloud.block_storage.create_volume(
        1, name=_name("root"), bootable=True, tag=make_tag("root")
    )
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
    server = await cloud.compute.create_server(
        _name("vm"), env.flavor.id or "", boot_volume_id=vol.id, tag=make_tag("vm")
    )
    janitor.add("server", lambda: cloud.compute.delete_server(server.id))
    cinder = cloud.context.conn.block_storage
    with pytest.raises(BadRequest):
        await cloud.context.call("raw delete", cinder.delete_volume, vol.id, ignore_missing=False)
    # Snapshotting an in-use volume needs force (Lifeboat's crash-consistent snapshot does).
    with pytest.raises(BadRequest):
        await cloud.block_storage.create_snapshot(vol.id, name=_name("snap"))
    snap = await cloud.block_storage.create_snapshot(
        vol.id, name=_name("snap"), force=True, tag=make_tag("snap")
    )
    janitor.add("snapshot", lambda: cloud.block_storage.delete_snapshot(snap.id))
    assert snap.status == "available"


async def test_volume_with_snapshots_cannot_be_deleted(
    cloud: CloudProject, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    vol = await cloud.block_storage.create_volume(1, name=_name("v"), tag=make_tag("v"))
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
    snap = await cloud.block_storage.create_snapshot(vol.id, tag=make_tag("s"))
    janitor.add("snapshot", lambda: cloud.block_storage.delete_snapshot(snap.id))
    cinder = cloud.context.conn.block_storage
    with pytest.raises(BadRequest):
        await cloud.context.call("raw delete", cinder.delete_volume, vol.id, ignore_missing=False)


async def test_in_use_security_group_and_taken_ip_are_conflicts(
    cloud: CloudProject,
    base_net: BaseNet,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    sg = await cloud.network.create_security_group(_name("sg"), tag=make_tag("sg"))
    janitor.add("security group", lambda: cloud.network.delete_security_group(sg.id))
    port = await cloud.network.create_port(
        base_net.network.id, name=_name("p"), security_group_ids=[sg.id], tag=make_tag("p")
    )
    janitor.add("port", lambda: cloud.network.delete_port(port.id))
    neutron = cloud.context.conn.network
    with pytest.raises(Conflict):
        await cloud.context.call(
            "raw delete", neutron.delete_security_group, sg.id, ignore_missing=False
        )
    taken = port.fixed_ips[0].ip_address
    with pytest.raises(Conflict):
        await cloud.network.create_port(
            base_net.network.id, name=_name("dup"), fixed_ips=[(base_net.subnet.id, taken)]
        )
    with pytest.raises(BadRequest):
        await cloud.network.create_port(
            base_net.network.id, name=_name("out"), fixed_ips=[(base_net.subnet.id, "192.0.2.9")]
        )


async def test_network_with_ports_cannot_be_deleted(
    cloud: CloudProject,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    net = await cloud.network.create_network(_name("net"), tag=make_tag("net"))
    janitor.add("network", lambda: cloud.network.delete_network(net.id))
    await cloud.network.create_subnet(net.id, "10.88.9.0/24", name=_name("s"), tag=make_tag("s"))
    port = await cloud.network.create_port(net.id, name=_name("p"), tag=make_tag("p"))
    janitor.add("port", lambda: cloud.network.delete_port(port.id))
    neutron = cloud.context.conn.network
    try:
        await cloud.context.call("raw delete", neutron.delete_network, net.id, ignore_missing=False)
    except Conflict:
        return
    pytest.fail("a network with ports was deleted")


async def test_boot_from_non_bootable_volume_is_refused(
    cloud: CloudProject,
    env: Env,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    vol = await cloud.block_storage.create_volume(1, name=_name("plain"), tag=make_tag("plain"))
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
    try:
        server = await cloud.compute.create_server(
            _name("vm"), env.flavor.id or "", boot_volume_id=vol.id, wait=False
        )
    except BadRequest:
        return
    janitor.add("server", lambda: cloud.compute.delete_server(server.id))
    pytest.fail("booted from a non-bootable volume")


async def test_group_refuses_volume_of_a_type_it_does_not_hold(
    cloud: CloudProject,
    env: Env,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    vtypes = await cloud.block_storage.list_volume_types()
    if env.group_type is None or len(vtypes) < 2:
        pytest.skip("needs a group type and two volume types")
    group = await cloud.block_storage.create_volume_group(
        _name("g"), group_type=env.group_type.id, volume_types=[vtypes[0].id], tag=make_tag("g")
    )
    janitor.add("group", lambda: cloud.block_storage.delete_volume_group(group.id))
    try:
        vol = await cloud.block_storage.create_volume(
            1, name=_name("foreign"), volume_type=vtypes[1].name, group_id=group.id, wait=False
        )
    except BadRequest:
        return
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
    janitor.add(
        "leave group", lambda: cloud.block_storage.remove_volumes_from_group(group.id, [vol.id])
    )
    pytest.fail("volume of a foreign type accepted into the group")
