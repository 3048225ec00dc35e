"""Neutron resource logic (creation, visibility, deletion rules) behind the Neutron routes."""

from __future__ import annotations

import ipaddress
from typing import Any

from cloudsim.auth import Ctx
from cloudsim.errors import APIError
from cloudsim.neutron_ops import create_port, delete_port, quota_check
from cloudsim.seed import add_sg_rule, make_network, make_subnet
from cloudsim.state import Res, SiteState, new_id, now_iso

# Ports Neutron removes itself with their network (neutron_lib AUTO_DELETE_PORT_OWNERS); any
# other port, a user's port with an empty device_owner included, makes the delete a 409.
AUTO_DELETE_OWNERS = ("network:dhcp", "network:distributed", "network:floatingip_agent_gateway")


def bad(msg: str) -> APIError:
    return APIError(400, msg, kind="HTTPBadRequest")


class NeutronBase:
    """Collections by URL name, per-project visibility, L2 creators and deletion checks."""

    def __init__(self, state: SiteState) -> None:
        self.state = state

    def coll(self, name: str) -> dict[str, Res]:
        return {
            "networks": self.state.networks,
            "subnets": self.state.subnets,
            "ports": self.state.ports,
            "routers": self.state.routers,
            "floatingips": self.state.floatingips,
            "security-groups": self.state.security_groups,
            "security-group-rules": self.state.sg_rules,
        }[name]

    def visible_items(self, ctx: Ctx, name: str) -> list[Res]:
        items = list(self.coll(name).values())
        if ctx.is_admin:
            return items
        if name == "networks":
            return [
                n
                for n in items
                if n["project_id"] == ctx.project_id or n["shared"] or n["router:external"]
            ]
        if name == "subnets":
            return [
                s
                for s in items
                if s["project_id"] == ctx.project_id
                or self.state.networks[s["network_id"]]["shared"]
                or self.state.networks[s["network_id"]]["router:external"]
            ]
        return [x for x in items if x["project_id"] == ctx.project_id]

    def get(self, ctx: Ctx, name: str, rid: str) -> Res:
        res = next((x for x in self.visible_items(ctx, name) if x["id"] == rid), None)
        if res is None:
            single = name.rstrip("s").replace("-", " ")
            single = "Security group rule" if name == "security-group-rules" else single
            raise APIError(
                404,
                f"{single.capitalize()} {rid} could not be found.",
                kind=name.rstrip("s").replace("-", "").title() + "NotFound",
            )
        return res

    def owner(self, ctx: Ctx, spec: dict[str, Any]) -> str:
        pid = spec.get("project_id") or spec.get("tenant_id") or ctx.project_id
        if pid != ctx.project_id and not ctx.is_admin:
            raise APIError(
                403,
                "Policy doesn't allow creating a resource for another project.",
                kind="PolicyNotAuthorized",
            )
        return str(pid)

    def count(self, name: str, pid: str) -> int:
        return sum(1 for x in self.coll(name).values() if x["project_id"] == pid)

    def c_network(self, ctx: Ctx, spec: dict[str, Any]) -> Res:
        pid = self.owner(ctx, spec)
        quota_check(self.state, pid, "network", self.count("networks", pid))
        extra = {
            k: spec[k]
            for k in (
                "admin_state_up",
                "shared",
                "router:external",
                "mtu",
                "description",
                "port_security_enabled",
            )
            if k in spec
        }
        if (extra.get("shared") or extra.get("router:external")) and not ctx.is_admin:
            raise APIError(
                403,
                "Only admins may create shared or external networks.",
                kind="PolicyNotAuthorized",
            )
        return make_network(self.state, pid, str(spec.get("name", "")), **extra)

    def c_subnet(self, ctx: Ctx, spec: dict[str, Any]) -> Res:
        net_id = spec.get("network_id")
        if not isinstance(net_id, str):
            raise bad("Invalid input for network_id. Reason: 'network_id' is required.")
        net = self.get(ctx, "networks", net_id)
        cidr = spec.get("cidr")
        try:
            n = ipaddress.ip_network(str(cidr), strict=True)
        except ValueError:
            raise bad(
                f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet."
            ) from None
        for sid in net["subnets"]:
            if ipaddress.ip_network(self.state.subnets[sid]["cidr"]).overlaps(n):
                raise bad(
                    f"Invalid input for operation: Requested subnet with cidr: {n} for "
                    f"network: {net_id} overlaps with another subnet."
                )
        pid = self.owner(ctx, spec)
        quota_check(self.state, pid, "subnet", self.count("subnets", pid))
        extra = {
            k: spec[k]
            for k in (
                "enable_dhcp",
                "dns_nameservers",
                "host_routes",
                "description",
                "allocation_pools",
            )
            if k in spec
        }
        sub = make_subnet(self.state, net, str(spec.get("name", "")), str(n), **extra)
        if "gateway_ip" in spec:
            gw = spec["gateway_ip"]
            if gw is not None and ipaddress.ip_address(gw) not in n:
                raise bad(f"Invalid input for gateway_ip: {gw} is not in {n}.")
            sub["gateway_ip"] = gw
        sub["project_id"] = sub["tenant_id"] = pid
        return sub

    def c_port(self, ctx: Ctx, spec: dict[str, Any]) -> Res:
        net_id = spec.get("network_id")
        if not isinstance(net_id, str):
            raise bad("Invalid input for network_id. Reason: 'network_id' is required.")
        net = self.get(ctx, "networks", net_id)
        pid = self.owner(ctx, spec)
        fixed = spec.get("fixed_ips")
        if fixed is not None and not isinstance(fixed, list):
            raise bad("Invalid input for fixed_ips. Reason: must be a list.")
        sgs = spec.get("security_groups")
        extra = {
            k: spec[k]
            for k in (
                "admin_state_up",
                "device_id",
                "device_owner",
                "description",
                "allowed_address_pairs",
                "port_security_enabled",
                "mac_address",
            )
            if k in spec
        }
        return create_port(
            self.state,
            net,
            pid,
            fixed_ips=fixed,
            security_groups=sgs,
            name=str(spec.get("name", "")),
            **extra,
        )

    def c_sg(self, ctx: Ctx, spec: dict[str, Any]) -> Res:
        pid = self.owner(ctx, spec)
        quota_check(self.state, pid, "security_group", self.count("security-groups", pid))
        ts = now_iso()
        sg: Res = {
            "id": new_id(),
            "name": spec.get("name", ""),
            "description": spec.get("description", ""),
            "project_id": pid,
            "tenant_id": pid,
            "security_group_rules": [],
            "stateful": True,
            "tags": [],
            "created_at": ts,
            "updated_at": ts,
            "revision_number": 1,
        }
        self.state.security_groups[sg["id"]] = sg
        for eth in ("IPv4", "IPv6"):
            add_sg_rule(self.state, sg, direction="egress", ethertype=eth)
        return sg

    def c_rule(self, ctx: Ctx, spec: dict[str, Any]) -> Res:
        sg = self.get(ctx, "security-groups", str(spec.get("security_group_id")))
        direction = spec.get("direction")
        if direction not in ("ingress", "egress"):
            raise bad(
                f"Invalid input for direction. Reason: {direction!r} is not in "
                "['ingress', 'egress']."
            )
        fields: dict[str, Any] = {
            k: spec[k]
            for k in (
                "ethertype",
                "protocol",
                "port_range_min",
                "port_range_max",
                "remote_ip_prefix",
                "remote_group_id",
                "description",
            )
            if k in spec
        }
        lo, hi = fields.get("port_range_min"), fields.get("port_range_max")
        if lo is not None and hi is not None and int(lo) > int(hi):
            raise bad("For TCP/UDP protocols, port_range_min must be <= port_range_max")
        for rule in sg["security_group_rules"]:
            if all(
                rule.get(k) == v
                for k, v in dict(fields, direction=direction).items()
                if k != "description"
            ):
                raise APIError(
                    409,
                    f"Security group rule already exists. Rule id is {rule['id']}.",
                    kind="SecurityGroupRuleExists",
                )
        return add_sg_rule(self.state, sg, direction=direction, **fields)

    def remove(self, name: str, res: Res) -> None:
        if name == "networks":
            used = [
                p
                for p in self.state.ports.values()
                if p["network_id"] == res["id"] and p["device_owner"] not in AUTO_DELETE_OWNERS
            ]
            if used:
                raise APIError(
                    409,
                    f"Unable to complete operation on network {res['id']}. "
                    "There are one or more ports still in use on the network.",
                    kind="NetworkInUse",
                )
            for p in [p for p in self.state.ports.values() if p["network_id"] == res["id"]]:
                delete_port(self.state, p)
            for sid in res["subnets"]:
                self.state.subnets.pop(sid, None)
        elif name == "subnets":
            if any(
                ip["subnet_id"] == res["id"]
                for p in self.state.ports.values()
                for ip in p["fixed_ips"]
            ):
                raise APIError(
                    409,
                    f"Unable to complete operation on subnet {res['id']}: One "
                    "or more ports have an IP allocation from this subnet.",
                    kind="SubnetInUse",
                )
            self.state.networks[res["network_id"]]["subnets"].remove(res["id"])
        elif name == "ports":
            if res["device_owner"] == "network:router_interface":
                raise APIError(
                    409,
                    f"Port {res['id']} cannot be deleted directly via the port "
                    "API: has device owner network:router_interface.",
                    kind="ServicePortInUse",
                )
            delete_port(self.state, res)
            return
        elif name == "routers":
            if any(
                p["device_id"] == res["id"] and p["device_owner"] == "network:router_interface"
                for p in self.state.ports.values()
            ):
                raise APIError(409, f"Router {res['id']} still has ports", kind="RouterInUse")
            for svc in self.state.vpn.get("vpnservices", {}).values():
                if svc["router_id"] == res["id"]:
                    raise APIError(
                        409,
                        f"Router {res['id']} is used by VPNService {svc['id']}",
                        kind="RouterInUseByVPNService",
                    )
            for p in [p for p in self.state.ports.values() if p["device_id"] == res["id"]]:
                delete_port(self.state, p)
        elif name == "security-groups":
            if any(res["id"] in p["security_groups"] for p in self.state.ports.values()):
                raise APIError(
                    409, f"Security Group {res['id']} in use.", kind="SecurityGroupInUse"
                )
            for rule in res["security_group_rules"]:
                self.state.sg_rules.pop(rule["id"], None)
        elif name == "security-group-rules":
            sg = self.state.security_groups.get(res["security_group_id"])
            if sg is not None:
                sg["security_group_rules"] = [
                    x for x in sg["security_group_rules"] if x["id"] != res["id"]
                ]
        self.coll(name).pop(res["id"], None)
