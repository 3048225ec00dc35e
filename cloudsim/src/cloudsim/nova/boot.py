"""What a new server boots with: the networks it asks for (or 'auto'/'none') and the volumes of
its block_device_mapping_v2 (existing, or created from an image, snapshot or blank)."""

from __future__ import annotations

from typing import Any

from cloudsim.cinder import ops as cinder
from cloudsim.errors import APIError, bad_request
from cloudsim.state import Res, SiteState
from cloudsim.util import get_bool, get_int, get_str


def resolve_networks(state: SiteState, spec: Any, project_id: str) -> list[tuple[str, Res]]:
    """[(kind, request)] resolved from the 'networks' field."""
    if spec is None or spec == "auto":
        nets = [
            n
            for n in state.networks.values()
            if n["project_id"] == project_id and not n["router:external"]
        ]
        nets = nets or [
            n for n in state.networks.values() if n["shared"] and not n["router:external"]
        ]
        return [("net", {"uuid": nets[0]["id"]})] if nets else []
    if spec == "none":
        return []
    if not isinstance(spec, list):
        raise bad_request(
            "Invalid input for field/attribute networks: must be 'auto', 'none' or a list."
        )
    out = []
    for n in spec:
        if not isinstance(n, dict):
            raise bad_request("Invalid input for field/attribute networks: items must be objects.")
        if n.get("port"):
            p = state.ports.get(n["port"])
            if p is None:
                raise APIError(404, f"Port id {n['port']} could not be found.")
            if p["device_id"]:
                raise APIError(409, f"Port {n['port']} is still in use.")
            out.append(("port", n))
        elif n.get("uuid"):
            if n["uuid"] not in state.networks:
                raise bad_request(f"Network {n['uuid']} could not be found.")
            out.append(("net", n))
        else:
            raise bad_request(
                "Invalid input for field/attribute networks: each item needs 'uuid' or 'port'."
            )
    return out


def boot_volumes(
    state: SiteState, bdms: Any, project_id: str, user_id: str, image_ref: str | None
) -> list[Res]:
    """Validate block_device_mapping_v2 and create/collect the volumes it names."""
    if not isinstance(bdms, list):
        raise bad_request(
            "Invalid input for field/attribute block_device_mapping_v2: must be a list."
        )
    out: list[Res] = []
    for i, b in enumerate(bdms):
        if not isinstance(b, dict):
            raise bad_request("Invalid input for field/attribute block_device_mapping_v2.")
        src = get_str(b, "source_type") or "volume"
        dest = get_str(b, "destination_type") or "volume"
        if src not in ("volume", "image", "snapshot", "blank"):
            raise bad_request(
                f"Invalid input for field/attribute source_type: {src!r} is not "
                "one of ['blank', 'image', 'snapshot', 'volume']."
            )
        if dest != "volume":
            if src == "image" and i == 0:
                continue  # local image disk, as a plain boot from image
            raise bad_request("cloudsim supports destination_type 'volume' only.")
        boot_index = get_int(b, "boot_index", default=0 if i == 0 else None)
        delete = get_bool(b, "delete_on_termination", False)
        uuid = get_str(b, "uuid") or (image_ref if src == "image" else None)
        size = get_int(b, "volume_size", minimum=1)
        if src == "volume":
            if not uuid:
                raise bad_request(
                    "Invalid input for field/attribute uuid: required for source_type volume."
                )
            vol = state.volumes.get(uuid)
            if vol is None or vol["os-vol-tenant-attr:tenant_id"] != project_id:
                raise bad_request(f"Invalid volume: Volume {uuid} could not be found.")
            if vol["status"] != "available":
                raise bad_request(
                    f"Invalid volume: volume {uuid} status must be available, "
                    f"but the current status is {vol['status']}."
                )
            if boot_index == 0 and vol["bootable"] != "true":
                # Nova's InvalidBDMVolumeNotBootable: only bootable volumes can be the root disk.
                raise bad_request(f"Block Device {uuid} is not bootable.")
        else:
            if src != "blank" and not uuid:
                raise bad_request(
                    f"Invalid input for field/attribute uuid: required for source_type {src}."
                )
            if size is None:
                if src == "snapshot" and uuid in state.snapshots:
                    size = state.snapshots[uuid]["size"]
                else:
                    raise bad_request(
                        "Invalid input for field/attribute volume_size: required "
                        f"for source_type {src}."
                    )
            vol = cinder.new_volume(
                state,
                project_id=project_id,
                user_id=user_id,
                size=size,
                snapshot_id=uuid if src == "snapshot" else None,
                image_id=uuid if src == "image" else None,
                immediate=True,
            )
        out.append(
            {
                "volume": vol,
                "boot_index": boot_index,
                "delete": delete,
                "device": get_str(b, "device_name"),
            }
        )
    out.sort(key=lambda r: (r["boot_index"] is None or r["boot_index"] < 0, r["boot_index"] or 0))
    return out
