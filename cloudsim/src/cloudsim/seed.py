"""Seed data every site starts with: identities (admin/member/reader), flavors, an image,
volume and group types, the public/private networks and default security groups.

A YAML seed file (SiteConfig.seed) may replace the identity part; the rest mirrors what a fresh
devstack has, so the CLI and openstacksdk find familiar names.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cloudsim.state import Res, SiteState, new_id, now_iso

DEFAULT_IDENTITY: dict[str, Any] = {
    "projects": ["admin", "demo", "service"],
    "roles": ["admin", "member", "reader"],
    "users": [
        {
            "name": "admin",
            "password": "admin-password",
            "roles": {"admin": "admin", "demo": "admin"},
        },
        {"name": "demo", "password": "demo-password", "roles": {"demo": "member"}},
        {"name": "reader", "password": "reader-password", "roles": {"demo": "reader"}},
    ],
}


class SeedError(ValueError):
    """A seed file that does not describe projects, roles and users correctly."""


def validate_seed(data: Any) -> None:
    """Check a seed document ({identity: {projects, roles, users}}); raises SeedError naming
    the field."""
    if not isinstance(data, dict) or not isinstance(data.get("identity"), dict):
        raise SeedError("seed: a mapping with an 'identity' mapping is required")
    ident = data["identity"]
    for key in ("projects", "roles", "users"):
        if not isinstance(ident.get(key), list) or not ident[key]:
            raise SeedError(f"identity.{key}: a non-empty list is required")
    projects, roles = set(ident["projects"]), set(ident["roles"])
    for i, u in enumerate(ident["users"]):
        if not isinstance(u, dict) or not u.get("name") or not u.get("password"):
            raise SeedError(f"identity.users[{i}]: name and password are required")
        for p, r in (u.get("roles") or {}).items():
            if p not in projects or r not in roles:
                raise SeedError(f"identity.users[{i}].roles: unknown project {p!r} or role {r!r}")


FLAVORS = [
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("42", "m1.nano", 1, 128, 1),
]

SEED_IMAGE_BYTES = b"cloudsim-seed-image\n" * 512  # 10 KiB of recognisable raw content


def seed(state: SiteState) -> None:
    """Fill a fresh SiteState."""
    ident = (state.config.seed or {}).get("identity") or DEFAULT_IDENTITY
    dom: Res = {"id": "default", "name": "Default", "enabled": True, "description": ""}
    state.domains[dom["id"]] = dom
    by_name: dict[str, Res] = {}
    for pname in ident["projects"]:
        p = {
            "id": new_id().replace("-", ""),
            "name": pname,
            "domain_id": "default",
            "enabled": True,
            "description": "",
            "is_domain": False,
            "parent_id": "default",
            "tags": [],
        }
        state.projects[p["id"]] = p
        by_name[pname] = p
    roles: dict[str, Res] = {}
    for rname in ident["roles"]:
        r = {"id": new_id().replace("-", ""), "name": rname, "domain_id": None}
        state.roles[r["id"]] = r
        roles[rname] = r
    for u in ident["users"]:
        user = {
            "id": new_id().replace("-", ""),
            "name": u["name"],
            "domain_id": "default",
            "enabled": True,
            "password_expires_at": None,
            "_password": u["password"],
        }
        state.users[user["id"]] = user
        for pname, rname in u["roles"].items():
            state.assignments.append((user["id"], by_name[pname]["id"], roles[rname]["id"]))
    for fid, name, vcpus, ram, disk in FLAVORS:
        state.flavors[fid] = {
            "id": fid,
            "name": name,
            "vcpus": vcpus,
            "ram": ram,
            "disk": disk,
            "OS-FLV-EXT-DATA:ephemeral": 0,
            "swap": 0,
            "rxtx_factor": 1.0,
            "os-flavor-access:is_public": True,
            "OS-FLV-DISABLED:disabled": False,
            "description": None,
            "extra_specs": {},
        }
    vt: Res = {
        "id": new_id(),
        "name": "__DEFAULT__",
        "description": "Default Volume Type",
        "is_public": True,
        "extra_specs": {},
        "qos_specs_id": None,
        "os-volume-type-access:is_public": True,
    }
    state.volume_types[vt["id"]] = vt
    ssd = dict(vt, id=new_id(), name="ssd", description="Fast volumes", extra_specs={})
    state.volume_types[ssd["id"]] = ssd
    gt: Res = {
        "id": new_id(),
        "name": "default",
        "description": "group type with consistent group snapshots",
        "is_public": True,
        "group_specs": {"consistent_group_snapshot_enabled": "<is> True"},
    }
    state.group_types[gt["id"]] = gt
    admin_pid = by_name.get("admin", next(iter(by_name.values())))["id"]
    _seed_image(state, admin_pid)
    _seed_networks(state, admin_pid, by_name.get("demo"))
    for p in state.projects.values():
        default_security_group(state, p["id"])


def _seed_image(state: SiteState, owner: str) -> None:
    iid = new_id()
    path = state.images_dir / iid
    path.write_bytes(SEED_IMAGE_BYTES)
    ts = now_iso()
    state.images[iid] = {
        "id": iid,
        "name": "cirros",
        "status": "active",
        "visibility": "public",
        "protected": False,
        "owner": owner,
        "container_format": "bare",
        "disk_format": "raw",
        "size": len(SEED_IMAGE_BYTES),
        "virtual_size": len(SEED_IMAGE_BYTES),
        "checksum": hashlib.md5(SEED_IMAGE_BYTES).hexdigest(),
        "os_hash_algo": "sha512",
        "os_hash_value": hashlib.sha512(SEED_IMAGE_BYTES).hexdigest(),
        "min_disk": 0,
        "min_ram": 0,
        "tags": [],
        "created_at": ts,
        "updated_at": ts,
        "file": f"/v2/images/{iid}/file",
        "self": f"/v2/images/{iid}",
        "schema": "/v2/schemas/image",
        "os_hidden": False,
        "properties": {},
    }


def make_network(state: SiteState, project_id: str, name: str, **extra: Any) -> Res:
    ts = now_iso()
    net: Res = {
        "id": new_id(),
        "name": name,
        "admin_state_up": True,
        "status": "ACTIVE",
        "subnets": [],
        "shared": False,
        "router:external": False,
        "mtu": 1450,
        "project_id": project_id,
        "tenant_id": project_id,
        "port_security_enabled": True,
        "availability_zones": ["nova"],
        "availability_zone_hints": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "is_default": False,
        "description": "",
        "tags": [],
        "created_at": ts,
        "updated_at": ts,
        "revision_number": 1,
        "provider:network_type": "vxlan",
        "provider:physical_network": None,
        "provider:segmentation_id": 1000 + len(state.networks),
    }
    net.update(extra)
    state.networks[net["id"]] = net
    return net


def make_subnet(state: SiteState, net: Res, name: str, cidr: str, **extra: Any) -> Res:
    import ipaddress

    n = ipaddress.ip_network(cidr, strict=False)
    gateway = str(next(n.hosts()))
    pools = extra.pop("allocation_pools", None)
    if pools is None:
        last = str(n.broadcast_address - 1) if n.version == 4 else str(n[-2])
        pools = [{"start": str(ipaddress.ip_address(gateway) + 1), "end": last}]
    ts = now_iso()
    sub: Res = {
        "id": new_id(),
        "name": name,
        "network_id": net["id"],
        "cidr": str(n),
        "ip_version": n.version,
        "gateway_ip": gateway,
        "allocation_pools": pools,
        "enable_dhcp": True,
        "dns_nameservers": [],
        "host_routes": [],
        "project_id": net["project_id"],
        "tenant_id": net["project_id"],
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
        "subnetpool_id": None,
        "service_types": [],
        "description": "",
        "tags": [],
        "created_at": ts,
        "updated_at": ts,
        "revision_number": 0,
    }
    sub.update(extra)
    state.subnets[sub["id"]] = sub
    net["subnets"].append(sub["id"])
    return sub


def _seed_networks(state: SiteState, admin_pid: str, demo: Res | None) -> None:
    public = make_network(state, admin_pid, "public", **{"router:external": True, "shared": False})
    make_subnet(state, public, "public-subnet", "172.24.4.0/24", enable_dhcp=False)
    if demo is not None:
        private = make_network(state, demo["id"], "private")
        make_subnet(state, private, "private-subnet", "10.0.0.0/16")
    shared = make_network(state, admin_pid, "shared", shared=True)
    make_subnet(state, shared, "shared-subnet", "192.168.233.0/24")


def default_security_group(state: SiteState, project_id: str) -> Res:
    """The project's 'default' group (created on first need, as Neutron does)."""
    for existing in state.security_groups.values():
        if existing["project_id"] == project_id and existing["name"] == "default":
            return existing
    ts = now_iso()
    sg: Res = {
        "id": new_id(),
        "name": "default",
        "description": "Default security group",
        "project_id": project_id,
        "tenant_id": project_id,
        "security_group_rules": [],
        "stateful": True,
        "tags": [],
        "created_at": ts,
        "updated_at": ts,
        "revision_number": 1,
    }
    state.security_groups[sg["id"]] = sg
    for ethertype in ("IPv4", "IPv6"):
        add_sg_rule(state, sg, direction="egress", ethertype=ethertype)
        add_sg_rule(state, sg, direction="ingress", ethertype=ethertype, remote_group_id=sg["id"])
    return sg


def add_sg_rule(state: SiteState, sg: Res, **fields: Any) -> Res:
    ts = now_iso()
    rule: Res = {
        "id": new_id(),
        "security_group_id": sg["id"],
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": None,
        "port_range_min": None,
        "port_range_max": None,
        "remote_ip_prefix": None,
        "remote_group_id": None,
        "remote_address_group_id": None,
        "normalized_cidr": None,
        "description": "",
        "project_id": sg["project_id"],
        "tenant_id": sg["project_id"],
        "tags": [],
        "created_at": ts,
        "updated_at": ts,
        "revision_number": 0,
        "belongs_to_default_sg": sg["name"] == "default",
    }
    rule.update(fields)
    if rule["remote_ip_prefix"]:
        rule["normalized_cidr"] = rule["remote_ip_prefix"]
    state.sg_rules[rule["id"]] = rule
    sg["security_group_rules"].append(rule)
    return rule
