"""Neutron port and floating IP logic shared by the Neutron API and Nova's server creation."""

from __future__ import annotations

import secrets
from typing import Any

from cloudsim.errors import APIError
from cloudsim.seed import default_security_group
from cloudsim.state import Res, SiteState, new_id, now_iso


def quota_check(state: SiteState, project_id: str, resource: str, used: int) -> None:
    limit = state.quota(project_id, resource)
    if limit >= 0 and used + 1 > limit:
        raise APIError(409, f"Quota exceeded for resources: ['{resource}'].", kind="OverQuota")


def mac() -> str:
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def create_port(
    state: SiteState,
    net: Res,
    project_id: str,
    *,
    fixed_ips: list[dict[str, Any]] | None = None,
    security_groups: list[str] | None = None,
    name: str = "",
    **extra: Any,
) -> Res:
    """A port on `net` with chosen fixed IPs or one auto-assigned from its first v4 subnet."""
    used = sum(1 for p in state.ports.values() if p["project_id"] == project_id)
    quota_check(state, project_id, "port", used)
    ips: list[Res] = []
    try:
        if fixed_ips:
            for spec in fixed_ips:
                sub_id = spec.get("subnet_id")
                addr = spec.get("ip_address")
                if sub_id is None:
                    sub_id = next(
                        (
                            s
                            for s in net["subnets"]
                            if addr is None or _in_subnet(state.subnets[s], addr)
                        ),
                        None,
                    )
                sub = state.subnets.get(sub_id) if sub_id else None
                if sub is None or sub["network_id"] != net["id"]:
                    raise APIError(
                        400,
                        f"Invalid input for operation: Failed to create port on "
                        f"network {net['id']}, because fixed_ips included "
                        f"invalid subnet {sub_id}.",
                        kind="InvalidInput",
                    )
                ips.append({"subnet_id": sub["id"], "ip_address": state.allocate_ip(sub, addr)})
        else:
            for sid in net["subnets"][:1]:
                sub = state.subnets[sid]
                ips.append({"subnet_id": sid, "ip_address": state.allocate_ip(sub)})
    except ValueError as exc:
        kind = "IpAddressInUse" if "already allocated" in str(exc) else "IpAddressGenerationFailure"
        status = 409 if kind != "InvalidInput" else 400
        if "not a valid IP" in str(exc):
            status, kind = 400, "InvalidIpForSubnet"
        raise APIError(status, str(exc), kind=kind) from None
    if security_groups is None:
        security_groups = [default_security_group(state, project_id)["id"]]
    ts = now_iso()
    port: Res = {
        "id": new_id(),
        "name": name,
        "network_id": net["id"],
        "mac_address": mac(),
        "admin_state_up": True,
        "status": "DOWN",
        "device_id": "",
        "device_owner": "",
        "fixed_ips": ips,
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "security_groups": list(security_groups),
        "port_security_enabled": True,
        "project_id": project_id,
        "tenant_id": project_id,
        "binding:vnic_type": "normal",
        "binding:host_id": "",
        "binding:vif_type": "unbound",
        "binding:vif_details": {},
        "binding:profile": {},
        "dns_name": "",
        "dns_assignment": [],
        "description": "",
        "tags": [],
        "qos_policy_id": None,
        "propagate_uplink_status": False,
        "created_at": ts,
        "updated_at": ts,
        "revision_number": 1,
    }
    port.update(extra)
    state.ports[port["id"]] = port
    return port


def _in_subnet(sub: Res, addr: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(addr) in ipaddress.ip_network(sub["cidr"])
    except ValueError:
        return False


def delete_port(state: SiteState, port: Res) -> None:
    for fip in state.floatingips.values():
        if fip["port_id"] == port["id"]:
            fip["port_id"] = None
            fip["fixed_ip_address"] = None
            fip["status"] = "DOWN"
    state.ports.pop(port["id"], None)
