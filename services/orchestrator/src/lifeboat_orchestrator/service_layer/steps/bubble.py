"""The end of a bubble test: announce it (``BubbleReady``), and tear it down to nothing.

Teardown finds everything by the test execution's tag (Nova/Cinder metadata, Neutron tags or
descriptions), not by a list kept in memory: whatever a crashed step made is found too. It then
lists again and fails if anything is left, so "leaves nothing behind" is checked every time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat_orchestrator.service_layer.steps.context import StepEnv, StepFailed
from lifeboat_shared.cloud import CloudProject
from lifeboat_shared.cloud.errors import NotFound
from lifeboat_shared.cloud.tags import META_OP
from lifeboat_shared.cloud.vpn import VpnResource
from lifeboat_shared.contracts.messages import BubbleEndpoint, BubbleReady


async def bubble_ready(env: StepEnv) -> dict[str, Any]:
    endpoints: list[BubbleEndpoint] = []
    sites = {s.params.get("server") or s.id: s.site for s in env.execution.steps}
    for sid, result in sorted(
        (s.params.get("server") or s.id, env.result_of(s.id))
        for s in env.execution.steps
        if s.action in ("recover", "stateless")
    ):
        endpoints.append(
            BubbleEndpoint(
                server_id=result["server_id"],
                name=result.get("name", "")[:255],
                source_server_id=sid if sid in env.plan.capture.servers else None,
                addresses=list(result.get("addresses", [])),
                site_id=sites.get(sid) or env.execution.target_site,
            )
        )
    net = env.result_of("network")
    # next(iter(...)) on an empty dict here raised StopIteration inside this coroutine, which
    # Python turns into "RuntimeError: coroutine raised StopIteration": say what is missing.
    networks = list((net.get("networks") or {}).values())
    if not networks:
        raise StepFailed(
            "the bubble has no network: the plan captured no network of its servers "
            "(refresh the plan once they have ports), so nothing can reach or check them"
        )
    if not endpoints:
        raise StepFailed("the bubble has no servers: no recover step made one")
    linked = list(env.result_of("link-bubbles").get("sites", {}))
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=env.plan.spec.test_timeout_seconds)
    first_net = networks[0]
    await env.emit(
        BubbleReady(
            test_id=env.execution.id,
            plan_id=env.plan.id,
            project_id=env.plan.spec.project_id,
            site_id=env.execution.target_site,
            network_id=first_net,
            server_ids=[e.server_id for e in endpoints],
            endpoints=endpoints,
            entry_point=net.get("entry_point"),
            linked_sites=[s for s in linked if s != env.execution.target_site],
            ready_at=now,
            expires_at=expires,
        ),
        f"{env.execution.id}.bubble-ready",
    )
    return {"expires_at": expires.isoformat(), "servers": len(endpoints), "linked": linked}


VPN_KINDS = ("site_connection", "endpoint_group", "vpn_service", "ipsec_policy", "ike_policy")
"""Linked bubbles' VPNaaS resources, in the order they can be deleted."""


async def _vpn_list(project: CloudProject, kind: str) -> tuple[VpnResource, ...]:
    """A cloud without VPNaaS (404 on its paths) holds none: nothing to find or delete."""
    try:
        return await project.vpn.list(kind)
    except NotFound:
        return ()


def _tagged(op: str, tags: tuple[str, ...], description: str | None) -> bool:
    return f"{META_OP}={op}" in tags or f"[lifeboat op={op} " in (description or "")


async def leftovers(project: CloudProject, op: str) -> dict[str, list[str]]:
    """Every resource at the site carrying the operation's tag, by kind."""
    net = project.network
    servers = await project.compute.list_servers()
    volumes = await project.block_storage.list_volumes()
    ports, nets, subnets = (
        await net.list_ports(),
        await net.list_networks(),
        await net.list_subnets(),
    )
    routers, groups = await net.list_routers(), await net.list_security_groups()
    fips = await net.list_floating_ips()
    vpn = {kind: await _vpn_list(project, kind) for kind in VPN_KINDS}
    return {
        **{
            kind: [r.id for r in found if _tagged(op, (), r.description)]
            for kind, found in vpn.items()
        },
        "servers": [s.id for s in servers if s.metadata.get(META_OP) == op],
        "volumes": [v.id for v in volumes if v.metadata.get(META_OP) == op],
        "floating_ips": [f.id for f in fips if _tagged(op, f.tags, f.description)],
        "routers": [r.id for r in routers if _tagged(op, r.tags, r.description)],
        "ports": [p.id for p in ports if _tagged(op, p.tags, p.description)],
        "subnets": [s.id for s in subnets if _tagged(op, s.tags, s.description)],
        "networks": [n.id for n in nets if _tagged(op, n.tags, n.description)],
        "security_groups": [g.id for g in groups if _tagged(op, g.tags, g.description)],
    }


async def teardown(env: StepEnv) -> dict[str, Any]:
    test_id = str(env.execution.params["test_id"])
    op = test_id[:60]
    project = await env.project(env.site)
    found = await leftovers(project, op)
    net, cinder = project.network, project.block_storage
    for kind in VPN_KINDS:  # before the routers: Neutron refuses a router a VPN service uses
        for rid in found[kind]:
            await project.vpn.delete(kind, rid)
    await asyncio.gather(*(project.compute.delete_server(s) for s in found["servers"]))
    await asyncio.gather(*(cinder.delete_volume(v) for v in found["volumes"]))
    await asyncio.gather(*(net.delete_floating_ip(f) for f in found["floating_ips"]))
    for router in found["routers"]:
        for port in await net.list_ports(device_id=router):
            for ip in port.fixed_ips:
                if ip.subnet_id:
                    await net.remove_router_interface(router, ip.subnet_id)
        await net.delete_router(router)
    await asyncio.gather(*(net.delete_port(p) for p in found["ports"]))
    for subnet in found["subnets"]:
        await net.delete_subnet(subnet)
    for network in found["networks"]:
        await net.delete_network(network)
    await asyncio.gather(*(net.delete_security_group(g) for g in found["security_groups"]))
    left = {k: v for k, v in (await leftovers(project, op)).items() if v}
    if left:
        raise RuntimeError(f"teardown left {left}")
    deleted = sum(len(v) for v in found.values())
    return {"deleted": deleted, "by_kind": {k: len(v) for k, v in found.items()}}
