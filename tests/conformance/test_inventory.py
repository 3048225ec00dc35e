"""Inventory of a project: everything Lifeboat needs from one round of list calls."""

from __future__ import annotations

import pytest

from lifeboat_shared.cloud import CloudProject

from .conftest import BaseNet, BootedServer

pytestmark = pytest.mark.conformance


async def test_inventory_sees_the_server_and_what_it_uses(
    cloud: CloudProject, booted: BootedServer, base_net: BaseNet
) -> None:
    inv = await cloud.inventory()
    auth = await cloud.check_auth()
    assert inv.project_id == auth.project_id
    server = next(s for s in inv.servers if s.id == booted.server.id)
    assert server.flavor is not None
    assert server.flavor.ram_mb > 0
    assert any(f.ram_mb == server.flavor.ram_mb for f in inv.flavors)
    assert booted.boot_volume.id in {v.id for v in inv.volumes_of(server.id)}
    assert [p.id for p in inv.ports_of(server.id)] == [booted.port.id]
    assert base_net.network.id in {n.id for n in inv.networks}
    assert base_net.subnet.id in {s.id for s in inv.subnets}
    assert any(g.name == "default" for g in inv.security_groups)
    assert isinstance(inv.floating_ips, tuple)
    assert isinstance(inv.images, tuple)
    # Every list ran, and none per item: one timing per resource kind.
    assert set(cloud.last_inventory_timings) == {
        "servers",
        "flavors",
        "images",
        "volumes",
        "ports",
        "networks",
        "subnets",
        "security groups",
        "floating IPs",
    }
