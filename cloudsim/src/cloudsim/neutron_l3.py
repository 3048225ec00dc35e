"""Neutron L3 (routers with gateways and interfaces, floating IPs) on top of the L2 model, and
the full model the Neutron routes use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudsim.auth import Ctx
from cloudsim.errors import APIError
from cloudsim.neutron_model import NeutronBase, bad
from cloudsim.neutron_ops import create_port, delete_port, quota_check
from cloudsim.state import Res, SiteState, new_id, now_iso


class NeutronModel(NeutronBase):
    """Every Neutron resource type: creators by collection name."""

    def __init__(self, state: SiteState) -> None:
        super().__init__(state)
        self.creators: dict[str, Callable[[Ctx, dict[str, Any]], Res]] = {
            "networks": self.c_network,
            "subnets": self.c_subnet,
            "ports": self.c_port,
            "routers": self.c_router,
            "floatingips": self.c_fip,
            "security-groups": self.c_sg,
            "security-group-rules": self.c_rule,
        }

    def c_router(self, ctx: Ctx, spec: dict[str, Any]) -> Res:
        pid = self.owner(ctx, spec)
        quota_check(self.state, pid, "router", self.count("routers", pid))
        ts = now_iso()
        rt: Res = {
            "id": new_id(),
            "name": spec.get("name", ""),
            "admin_state_up": True,
            "status": "ACTIVE",
            "project_id": pid,
            "tenant_id": pid,
            "external_gateway_info": None,
            "routes": [],
            "distributed": False,
            "ha": False,
            "description": spec.get("description", ""),
            "tags": [],
            "availability_zones": ["nova"],
            "availability_zone_hints": [],
            "created_at": ts,
            "updated_at": ts,
            "revision_number": 1,
            "flavor_id": None,
        }
        if spec.get("external_gateway_info"):
            self.set_gateway(rt, spec["external_gateway_info"])
        return rt

    def set_gateway(self, rt: Res, info: Any) -> None:
        if not info:
            self._drop_gateway(rt)
            rt["external_gateway_info"] = None
            return
        net = (
            self.state.networks.get(info.get("network_id", "")) if isinstance(info, dict) else None
        )
        if net is None or not net["router:external"]:
            raise bad(
                "Invalid input for external_gateway_info: network_id must be an external network."
            )
        self._drop_gateway(rt)  # a new gateway replaces the old one
        sub = self.state.subnets[net["subnets"][0]]
        ip = self.state.allocate_ip(sub)
        gw_port = create_port(
            self.state,
            net,
            rt["project_id"],
            fixed_ips=[{"subnet_id": sub["id"], "ip_address": ip}],
            device_id=rt["id"],
            device_owner="network:router_gateway",
            security_groups=[],
        )
        rt["external_gateway_info"] = {
            "network_id": net["id"],
            "enable_snat": bool(info.get("enable_snat", True)),
            "external_fixed_ips": gw_port["fixed_ips"],
        }

    def _drop_gateway(self, rt: Res) -> None:
        for port in [
            p
            for p in self.state.ports.values()
            if p["device_id"] == rt["id"] and p["device_owner"] == "network:router_gateway"
        ]:
            delete_port(self.state, port)

    def c_fip(self, ctx: Ctx, spec: dict[str, Any]) -> Res:
        pid = self.owner(ctx, spec)
        quota_check(self.state, pid, "floatingip", self.count("floatingips", pid))
        net_id = spec.get("floating_network_id")
        net = self.state.networks.get(str(net_id))
        if net is None or not net["router:external"]:
            raise APIError(
                404,
                f"External network {net_id} could not be found.",
                kind="ExternalNetworkNotFound" if net is None else "BadRequest",
            )
        sub = self.state.subnets[net["subnets"][0]]
        try:
            addr = self.state.allocate_ip(sub, spec.get("floating_ip_address"))
        except ValueError as exc:
            raise APIError(409, str(exc), kind="IpAddressGenerationFailure") from None
        ts = now_iso()
        fip: Res = {
            "id": new_id(),
            "floating_ip_address": addr,
            "floating_network_id": net["id"],
            "router_id": None,
            "port_id": None,
            "fixed_ip_address": None,
            "status": "DOWN",
            "project_id": pid,
            "tenant_id": pid,
            "description": spec.get("description", ""),
            "dns_domain": "",
            "dns_name": "",
            "port_details": None,
            "tags": [],
            "created_at": ts,
            "updated_at": ts,
            "revision_number": 0,
            "qos_policy_id": None,
            "_subnet_id": sub["id"],
        }
        self.state.floatingips[fip["id"]] = fip
        if spec.get("port_id"):
            self.associate(ctx, fip, spec["port_id"], spec.get("fixed_ip_address"))
        return fip

    def associate(self, ctx: Ctx, fip: Res, port_id: str | None, fixed: str | None) -> None:
        if port_id is None:
            fip.update(port_id=None, fixed_ip_address=None, status="DOWN", router_id=None)
            return
        port = self.get(ctx, "ports", port_id)
        if not port["fixed_ips"]:
            raise bad(f"Port {port_id} has no fixed IP to associate.")
        addr = fixed or port["fixed_ips"][0]["ip_address"]
        for other in self.state.floatingips.values():
            if (
                other is not fip
                and other["port_id"] == port_id
                and other["fixed_ip_address"] == addr
            ):
                raise APIError(
                    409,
                    f"Cannot associate floating IP {fip['floating_ip_address']} "
                    f"with port {port_id} using fixed IP {addr}, as that fixed "
                    f"IP already has a floating IP on external network.",
                    kind="FloatingIPPortAlreadyAssociated",
                )
        fip.update(port_id=port_id, fixed_ip_address=addr, status="ACTIVE")
