"""Glance image records (shared by the Glance API and Nova's createImage)."""

from __future__ import annotations

from typing import Any

from cloudsim.state import Res, SiteState, new_id, now_iso

RESERVED = {
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "owner",
    "container_format",
    "disk_format",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "min_disk",
    "min_ram",
    "tags",
    "created_at",
    "updated_at",
    "file",
    "self",
    "schema",
    "os_hidden",
    "properties",
    "direct_url",
    "locations",
    "stores",
}


def new_image(
    state: SiteState,
    *,
    name: str | None,
    owner: str,
    visibility: str = "private",
    disk_format: str | None = None,
    container_format: str | None = None,
    min_disk: int = 0,
    min_ram: int = 0,
    protected: bool = False,
    tags: list[str] | None = None,
    properties: dict[str, Any] | None = None,
) -> Res:
    iid = new_id()
    ts = now_iso()
    img: Res = {
        "id": iid,
        "name": name,
        "status": "queued",
        "visibility": visibility,
        "protected": protected,
        "owner": owner,
        "container_format": container_format,
        "disk_format": disk_format,
        "size": None,
        "virtual_size": None,
        "checksum": None,
        "os_hash_algo": None,
        "os_hash_value": None,
        "min_disk": min_disk,
        "min_ram": min_ram,
        "tags": list(tags or []),
        "created_at": ts,
        "updated_at": ts,
        "file": f"/v2/images/{iid}/file",
        "self": f"/v2/images/{iid}",
        "schema": "/v2/schemas/image",
        "os_hidden": False,
        "properties": dict(properties or {}),
    }
    state.images[iid] = img
    return img


def image_view(img: Res) -> Res:
    """Glance v2 shows custom properties as top-level keys."""
    out = {k: v for k, v in img.items() if k != "properties" and not k.startswith("_")}
    out.update(img["properties"])
    out["tags"] = list(img["tags"])
    return out
