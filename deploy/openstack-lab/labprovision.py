"""What an operator sets up on a new cloud before tenants use it: flavors, a public network,
a second volume type and a group type.

Done at every start (a few admin API calls, ~2 s) rather than in the golden copy, which would
need Nova's API and Neutron running while it is made. ``--bare`` skips it.
"""

from __future__ import annotations

from labkeystone import admin_connection
from labsite import REGION, Site

FLAVORS = (("m1.tiny", 512, 1, 1), ("m1.small", 2048, 1, 20), ("m1.medium", 4096, 2, 40))
# TEST-NET-3 (RFC 5737): documentation addresses, never routed; nothing carries them here.
PUBLIC_CIDR = "203.0.113.0/24"
CINDER_QUOTAS = {"volumes": 200, "snapshots": 500, "gigabytes": 2000, "groups": 50}


def provision(site: Site) -> str:
    """Create the flavors and the external network 'public'; returns a one-line summary."""
    conn = admin_connection(site)
    for name, ram, vcpus, disk in FLAVORS:
        conn.compute.create_flavor(name=name, ram=ram, vcpus=vcpus, disk=disk, is_public=True)
    net = conn.network.create_network(
        name="public",
        is_router_external=True,
        provider_network_type="flat",
        provider_physical_network="public",
    )
    conn.network.create_subnet(
        network_id=net.id,
        name="public-subnet",
        ip_version=4,
        cidr=PUBLIC_CIDR,
        is_dhcp_enabled=False,
        gateway_ip="203.0.113.1",
    )
    # A second volume type on the same backend, and a group type for generic volume groups.
    conn.block_storage.create_type(
        name="lab-second", extra_specs={"volume_backend_name": "lab"}, is_public=True
    )
    conn.block_storage.create_group_type(
        name="lab-group", group_specs={"consistent_group_snapshot_enabled": "<is> True"}
    )
    # Cinder's default quota (10 snapshots per project) is below what DR keeps: every protected
    # volume holds one snapshot per retained consistency point at both sites.
    conn.set_volume_quotas("lifeboat", **CINDER_QUOTAS)
    return (
        f"flavors {', '.join(f[0] for f in FLAVORS)}; external network public ({PUBLIC_CIDR});"
        " volume type lab-second; group type lab-group; project lifeboat's Cinder quotas "
        + ", ".join(f"{k} {v}" for k, v in CINDER_QUOTAS.items())
    )


LIFEBOAT_SERVICE_TYPE = "disaster-recovery"


def register_lifeboat(site: Site, url: str) -> str:
    """Lifeboat's one endpoint in the site's catalog (idempotent: endpoints re-pointed at url);
    clients then find it from clouds.yaml alone (`openstack dr ...`)."""
    conn = admin_connection(site)
    idn = conn.identity
    service = next(iter(idn.services(type=LIFEBOAT_SERVICE_TYPE)), None)
    if service is None:
        service = idn.create_service(name="lifeboat", type=LIFEBOAT_SERVICE_TYPE)
    have = set()
    for ep in idn.endpoints(service_id=service.id):
        if ep.url == url:
            have.add(ep.interface)
        else:
            idn.delete_endpoint(ep)
    for interface in ("public", "internal", "admin"):
        if interface not in have:
            idn.create_endpoint(
                service_id=service.id, interface=interface, url=url, region_id=REGION
            )
    return f"{LIFEBOAT_SERVICE_TYPE} -> {url}"
