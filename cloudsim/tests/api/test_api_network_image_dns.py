"""Neutron, Glance and Designate through openstacksdk."""

from __future__ import annotations

from typing import Any

import pytest
from openstack import exceptions


def test_networks_subnets_ports(conn: Any) -> None:
    net = conn.network.create_network(name="app-net")
    sub = conn.network.create_subnet(
        network_id=net.id,
        name="app-sub",
        ip_version=4,
        cidr="10.20.0.0/24",
        gateway_ip="10.20.0.1",
        allocation_pools=[{"start": "10.20.0.10", "end": "10.20.0.20"}],
        enable_dhcp=True,
    )
    assert sub.allocation_pools == [{"start": "10.20.0.10", "end": "10.20.0.20"}]
    auto = conn.network.create_port(network_id=net.id, name="auto")
    assert auto.fixed_ips[0]["ip_address"] == "10.20.0.10"
    chosen = conn.network.create_port(
        network_id=net.id, fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.20.0.15"}]
    )
    assert chosen.fixed_ips[0]["ip_address"] == "10.20.0.15"
    with pytest.raises(exceptions.ConflictException, match="already allocated"):
        conn.network.create_port(
            network_id=net.id, fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.20.0.15"}]
        )
    with pytest.raises(exceptions.BadRequestException, match="overlaps"):
        conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.20.0.0/25")
    with pytest.raises(exceptions.BadRequestException, match="cidr"):
        conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.300.0.0/24")
    found = [p.name for p in conn.network.ports(network_id=net.id, name="auto")]
    assert found == ["auto"]
    with pytest.raises(exceptions.ConflictException):
        conn.network.delete_subnet(sub)  # ports still use it
    conn.network.delete_port(auto)
    conn.network.delete_port(chosen)
    conn.network.delete_network(net)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_network(net.id)


def test_routers_floating_ips_security_groups(conn: Any) -> None:
    public = conn.network.find_network("public")
    private = conn.network.find_network("private")
    assert public is not None
    assert private is not None
    router = conn.network.create_router(name="r1", external_gateway_info={"network_id": public.id})
    assert router.external_gateway_info["network_id"] == public.id
    conn.network.add_interface_to_router(router, subnet_id=private.subnet_ids[0])
    port = conn.network.create_port(network_id=private.id, name="vm-port")
    fip = conn.network.create_ip(floating_network_id=public.id)
    assert fip.floating_ip_address.startswith("172.24.4.")
    fip = conn.network.update_ip(fip, port_id=port.id)
    assert fip.fixed_ip_address == port.fixed_ips[0]["ip_address"]
    assert fip.status == "ACTIVE"
    fip = conn.network.update_ip(fip, port_id=None)
    assert fip.port_id is None
    conn.network.delete_ip(fip)
    sg = conn.network.create_security_group(name="web")
    rule = conn.network.create_security_group_rule(
        security_group_id=sg.id,
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=443,
        port_range_max=443,
        remote_ip_prefix="0.0.0.0/0",
    )
    with pytest.raises(exceptions.ConflictException):
        conn.network.create_security_group_rule(
            security_group_id=sg.id,
            direction="ingress",
            ethertype="IPv4",
            protocol="tcp",
            port_range_min=443,
            port_range_max=443,
            remote_ip_prefix="0.0.0.0/0",
        )
    with pytest.raises(exceptions.BadRequestException, match="direction"):
        conn.network.create_security_group_rule(security_group_id=sg.id, direction="sideways")
    rules = {r.id for r in conn.network.security_group_rules(security_group_id=sg.id)}
    assert rule.id in rules
    assert len(rules) == 3
    names = {g.name for g in conn.network.security_groups()}
    assert {"default", "web"} <= names
    conn.network.delete_security_group(sg)
    conn.network.remove_interface_from_router(router, subnet_id=private.subnet_ids[0])
    conn.network.delete_port(port)
    conn.network.delete_router(router)


def test_images_upload_download(conn: Any) -> None:
    data = b"raw-image-bytes" * 1000
    img = conn.image.create_image(
        name="tiny",
        data=data,
        disk_format="raw",
        container_format="bare",
        visibility="private",
        allow_duplicates=True,
        lifeboat_role="test",
    )
    img = (
        conn.image.wait_for_status(img, "active", wait=10, interval=0.05)
        if hasattr(conn.image, "wait_for_status")
        else img
    )
    got = conn.image.get_image(img.id)
    assert got.status == "active"
    assert got.size == len(data)
    assert got.properties.get("lifeboat_role") == "test"
    assert conn.image.download_image(got).content == data
    assert "tiny" in {i.name for i in conn.image.images()}
    updated = conn.image.update_image(got, name="tiny-2", lifeboat_role="renamed")
    assert updated.name == "tiny-2"
    assert conn.image.get_image(got.id).properties["lifeboat_role"] == "renamed"
    conn.image.delete_image(got)
    with pytest.raises(exceptions.NotFoundException):
        conn.image.get_image(got.id)


def test_dns_zones_and_recordsets(conn: Any) -> None:
    zone = conn.dns.create_zone(name="app.example.org.", email="ops@example.org", ttl=300)
    assert zone.status in ("PENDING", "ACTIVE")
    rs = conn.dns.create_recordset(
        zone, name="www.app.example.org.", type="A", records=["10.0.0.5"], ttl=60
    )
    rs = conn.dns.update_recordset(rs, records=["192.168.1.9"])
    got = conn.dns.get_recordset(rs, zone)
    assert got.records == ["192.168.1.9"]
    listed = {r.name for r in conn.dns.recordsets(zone)}
    assert {"www.app.example.org.", "app.example.org."} <= listed
    with pytest.raises(exceptions.BadRequestException, match="records"):
        conn.dns.create_recordset(
            zone, name="bad.app.example.org.", type="A", records=["not-an-ip"]
        )
    with pytest.raises(exceptions.ConflictException):
        conn.dns.create_zone(name="app.example.org.", email="ops@example.org")
    conn.dns.delete_recordset(rs, zone)
    conn.dns.delete_zone(zone)
    with pytest.raises(exceptions.NotFoundException):
        conn.dns.get_zone(zone.id)
