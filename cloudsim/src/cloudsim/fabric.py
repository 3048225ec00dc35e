"""Who a guest can reach: the packet paths cloudsim models, used by the guests' ``connect``.

From a server, an IPv4 address is reachable:
- at its own site, through a network the server has a port on (same L2), or through a router
  with interfaces on both the server's subnet and the target's (L3, east-west);
- at another site, only through an ACTIVE IPsec site connection whose VPN service's router has
  an interface on the server's subnet, whose local CIDRs hold the server's address and whose
  peer CIDRs hold the target address; the target is then a port, at the mirror connection's
  site, on a subnet of the mirror's local CIDRs, behind the mirror's router.
Nothing else routes: no external network, floating IP, SNAT or internet path is modelled from a
guest, so a bubble reaches exactly what its routers and tunnels connect.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from dataclasses import dataclass

from cloudsim.state import Res, SiteState
from cloudsim.vpnaas_model import SITES, local_cidrs, mirror, peer_cidrs


@dataclass(frozen=True)
class Route:
    site: str
    server_id: str
    via: str  # "l2", "router <id>", "ipsec <connection id>"


def _server_ports(state: SiteState, server_id: str) -> list[Res]:
    return [
        p
        for p in state.ports.values()
        if p["device_id"] == server_id and p["device_owner"].startswith("compute")
    ]


def _router_subnets(state: SiteState, router_id: str) -> set[str]:
    return {
        ip["subnet_id"]
        for p in state.ports.values()
        if p["device_id"] == router_id and p["device_owner"] == "network:router_interface"
        for ip in p["fixed_ips"]
    }


def _targets(state: SiteState, address: str) -> list[tuple[Res, str]]:
    """(port, subnet id) of server ports holding ``address`` at this site."""
    return [
        (p, ip["subnet_id"])
        for p in state.ports.values()
        if p["device_owner"].startswith("compute") and p["device_id"]
        for ip in p["fixed_ips"]
        if ip["ip_address"] == address
    ]


def _inside(address: str, cidrs: list[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(c) for c in cidrs)


def route(state: SiteState, server_id: str, address: str) -> Route | None:
    """The path from ``server_id`` (at ``state``'s site) to ``address``, or None."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    mine = [(p, ip) for p in _server_ports(state, server_id) for ip in p["fixed_ips"]]
    site = state.config.name
    for port, subnet in _targets(state, address):
        if port["device_id"] == server_id:
            return Route(site, server_id, "self")
        if any(p["network_id"] == port["network_id"] for p, _ in mine):
            return Route(site, port["device_id"], "l2")
        for rid in state.routers:
            attached = _router_subnets(state, rid)
            if subnet in attached and any(ip["subnet_id"] in attached for _, ip in mine):
                return Route(site, port["device_id"], f"router {rid}")
    for conn in list(state.vpn.get("ipsec-site-connections", {}).values()):
        svc = state.vpn.get("vpnservices", {}).get(conn["vpnservice_id"])
        if svc is None or not _inside(address, peer_cidrs(state, conn)):
            continue
        attached = _router_subnets(state, svc["router_id"])
        local = local_cidrs(state, conn)
        if not any(
            ip["subnet_id"] in attached and _inside(ip["ip_address"], local) for _, ip in mine
        ):
            continue
        found = mirror(state, conn)
        if found is None:
            continue
        other, theirs = found
        their_svc = other.vpn["vpnservices"][theirs["vpnservice_id"]]
        behind = _router_subnets(other, their_svc["router_id"])
        for port, subnet in _targets(other, address):
            if subnet in behind:
                return Route(other.config.name, port["device_id"], f"ipsec {conn['id']}")
    return None


def connect(
    state: SiteState, server_id: str, address: str, timeout: float = 5.0
) -> tuple[int, Res]:
    """A TCP connection from the guest to ``address``'s guest service (``GET /health``):
    200 with who answered and the path, or 504 when no path exists / nothing listens."""
    path = route(state, server_id, address)
    if path is None:
        return 504, {"reached": False, "address": address, "reason": "no route to host"}
    target_site = SITES.get(path.site, state)
    svc = target_site.services.get(path.server_id)
    if svc is None or not svc.running:
        return 504, {"reached": False, "address": address, "reason": "connection refused"}
    url = f"http://127.0.0.1:{svc.port}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = json.loads(resp.read() or b"{}")
    except OSError as exc:
        return 504, {"reached": False, "address": address, "reason": f"connect failed: {exc}"}
    return 200, {
        "reached": True,
        "address": address,
        "site": path.site,
        "server_id": body.get("server_id", path.server_id),
        "via": path.via,
    }
