"""Cloud API JSON -> Lifeboat models.

Converters read the field names of the OpenStack APIs themselves (`os-extended-volumes:
volumes_attached`, `router:external`, ...), so the same code serves two paths: the inventory,
which reads list responses as JSON through the SDK's adapters (building openstacksdk Resource
objects costs ~5 ms per server, far too slow for a 1,000-VM project), and single-resource calls,
whose SDK Resource is unwrapped with `raw()` first. They run in the worker thread; missing fields
become None (clouds differ by microversion and extension) rather than errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from lifeboat_shared.cloud import models

_GLANCE_CORE = frozenset(
    {
        "id", "name", "status", "size", "virtual_size", "disk_format", "container_format",
        "visibility", "checksum", "created_at", "updated_at", "owner", "protected", "os_hidden",
        "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "tags", "self", "file",
        "schema", "locations", "direct_url", "stores", "properties",
    }
)  # fmt: skip


def raw(res: Any) -> Mapping[str, Any]:
    """The API's own dict for an SDK Resource (or a dict passed through)."""
    # SDK Resources are themselves Mappings (keyed by the SDK's attribute names), so look for
    # the raw body first.
    body = getattr(getattr(res, "_body", None), "attributes", None)
    if isinstance(body, Mapping):
        return body
    if isinstance(res, Mapping):
        return res
    return dict(res.to_dict(headers=False, computed=False, original_names=True))


def _s(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _str_dict(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _tuple_str(values: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in values or () if v is not None)


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def flavor(res: Any) -> models.Flavor:
    d = raw(res)
    return models.Flavor(
        id=_s(d.get("id")),
        name=str(d.get("name") or d.get("original_name") or ""),
        vcpus=_int(d.get("vcpus")) or 0,
        ram_mb=_int(d.get("ram")) or 0,
        disk_gb=_int(d.get("disk")) or 0,
    )


def _server_addresses(addresses: Any) -> tuple[models.ServerAddress, ...]:
    out: list[models.ServerAddress] = []
    if not isinstance(addresses, Mapping):
        return ()
    for network_name, entries in addresses.items():
        for entry in entries or ():
            if not isinstance(entry, Mapping) or not entry.get("addr"):
                continue
            out.append(
                models.ServerAddress(
                    network=str(network_name),
                    address=str(entry["addr"]),
                    version=_int(entry.get("version")),
                    kind=_s(entry.get("OS-EXT-IPS:type")),
                    mac=_s(entry.get("OS-EXT-IPS-MAC:mac_addr")),
                )
            )
    return tuple(out)


def server(res: Any) -> models.Server:
    d = raw(res)
    raw_flavor = d.get("flavor")
    # Compute >= 2.47 embeds the flavor without its id; the inventory fills it in by name.
    server_flavor = flavor(raw_flavor) if isinstance(raw_flavor, Mapping) else None
    image = d.get("image")
    image_id = _s(image.get("id")) if isinstance(image, Mapping) else _s(image)
    volumes = d.get("os-extended-volumes:volumes_attached") or d.get("volumes_attached") or ()
    return models.Server(
        id=str(d["id"]),
        name=str(d.get("name") or ""),
        status=str(d.get("status") or "UNKNOWN"),
        flavor=server_flavor,
        image_id=image_id,
        metadata=_str_dict(d.get("metadata")),
        volume_ids=tuple(str(v["id"]) for v in volumes if isinstance(v, Mapping) and v.get("id")),
        addresses=_server_addresses(d.get("addresses")),
        availability_zone=_s(d.get("OS-EXT-AZ:availability_zone")),
        key_name=_s(d.get("key_name")),
        project_id=_s(d.get("tenant_id") or d.get("project_id")),
        created_at=_s(d.get("created")),
    )


def server_volume(res: Any, server_id: str) -> models.ServerVolume:
    d = raw(res)
    return models.ServerVolume(
        server_id=_s(d.get("serverId") or d.get("server_id")) or server_id,
        volume_id=str(d.get("volumeId") or d.get("volume_id") or d.get("id")),
        device=_s(d.get("device")),
        attachment_id=_s(d.get("attachment_id")),
    )


def volume(res: Any) -> models.Volume:
    d = raw(res)
    attachments = tuple(
        models.VolumeAttachmentRef(
            attachment_id=_s(a.get("attachment_id") or a.get("id")),
            server_id=_s(a.get("server_id")),
            device=_s(a.get("device")),
            host_name=_s(a.get("host_name")),
        )
        for a in d.get("attachments") or ()
        if isinstance(a, Mapping)
    )
    return models.Volume(
        id=str(d["id"]),
        name=_s(d.get("name")),
        status=str(d.get("status") or "unknown"),
        size_gb=_int(d.get("size")) or 0,
        volume_type=_s(d.get("volume_type")),
        bootable=_bool(d.get("bootable")),
        metadata=_str_dict(d.get("metadata")),
        attachments=attachments,
        snapshot_id=_s(d.get("snapshot_id")),
        source_volume_id=_s(d.get("source_volid")),
        group_id=_s(d.get("group_id")),
        availability_zone=_s(d.get("availability_zone")),
        created_at=_s(d.get("created_at")),
        project_id=_s(d.get("os-vol-tenant-attr:tenant_id")),
    )


def snapshot(res: Any) -> models.Snapshot:
    d = raw(res)
    return models.Snapshot(
        id=str(d["id"]),
        name=_s(d.get("name")),
        status=str(d.get("status") or "unknown"),
        volume_id=str(d.get("volume_id") or ""),
        size_gb=_int(d.get("size")),
        metadata=_str_dict(d.get("metadata")),
        group_snapshot_id=_s(d.get("group_snapshot_id")),
        created_at=_s(d.get("created_at")),
    )


def volume_type(res: Any) -> models.VolumeType:
    d = raw(res)
    return models.VolumeType(id=str(d["id"]), name=str(d.get("name") or d["id"]))


def group_type(res: Any) -> models.GroupType:
    d = raw(res)
    return models.GroupType(id=str(d["id"]), name=str(d.get("name") or d["id"]))


def volume_group(res: Any, volume_ids: Iterable[str] = ()) -> models.VolumeGroup:
    d = raw(res)
    listed = [str(v["id"] if isinstance(v, Mapping) else v) for v in d.get("volumes") or ()]
    return models.VolumeGroup(
        id=str(d["id"]),
        name=_s(d.get("name")),
        status=str(d.get("status") or "unknown"),
        description=_s(d.get("description")),
        group_type=_s(d.get("group_type")),
        volume_types=_tuple_str(d.get("volume_types")),
        volume_ids=tuple(listed) or tuple(volume_ids),
    )


def group_snapshot(res: Any) -> models.GroupSnapshot:
    d = raw(res)
    return models.GroupSnapshot(
        id=str(d["id"]),
        name=_s(d.get("name")),
        status=str(d.get("status") or "unknown"),
        group_id=_s(d.get("group_id")),
        description=_s(d.get("description")),
    )


def connection_info(info: Any) -> dict[str, object] | None:
    """Normalise to {"driver_volume_type", "data"}: real Cinder's attachments API answers flat
    (the driver's data with driver_volume_type beside it), which Nova re-nests the same way."""
    if not isinstance(info, Mapping) or not info:
        return None
    if isinstance(info.get("data"), Mapping):
        return {"driver_volume_type": info.get("driver_volume_type"), "data": dict(info["data"])}
    data = {k: v for k, v in info.items() if k != "driver_volume_type"}
    return {"driver_volume_type": info.get("driver_volume_type"), "data": data}


def attachment(res: Any) -> models.Attachment:
    d = raw(res)
    info = connection_info(d.get("connection_info"))
    return models.Attachment(
        id=str(d["id"]),
        volume_id=str(d.get("volume_id") or ""),
        status=_s(d.get("status")),
        instance_id=_s(d.get("instance")),
        attach_mode=_s(d.get("attach_mode") or d.get("mode")),
        connection_info=info,
    )


def port(res: Any) -> models.Port:
    d = raw(res)
    return models.Port(
        id=str(d["id"]),
        name=_s(d.get("name")),
        network_id=str(d.get("network_id") or ""),
        status=_s(d.get("status")),
        fixed_ips=tuple(
            models.FixedIP(subnet_id=_s(ip.get("subnet_id")), ip_address=_s(ip.get("ip_address")))
            for ip in d.get("fixed_ips") or ()
            if isinstance(ip, Mapping)
        ),
        mac_address=_s(d.get("mac_address")),
        device_id=_s(d.get("device_id")),
        device_owner=_s(d.get("device_owner")),
        security_group_ids=_tuple_str(d.get("security_groups")),
        description=_s(d.get("description")),
        tags=_tuple_str(d.get("tags")),
    )


def network(res: Any) -> models.Network:
    d = raw(res)
    return models.Network(
        id=str(d["id"]),
        name=_s(d.get("name")),
        status=_s(d.get("status")),
        subnet_ids=_tuple_str(d.get("subnets")),
        is_external=_bool(d.get("router:external")),
        is_shared=_bool(d.get("shared")),
        mtu=_int(d.get("mtu")),
        description=_s(d.get("description")),
        tags=_tuple_str(d.get("tags")),
    )


def subnet(res: Any) -> models.Subnet:
    d = raw(res)
    return models.Subnet(
        id=str(d["id"]),
        name=_s(d.get("name")),
        network_id=str(d.get("network_id") or ""),
        cidr=str(d.get("cidr") or ""),
        ip_version=_int(d.get("ip_version")) or 4,
        gateway_ip=_s(d.get("gateway_ip")),
        enable_dhcp=_bool(d.get("enable_dhcp", True)),
        allocation_pools=tuple(
            models.AllocationPool(start=str(p["start"]), end=str(p["end"]))
            for p in d.get("allocation_pools") or ()
            if isinstance(p, Mapping) and p.get("start") and p.get("end")
        ),
        dns_nameservers=_tuple_str(d.get("dns_nameservers")),
        description=_s(d.get("description")),
        tags=_tuple_str(d.get("tags")),
    )


def router(res: Any) -> models.Router:
    d = raw(res)
    gateway = d.get("external_gateway_info")
    return models.Router(
        id=str(d["id"]),
        name=_s(d.get("name")),
        status=_s(d.get("status")),
        external_network_id=_s(gateway.get("network_id")) if isinstance(gateway, Mapping) else None,
        description=_s(d.get("description")),
        tags=_tuple_str(d.get("tags")),
    )


def security_group_rule(res: Any) -> models.SecurityGroupRule:
    d = raw(res)
    return models.SecurityGroupRule(
        id=str(d["id"]),
        security_group_id=str(d.get("security_group_id") or ""),
        direction=str(d.get("direction") or ""),
        ethertype=_s(d.get("ethertype")),
        protocol=_s(d.get("protocol")),
        port_range_min=_int(d.get("port_range_min")),
        port_range_max=_int(d.get("port_range_max")),
        remote_ip_prefix=_s(d.get("remote_ip_prefix")),
        remote_group_id=_s(d.get("remote_group_id")),
    )


def security_group(res: Any) -> models.SecurityGroup:
    d = raw(res)
    return models.SecurityGroup(
        id=str(d["id"]),
        name=str(d.get("name") or ""),
        description=_s(d.get("description")),
        rules=tuple(security_group_rule(r) for r in d.get("security_group_rules") or ()),
        tags=_tuple_str(d.get("tags")),
    )


def floating_ip(res: Any) -> models.FloatingIP:
    d = raw(res)
    return models.FloatingIP(
        id=str(d["id"]),
        floating_ip_address=_s(d.get("floating_ip_address")),
        floating_network_id=str(d.get("floating_network_id") or ""),
        port_id=_s(d.get("port_id")),
        fixed_ip_address=_s(d.get("fixed_ip_address")),
        router_id=_s(d.get("router_id")),
        status=_s(d.get("status")),
        description=_s(d.get("description")),
        tags=_tuple_str(d.get("tags")),
    )


def _bdm_snapshot_ids(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return ()
    if not isinstance(value, list):
        return ()
    return tuple(
        str(m["snapshot_id"]) for m in value if isinstance(m, Mapping) and m.get("snapshot_id")
    )


def image(res: Any) -> models.Image:
    d = raw(res)
    # Glance returns custom properties at the top level; the SDK moves them under "properties".
    extra: dict[str, Any] = {k: v for k, v in d.items() if k not in _GLANCE_CORE}
    nested = d.get("properties")
    if isinstance(nested, Mapping):
        extra.update(nested)
    return models.Image(
        id=str(d["id"]),
        name=_s(d.get("name")),
        status=str(d.get("status") or "unknown"),
        size=_int(d.get("size")),
        disk_format=_s(d.get("disk_format")),
        container_format=_s(d.get("container_format")),
        visibility=_s(d.get("visibility")),
        properties={
            str(k): v if isinstance(v, str) else json.dumps(v)
            for k, v in extra.items()
            if v is not None
        },
        snapshot_ids=_bdm_snapshot_ids(extra.get("block_device_mapping")),
    )
