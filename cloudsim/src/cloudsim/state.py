"""In-memory state of one simulated site: identities, resources, quotas, pending transitions.

Resources are plain JSON-like dicts shaped like the API bodies, so handlers return them almost as
they are. Status transitions (BUILD -> ACTIVE, creating -> available) are recorded as due times
and applied lazily whenever a resource is read (`settle`), so nothing polls in the background and
the delay scales with `time_scale`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudsim.blockstore import BlockStore
from cloudsim.guest import GuestAgent, GuestServices

Res = dict[str, Any]

# Deliberately far above real OpenStack's defaults (Nova: 10 instances, 20 cores; Cinder: 10
# volumes; Neutron: 100 networks...): tests and benchmarks boot 1,000 VMs on one project. Limits
# are still enforced per project: lower them through the admin API (PUT /quotas/<project>) or the
# services' quota APIs to exercise quota errors.
DEFAULT_QUOTAS: dict[str, int] = {
    # nova
    "instances": 5000,
    "cores": 100000,
    "ram": 100000000,
    "key_pairs": 1000,
    "metadata_items": 128,
    # cinder
    "volumes": 5000,
    "gigabytes": 10000000,
    "snapshots": 10000,
    "backups": 5000,
    "backup_gigabytes": 10000000,
    "groups": 1000,
    # neutron
    "network": 1000,
    "subnet": 1000,
    "port": 20000,
    "router": 100,
    "floatingip": 1000,
    "security_group": 1000,
    "security_group_rule": 10000,
    # designate
    "zones": 100,
    "zone_recordsets": 5000,
}


def now_iso() -> str:
    """UTC timestamp as OpenStack prints it (no microseconds, 'Z')."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Token:
    token_id: str
    user: Res
    project: Res | None
    roles: list[Res]
    methods: list[str]
    issued_at: str
    expires_at: str
    expires_ts: float
    audit_id: str

    @property
    def is_admin(self) -> bool:
        return any(r["name"] == "admin" for r in self.roles)

    @property
    def project_id(self) -> str:
        return self.project["id"] if self.project else ""


@dataclass
class SiteConfig:
    name: str
    region: str
    data_dir: Path
    time_scale: float = 0.01
    host: str = "127.0.0.1"
    port: int = 0
    admin_port: int = 0
    admin_token: str = field(default_factory=lambda: secrets.token_hex(16))
    token_ttl_s: float = 3600.0
    # Base delays in seconds, multiplied by time_scale.
    server_build_s: float = 5.0
    volume_create_s: float = 2.0
    action_s: float = 1.0
    seed: dict[str, Any] | None = None

    def delay(self, base_s: float) -> float:
        return base_s * self.time_scale


@dataclass
class Pending:
    due: float
    apply: Callable[[], None]


class SiteState:
    """Everything one site knows; mutated only from the event loop (plus the thread-safe store)."""

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.blockstore = BlockStore(config.data_dir / "blockstore")
        self.images_dir = config.data_dir / "images"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.tokens: dict[str, Token] = {}
        self.domains: dict[str, Res] = {}
        self.projects: dict[str, Res] = {}
        self.users: dict[str, Res] = {}
        self.roles: dict[str, Res] = {}
        self.assignments: list[tuple[str, str, str]] = []  # (user_id, project_id, role_id)
        self.catalog_services: dict[str, Res] = {}  # registered in Keystone (keystone_catalog)
        self.catalog_endpoints: dict[str, Res] = {}
        self.flavors: dict[str, Res] = {}
        self.keypairs: dict[tuple[str, str], Res] = {}  # (user_id, name)
        self.server_groups: dict[str, Res] = {}
        self.servers: dict[str, Res] = {}
        self.agents: dict[str, GuestAgent] = {}
        self.services: dict[str, GuestServices] = {}  # health/exec endpoints of guests
        self.volume_types: dict[str, Res] = {}
        self.volumes: dict[str, Res] = {}
        self.snapshots: dict[str, Res] = {}
        self.group_types: dict[str, Res] = {}
        self.groups: dict[str, Res] = {}
        self.group_snapshots: dict[str, Res] = {}
        self.backups: dict[str, Res] = {}
        self.attachments: dict[str, Res] = {}
        self.networks: dict[str, Res] = {}
        self.subnets: dict[str, Res] = {}
        self.ports: dict[str, Res] = {}
        self.routers: dict[str, Res] = {}
        self.floatingips: dict[str, Res] = {}
        self.security_groups: dict[str, Res] = {}
        self.sg_rules: dict[str, Res] = {}
        self.images: dict[str, Res] = {}
        self.zones: dict[str, Res] = {}
        self.recordsets: dict[str, Res] = {}
        self.vpn: dict[str, dict[str, Res]] = {}  # VPNaaS collections by URL name
        self.quotas: dict[str, dict[str, int]] = {}
        self.pending: list[Pending] = []
        self.ip_cursor: dict[str, int] = {}  # subnet id -> next host offset to try

    # --- time and transitions -------------------------------------------------------------
    def later(self, base_s: float, apply: Callable[[], None]) -> None:
        """Run `apply` once `base_s * time_scale` seconds have passed (applied on next read)."""
        delay = self.config.delay(base_s)
        if delay <= 0:
            apply()
            return
        self.pending.append(Pending(time.monotonic() + delay, apply))

    def settle(self) -> None:
        """Apply every transition that is due."""
        if not self.pending:
            return
        now = time.monotonic()
        due = [p for p in self.pending if p.due <= now]
        if not due:
            return
        self.pending = [p for p in self.pending if p.due > now]
        for p in sorted(due, key=lambda p: p.due):
            p.apply()

    # --- quotas ---------------------------------------------------------------------------
    def quota(self, project_id: str, key: str) -> int:
        return self.quotas.get(project_id, {}).get(key, DEFAULT_QUOTAS.get(key, -1))

    def set_quotas(self, project_id: str, values: dict[str, int]) -> dict[str, int]:
        q = self.quotas.setdefault(project_id, {})
        q.update(values)
        return {k: self.quota(project_id, k) for k in DEFAULT_QUOTAS}

    # --- neutron IP allocation ------------------------------------------------------------
    def allocate_ip(self, subnet: Res, wanted: str | None = None) -> str:
        """A free address of `subnet` (or `wanted` if free); raises ValueError when none."""
        used = {
            ip["ip_address"]
            for p in self.ports.values()
            for ip in p["fixed_ips"]
            if ip["subnet_id"] == subnet["id"]
        }
        used |= {
            f["floating_ip_address"]
            for f in self.floatingips.values()
            if f.get("_subnet_id") == subnet["id"]
        }
        if subnet.get("gateway_ip") and wanted != subnet["gateway_ip"]:
            used.add(subnet["gateway_ip"])  # only a router interface may take the gateway
        if wanted is not None:
            if wanted in used:
                raise ValueError(f"IP address {wanted} already allocated in subnet {subnet['id']}")
            if ipaddress.ip_address(wanted) not in ipaddress.ip_network(subnet["cidr"]):
                raise ValueError(f"IP address {wanted} is not a valid IP for the specified subnet.")
            return wanted
        for pool in subnet["allocation_pools"]:
            start = int(ipaddress.ip_address(pool["start"]))
            end = int(ipaddress.ip_address(pool["end"]))
            size = end - start + 1
            cursor = self.ip_cursor.get(subnet["id"], 0)
            for i in range(size):
                cand = str(ipaddress.ip_address(start + (cursor + i) % size))
                if cand not in used:
                    self.ip_cursor[subnet["id"]] = (cursor + i + 1) % size
                    return cand
        raise ValueError(f"No more IP addresses available on network {subnet['network_id']}.")
