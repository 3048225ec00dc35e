"""Neutron through the driver: networks, subnets, ports, routers, security groups, floating IPs,
and idempotent find-or-create by Lifeboat tag."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from lifeboat_shared.cloud import CloudProject, LifeboatTag, NotFound

from .conftest import BaseNet, Env, Janitor, add_interface

pytestmark = pytest.mark.conformance


def _name(prefix: str) -> str:
    return f"conf-{prefix}-{uuid.uuid4().hex[:6]}"


async def test_network_and_subnet(
    cloud: CloudProject, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    name = _name("net")
    net = await cloud.network.create_network(name, tag=make_tag("net"), description="dr net")
    janitor.add("network", lambda: cloud.network.delete_network(net.id))
    assert net.name == name
    assert net.description
    assert net.description.startswith("dr net")
    sub = await cloud.network.create_subnet(
        net.id,
        "10.88.1.0/24",
        name=_name("sub"),
        gateway_ip="10.88.1.1",
        allocation_pools=[("10.88.1.100", "10.88.1.150")],
        dns_nameservers=["10.88.1.2"],
        enable_dhcp=False,
        tag=make_tag("sub"),
    )
    janitor.add("subnet", lambda: cloud.network.delete_subnet(sub.id))
    assert sub.cidr == "10.88.1.0/24"
    assert sub.gateway_ip == "10.88.1.1"
    assert [(p.start, p.end) for p in sub.allocation_pools] == [("10.88.1.100", "10.88.1.150")]
    assert sub.dns_nameservers == ("10.88.1.2",)
    assert sub.enable_dhcp is False
    listed = {n.id: n for n in await cloud.network.list_networks()}
    assert sub.id in listed[net.id].subnet_ids
    assert sub.id in {s.id for s in await cloud.network.list_subnets(network_id=net.id)}


async def test_network_find_or_create_is_idempotent(
    cloud: CloudProject, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    tag, name = make_tag("net"), _name("idem")
    first = await cloud.network.create_network(name, tag=tag)
    janitor.add("network", lambda: cloud.network.delete_network(first.id))
    second = await cloud.network.create_network(name, tag=tag)
    assert second.id == first.id
    assert [n.id for n in await cloud.network.list_networks(name=name)] == [first.id]
    # Another tag, same name: a different resource (names are not identities).
    other = await cloud.network.create_network(name, tag=make_tag("other"))
    janitor.add("network", lambda: cloud.network.delete_network(other.id))
    assert other.id != first.id


async def test_port_with_fixed_ip_and_security_group(
    cloud: CloudProject,
    base_net: BaseNet,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    sg = await cloud.network.create_security_group(_name("sg"), tag=make_tag("sg"))
    janitor.add("security group", lambda: cloud.network.delete_security_group(sg.id))
    tag = make_tag("port")
    port = await cloud.network.create_port(
        base_net.network.id,
        name=_name("port"),
        fixed_ips=[(base_net.subnet.id, "10.77.0.77")],
        security_group_ids=[sg.id],
        tag=tag,
    )
    janitor.add("port", lambda: cloud.network.delete_port(port.id))
    assert [(ip.subnet_id, ip.ip_address) for ip in port.fixed_ips] == [
        (base_net.subnet.id, "10.77.0.77")
    ]
    assert port.security_group_ids == (sg.id,)
    assert port.mac_address
    # The Neutron tags (a second request, best effort) are set too, as read back.
    assert set(tag.neutron_tags()) <= set((await cloud.network.get_port(port.id)).tags)
    again = await cloud.network.create_port(
        base_net.network.id, name=port.name or "", fixed_ips=[(base_net.subnet.id, None)], tag=tag
    )
    assert again.id == port.id
    auto = await cloud.network.create_port(
        base_net.network.id, name=_name("auto"), tag=make_tag("auto")
    )
    janitor.add("port", lambda: cloud.network.delete_port(auto.id))
    assert auto.fixed_ips
    assert auto.fixed_ips[0].ip_address != "10.77.0.77"
    assert (await cloud.network.get_port(port.id)).id == port.id
    await cloud.network.delete_port(auto.id)
    with pytest.raises(NotFound):
        await cloud.network.get_port(auto.id)


async def test_security_group_rules_are_idempotent(
    cloud: CloudProject, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    sg = await cloud.network.create_security_group(
        _name("sg"), description="web", tag=make_tag("sg")
    )
    janitor.add("security group", lambda: cloud.network.delete_security_group(sg.id))
    rule = await cloud.network.create_security_group_rule(
        sg.id,
        protocol="tcp",
        port_range_min=443,
        port_range_max=443,
        remote_ip_prefix="0.0.0.0/0",
    )
    again = await cloud.network.create_security_group_rule(
        sg.id,
        protocol="tcp",
        port_range_min=443,
        port_range_max=443,
        remote_ip_prefix="0.0.0.0/0",
    )
    assert again.id == rule.id
    fetched = await cloud.network.get_security_group(sg.id)
    ours = [r for r in fetched.rules if r.port_range_min == 443]
    assert [r.id for r in ours] == [rule.id]
    assert ours[0].direction == "ingress"
    assert ours[0].protocol == "tcp"
    assert sg.id in {g.id for g in await cloud.network.list_security_groups()}


async def test_router_with_interface_and_gateway(
    cloud: CloudProject,
    env: Env,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    net = await cloud.network.create_network(_name("rnet"), tag=make_tag("rnet"))
    janitor.add("network", lambda: cloud.network.delete_network(net.id))
    sub = await cloud.network.create_subnet(
        net.id, "10.88.2.0/24", name=_name("rsub"), tag=make_tag("rsub")
    )
    janitor.add("subnet", lambda: cloud.network.delete_subnet(sub.id))
    ext = env.external_network.id if env.external_network else None
    router = await cloud.network.create_router(
        _name("router"), external_network_id=ext, tag=make_tag("router")
    )
    janitor.add("router", lambda: cloud.network.delete_router(router.id))
    assert router.external_network_id == ext
    assert router.id in {r.id for r in await cloud.network.list_routers()}
    iface = await add_interface(cloud, router.id, sub.id, janitor)
    assert iface.device_id == router.id
    assert [ip.ip_address for ip in iface.fixed_ips] == [sub.gateway_ip]
    assert any(ip.subnet_id == sub.id for ip in iface.fixed_ips)
    again = await cloud.network.add_router_interface(router.id, sub.id)
    assert again.id == iface.id


async def test_floating_ip_associate_and_release(
    cloud: CloudProject,
    env: Env,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    if env.external_network is None:
        pytest.skip("the target has no external network for floating IPs")
    net = await cloud.network.create_network(_name("fnet"), tag=make_tag("fnet"))
    janitor.add("network", lambda: cloud.network.delete_network(net.id))
    sub = await cloud.network.create_subnet(
        net.id, "10.88.3.0/24", name=_name("fsub"), tag=make_tag("fsub")
    )
    janitor.add("subnet", lambda: cloud.network.delete_subnet(sub.id))
    router = await cloud.network.create_router(
        _name("frouter"), external_network_id=env.external_network.id, tag=make_tag("frouter")
    )
    janitor.add("router", lambda: cloud.network.delete_router(router.id))
    # Real Neutron needs the port's subnet routed to the external network to bind a floating IP.
    await add_interface(cloud, router.id, sub.id, janitor)
    port = await cloud.network.create_port(net.id, name=_name("fport"), tag=make_tag("fport"))
    janitor.add("port", lambda: cloud.network.delete_port(port.id))

    tag = make_tag("fip")
    fip = await cloud.network.create_floating_ip(env.external_network.id, tag=tag)
    janitor.add("floating ip", lambda: cloud.network.delete_floating_ip(fip.id))
    assert fip.floating_ip_address
    assert fip.port_id is None
    again = await cloud.network.create_floating_ip(env.external_network.id, tag=tag)
    assert again.id == fip.id
    bound = await cloud.network.associate_floating_ip(fip.id, port.id)
    assert bound.port_id == port.id
    assert bound.fixed_ip_address == port.fixed_ips[0].ip_address
    freed = await cloud.network.associate_floating_ip(fip.id, None)
    assert freed.port_id is None
    assert fip.id in {f.id for f in await cloud.network.list_floating_ips()}
