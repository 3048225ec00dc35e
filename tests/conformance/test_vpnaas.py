"""Neutron VPNaaS through the driver (linked bubbles, UC3b): IKE and IPsec policies, a VPN
service on a router with an external gateway (SNAT off), endpoint groups and an IPsec site
connection; Neutron's validation (400) and in-use (409) answers; a connection with no peer stays
DOWN. Skips on a cloud whose Neutron has no ``vpnaas`` extension (the suite's other optional
features skip the same way); a connection going ACTIVE needs two sites and is covered by
tests/integration/orchestrator/test_linked_bubbles.py (cloudsim)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from lifeboat_shared.cloud import CloudError, CloudProject, Conflict, LifeboatTag

from .conftest import BaseNet, Env, Janitor, add_interface

pytestmark = pytest.mark.conformance


async def _has_vpnaas(cloud: CloudProject) -> bool:
    conn: Any = cloud.context.conn
    found = await cloud.context.call(
        "find vpnaas extension", lambda: conn.network.find_extension("vpnaas")
    )
    return found is not None


async def test_vpnaas_lifecycle(
    cloud: CloudProject,
    env: Env,
    base_net: BaseNet,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
) -> None:
    if not await _has_vpnaas(cloud):
        pytest.skip("the target's Neutron has no vpnaas extension")
    if env.external_network is None:
        pytest.skip("the target has no external network for a VPN service's gateway")
    vpn = cloud.vpn
    router = await cloud.network.create_router(
        f"conf-vpn-{uuid.uuid4().hex[:6]}", tag=make_tag("router")
    )
    janitor.add("router", lambda: cloud.network.delete_router(router.id))
    await add_interface(cloud, router.id, base_net.subnet.id, janitor)
    gateway = await vpn.set_router_gateway(router.id, env.external_network.id)
    assert gateway

    with pytest.raises(CloudError) as bad:
        await vpn.create("ike_policy", "bad", make_tag("bad-ike"), auth_algorithm="md5")
    assert bad.value.status == 400 and "auth_algorithm" in str(bad.value)

    ike_tag = make_tag("ike")
    ike = await vpn.create("ike_policy", "conf-ike", ike_tag, ike_version="v2")
    janitor.add("ike policy", lambda: vpn.delete("ike_policy", ike.id))
    again = await vpn.create("ike_policy", "conf-ike", ike_tag, ike_version="v2")
    assert again.id == ike.id  # found by its mark, not made twice
    ipsec = await vpn.create("ipsec_policy", "conf-ipsec", make_tag("ipsec"))
    janitor.add("ipsec policy", lambda: vpn.delete("ipsec_policy", ipsec.id))
    service = await vpn.create("vpn_service", "conf-vpn", make_tag("svc"), router_id=router.id)
    janitor.add("vpn service", lambda: vpn.delete("vpn_service", service.id))
    assert service.external_ip == gateway
    local = await vpn.create(
        "endpoint_group",
        "conf-local",
        make_tag("local"),
        type="subnet",
        endpoints=[base_net.subnet.id],
    )
    janitor.add("local endpoints", lambda: vpn.delete("endpoint_group", local.id))
    peer = await vpn.create(
        "endpoint_group", "conf-peer", make_tag("peer"), type="cidr", endpoints=["10.66.0.0/24"]
    )
    janitor.add("peer endpoints", lambda: vpn.delete("endpoint_group", peer.id))
    with pytest.raises(CloudError) as no_psk:
        await vpn.create(
            "site_connection",
            "bad",
            make_tag("bad-conn"),
            vpnservice_id=service.id,
            ikepolicy_id=ike.id,
            ipsecpolicy_id=ipsec.id,
            peer_address="198.51.100.7",
            peer_id="198.51.100.7",
            local_ep_group_id=local.id,
            peer_ep_group_id=peer.id,
        )
    assert no_psk.value.status == 400 and "psk" in str(no_psk.value)
    conn = await vpn.create(
        "site_connection",
        "conf-conn",
        make_tag("conn"),
        vpnservice_id=service.id,
        ikepolicy_id=ike.id,
        ipsecpolicy_id=ipsec.id,
        peer_address="198.51.100.7",
        peer_id="198.51.100.7",
        psk=uuid.uuid4().hex,
        local_ep_group_id=local.id,
        peer_ep_group_id=peer.id,
    )
    janitor.add("site connection", lambda: vpn.delete("site_connection", conn.id))
    listed = {c.id: c for c in await vpn.list("site_connection")}
    assert conn.id in listed
    # Nobody answers at 198.51.100.7 (TEST-NET-2): the tunnel cannot come up.
    assert listed[conn.id].status in ("DOWN", "PENDING_CREATE", "ERROR")
    with pytest.raises(Conflict):
        await vpn.delete("ike_policy", ike.id)  # in use by the connection
    with pytest.raises(Conflict):
        await cloud.network.delete_router(router.id)  # a VPN service runs on it
    await vpn.delete("site_connection", conn.id)
    for kind, made in (
        ("endpoint_group", peer),
        ("endpoint_group", local),
        ("vpn_service", service),
        ("ipsec_policy", ipsec),
        ("ike_policy", ike),
    ):
        await vpn.delete(kind, made.id)
        assert made.id not in {r.id for r in await vpn.list(kind)}
