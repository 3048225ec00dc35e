"""Cinder volume operations shared by the Cinder API and by Nova (boot from volume, attach,
createImage): creating volume records with their data, status changes, attach/detach."""

from __future__ import annotations

from typing import Any

from cloudsim.errors import APIError, bad_request, not_found
from cloudsim.state import Res, SiteState, new_id, now_iso_micro

GIB = 1024**3


def default_type(state: SiteState) -> Res:
    return next(t for t in state.volume_types.values() if t["name"] == "__DEFAULT__")


def find_type(state: SiteState, ref: str | None) -> Res:
    if ref is None:
        return default_type(state)
    for t in state.volume_types.values():
        if ref in (t["id"], t["name"]):
            return t
    raise APIError(404, f"Volume type with name {ref} could not be found.")


def check_volume_quota(state: SiteState, project_id: str, size_gib: int, count: int = 1) -> None:
    vols = [v for v in state.volumes.values() if v["os-vol-tenant-attr:tenant_id"] == project_id]
    limit = state.quota(project_id, "volumes")
    if limit >= 0 and len(vols) + count > limit:
        raise APIError(
            413,
            f"VolumeLimitExceeded: Maximum number of volumes allowed ({limit}) exceeded for "
            "quota 'volumes'.",
        )
    glimit = state.quota(project_id, "gigabytes")
    used = sum(v["size"] for v in vols)
    if glimit >= 0 and used + size_gib * count > glimit:
        raise APIError(
            413,
            f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
            f"gigabytes quota. Requested {size_gib}G, quota is {glimit}G and {used}G has been "
            "consumed.",
        )


def new_volume(
    state: SiteState,
    *,
    project_id: str,
    user_id: str,
    size: int,
    name: str | None = None,
    description: str | None = None,
    volume_type: str | None = None,
    metadata: dict[str, str] | None = None,
    snapshot_id: str | None = None,
    source_volid: str | None = None,
    backup_id: str | None = None,
    image_id: str | None = None,
    availability_zone: str | None = None,
    multiattach: bool = False,
    group_id: str | None = None,
    immediate: bool = False,
) -> Res:
    """Create a volume record and its data; status goes creating -> available after a delay."""
    if size < 1:
        raise bad_request("Invalid input received: 'size' must be an integer >= 1.")
    vtype = find_type(state, volume_type)
    check_volume_quota(state, project_id, size)
    vid = new_id()
    size_bytes = size * GIB
    bs = state.blockstore
    image_meta: dict[str, str] | None = None
    bootable = False
    if snapshot_id is not None:
        snap = state.snapshots.get(snapshot_id)
        if snap is None:
            raise not_found("Snapshot", snapshot_id)
        if snap["status"] != "available":
            raise bad_request(
                f"Invalid snapshot: Originating snapshot status must be one of "
                f"'available' values, it is {snap['status']}."
            )
        if size < snap["size"]:
            raise bad_request(
                f"Invalid input received: Volume size '{size}'GB cannot be smaller "
                f"than the snapshot size {snap['size']}GB."
            )
        bs.create_volume_from_snapshot(vid, snapshot_id, size_bytes)
        src = state.volumes.get(snap["volume_id"])
        bootable = src is not None and src["bootable"] == "true"
        if src is not None and src.get("volume_image_metadata"):
            image_meta = dict(src["volume_image_metadata"])
    elif backup_id is not None:
        backup = state.backups.get(backup_id)
        if backup is None:
            raise not_found("Backup", backup_id)
        if backup["status"] != "available":
            raise bad_request(
                f"Invalid backup: Backup status must be available, it is {backup['status']}."
            )
        if size < backup["size"]:
            raise bad_request(
                "Invalid input received: volume size cannot be smaller than the backup size."
            )
        bs.create_volume_from_backup(vid, backup_id, size_bytes)
    elif source_volid is not None:
        srcv = state.volumes.get(source_volid)
        if srcv is None:
            raise not_found("Volume", source_volid)
        # Clone through a transient snapshot: one consistent copy of the source.
        tmp = "clone-" + vid
        bs.create_snapshots({tmp: source_volid})
        try:
            bs.create_volume_from_snapshot(vid, tmp, size_bytes)
        finally:
            bs.delete_snapshot(tmp)
        bootable = srcv["bootable"] == "true"
    elif image_id is not None:
        img = state.images.get(image_id)
        if img is None:
            raise APIError(404, f"Image {image_id} could not be found.")
        if img["status"] != "active":
            raise bad_request(f"Invalid image {image_id}: image status is {img['status']}.")
        if (img.get("size") or 0) > size_bytes:
            raise bad_request(
                f"Invalid input received: Size of specified image {img['size']} "
                f"is larger than volume size {size_bytes}."
            )
        bs.create_volume_from_image(vid, state.images_dir / image_id, size_bytes)
        bootable = True
        image_meta = {
            "image_id": image_id,
            "image_name": img["name"],
            "disk_format": str(img.get("disk_format")),
            "container_format": str(img.get("container_format")),
        }
    else:
        bs.create_volume(vid, size_bytes)
    ts = now_iso_micro()
    vol: Res = {
        "id": vid,
        "name": name,
        "description": description,
        "size": size,
        "status": "creating",
        "availability_zone": availability_zone or "nova",
        "created_at": ts,
        "updated_at": ts,
        "volume_type": vtype["name"],
        "volume_type_id": vtype["id"],
        "snapshot_id": snapshot_id,
        "source_volid": source_volid,
        "backup_id": backup_id,
        "bootable": "true" if bootable else "false",
        "encrypted": False,
        "multiattach": multiattach,
        "metadata": dict(metadata or {}),
        "attachments": [],
        "os-vol-tenant-attr:tenant_id": project_id,
        "user_id": user_id,
        "links": [],
        "replication_status": None,
        "consistencygroup_id": None,
        "group_id": group_id,
        "migration_status": None,
        "provider_id": None,
        "shared_targets": False,
        "service_uuid": None,
        "cluster_name": None,
        "consumes_quota": True,
        "os-vol-host-attr:host": "cloudsim@local#local",
        "os-vol-mig-status-attr:migstat": None,
        "os-vol-mig-status-attr:name_id": None,
    }
    if image_meta is not None:
        vol["volume_image_metadata"] = image_meta
    state.volumes[vid] = vol

    def ready() -> None:
        if vol["status"] == "creating":
            set_status(vol, "available")

    if immediate:
        ready()
    else:
        state.later(state.config.volume_create_s, ready)
    return vol


def set_status(res: Res, status: str) -> None:
    res["status"] = status
    res["updated_at"] = now_iso_micro()


def get_volume(state: SiteState, vid: str, project_id: str | None) -> Res:
    """The volume (settled) if visible to project_id (None = admin sees all), else 404."""
    state.settle()
    vol = state.volumes.get(vid)
    if vol is None or (
        project_id is not None and vol["os-vol-tenant-attr:tenant_id"] != project_id
    ):
        raise APIError(404, f"Volume {vid} could not be found.")
    return vol


def attach(
    state: SiteState, vol: Res, server_id: str, device: str, attachment_id: str | None = None
) -> Res:
    """Record a Nova attachment (volume becomes in-use)."""
    if vol["status"] not in ("available", "reserved") and not (
        vol["multiattach"] and vol["status"] == "in-use"
    ):
        raise bad_request(
            f"Invalid volume: volume {vol['id']} status must be available or downloading to "
            f"reserve, but the current status is {vol['status']}."
        )
    aid = attachment_id or new_id()
    att: Res = {
        "id": aid,
        "attachment_id": aid,
        "volume_id": vol["id"],
        "server_id": server_id,
        "host_name": None,
        "device": device,
        "attached_at": now_iso_micro(),
    }
    vol["attachments"].append(att)
    set_status(vol, "in-use")
    return att


def detach(state: SiteState, vol: Res, server_id: str) -> None:
    vol["attachments"] = [a for a in vol["attachments"] if a["server_id"] != server_id]
    for aid in [
        a
        for a, r in state.attachments.items()
        if r["volume_id"] == vol["id"] and r.get("instance") == server_id
    ]:
        del state.attachments[aid]
    if not vol["attachments"] and vol["status"] in ("in-use", "detaching", "attaching", "reserved"):
        set_status(vol, "available")


# Cinder's volume API says this whichever condition failed (it checks them all in one
# conditional update, so it cannot tell which one tripped).
UNDELETABLE = (
    "Invalid volume: Volume status must be available or error or error_restoring or "
    "error_extending or error_managing and must not be migrating, attached, belong to a group, "
    "have snapshots, awaiting a transfer, or be disassociated from snapshots after volume "
    "transfer."
)


def delete_volume(state: SiteState, vol: Res, *, cascade: bool = False) -> None:
    snaps = [s for s in state.snapshots.values() if s["volume_id"] == vol["id"]]
    deletable = vol["status"] in (
        "available",
        "error",
        "error_restoring",
        "error_extending",
        "error_managing",
    )
    if not deletable or (snaps and not cascade):
        raise bad_request(UNDELETABLE)
    for s in snaps:
        state.blockstore.delete_snapshot(s["id"])
        del state.snapshots[s["id"]]
    set_status(vol, "deleting")
    state.blockstore.delete_volume(vol["id"])
    del state.volumes[vol["id"]]


def new_snapshot(
    state: SiteState,
    vol: Res,
    *,
    name: str | None,
    description: str | None,
    metadata: dict[str, str] | None,
    project_id: str,
    user_id: str,
    group_snapshot_id: str | None = None,
) -> Res:
    """A snapshot record (the caller takes the data snapshot, possibly for many at once)."""
    ts = now_iso_micro()
    snap: Res = {
        "id": new_id(),
        "name": name,
        "description": description,
        "volume_id": vol["id"],
        "size": vol["size"],
        "status": "available",
        "created_at": ts,
        "updated_at": ts,
        "metadata": dict(metadata or {}),
        "progress": "100%",
        "os-extended-snapshot-attributes:project_id": project_id,
        "os-extended-snapshot-attributes:progress": "100%",
        "user_id": user_id,
        "group_snapshot_id": group_snapshot_id,
        "consumes_quota": True,
    }
    return snap


def snapshot_volumes(
    state: SiteState,
    vols: list[Res],
    *,
    project_id: str,
    user_id: str,
    name_fmt: str,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    group_snapshot_id: str | None = None,
) -> list[Res]:
    """Snapshot all `vols` at one instant (one BlockStore.create_snapshots call)."""
    limit = state.quota(project_id, "snapshots")
    used = sum(
        1
        for s in state.snapshots.values()
        if s["os-extended-snapshot-attributes:project_id"] == project_id
    )
    if limit >= 0 and used + len(vols) > limit:
        raise APIError(
            413, f"SnapshotLimitExceeded: Maximum number of snapshots allowed ({limit}) exceeded"
        )
    snaps = [
        new_snapshot(
            state,
            v,
            name=name_fmt.format(volume=v["name"] or v["id"]),
            description=description,
            metadata=metadata,
            project_id=project_id,
            user_id=user_id,
            group_snapshot_id=group_snapshot_id,
        )
        for v in vols
    ]
    state.blockstore.create_snapshots({s["id"]: s["volume_id"] for s in snaps})
    for s in snaps:
        state.snapshots[s["id"]] = s
    return snaps


def volume_view(vol: Res, *, admin: bool) -> dict[str, Any]:
    out = {k: v for k, v in vol.items() if not k.startswith("_")}
    if not admin:
        for k in (
            "os-vol-host-attr:host",
            "os-vol-mig-status-attr:migstat",
            "os-vol-mig-status-attr:name_id",
            "provider_id",
        ):
            out.pop(k, None)
    out["attachments"] = [dict(a) for a in vol["attachments"]]
    out["updated_at"] = vol["updated_at"]
    return out
