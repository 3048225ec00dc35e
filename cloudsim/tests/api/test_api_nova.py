"""Nova through openstacksdk: flavors, keypairs, servers (image and boot from volume), actions,
metadata filters, volume attachments, errors."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from openstack import exceptions


def _wait(conn: Any, server_id: str, status: str = "ACTIVE") -> Any:
    srv = conn.compute.get_server(server_id)
    return conn.compute.wait_for_server(srv, status=status, wait=20, interval=0.05)


def test_flavors_and_keypairs(conn: Any) -> None:
    flavors = {f.name: f for f in conn.compute.flavors()}
    assert flavors["m1.small"].vcpus == 1
    assert flavors["m1.small"].ram == 2048
    kp = conn.compute.create_keypair(name="k-generated")
    assert kp.private_key
    assert kp.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert kp.fingerprint.count(":") == 15
    names = {k.name for k in conn.compute.keypairs()}
    assert "k-generated" in names
    with pytest.raises(exceptions.ConflictException):
        conn.compute.create_keypair(name="k-generated")
    conn.compute.delete_keypair("k-generated")
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_keypair("k-generated")


def test_server_lifecycle(conn: Any, private_net: str, image_id: Callable[[Any], str]) -> None:
    user_data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    srv = conn.compute.create_server(
        name="web-1",
        flavor_id="1",
        image_id=image_id(conn),
        networks=[{"uuid": private_net}],
        metadata={"lifeboat:group": "g1", "tier": "web"},
        user_data=user_data,
    )
    assert srv.id
    srv = _wait(conn, srv.id)
    assert srv.status == "ACTIVE"
    addrs = srv.addresses["private"]
    assert addrs[0]["addr"].startswith("10.0.0.")
    ports = list(conn.network.ports(device_id=srv.id))
    assert len(ports) == 1
    assert ports[0].fixed_ips[0]["ip_address"] == addrs[0]["addr"]
    # filters: metadata (cloudsim accepts Cinder-style JSON), name regex, status
    found = [s.name for s in conn.compute.servers(name="^web-")]
    assert "web-1" in found
    conn.compute.stop_server(srv)
    srv = _wait(conn, srv.id, "SHUTOFF")
    with pytest.raises(exceptions.ConflictException):
        conn.compute.stop_server(srv)
    conn.compute.start_server(srv)
    srv = _wait(conn, srv.id)
    conn.compute.reboot_server(srv, "HARD")
    srv = _wait(conn, srv.id)
    conn.compute.set_server_metadata(srv, extra="1")
    meta = conn.compute.get_server_metadata(srv)
    assert meta.metadata == {"lifeboat:group": "g1", "tier": "web", "extra": "1"}
    conn.compute.delete_server(srv)
    conn.compute.wait_for_delete(srv, wait=10, interval=0.05)
    assert not list(conn.network.ports(device_id=srv.id))


def test_list_filter_by_metadata(conn: Any, image_id: Callable[[Any], str]) -> None:
    a = conn.compute.create_server(
        name="meta-a",
        flavor_id="1",
        image_id=image_id(conn),
        networks="none",
        metadata={"lifeboat:pg": "pg-1"},
    )
    b = conn.compute.create_server(
        name="meta-b",
        flavor_id="1",
        image_id=image_id(conn),
        networks="none",
        metadata={"lifeboat:pg": "pg-2"},
    )
    # Nova has no server-side metadata filter; cloudsim accepts Cinder's JSON form as an extension
    resp = conn.compute.get("/servers/detail", params={"metadata": '{"lifeboat:pg": "pg-1"}'})
    assert [s["name"] for s in resp.json()["servers"]] == ["meta-a"]
    conn.compute.add_tag_to_server(a, "lifeboat-managed")
    tagged = [s.name for s in conn.compute.servers(tags="lifeboat-managed")]
    assert tagged == ["meta-a"]
    for s in (a, b):
        conn.compute.delete_server(s)


def test_boot_from_volume_and_attach(conn: Any, image_id: Callable[[Any], str]) -> None:
    srv = conn.compute.create_server(
        name="db-1",
        flavor_id="2",
        networks="auto",
        block_device_mapping=[
            {
                "boot_index": 0,
                "uuid": image_id(conn),
                "source_type": "image",
                "destination_type": "volume",
                "volume_size": 1,
                "delete_on_termination": True,
            },
            {
                "boot_index": -1,
                "source_type": "blank",
                "destination_type": "volume",
                "volume_size": 2,
                "delete_on_termination": True,
            },
        ],
    )
    srv = _wait(conn, srv.id)
    attached = srv.attached_volumes
    assert len(attached) == 2
    root = conn.block_storage.get_volume(attached[0]["id"])
    assert root.status == "in-use"
    assert root.is_bootable
    assert root.attachments[0]["server_id"] == srv.id
    assert root.attachments[0]["device"] == "/dev/vda"
    extra = conn.block_storage.create_volume(size=1, name="extra")
    extra = conn.block_storage.wait_for_status(extra, "available", wait=10, interval=0.05)
    att = conn.compute.create_volume_attachment(srv, volume_id=extra.id)
    assert att.device == "/dev/vdc"
    assert conn.block_storage.get_volume(extra.id).status == "in-use"
    listed = list(conn.compute.volume_attachments(srv))
    assert {a.volume_id for a in listed} == {attached[0]["id"], attached[1]["id"], extra.id}
    with pytest.raises(exceptions.BadRequestException):
        conn.block_storage.delete_volume(extra)
    conn.compute.delete_volume_attachment(srv, extra.id)
    assert conn.block_storage.get_volume(extra.id).status == "available"
    conn.compute.delete_server(srv)
    conn.compute.wait_for_delete(srv, wait=10, interval=0.05)
    # delete_on_termination volumes are gone, the separately attached one stays
    with pytest.raises(exceptions.NotFoundException):
        conn.block_storage.get_volume(attached[0]["id"])
    conn.block_storage.delete_volume(extra)


def test_server_errors(conn: Any, image_id: Callable[[Any], str]) -> None:
    with pytest.raises(exceptions.BadRequestException, match=r"[Ff]lavor"):
        conn.compute.create_server(
            name="x", flavor_id="nope", image_id=image_id(conn), networks="none"
        )
    with pytest.raises(exceptions.BadRequestException, match="name"):
        conn.compute.create_server(name="", flavor_id="1", image_id=image_id(conn), networks="none")
    with pytest.raises(exceptions.BadRequestException, match=r"[Ii]mage"):
        conn.compute.create_server(name="x", flavor_id="1", image_id="missing", networks="none")
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_server("00000000-0000-0000-0000-000000000000")


def test_server_quota(conn: Any, admin_http: httpx.Client, image_id: Callable[[Any], str]) -> None:
    used = len(list(conn.compute.servers()))
    r = admin_http.put("/quotas/demo", json={"instances": used + 1})
    assert r.status_code == 200
    try:
        one = conn.compute.create_server(
            name="q1", flavor_id="1", image_id=image_id(conn), networks="none"
        )
        with pytest.raises(exceptions.ForbiddenException, match="Quota exceeded for instances"):
            conn.compute.create_server(
                name="q2", flavor_id="1", image_id=image_id(conn), networks="none"
            )
        conn.compute.delete_server(one)
    finally:
        admin_http.put("/quotas/demo", json={"instances": 5000})


def test_server_groups(conn: Any, image_id: Callable[[Any], str]) -> None:
    group = conn.compute.create_server_group(name="db-ha", policy="anti-affinity")
    srv = conn.compute.create_server(
        name="grouped",
        flavor_id="1",
        image_id=image_id(conn),
        networks="none",
        scheduler_hints={"group": group.id},
    )
    assert conn.compute.get_server_group(group.id).member_ids == [srv.id]
    with pytest.raises(exceptions.BadRequestException, match="policy"):
        conn.compute.create_server_group(name="x", policy="together")
    conn.compute.delete_server(srv)
    conn.compute.delete_server_group(group)


def test_user_data_visible_to_admin_only(
    conn: Any, admin_conn: Any, image_id: Callable[[Any], str]
) -> None:
    user_data = base64.b64encode(b"#cloud-config\n").decode()
    srv = conn.compute.create_server(
        name="ud", flavor_id="1", image_id=image_id(conn), networks="none", user_data=user_data
    )
    assert admin_conn.compute.get_server(srv.id).user_data == user_data
    assert conn.compute.get_server(srv.id).user_data is None
    with pytest.raises(exceptions.BadRequestException, match="user_data"):
        conn.compute.create_server(
            name="ud2",
            flavor_id="1",
            image_id=image_id(conn),
            networks="none",
            user_data="not base64!",
        )
    conn.compute.delete_server(srv)
