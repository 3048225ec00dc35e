"""Glance v2: list/show/create/update/delete images, upload and download small raw data."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from cloudsim.auth import Ctx, context
from cloudsim.errors import APIError
from cloudsim.glance_ops import RESERVED, image_view, new_image
from cloudsim.keystone import base_url
from cloudsim.state import Res, SiteState, now_iso
from cloudsim.util import json_body, paginate

MAX_UPLOAD = 256 * 1024 * 1024
DISK_FORMATS = {"raw", "qcow2", "vmdk", "vdi", "iso", "ploop", "vhd", "vhdx", "aki", "ari", "ami"}
CONTAINER_FORMATS = {"bare", "ovf", "ova", "aki", "ari", "ami", "docker", "compressed"}


def _bad(msg: str) -> APIError:
    return APIError(400, msg)


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/image")

    @r.get("")
    @r.get("/")
    async def versions() -> JSONResponse:
        base = base_url(state)
        vs = [
            {
                "id": f"v2.{i}",
                "status": "CURRENT" if i == 16 else "SUPPORTED",
                "links": [{"rel": "self", "href": f"{base}/image/v2/"}],
            }
            for i in (16, 15, 9)
        ]
        return JSONResponse({"versions": vs}, status_code=300)

    def visible(ctx: Ctx, img: Res) -> bool:
        return (
            ctx.is_admin
            or img["owner"] == ctx.project_id
            or img["visibility"] in ("public", "community", "shared")
        )

    def get(ctx: Ctx, iid: str) -> Res:
        img = state.images.get(iid)
        if img is None or not visible(ctx, img):
            raise APIError(404, f"No image found with ID {iid}")
        return img

    @r.get("/v2/images")
    async def list_images(request: Request) -> Res:
        ctx = context(state, request)
        q = request.query_params
        items = [i for i in state.images.values() if visible(ctx, i)]
        for key in ("name", "status", "visibility", "owner", "disk_format", "container_format"):
            if key in q:
                items = [i for i in items if str(i.get(key)) == q[key]]
        if "tag" in q:
            items = [i for i in items if set(q.getlist("tag")) <= set(i["tags"])]
        for key, val in q.items():
            if key not in RESERVED and key not in (
                "limit",
                "marker",
                "sort",
                "sort_key",
                "sort_dir",
                "tag",
                "member_status",
            ):
                items = [i for i in items if i["properties"].get(key) == val]
        items.reverse()
        page = paginate(items, request)
        out: Res = {
            "images": [image_view(i) for i in page],
            "first": "/v2/images",
            "schema": "/v2/schemas/images",
        }
        if q.get("limit") and page and len(page) == int(q["limit"]):
            out["next"] = f"/v2/images?marker={page[-1]['id']}&limit={q['limit']}"
        return out

    @r.get("/v2/images/{iid}")
    async def show(iid: str, request: Request) -> Res:
        return image_view(get(context(state, request), iid))

    @r.post("/v2/images", status_code=201)
    async def create(request: Request) -> JSONResponse:
        ctx = context(state, request)
        body = await json_body(request)
        visibility = body.get("visibility", "shared")
        if visibility not in ("public", "private", "shared", "community"):
            raise _bad(f"Invalid value '{visibility}' for parameter 'visibility'.")
        if visibility == "public" and not ctx.is_admin:
            raise APIError(403, "You are not authorized to complete publicize_image action.")
        df, cf = body.get("disk_format"), body.get("container_format")
        if df is not None and df not in DISK_FORMATS:
            raise _bad(f"Invalid value '{df}' for parameter 'disk_format'.")
        if cf is not None and cf not in CONTAINER_FORMATS:
            raise _bad(f"Invalid value '{cf}' for parameter 'container_format'.")
        for key in ("id", "status", "size", "checksum", "owner", "created_at", "file"):
            if key in body and key != "id":
                raise APIError(403, f"Attribute '{key}' is read-only.")
        if "id" in body and body["id"] in state.images:
            raise APIError(409, f"Image with identifier {body['id']} already exists!")
        props = {k: v for k, v in body.items() if k not in RESERVED}
        img = new_image(
            state,
            name=body.get("name"),
            owner=ctx.project_id,
            visibility=visibility,
            disk_format=df,
            container_format=cf,
            min_disk=int(body.get("min_disk", 0)),
            min_ram=int(body.get("min_ram", 0)),
            protected=bool(body.get("protected", False)),
            tags=list(body.get("tags") or []),
            properties=props,
        )
        if "id" in body:
            state.images.pop(img["id"])
            img["id"] = str(body["id"])
            img["file"], img["self"] = f"/v2/images/{img['id']}/file", f"/v2/images/{img['id']}"
            state.images[img["id"]] = img
        return JSONResponse(
            image_view(img),
            status_code=201,
            headers={"Location": f"{base_url(state)}/image/v2/images/{img['id']}"},
        )

    @r.patch("/v2/images/{iid}")
    async def update(iid: str, request: Request) -> Res:
        ctx = context(state, request)
        img = get(ctx, iid)
        if img["owner"] != ctx.project_id and not ctx.is_admin:
            raise APIError(403, "You are not permitted to modify this image.")
        try:
            ops = json.loads(await request.body())
        except ValueError:
            raise _bad("Malformed JSON patch") from None
        if not isinstance(ops, list):
            raise _bad("Request body must be a JSON array of operation objects.")
        for op in ops:
            _apply(img, op)
        img["updated_at"] = now_iso()
        return image_view(img)

    @r.delete("/v2/images/{iid}", status_code=204)
    async def delete(iid: str, request: Request) -> Response:
        ctx = context(state, request)
        img = get(ctx, iid)
        if img["owner"] != ctx.project_id and not ctx.is_admin:
            raise APIError(403, "You are not permitted to delete this image.")
        if img["protected"]:
            raise APIError(403, f"Image {iid} is protected and cannot be deleted.")
        (state.images_dir / iid).unlink(missing_ok=True)
        del state.images[iid]
        return Response(status_code=204)

    @r.put("/v2/images/{iid}/file", status_code=204)
    async def upload(iid: str, request: Request) -> Response:
        ctx = context(state, request)
        img = get(ctx, iid)
        if img["status"] not in ("queued", "saving"):
            raise APIError(
                409, f"Image status transition from {img['status']} to saving is not allowed"
            )
        if img["disk_format"] is None or img["container_format"] is None:
            raise _bad("Properties disk_format, container_format must be set prior to saving data.")
        size = 0
        md5, sha = hashlib.md5(), hashlib.sha512()
        path = state.images_dir / iid
        img["status"] = "saving"
        with path.open("wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_UPLOAD:
                    fh.close()
                    path.unlink(missing_ok=True)
                    img["status"] = "queued"
                    raise APIError(
                        413,
                        f"Image exceeds the storage quota: {MAX_UPLOAD} bytes maximum in cloudsim.",
                    )
                md5.update(chunk)
                sha.update(chunk)
                fh.write(chunk)
        img.update(
            status="active",
            size=size,
            virtual_size=size,
            checksum=md5.hexdigest(),
            os_hash_algo="sha512",
            os_hash_value=sha.hexdigest(),
            updated_at=now_iso(),
        )
        return Response(status_code=204)

    @r.get("/v2/images/{iid}/file", response_model=None)
    async def download(iid: str, request: Request) -> Response:
        img = get(context(state, request), iid)
        if img["status"] != "active" or not (state.images_dir / iid).exists():
            return Response(status_code=204)
        return FileResponse(
            state.images_dir / iid,
            media_type="application/octet-stream",
            headers={"Content-MD5": img["checksum"] or ""},
        )

    @r.put("/v2/images/{iid}/tags/{tag}", status_code=204)
    async def add_tag(iid: str, tag: str, request: Request) -> Response:
        img = get(context(state, request), iid)
        if tag not in img["tags"]:
            img["tags"].append(tag)
        return Response(status_code=204)

    @r.delete("/v2/images/{iid}/tags/{tag}", status_code=204)
    async def del_tag(iid: str, tag: str, request: Request) -> Response:
        img = get(context(state, request), iid)
        if tag not in img["tags"]:
            raise APIError(404, f"Tag {tag} not found")
        img["tags"].remove(tag)
        return Response(status_code=204)

    @r.get("/v2/schemas/image")
    async def schema(request: Request) -> Res:
        context(state, request)
        return {
            "name": "image",
            "properties": {k: {} for k in sorted(RESERVED)},
            "additionalProperties": {"type": "string"},
            "links": [],
        }

    @r.get("/v2/info/import")
    async def import_info(request: Request) -> Res:
        context(state, request)
        return {
            "import-methods": {
                "description": "Import methods available.",
                "type": "array",
                "value": [],
            }
        }

    @r.get("/v2/info/stores")
    async def stores(request: Request) -> Res:
        context(state, request)
        return {"stores": [{"id": "local", "default": True, "description": "cloudsim"}]}

    return r


def _apply(img: Res, op: Any) -> None:
    if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
        raise _bad("Unable to find 'op' in JSON Schema change; must be add, replace or remove.")
    path = op.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _bad(f"Invalid JSON pointer for this resource: '{path}'")
    key = path[1:]
    if key in (
        "id",
        "status",
        "size",
        "checksum",
        "created_at",
        "updated_at",
        "file",
        "self",
        "owner",
        "os_hash_value",
        "os_hash_algo",
        "virtual_size",
    ):
        raise APIError(403, f"Attribute '{key}' is read-only.")
    if op["op"] == "remove":
        if key in img["properties"]:
            del img["properties"][key]
        elif key in RESERVED:
            raise APIError(403, f"Attribute '{key}' is reserved.")
        else:
            raise APIError(409, f"Property {key} does not exist.")
        return
    if "value" not in op:
        raise _bad("Operation objects must contain exactly one member named 'value'.")
    if key in RESERVED:
        img[key] = op["value"]
    else:
        img["properties"][key] = op["value"]
