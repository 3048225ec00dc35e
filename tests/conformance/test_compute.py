"""Nova through the driver: boot from volume with a port and metadata, idempotent creation,
stop/start, volume attach/detach, createImage of a volume-backed server, delete."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest

from lifeboat_shared.cloud import CloudProject, LifeboatTag, NotFound

from .conftest import BaseNet, BootedServer, Env, Janitor

pytestmark = pytest.mark.conformance


def _name(prefix: str) -> str:
    return f"conf-{prefix}-{uuid.uuid4().hex[:6]}"


async def test_boot_from_volume_with_port_and_metadata(
    cloud: CloudProject, booted: BootedServer, env: Env
) -> None:
    server = await cloud.compute.get_server(booted.server.id)
    assert server.status == "ACTIVE"
    assert server.is_volume_backed
    assert server.metadata["app"] == "conformance"
    assert booted.tag.matches_metadata(server.metadata)
    assert booted.boot_volume.id in server.volume_ids
    assert server.flavor is not None
    assert server.flavor.ram_mb == env.flavor.ram_mb
    assert "10.77.0.50" in {a.address for a in server.addresses}
    port = await cloud.network.get_port(booted.port.id)
    assert port.device_id == server.id
    volume = await cloud.block_storage.get_volume(booted.boot_volume.id)
    assert volume.status == "in-use"
    assert [a.server_id for a in volume.attachments] == [server.id]


async def test_create_server_is_idempotent(
    cloud: CloudProject, booted: BootedServer, env: Env
) -> None:
    # A second run of the same step (same tag) returns the first server, creates nothing.
    again = await cloud.compute.create_server(
        booted.server.name,
        env.flavor.id or "",
        boot_volume_id=booted.boot_volume.id,
        port_ids=[booted.port.id],
        tag=booted.tag,
    )
    assert again.id == booted.server.id
    found = await cloud.compute.find_server(booted.tag)
    assert found is not None
    assert found.id == booted.server.id
    named = [s for s in await cloud.compute.list_servers() if s.name == booted.server.name]
    assert [s.id for s in named] == [booted.server.id]


async def test_stop_and_start_are_idempotent(cloud: CloudProject, booted: BootedServer) -> None:
    stopped = await cloud.compute.stop_server(booted.server.id)
    assert stopped.status == "SHUTOFF"
    assert (await cloud.compute.stop_server(booted.server.id)).status == "SHUTOFF"
    started = await cloud.compute.start_server(booted.server.id)
    assert started.status == "ACTIVE"
    assert (await cloud.compute.start_server(booted.server.id)).status == "ACTIVE"


async def test_attach_and_detach_volume(
    cloud: CloudProject,
    booted: BootedServer,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    vol = await cloud.block_storage.create_volume(1, name=_name("data"), tag=make_tag("data"))
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
    attached = await cloud.compute.attach_volume(booted.server.id, vol.id)
    janitor.add("detach", lambda: cloud.compute.detach_volume(booted.server.id, vol.id))
    assert attached.volume_id == vol.id
    again = await cloud.compute.attach_volume(booted.server.id, vol.id)
    assert again.volume_id == vol.id
    listed = await cloud.compute.server_volumes(booted.server.id)
    assert {a.volume_id for a in listed} == {booted.boot_volume.id, vol.id}
    in_use = await cloud.block_storage.get_volume(vol.id)
    assert in_use.status == "in-use"
    assert [a.server_id for a in in_use.attachments] == [booted.server.id]

    await cloud.compute.detach_volume(booted.server.id, vol.id)
    free = await cloud.block_storage.get_volume(vol.id)
    assert free.status == "available"
    assert free.attachments == ()
    await cloud.compute.detach_volume(booted.server.id, vol.id)  # again: harmless


async def test_create_image_of_volume_backed_server(
    cloud: CloudProject,
    booted: BootedServer,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    tag = make_tag("image")
    image = await cloud.compute.create_server_image(
        booted.server.id, _name("cp"), metadata={"purpose": "dr"}, tag=tag
    )
    janitor.add("image", lambda: cloud.image.delete_image(image.id))
    snaps = await cloud.block_storage.list_snapshots()
    ours = [s for s in snaps if s.id in image.snapshot_ids]

    async def delete_snaps() -> None:
        for s in ours:
            await cloud.block_storage.delete_snapshot(s.id)

    janitor.add("image snapshots", delete_snaps)
    assert image.status == "active"
    assert image.properties.get("purpose") == "dr"
    # Nova snapshots every volume of a volume-backed server and lists them in the image.
    assert image.snapshot_ids, image.properties
    assert {s.volume_id for s in ours} == {booted.boot_volume.id}
    # Nova answers once the snapshots are requested; real Cinder (RBD) may still be creating
    # them: they become available (the replicator waits the same way), never error.
    deadline = time.monotonic() + 120
    while not all(s.status == "available" for s in ours):
        assert all(s.status in ("creating", "available") for s in ours), ours
        assert time.monotonic() < deadline, ours
        await asyncio.sleep(0.5)
        ours = [await cloud.block_storage.get_snapshot(s.id) for s in ours]
    again = await cloud.compute.create_server_image(booted.server.id, "ignored", tag=tag)
    assert again.id == image.id


async def test_server_delete(
    cloud: CloudProject,
    env: Env,
    base_net: BaseNet,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    vol = await cloud.block_storage.create_volume(
        1, name=_name("root"), bootable=True, tag=make_tag("root")
    )
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
    server = await cloud.compute.create_server(
        _name("vm"),
        env.flavor.id or "",
        boot_volume_id=vol.id,
        network_ids=[base_net.network.id],
        tag=make_tag("vm"),
    )
    janitor.add("server", lambda: cloud.compute.delete_server(server.id))
    assert server.status == "ACTIVE"
    assert server.addresses
    await cloud.compute.delete_server(server.id)
    with pytest.raises(NotFound):
        await cloud.compute.get_server(server.id)
    # The boot volume outlives the server (delete_on_termination false): DR data is kept.
    assert (await cloud.block_storage.wait_for_volume(vol.id, "available")).id == vol.id


async def test_find_flavor_by_name_and_id(cloud: CloudProject, env: Env) -> None:
    by_name = await cloud.compute.find_flavor(env.flavor.name)
    assert by_name.id == env.flavor.id
    by_id = await cloud.compute.find_flavor(env.flavor.id or "")
    assert by_id.name == env.flavor.name
    with pytest.raises(NotFound):
        await cloud.compute.find_flavor("no-such-flavor-anywhere")
