"""Linked bubbles (UC3b): a bubble test spread over several DR sites, its bubbles joined to each
other, and to nothing else, by Neutron VPNaaS (IPsec site-to-site between the bubbles' entry
routers).

At each site: the entry router gets an external gateway with SNAT off (the tunnel's endpoint;
no floating IP is ever made in a bubble, so no guest gets a way out), an IKE and an IPsec
policy, a VPN service on the router, a local endpoint group (the bubble's subnets); per peer
bubble, a peer endpoint group (the peer's CIDRs) and an IPsec site connection to the peer's
gateway. Each pair's tunnel carries exactly the two bubbles' subnets, so it can never carry
production traffic: the peer side is another bubble, and nothing routes beyond it.

The pre-shared key is made per run of this step (``secrets``), given to the clouds and nowhere
else: not in the step's result, events, logs or errors (any error text holding it is scrubbed).
A re-run (crash, retry) deletes the connections it finds by the test's tag and makes them again
with a new key, so both sides always hold the same one.

Routing needs distinct addresses on each side: bubbles copy the protected networks with the same
CIDRs, so two bubbles holding overlapping CIDRs (e.g. the app and the database on one production
network, recovered at two sites) cannot be linked, and the step fails saying which; no NAT is
attempted (documented in the README).
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import time
from typing import Any

from lifeboat_orchestrator.domain.execution import network_step
from lifeboat_orchestrator.service_layer.steps.context import StepEnv, StepFailed
from lifeboat_shared.cloud import CloudProject, LifeboatTag

ACTIVE_TIMEOUT_SECONDS = 120.0


def _cidrs(net: dict[str, Any]) -> list[str]:
    return sorted({key.split("|", 1)[1] for key in (net.get("subnets") or {})})


def overlaps(sites: dict[str, list[str]]) -> list[str]:
    """``site-b 10.0.0.0/24 overlaps site-c 10.0.0.0/24`` for every clash between sites."""
    out = []
    names = sorted(sites)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for ca in sites[a]:
                for cb in sites[b]:
                    if ipaddress.ip_network(ca).overlaps(ipaddress.ip_network(cb)):
                        out.append(f"{a} {ca} overlaps {b} {cb}")
    return out


async def _external(env: StepEnv, project: CloudProject, site: str) -> str:
    wanted = env.plan.spec.external_network
    nets = [n for n in await project.network.list_networks() if n.is_external]
    found = next((n for n in nets if wanted in (n.id, n.name)), None) if wanted else None
    if found is None and not wanted and nets:
        found = nets[0]
    if found is None:
        raise StepFailed(
            f"linking bubbles needs an external network at {site} for the VPN endpoint "
            f"({'not found: ' + wanted if wanted else 'none visible'})"
        )
    return found.id


def _tag(env: StepEnv, key: str) -> LifeboatTag:
    return env.tag(key)


async def link_bubbles(env: StepEnv) -> dict[str, Any]:
    target = env.execution.target_site
    sites: list[str] = list(env.step.params.get("sites") or [target])
    nets = {s: env.result_of(network_step(s, target)) for s in sites}
    cidrs = {s: _cidrs(n) for s, n in nets.items()}
    clash = overlaps(cidrs)
    if clash:
        raise StepFailed(
            "the bubbles cannot be linked: their networks overlap ("
            + "; ".join(clash)
            + "); bubbles keep the protected CIDRs, so members linked across sites must be on "
            "distinct networks (or recover the plan at one site)"
        )
    empty = [s for s in sites if not cidrs[s]]
    if empty:
        raise StepFailed(f"the bubble at {', '.join(empty)} has no subnet to link")
    psk = secrets.token_urlsafe(32)
    try:
        return await _link(env, sites, nets, cidrs, psk)
    except StepFailed as exc:
        raise StepFailed(str(exc).replace(psk, "***")) from None
    except Exception as exc:
        if psk in str(exc):
            raise RuntimeError(str(exc).replace(psk, "***")) from None
        raise


async def _link(
    env: StepEnv,
    sites: list[str],
    nets: dict[str, dict[str, Any]],
    cidrs: dict[str, list[str]],
    psk: str,
) -> dict[str, Any]:
    projects = {s: await env.project(s) for s in sites}
    op = env.execution.id[:60]
    if not env.fresh:  # an earlier run's connections hold another key: make them again
        for project in projects.values():
            for conn in await project.vpn.list("site_connection"):
                if f"[lifeboat op={op} " in conn.description:
                    await project.vpn.delete("site_connection", conn.id)
    gateways: dict[str, str] = {}
    for site in sites:
        project, router = projects[site], str(nets[site]["entry_point"])
        ip = await project.vpn.set_router_gateway(
            router, await _external(env, project, site), enable_snat=False
        )
        if ip is None:
            raise StepFailed(f"the bubble router at {site} got no external address")
        gateways[site] = ip
    made: list[tuple[str, str]] = []
    for site in sites:
        vpn = projects[site].vpn
        ike = await vpn.create(
            "ike_policy", "bubble-ike", _tag(env, f"ike-{site}"), ike_version="v2"
        )
        ipsec = await vpn.create("ipsec_policy", "bubble-ipsec", _tag(env, f"ipsec-{site}"))
        service = await vpn.create(
            "vpn_service",
            "bubble-vpn",
            _tag(env, f"vpn-{site}"),
            router_id=str(nets[site]["entry_point"]),
        )
        local = await vpn.create(
            "endpoint_group",
            "bubble-local",
            _tag(env, f"local-{site}"),
            type="subnet",
            endpoints=sorted(set(nets[site]["subnets"].values())),
        )
        for peer in sites:
            if peer == site:
                continue
            remote = await vpn.create(
                "endpoint_group",
                f"bubble-peer-{peer}"[:255],
                _tag(env, f"peer-{site}-{peer}"),
                type="cidr",
                endpoints=cidrs[peer],
            )
            conn = await vpn.create(
                "site_connection",
                f"bubble-{site}-to-{peer}"[:255],
                _tag(env, f"conn-{site}-{peer}"),
                vpnservice_id=service.id,
                ikepolicy_id=ike.id,
                ipsecpolicy_id=ipsec.id,
                local_ep_group_id=local.id,
                peer_ep_group_id=remote.id,
                peer_address=gateways[peer],
                peer_id=gateways[peer],
                psk=psk,
            )
            made.append((site, conn.id))
    await _wait_active(projects, made)
    return {
        "sites": {
            s: {"router": nets[s]["entry_point"], "gateway_ip": gateways[s], "cidrs": cidrs[s]}
            for s in sites
        },
        "connections": len(made),
    }


async def _wait_active(projects: dict[str, CloudProject], made: list[tuple[str, str]]) -> None:
    """Every connection ACTIVE (both ends negotiated), polled up to a deadline."""
    deadline = time.monotonic() + ACTIVE_TIMEOUT_SECONDS
    while True:
        down = []
        for site, conn_id in made:
            listed = {c.id: c for c in await projects[site].vpn.list("site_connection")}
            status = listed[conn_id].status if conn_id in listed else "missing"
            if status != "ACTIVE":
                down.append(f"{site} {conn_id} {status}")
        if not down:
            return
        if time.monotonic() > deadline:
            raise StepFailed(
                f"IPsec connections not ACTIVE after {ACTIVE_TIMEOUT_SECONDS:.0f} s: "
                + ", ".join(down)
            )
        await asyncio.sleep(1.0)
