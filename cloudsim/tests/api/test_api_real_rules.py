"""Rules where cloudsim once differed from real OpenStack (found by the conformance suite on a
real site): Neutron tags, NetworkInUse, non-bootable boot volumes, group volume types, Cinder's
undeletable-volume message, and quotas that still bite under cloudsim's generous defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from openstack import exceptions

from cloudsim.state import DEFAULT_QUOTAS


def _ready(conn: Any, res: object, status: str = "available") -> Any:
    return conn.block_storage.wait_for_status(res, status, wait=20, interval=0.05)


def test_neutron_tags_on_every_taggable_resource(conn: Any) -> None:
    net = conn.network.create_network(name="tagged-net")
    sub = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.61.0.0/24")
    port = conn.network.create_port(network_id=net.id, name="tagged-port")
    router = conn.network.create_router(name="tagged-router")
    sg = conn.network.create_security_group(name="tagged-sg")
    public = conn.network.find_network("public")
    fip = conn.network.create_ip(floating_network_id=public.id)
    resources = [
        (net, conn.network.get_network),
        (sub, conn.network.get_subnet),
        (port, conn.network.get_port),
        (router, conn.network.get_router),
        (sg, conn.network.get_security_group),
        (fip, conn.network.get_ip),
    ]
    try:
        for res, get in resources:
            before = get(res.id).revision_number
            conn.network.set_tags(res, ["op=1", "key=a", "op=1"])
            fresh = get(res.id)
            assert sorted(fresh.tags) == ["key=a", "op=1"], type(res).__name__
            assert fresh.revision_number > before
            fresh.add_tag(conn.network, "extra")
            fresh.check_tag(conn.network, "extra")
            assert "extra" in get(res.id).tags
            fresh.remove_tag(conn.network, "extra")
            with pytest.raises(exceptions.NotFoundException):
                fresh.check_tag(conn.network, "extra")
            with pytest.raises(exceptions.NotFoundException):
                fresh.remove_tag(conn.network, "extra")
        tagged = {n.id for n in conn.network.networks(tags="op=1,key=a")}
        assert net.id in tagged
        assert net.id not in {n.id for n in conn.network.networks(tags="op=1,key=zzz")}
        assert net.id in {n.id for n in conn.network.networks(any_tags="key=zzz,key=a")}
        assert net.id not in {n.id for n in conn.network.networks(not_tags="op=1,key=a")}
        assert net.id in {n.id for n in conn.network.networks(not_tags="op=1,key=zzz")}
        assert net.id not in {n.id for n in conn.network.networks(not_any_tags="x,key=a")}
        assert [p.id for p in conn.network.ports(tags="key=a")] == [port.id]
    finally:
        conn.network.delete_ip(fip)
        conn.network.delete_security_group(sg)
        conn.network.delete_router(router)
        conn.network.delete_port(port)
        conn.network.delete_network(net)


def test_neutron_tag_errors(conn: Any) -> None:
    net = conn.network.create_network(name="tag-errors")
    try:
        url = f"/networks/{net.id}/tags"
        r = conn.network.put(url, json={"tags": "not-a-list"})
        assert r.status_code == 400 and "tags" in r.text
        r = conn.network.put(url, json={"tags": ["x" * 256]})
        assert r.status_code == 400 and "255" in r.text
        r = conn.network.put("/networks/00000000-0000-0000-0000-000000000000/tags/x")
        assert r.status_code == 404
        r = conn.network.delete(url)
        assert r.status_code == 204
        assert conn.network.get(url).json() == {"tags": []}
    finally:
        conn.network.delete_network(net)


def test_network_with_user_port_cannot_be_deleted(conn: Any) -> None:
    net = conn.network.create_network(name="in-use-net")
    conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.62.0.0/24")
    port = conn.network.create_port(network_id=net.id, name="user-port")
    assert port.device_owner in ("", None)
    with pytest.raises(exceptions.ConflictException, match="one or more ports still in use"):
        conn.network.delete_network(net)
    assert conn.network.get_network(net.id).id == net.id
    conn.network.delete_port(port)
    conn.network.delete_network(net)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_network(net.id)


def test_boot_from_non_bootable_volume_is_refused(
    conn: Any, image_id: Callable[[Any], str]
) -> None:
    vol = _ready(conn, conn.block_storage.create_volume(size=1, name="plain-root"))
    assert not vol.is_bootable
    bdm = [
        {
            "uuid": vol.id,
            "source_type": "volume",
            "destination_type": "volume",
            "boot_index": 0,
        }
    ]
    with pytest.raises(exceptions.BadRequestException, match="is not bootable"):
        conn.compute.create_server(
            name="nb", flavor_id="1", block_device_mapping_v2=bdm, networks="none"
        )
    assert conn.block_storage.get_volume(vol.id).status == "available"
    conn.block_storage.set_volume_bootable_status(vol, True)
    assert conn.block_storage.get_volume(vol.id).is_bootable
    srv = conn.compute.create_server(
        name="nb", flavor_id="1", block_device_mapping_v2=bdm, networks="none"
    )
    srv = conn.compute.wait_for_server(srv, wait=20, interval=0.05)
    conn.compute.delete_server(srv)
    conn.compute.wait_for_delete(srv, wait=20, interval=0.05)
    conn.block_storage.delete_volume(_ready(conn, vol))


def test_group_refuses_volume_of_a_type_it_does_not_hold(conn: Any) -> None:
    gtype = next(conn.block_storage.group_types())
    types = {t.name: t for t in conn.block_storage.types()}
    held, foreign = types["__DEFAULT__"], types["ssd"]
    group = _ready(
        conn,
        conn.block_storage.create_group(name="typed", group_type=gtype.id, volume_types=[held.id]),
    )
    with pytest.raises(exceptions.BadRequestException, match="supported by this group"):
        conn.block_storage.create_volume(
            size=1, name="foreign", volume_type=foreign.name, group_id=group.id
        )
    assert conn.block_storage.get_group(group.id).volumes == []
    ok = _ready(
        conn,
        conn.block_storage.create_volume(
            size=1, name="member", volume_type=held.name, group_id=group.id
        ),
    )
    assert conn.block_storage.get_group(group.id).volumes == [ok.id]
    outsider = _ready(conn, conn.block_storage.create_volume(size=1, volume_type=foreign.name))
    with pytest.raises(exceptions.BadRequestException, match="not supported by group"):
        conn.block_storage.update_group(group, add_volumes=outsider.id)
    conn.block_storage.delete_volume(outsider)
    conn.block_storage.delete_group(group, delete_volumes=True)
    conn.block_storage.wait_for_delete(group, wait=10, interval=0.05)


def test_volume_with_snapshots_delete_message_is_cinders(conn: Any) -> None:
    vol = _ready(conn, conn.block_storage.create_volume(size=1, name="has-snaps"))
    snap = _ready(conn, conn.block_storage.create_snapshot(volume_id=vol.id))
    with pytest.raises(exceptions.BadRequestException) as err:
        conn.block_storage.delete_volume(vol)
    assert (
        "Invalid volume: Volume status must be available or error or error_restoring or "
        "error_extending or error_managing and must not be migrating, attached, belong to a "
        "group, have snapshots, awaiting a transfer, or be disassociated from snapshots after "
        "volume transfer."
    ) in str(err.value)
    conn.block_storage.delete_snapshot(snap)
    conn.block_storage.wait_for_delete(snap, wait=10, interval=0.05)
    conn.block_storage.delete_volume(vol)


def test_generous_default_quotas_still_enforced(conn: Any, admin_http: httpx.Client) -> None:
    # Defaults stay far above real OpenStack's (10 instances) so benchmarks can boot 1,000 VMs.
    assert conn.compute.get_quota_set(conn.current_project_id).instances >= 1000
    assert conn.network.get_quota(conn.current_project_id).networks >= 100
    used = sum(1 for n in conn.network.networks() if n.project_id == conn.current_project_id)
    assert admin_http.put("/quotas/demo", json={"network": used + 1}).status_code == 200
    try:
        extra = conn.network.create_network(name="q-last")
        with pytest.raises(exceptions.ConflictException, match="Quota exceeded"):
            conn.network.create_network(name="q-over")
        conn.network.delete_network(extra)
    finally:
        admin_http.put("/quotas/demo", json={"network": DEFAULT_QUOTAS["network"]})


def test_connection_info_shapes_attachments_flat_legacy_nested(conn: Any) -> None:
    vol = _ready(conn, conn.block_storage.create_volume(size=1, name="shapes"))
    connector = {"host": "lifeboat-test", "platform": "x86_64"}
    att = conn.block_storage.create_attachment(vol.id, connector=connector, mode="ro")
    flat = att.connection_info
    assert "data" not in flat
    assert flat["driver_volume_type"] == "local" and flat["attachment_id"] == att.id
    assert flat["access_mode"] == "ro" and flat["volume_id"] == vol.id
    conn.block_storage.delete_attachment(att.id)
    r = conn.block_storage.post(
        f"/volumes/{vol.id}/action", json={"os-initialize_connection": {"connector": connector}}
    )
    assert r.status_code == 200
    legacy = r.json()["connection_info"]
    assert set(legacy) == {"driver_volume_type", "data"}
    assert legacy["data"]["device_path"] == flat["device_path"]
    r = conn.block_storage.post(f"/volumes/{vol.id}/action", json={"os-initialize_connection": {}})
    assert r.status_code == 400 and "connector" in r.text
    conn.block_storage.delete_volume(_ready(conn, vol))
