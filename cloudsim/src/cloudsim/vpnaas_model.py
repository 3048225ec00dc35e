"""Neutron VPNaaS v2 (IKE/IPsec policies, VPN services, endpoint groups, IPsec site connections)
and the one thing it changes in the simulated world: which networks reach each other.

An IPsec site connection is ACTIVE when some other site of this process holds its mirror: a
connection with the same PSK whose peer address is this router's external gateway IP, whose
router's gateway IP is this connection's peer address, and whose local/peer CIDRs are this one's
peer/local CIDRs. Otherwise it is DOWN (an IKE negotiation with nobody). The status is computed
on every read, so deleting one side takes the other DOWN at once.

Every site of one cloudsim process registers here (``SITES``), as the sites of one process
already share their partitions: that is the "internet" the IPsec tunnels cross.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cloudsim.auth import Ctx
from cloudsim.errors import APIError
from cloudsim.state import Res, SiteState, new_id, now_iso

SITES: dict[str, SiteState] = {}
"""Every site served by this process, by name (registered when its Neutron routes are built)."""

SINGULAR = {
    "ikepolicies": "ikepolicy",
    "ipsecpolicies": "ipsecpolicy",
    "vpnservices": "vpnservice",
    "endpoint-groups": "endpoint_group",
    "ipsec-site-connections": "ipsec_site_connection",
}
_LABEL = {
    "ikepolicies": "IKEPolicy",
    "ipsecpolicies": "IPsecPolicy",
    "vpnservices": "VPNService",
    "endpoint-groups": "VPNEndpointGroup",
    "ipsec-site-connections": "IPsecSiteConnection",
}
AUTH = ["sha1", "sha256", "sha384", "sha512", "aes-xcbc", "aes-cmac"]
ENCRYPTION = [
    "3des",
    "aes-128",
    "aes-192",
    "aes-256",
    "aes-128-ctr",
    "aes-192-ctr",
    "aes-256-ctr",
]
PFS = ["group2", "group5", "group14", "group15", "group16", "group19", "group20", "group21"]


def bad(msg: str) -> APIError:
    return APIError(400, msg, kind="HTTPBadRequest")


def _choice(spec: dict[str, Any], key: str, allowed: list[str], default: str) -> str:
    value = spec.get(key, default)
    if value not in allowed:
        raise bad(f"Invalid input for {key}. Reason: '{value}' is not in {allowed}.")
    return str(value)


def _lifetime(spec: dict[str, Any]) -> Res:
    raw = spec.get("lifetime", {"units": "seconds", "value": 3600})
    if not isinstance(raw, dict):
        raise bad("Invalid input for lifetime. Reason: must be a dictionary.")
    units = raw.get("units", "seconds")
    if units != "seconds":
        raise bad(f"Invalid input for lifetime. Reason: '{units}' is not in ['seconds'].")
    value = raw.get("value", 3600)
    if not isinstance(value, int) or isinstance(value, bool) or value < 60:
        raise bad(f"Invalid input for lifetime. Reason: '{value}' must be an integer >= 60.")
    return {"units": units, "value": value}


def _cidr(value: Any, field: str) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=False))
    except ValueError:
        raise bad(f"Invalid input for {field}. Reason: '{value}' is not a valid CIDR.") from None


class VpnModel:
    def __init__(self, state: SiteState) -> None:
        self.state = state
        SITES[state.config.name] = state

    def coll(self, name: str) -> dict[str, Res]:
        return self.state.vpn.setdefault(name, {})

    def visible(self, ctx: Ctx, name: str) -> list[Res]:
        items = list(self.coll(name).values())
        return items if ctx.is_admin else [x for x in items if x["project_id"] == ctx.project_id]

    def get(self, ctx: Ctx, name: str, rid: str) -> Res:
        res = next((x for x in self.visible(ctx, name) if x["id"] == rid), None)
        if res is None:
            raise APIError(
                404, f"{_LABEL[name]} {rid} could not be found.", kind=f"{_LABEL[name]}NotFound"
            )
        return res

    def _base(self, ctx: Ctx, spec: dict[str, Any]) -> Res:
        pid = spec.get("project_id") or spec.get("tenant_id") or ctx.project_id
        if pid != ctx.project_id and not ctx.is_admin:
            raise APIError(
                403,
                "Policy doesn't allow creating a resource for another project.",
                kind="PolicyNotAuthorized",
            )
        for key in ("name", "description"):
            if not isinstance(spec.get(key, ""), str) or len(spec.get(key, "")) > 255:
                raise bad(f"Invalid input for {key}. Reason: must be a string of <= 255.")
        return {
            "id": new_id(),
            "name": spec.get("name", ""),
            "description": spec.get("description", ""),
            "project_id": pid,
            "tenant_id": pid,
            "created_at": now_iso(),
        }

    def create(self, ctx: Ctx, name: str, spec: dict[str, Any]) -> Res:
        res = self._base(ctx, spec)
        if name == "ikepolicies":
            res.update(
                auth_algorithm=_choice(spec, "auth_algorithm", AUTH, "sha1"),
                encryption_algorithm=_choice(spec, "encryption_algorithm", ENCRYPTION, "aes-128"),
                phase1_negotiation_mode=_choice(
                    spec, "phase1_negotiation_mode", ["main", "aggressive"], "main"
                ),
                ike_version=_choice(spec, "ike_version", ["v1", "v2"], "v1"),
                pfs=_choice(spec, "pfs", PFS, "group5"),
                lifetime=_lifetime(spec),
            )
        elif name == "ipsecpolicies":
            res.update(
                auth_algorithm=_choice(spec, "auth_algorithm", AUTH, "sha1"),
                encryption_algorithm=_choice(spec, "encryption_algorithm", ENCRYPTION, "aes-128"),
                transform_protocol=_choice(
                    spec, "transform_protocol", ["esp", "ah", "ah-esp"], "esp"
                ),
                encapsulation_mode=_choice(
                    spec, "encapsulation_mode", ["tunnel", "transport"], "tunnel"
                ),
                pfs=_choice(spec, "pfs", PFS, "group5"),
                lifetime=_lifetime(spec),
            )
        elif name == "vpnservices":
            self._vpnservice(ctx, spec, res)
        elif name == "endpoint-groups":
            self._endpoint_group(ctx, spec, res)
        else:
            self._connection(ctx, spec, res)
        self.coll(name)[res["id"]] = res
        return res

    def _vpnservice(self, ctx: Ctx, spec: dict[str, Any], res: Res) -> None:
        router_id = spec.get("router_id")
        if not router_id:
            raise bad("Invalid input for router_id. Reason: 'None' is not a valid UUID.")
        rt = self.state.routers.get(str(router_id))
        if rt is None or (not ctx.is_admin and rt["project_id"] != ctx.project_id):
            raise APIError(404, f"Router {router_id} could not be found.", kind="RouterNotFound")
        if not rt["external_gateway_info"]:
            raise bad(f"Router {router_id} has no external network gateway set")
        subnet_id = spec.get("subnet_id")
        if subnet_id is not None and str(subnet_id) not in self.state.subnets:
            raise APIError(404, f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
        res.update(
            router_id=rt["id"],
            subnet_id=subnet_id,
            admin_state_up=bool(spec.get("admin_state_up", True)),
            flavor_id=None,
        )

    def _endpoint_group(self, ctx: Ctx, spec: dict[str, Any], res: Res) -> None:
        kind = _choice(spec, "type", ["subnet", "cidr", "network", "router", "vlan"], "")
        endpoints = spec.get("endpoints")
        if not isinstance(endpoints, list) or not endpoints:
            raise bad("Invalid input for endpoints. Reason: endpoints must be a non-empty list.")
        if kind == "cidr":
            endpoints = [_cidr(e, "endpoints") for e in endpoints]
        elif kind == "subnet":
            for e in endpoints:
                sub = self.state.subnets.get(str(e))
                if sub is None or (not ctx.is_admin and sub["project_id"] != ctx.project_id):
                    raise APIError(404, f"Subnet {e} could not be found.", kind="SubnetNotFound")
        else:
            raise bad(f"Invalid input for type. Reason: endpoint type {kind} is not supported.")
        res.update(type=kind, endpoints=list(endpoints))

    def _connection(self, ctx: Ctx, spec: dict[str, Any], res: Res) -> None:
        for key in ("psk", "peer_address", "peer_id"):
            if not isinstance(spec.get(key), str) or not spec[key]:
                raise bad(
                    f"Invalid input for {key}. Reason: '{spec.get(key)}' is not a valid string."
                )
        try:
            ipaddress.ip_address(spec["peer_address"])
        except ValueError:
            raise bad(
                f"Invalid input for peer_address. Reason: '{spec['peer_address']}' is not a "
                "valid IP address."
            ) from None
        refs = {
            "vpnservice_id": "vpnservices",
            "ikepolicy_id": "ikepolicies",
            "ipsecpolicy_id": "ipsecpolicies",
        }
        for key, coll in refs.items():
            if not spec.get(key):
                raise bad(f"Invalid input for {key}. Reason: 'None' is not a valid UUID.")
            self.get(ctx, coll, str(spec[key]))
        svc = self.coll("vpnservices")[str(spec["vpnservice_id"])]
        peer_cidrs = spec.get("peer_cidrs") or []
        local_ep, peer_ep = spec.get("local_ep_group_id"), spec.get("peer_ep_group_id")
        if peer_cidrs and (local_ep or peer_ep):
            raise bad("Cannot specify both peer CIDRs and endpoint groups.")
        if peer_cidrs and not svc["subnet_id"]:
            raise bad("Missing endpoint group(s): the VPN service has no subnet (peer_cidrs).")
        if not peer_cidrs:
            if not (local_ep and peer_ep):
                raise bad("Missing endpoint group(s): both local and peer endpoint groups needed.")
            if svc["subnet_id"]:
                raise bad("Cannot specify both subnet and endpoint groups for VPN service.")
            local = self.get(ctx, "endpoint-groups", str(local_ep))
            peer = self.get(ctx, "endpoint-groups", str(peer_ep))
            if local["type"] != "subnet":
                raise bad(f"Invalid endpoint group type {local['type']} for local endpoints.")
            if peer["type"] != "cidr":
                raise bad(f"Invalid endpoint group type {peer['type']} for peer endpoints.")
        mtu = spec.get("mtu", 1500)
        if not isinstance(mtu, int) or mtu < 68:
            raise bad(f"Invalid input for mtu. Reason: '{mtu}' is too small (min 68).")
        res.update(
            peer_address=spec["peer_address"],
            peer_id=spec["peer_id"],
            psk=spec["psk"],
            vpnservice_id=svc["id"],
            ikepolicy_id=spec["ikepolicy_id"],
            ipsecpolicy_id=spec["ipsecpolicy_id"],
            peer_cidrs=[_cidr(c, "peer_cidrs") for c in peer_cidrs],
            local_ep_group_id=local_ep,
            peer_ep_group_id=peer_ep,
            local_id=spec.get("local_id", ""),
            route_mode="static",
            mtu=mtu,
            initiator=_choice(
                spec, "initiator", ["bi-directional", "response-only"], "bi-directional"
            ),
            auth_mode="psk",
            dpd=spec.get("dpd") or {"action": "hold", "interval": 30, "timeout": 120},
            admin_state_up=bool(spec.get("admin_state_up", True)),
        )

    def delete(self, ctx: Ctx, name: str, rid: str) -> None:
        res = self.get(ctx, name, rid)
        conns = self.coll("ipsec-site-connections").values()
        if name in ("ikepolicies", "ipsecpolicies"):
            key = "ikepolicy_id" if name == "ikepolicies" else "ipsecpolicy_id"
            if any(c[key] == rid for c in conns):
                raise APIError(
                    409,
                    f"{_LABEL[name]} {rid} is in use by existing IPsecSiteConnection and can't "
                    "be updated or deleted",
                    kind=f"{_LABEL[name]}InUse",
                )
        elif name == "vpnservices" and any(c["vpnservice_id"] == rid for c in conns):
            raise APIError(409, f"VPNService {rid} is still in use", kind="VPNServiceInUse")
        elif name == "endpoint-groups" and any(
            rid in (c["local_ep_group_id"], c["peer_ep_group_id"]) for c in conns
        ):
            raise APIError(
                409,
                f"Endpoint group {rid} is in use and cannot be deleted",
                kind="EndpointGroupInUse",
            )
        self.coll(name).pop(res["id"], None)

    def render(self, name: str, res: Res) -> Res:
        out = dict(res)
        if name == "vpnservices":
            out["external_v4_ip"] = gateway_ip(self.state, res["router_id"])
            out["external_v6_ip"] = None
            out["status"] = "ACTIVE" if res["admin_state_up"] else "DOWN"
        elif name == "ipsec-site-connections":
            out["status"] = "ACTIVE" if mirror(self.state, res) is not None else "DOWN"
        return out


def gateway_ip(state: SiteState, router_id: str) -> str | None:
    rt = state.routers.get(router_id)
    info = (rt or {}).get("external_gateway_info") or {}
    ips = info.get("external_fixed_ips") or []
    return str(ips[0]["ip_address"]) if ips else None


def local_cidrs(state: SiteState, conn: Res) -> list[str]:
    if conn["local_ep_group_id"]:
        group = state.vpn.get("endpoint-groups", {}).get(conn["local_ep_group_id"])
        subs = (group or {}).get("endpoints", [])
    else:
        svc = state.vpn.get("vpnservices", {}).get(conn["vpnservice_id"]) or {}
        subs = [svc.get("subnet_id")]
    return sorted(state.subnets[s]["cidr"] for s in subs if s in state.subnets)


def peer_cidrs(state: SiteState, conn: Res) -> list[str]:
    if conn["peer_ep_group_id"]:
        group = state.vpn.get("endpoint-groups", {}).get(conn["peer_ep_group_id"])
        return sorted((group or {}).get("endpoints", []))
    return sorted(conn["peer_cidrs"])


def _router_of(state: SiteState, conn: Res) -> str | None:
    svc = state.vpn.get("vpnservices", {}).get(conn["vpnservice_id"])
    return None if svc is None or not svc["admin_state_up"] else str(svc["router_id"])


def mirror(state: SiteState, conn: Res) -> tuple[SiteState, Res] | None:
    """The other site's connection that completes this one's tunnel, if any."""
    router = _router_of(state, conn)
    mine = gateway_ip(state, router) if router else None
    if not conn["admin_state_up"] or mine is None:
        return None
    local, peer = local_cidrs(state, conn), peer_cidrs(state, conn)
    for other in list(SITES.values()):
        if other is state:
            continue
        for cand in list(other.vpn.get("ipsec-site-connections", {}).values()):
            their_router = _router_of(other, cand)
            if (
                cand["admin_state_up"]
                and their_router is not None
                and cand["psk"] == conn["psk"]
                and cand["peer_address"] == mine
                and gateway_ip(other, their_router) == conn["peer_address"]
                and local_cidrs(other, cand) == peer
                and peer_cidrs(other, cand) == local
            ):
                return other, cand
    return None
