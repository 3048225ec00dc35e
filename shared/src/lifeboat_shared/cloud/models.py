"""Typed, immutable views of cloud resources, as Lifeboat needs them.

The driver returns these instead of openstacksdk resources so callers get plain, validated values
(safe to log, serialise into events, compare in tests) and never hold an SDK object that could
lazily call the cloud from the event loop.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CatalogEndpoint(_Model):
    service_type: str
    interface: str
    region: str | None
    url: str


class AuthInfo(_Model):
    """What an auth/catalog check proved: who we are and which services the site offers."""

    project_id: str
    user_id: str | None
    region: str | None
    endpoints: tuple[CatalogEndpoint, ...]
    project_name: str | None = None

    def has_service(self, service_type: str) -> bool:
        """True when the catalog lists `service_type` (with aliases like volumev3 -> volume)."""
        wanted = {service_type}
        if service_type in ("volume", "block-storage", "volumev3"):
            wanted |= {"volume", "block-storage", "volumev3"}
        return any(e.service_type in wanted for e in self.endpoints)


class Flavor(_Model):
    id: str | None
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


class ServerVolume(_Model):
    """A volume attached to a server, as Nova reports it."""

    server_id: str
    volume_id: str
    device: str | None = None
    attachment_id: str | None = None


class ServerAddress(_Model):
    network: str
    address: str
    version: int | None = None
    kind: str | None = None  # "fixed" / "floating"
    mac: str | None = None


class Server(_Model):
    id: str
    name: str
    status: str
    flavor: Flavor | None
    image_id: str | None
    metadata: dict[str, str] = Field(default_factory=dict)
    volume_ids: tuple[str, ...] = ()
    addresses: tuple[ServerAddress, ...] = ()
    availability_zone: str | None = None
    key_name: str | None = None
    project_id: str | None = None
    created_at: str | None = None

    @property
    def is_volume_backed(self) -> bool:
        return not self.image_id


class VolumeAttachmentRef(_Model):
    """One attachment of a volume (to a server or to a host through the attachments API)."""

    attachment_id: str | None
    server_id: str | None
    device: str | None = None
    host_name: str | None = None


class Volume(_Model):
    id: str
    name: str | None
    status: str
    size_gb: int
    volume_type: str | None = None
    bootable: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)
    attachments: tuple[VolumeAttachmentRef, ...] = ()
    snapshot_id: str | None = None
    source_volume_id: str | None = None
    group_id: str | None = None
    availability_zone: str | None = None
    created_at: str | None = None
    project_id: str | None = None  # shown to admins only (os-vol-tenant-attr:tenant_id)


class Snapshot(_Model):
    id: str
    name: str | None
    status: str
    volume_id: str
    size_gb: int | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    group_snapshot_id: str | None = None
    created_at: str | None = None


class VolumeType(_Model):
    id: str
    name: str


class GroupType(_Model):
    id: str
    name: str


class VolumeGroup(_Model):
    id: str
    name: str | None
    status: str
    description: str | None = None
    group_type: str | None = None
    volume_types: tuple[str, ...] = ()
    volume_ids: tuple[str, ...] = ()


class GroupSnapshot(_Model):
    id: str
    name: str | None
    status: str
    group_id: str | None
    description: str | None = None


class Attachment(_Model):
    """A Cinder attachment (attachments API): how a host other than Nova reaches a volume.

    `connection_info` is always in the os-brick shape Nova hands to its connectors,
    {"driver_volume_type": ..., "data": {...}}, whichever shape the cloud answered with.
    """

    id: str
    volume_id: str
    status: str | None
    instance_id: str | None = None
    attach_mode: str | None = None
    connection_info: dict[str, object] | None = None

    @property
    def driver_volume_type(self) -> str | None:
        value = (self.connection_info or {}).get("driver_volume_type")
        return str(value) if value is not None else None

    @property
    def connection_data(self) -> dict[str, object]:
        data = (self.connection_info or {}).get("data")
        return dict(data) if isinstance(data, dict) else {}

    @property
    def device_path(self) -> str | None:
        """The local path of the volume's data, for `local` connections (cloudsim, file driver)."""
        value = self.connection_data.get("device_path")
        return str(value) if value else None


class FixedIP(_Model):
    subnet_id: str | None
    ip_address: str | None


class Port(_Model):
    id: str
    name: str | None
    network_id: str
    status: str | None = None
    fixed_ips: tuple[FixedIP, ...] = ()
    mac_address: str | None = None
    device_id: str | None = None
    device_owner: str | None = None
    security_group_ids: tuple[str, ...] = ()
    description: str | None = None
    tags: tuple[str, ...] = ()


class Network(_Model):
    id: str
    name: str | None
    status: str | None = None
    subnet_ids: tuple[str, ...] = ()
    is_external: bool = False
    is_shared: bool = False
    mtu: int | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()


class AllocationPool(_Model):
    start: str
    end: str


class Subnet(_Model):
    id: str
    name: str | None
    network_id: str
    cidr: str
    ip_version: int
    gateway_ip: str | None = None
    enable_dhcp: bool = True
    allocation_pools: tuple[AllocationPool, ...] = ()
    dns_nameservers: tuple[str, ...] = ()
    description: str | None = None
    tags: tuple[str, ...] = ()


class Router(_Model):
    id: str
    name: str | None
    status: str | None = None
    external_network_id: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()


class SecurityGroupRule(_Model):
    id: str
    security_group_id: str
    direction: str
    ethertype: str | None = None
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None


class SecurityGroup(_Model):
    id: str
    name: str
    description: str | None = None
    rules: tuple[SecurityGroupRule, ...] = ()
    tags: tuple[str, ...] = ()


class FloatingIP(_Model):
    id: str
    floating_ip_address: str | None
    floating_network_id: str
    port_id: str | None = None
    fixed_ip_address: str | None = None
    router_id: str | None = None
    status: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()


class Image(_Model):
    id: str
    name: str | None
    status: str
    size: int | None = None
    disk_format: str | None = None
    container_format: str | None = None
    visibility: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    snapshot_ids: tuple[str, ...] = ()  # from block_device_mapping of a volume-backed server image


class Inventory(_Model):
    """Everything Lifeboat needs to know about one project, from one round of list calls."""

    project_id: str
    servers: tuple[Server, ...]
    flavors: tuple[Flavor, ...]
    images: tuple[Image, ...]
    volumes: tuple[Volume, ...]
    ports: tuple[Port, ...]
    networks: tuple[Network, ...]
    subnets: tuple[Subnet, ...]
    security_groups: tuple[SecurityGroup, ...]
    floating_ips: tuple[FloatingIP, ...]

    def volumes_of(self, server_id: str) -> tuple[Volume, ...]:
        """Volumes attached to a server, whichever side (Nova or Cinder) reported it."""
        server = next((s for s in self.servers if s.id == server_id), None)
        ids = set(server.volume_ids) if server else set()
        return tuple(
            v
            for v in self.volumes
            if v.id in ids or any(a.server_id == server_id for a in v.attachments)
        )

    def ports_of(self, server_id: str) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.device_id == server_id)


class Zone(_Model):
    """A Designate zone. `status` is PENDING until the DNS backends have it, then ACTIVE."""

    id: str
    name: str
    status: str
    action: str | None = None  # CREATE / UPDATE / DELETE / NONE
    email: str | None = None
    ttl: int | None = None
    serial: int | None = None
    type: str | None = None  # PRIMARY / SECONDARY
    description: str | None = None
    project_id: str | None = None


class RecordSet(_Model):
    """A Designate recordset: every record of one (name, type) in a zone."""

    id: str
    zone_id: str
    name: str
    type: str
    records: tuple[str, ...]
    status: str
    action: str | None = None
    ttl: int | None = None  # None: the zone's default TTL
    zone_name: str | None = None
    description: str | None = None
    updated_at: str | None = None  # changes on every update: how a no-op upsert shows
