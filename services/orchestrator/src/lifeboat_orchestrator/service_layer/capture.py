"""Read the protected servers' configuration from the protected site (one inventory call).

Done when a plan is created or refreshed, while the protected site is up: at failover it may be
gone, and the plan must still know each server's flavor, ports, addresses, security groups,
keypair, metadata and volumes in device order.
"""

from __future__ import annotations

from lifeboat_orchestrator.domain.plan import (
    Capture,
    CapturedNetwork,
    CapturedPort,
    CapturedSecurityGroup,
    CapturedServer,
    CapturedVolume,
    PlanSpec,
)
from lifeboat_shared.cloud import CloudProject
from lifeboat_shared.cloud.models import Inventory


class CaptureError(ValueError):
    """A plan names something the protected site does not have."""


def _boot_first(volumes: list[CapturedVolume]) -> list[CapturedVolume]:
    return sorted(volumes, key=lambda v: (not v.boot, v.device or "~", v.volume_id))


def capture_from(inventory: Inventory, spec: PlanSpec) -> Capture:
    servers = {s.id: s for s in inventory.servers}
    networks = {n.id: n for n in inventory.networks}
    subnets = {s.id: s for s in inventory.subnets}
    sgs = {g.id: g for g in inventory.security_groups}
    captured: dict[str, CapturedServer] = {}
    used_networks: dict[str, CapturedNetwork] = {}
    used_sgs: dict[str, CapturedSecurityGroup] = {}
    missing = [sid for sid in spec.servers if sid not in servers]
    if missing:
        raise CaptureError(f"tiers: servers not found at {spec.source_site}: {', '.join(missing)}")
    for sid in spec.servers:
        server = servers[sid]
        ports: list[CapturedPort] = []
        for port in sorted(
            (p for p in inventory.ports if p.device_id == sid), key=lambda p: p.name or p.id
        ):
            net = networks.get(port.network_id)
            net_name = (net.name if net else None) or port.network_id
            if port.network_id not in used_networks:
                used_networks[port.network_id] = CapturedNetwork(
                    network_id=port.network_id,
                    name=net_name,
                    subnets=[
                        (s.name or s.id, s.cidr, s.enable_dhcp)
                        for s in subnets.values()
                        if s.network_id == port.network_id
                    ],
                )
            names = []
            for gid in port.security_group_ids:
                group = sgs.get(gid)
                if group is None:
                    continue
                names.append(group.name)
                used_sgs.setdefault(
                    group.name,
                    CapturedSecurityGroup(
                        name=group.name,
                        rules=[
                            {
                                "direction": r.direction,
                                "protocol": r.protocol,
                                "port_range_min": r.port_range_min,
                                "port_range_max": r.port_range_max,
                                "remote_ip_prefix": r.remote_ip_prefix,
                                "ethertype": r.ethertype or "IPv4",
                            }
                            for r in group.rules
                            if r.remote_group_id is None
                        ],
                    ),
                )
            ports.append(
                CapturedPort(
                    network_id=port.network_id,
                    network_name=net_name,
                    fixed_ips=[
                        (subnets[ip.subnet_id].cidr, ip.ip_address)
                        for ip in port.fixed_ips
                        if ip.subnet_id in subnets and ip.ip_address
                    ],
                    security_groups=names,
                    mac_address=port.mac_address,
                )
            )
        volumes: list[CapturedVolume] = []
        for vol in inventory.volumes_of(sid):
            device = next((a.device for a in vol.attachments if a.server_id == sid), None)
            volumes.append(
                CapturedVolume(
                    volume_id=vol.id,
                    device=device,
                    size_gib=vol.size_gb,
                    boot=device in ("/dev/vda", "/dev/sda", "vda") or False,
                )
            )
        if volumes and not any(v.boot for v in volumes):
            first = sorted(volumes, key=lambda v: v.device or "~")[0]
            volumes = [v.model_copy(update={"boot": v is first}) for v in volumes]
        captured[sid] = CapturedServer(
            server_id=sid,
            name=server.name,
            flavor=server.flavor.name if server.flavor else "",
            key_name=server.key_name,
            metadata={k: v for k, v in server.metadata.items() if not k.startswith("lifeboat:")},
            ports=ports,
            volumes=_boot_first(volumes),
        )
    for tier in spec.tiers:
        for member in tier.stateless:
            if not any(
                n.name == member.network or n.id == member.network for n in networks.values()
            ):
                raise CaptureError(
                    f"tiers: stateless {member.name}: network {member.network} not found"
                )
            net = next(n for n in networks.values() if member.network in (n.name, n.id))
            used_networks.setdefault(
                net.id,
                CapturedNetwork(
                    network_id=net.id,
                    name=net.name or net.id,
                    subnets=[
                        (s.name or s.id, s.cidr, s.enable_dhcp)
                        for s in subnets.values()
                        if s.network_id == net.id
                    ],
                ),
            )
    return Capture(servers=captured, networks=used_networks, security_groups=used_sgs)


def check_owner(inventory: Inventory, project_name: str | None, spec: PlanSpec) -> None:
    """Tenant isolation: a plan captures only servers of its own project. The inventory is the
    project the site's account is scoped to; each server must belong to the plan's project,
    named by id or (the account's own project) by name."""
    names = {inventory.project_id, *([project_name] if project_name else [])}
    foreign = []
    for server in inventory.servers:
        if server.id not in spec.servers:
            continue
        owner = server.project_id or inventory.project_id
        if spec.project_id not in (names if owner == inventory.project_id else {owner}):
            foreign.append(server.id)
    if foreign:
        raise CaptureError(
            f"tiers: servers not in project {spec.project_id} at {spec.source_site}: "
            + ", ".join(foreign)
        )


async def capture(project: CloudProject, spec: PlanSpec) -> Capture:
    inventory = await project.inventory()
    captured = capture_from(inventory, spec)
    check_owner(inventory, (await project.check_auth()).project_name, spec)
    return captured
