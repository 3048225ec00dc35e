"""The DR network environment: found ("warm"), created ("cold") or an isolated bubble (tests).

Result: the target network, subnet (by protected network and CIDR) and security group (by name)
for everything the plan's members use, so the recover steps only look things up.
"""

from __future__ import annotations

from typing import Any

from lifeboat_orchestrator.domain.plan import CapturedNetwork, NetworkMapping
from lifeboat_orchestrator.service_layer.steps.context import StepEnv, StepFailed
from lifeboat_shared.cloud import CloudProject
from lifeboat_shared.cloud.models import Network


def _mapping(env: StepEnv, net: CapturedNetwork) -> NetworkMapping:
    for m in env.plan.spec.network_mappings:
        if m.source_network in (net.network_id, net.name):
            return m
    return NetworkMapping(source_network=net.name)


async def _security_groups(env: StepEnv, project: CloudProject, prefix: str) -> dict[str, str]:
    """Find-or-create each security group the members use, with the protected site's rules."""
    out: dict[str, str] = {}
    existing = {g.name: g for g in await project.network.list_security_groups()}
    for name, captured in env.plan.capture.security_groups.items():
        target_name = f"{prefix}{name}"
        if not prefix and target_name in existing:
            out[name] = existing[target_name].id
            continue
        group = await project.network.create_security_group(target_name, tag=env.tag(f"sg-{name}"))
        have = {
            (r.direction, r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix)
            for r in group.rules
        }
        for rule in captured.rules:
            key = (
                rule.get("direction"),
                rule.get("protocol"),
                rule.get("port_range_min"),
                rule.get("port_range_max"),
                rule.get("remote_ip_prefix"),
            )
            if key in have:
                continue
            await project.network.create_security_group_rule(
                group.id,
                direction=str(rule.get("direction") or "ingress"),
                protocol=_str(rule.get("protocol")),
                port_range_min=_int(rule.get("port_range_min")),
                port_range_max=_int(rule.get("port_range_max")),
                remote_ip_prefix=_str(rule.get("remote_ip_prefix")),
                ethertype=str(rule.get("ethertype") or "IPv4"),
            )
        out[name] = group.id
    return out


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


async def _create_copy(
    env: StepEnv, project: CloudProject, net: CapturedNetwork, name: str
) -> tuple[Network, dict[str, str]]:
    network = await project.network.create_network(name, tag=env.tag(f"net-{net.network_id}"))
    subnets: dict[str, str] = {}
    for sub_name, cidr, dhcp in net.subnets:
        subnet = await project.network.create_subnet(
            network.id,
            cidr,
            name=f"{name}-{sub_name}"[:255],
            enable_dhcp=dhcp,
            tag=env.tag(f"subnet-{net.network_id}-{cidr}"),
        )
        subnets[cidr] = subnet.id
    return network, subnets


async def prepare_network(env: StepEnv) -> dict[str, Any]:
    project = await env.project(env.execution.target_site)
    plan = env.plan.spec
    networks: dict[str, str] = {}
    subnets: dict[str, str] = {}
    modes: dict[str, str] = {}
    existing = await project.network.list_networks()
    cold = plan.environment == "cold"
    router_id = None
    for net in env.plan.capture.networks.values():
        mapping = _mapping(env, net)
        modes[net.network_id] = mapping.ip_mode
        wanted = mapping.target_network or net.name
        found = next((n for n in existing if wanted in (n.id, n.name)), None)
        if found is None and not cold:
            raise StepFailed(
                f"network {wanted} (for {net.name}) not found at {env.execution.target_site}; "
                "create it or use environment=cold"
            )
        if found is None:
            found, made = await _create_copy(env, project, net, wanted)
            subnets.update({f"{net.network_id}|{c}": s for c, s in made.items()})
            if plan.external_network:
                router_id = await _router(env, project, f"{plan.name}-dr", made.values())
        else:
            target_subnets = await project.network.list_subnets(network_id=found.id)
            for _name, cidr, _dhcp in net.subnets:
                match = next((s for s in target_subnets if s.cidr == cidr), None)
                if match is None and target_subnets:
                    match = target_subnets[0]  # re-IP into the DR subnet
                if match is not None:
                    subnets[f"{net.network_id}|{cidr}"] = match.id
        networks[net.network_id] = found.id
    groups = await _security_groups(env, project, "")
    return {
        "networks": networks,
        "subnets": subnets,
        "ip_modes": modes,
        "security_groups": groups,
        "router": router_id,
    }


async def _router(
    env: StepEnv, project: CloudProject, name: str, subnet_ids: Any, *, external: bool = True
) -> str:
    ext_id = None
    if external and env.plan.spec.external_network:
        nets = await project.network.list_networks()
        ext = next((n for n in nets if env.plan.spec.external_network in (n.id, n.name)), None)
        if ext is None:
            raise StepFailed(f"external network {env.plan.spec.external_network} not found")
        ext_id = ext.id
    router = await project.network.create_router(
        name, external_network_id=ext_id, tag=env.tag(f"router-{name}")
    )
    attached = {
        ip.subnet_id
        for p in await project.network.list_ports(device_id=router.id)
        for ip in p.fixed_ips
    }
    for subnet_id in subnet_ids:
        if subnet_id not in attached:
            await project.network.add_router_interface(router.id, subnet_id)
    return router.id


async def prepare_bubble(env: StepEnv) -> dict[str, Any]:
    """Isolated copies of the protected networks (same CIDRs, so addresses are kept), joined by
    one router with no external gateway: the bubble's single, controlled entry point. In a
    linked test (several DR sites) each site copies only the networks of what it recovers."""
    if not env.plan.capture.networks:  # before anything is made at the recovery site
        raise StepFailed(
            "a bubble test needs a network to isolate, and the plan captured none of its "
            "servers' (refresh the plan once they have ports)"
        )
    project = await env.project(env.site)
    prefix = f"bubble-{env.execution.id[:8]}-"
    networks: dict[str, str] = {}
    subnets: dict[str, str] = {}
    modes: dict[str, str] = {}
    only = env.step.params.get("networks")  # a linked test: this site's share of the networks
    for net in env.plan.capture.networks.values():
        if only is not None and net.network_id not in only:
            continue
        network, made = await _create_copy(env, project, net, f"{prefix}{net.name}")
        networks[net.network_id] = network.id
        subnets.update({f"{net.network_id}|{c}": s for c, s in made.items()})
        modes[net.network_id] = "keep"
    router = await _router(env, project, f"{prefix}entry", subnets.values(), external=False)
    groups = await _security_groups(env, project, prefix)
    return {
        "networks": networks,
        "subnets": subnets,
        "ip_modes": modes,
        "security_groups": groups,
        "router": router,
        "entry_point": router,
    }
