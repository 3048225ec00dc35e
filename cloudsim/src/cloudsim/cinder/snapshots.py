"""Cinder snapshots, generic volume groups, group snapshots (one instant across the group) and
two cloudsim extensions: changed extents (like `rbd diff --from-snap`, or the EBS direct APIs'
ListChangedBlocks) and snapshot block reads (like EBS's GetSnapshotBlock)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.auth import Ctx
from cloudsim.cinder import ops
from cloudsim.cinder.volumes import ctx_for, visible
from cloudsim.errors import APIError, bad_request
from cloudsim.state import Res, SiteState
from cloudsim.util import (
    eq_filters,
    get_bool,
    get_dict,
    get_str,
    json_body,
    match_metadata,
    member,
    paginate,
    str_metadata,
)
from cloudsim.versions import microversion

SNAP_PROJECT = "os-extended-snapshot-attributes:project_id"
MAX_BLOCK_READ = 64 * 1024 * 1024


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/volume/v3/{pid}")

    def snap_of(ctx: Ctx, sid: str) -> Res:
        state.settle()
        s = state.snapshots.get(sid)
        if s is None or not ctx.can_see(s[SNAP_PROJECT]):
            raise APIError(404, f"Snapshot {sid} could not be found.")
        return s

    def creating(res: Res, done: str = "available") -> None:
        res["status"] = "creating"

        def ready() -> None:
            if res["status"] == "creating":
                ops.set_status(res, done)

        state.later(state.config.volume_create_s, ready)

    # --- snapshots ----------------------------------------------------------------------------
    @r.post("/snapshots", status_code=202)
    async def create_snapshot(pid: str, request: Request) -> JSONResponse:
        ctx = ctx_for(state, request, pid)
        spec = member(await json_body(request), "snapshot")
        vid = get_str(spec, "volume_id", required=True) or ""
        vol = ops.get_volume(state, vid, None if ctx.is_admin else ctx.project_id)
        force = get_bool(spec, "force", False)
        if (
            vol["status"] == "in-use"
            and not force
            and microversion(request, "volume", "3.0") < (3, 66)
        ):
            raise bad_request(
                f"Invalid volume: Volume {vid} status must be available, but "
                f"current status is: in-use."
            )
        if vol["status"] not in ("available", "in-use"):
            raise bad_request(
                f"Invalid volume: Volume {vid} status must be available or "
                f"in-use, but current status is: {vol['status']}."
            )
        (snap,) = ops.snapshot_volumes(
            state,
            [vol],
            project_id=vol["os-vol-tenant-attr:tenant_id"],
            user_id=ctx.user_id,
            name_fmt=get_str(spec, "name") or "",
            description=get_str(spec, "description"),
            metadata=str_metadata(get_dict(spec, "metadata")),
        )
        if snap["name"] == "":
            snap["name"] = None
        creating(snap)
        return JSONResponse({"snapshot": dict(snap)}, status_code=202)

    def filtered(ctx: Ctx, request: Request) -> list[Res]:
        state.settle()
        scope = visible(ctx, request)
        items = [s for s in state.snapshots.values() if scope is None or s[SNAP_PROJECT] == scope]
        items = eq_filters(items, request, ("name", "status", "volume_id", "group_snapshot_id"))
        if "metadata" in request.query_params:
            items = [
                s for s in items if match_metadata(s["metadata"], request.query_params["metadata"])
            ]
        items.reverse()
        return paginate(items, request)

    @r.get("/snapshots")
    async def list_snapshots(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        return {
            "snapshots": [
                {
                    "id": s["id"],
                    "name": s["name"],
                    "status": s["status"],
                    "volume_id": s["volume_id"],
                    "size": s["size"],
                    "created_at": s["created_at"],
                    "metadata": s["metadata"],
                    "description": s["description"],
                }
                for s in filtered(ctx, request)
            ]
        }

    @r.get("/snapshots/detail")
    async def list_snapshots_detail(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        return {"snapshots": [dict(s) for s in filtered(ctx, request)]}

    @r.get("/snapshots/{sid}")
    async def show_snapshot(pid: str, sid: str, request: Request) -> Res:
        return {"snapshot": dict(snap_of(ctx_for(state, request, pid), sid))}

    @r.put("/snapshots/{sid}")
    async def update_snapshot(pid: str, sid: str, request: Request) -> Res:
        snap = snap_of(ctx_for(state, request, pid), sid)
        spec = member(await json_body(request), "snapshot")
        for key in ("name", "description"):
            if key in spec:
                snap[key] = get_str(spec, key)
        return {"snapshot": dict(snap)}

    @r.delete("/snapshots/{sid}", status_code=202)
    async def delete_snapshot(pid: str, sid: str, request: Request) -> Response:
        snap = snap_of(ctx_for(state, request, pid), sid)
        if snap["status"] not in ("available", "error"):
            raise bad_request(
                f"Invalid snapshot: Snapshot status must be available or error, "
                f"it is {snap['status']}."
            )
        if snap["group_snapshot_id"] and snap["group_snapshot_id"] in state.group_snapshots:
            raise bad_request(
                "Invalid snapshot: Snapshot belongs to a group snapshot; delete "
                "the group snapshot instead."
            )
        state.blockstore.delete_snapshot(sid)
        del state.snapshots[sid]
        return Response(status_code=202)

    @r.get("/snapshots/{sid}/metadata")
    async def snapshot_metadata(pid: str, sid: str, request: Request) -> Res:
        return {"metadata": dict(snap_of(ctx_for(state, request, pid), sid)["metadata"])}

    @r.post("/snapshots/{sid}/metadata")
    async def set_snapshot_metadata(pid: str, sid: str, request: Request) -> Res:
        snap = snap_of(ctx_for(state, request, pid), sid)
        snap["metadata"].update(str_metadata(get_dict(await json_body(request), "metadata")))
        return {"metadata": dict(snap["metadata"])}

    # --- snapshot block reads (cloudsim extension) -------------------------------------------
    @r.get("/snapshots/{sid}/blocks")
    async def snapshot_blocks(pid: str, sid: str, request: Request) -> Response:
        """`length` bytes of an available snapshot from `offset` (at most 64 MiB per request;
        past the end reads as zeros are not served: the range must lie within the snapshot)."""
        ctx = ctx_for(state, request, pid)
        snap = snap_of(ctx, sid)
        try:
            offset = int(request.query_params.get("offset", "0"))
            length = int(request.query_params.get("length", "0"))
        except ValueError:
            raise bad_request("offset, length: integers are required") from None
        if offset < 0 or length < 0 or length > MAX_BLOCK_READ:
            raise bad_request(f"length: 0..{MAX_BLOCK_READ} bytes from a non-negative offset")
        if snap["status"] != "available":
            raise bad_request(f"Snapshot {sid} is {snap['status']}, not available.")
        if offset + length > snap["size"] * ops.GIB:
            raise bad_request(f"offset + length: beyond the snapshot's {snap['size']} GiB")
        data = (
            await asyncio.to_thread(state.blockstore.read_snapshot, sid, offset, length)
            if length
            else b""
        )
        return Response(content=data, media_type="application/octet-stream")

    # --- changed extents (cloudsim extension) ------------------------------------------------
    @r.get("/volumes/{vid}/changed_extents")
    async def changed_extents(pid: str, vid: str, request: Request) -> Res:
        """Byte ranges that differ between two snapshots of a volume (from=None: all data)."""
        ctx = ctx_for(state, request, pid)
        vol = ops.get_volume(state, vid, None if ctx.is_admin else ctx.project_id)
        to_id = request.query_params.get("to_snapshot_id")
        from_id = request.query_params.get("from_snapshot_id") or None
        if not to_id:
            raise bad_request("to_snapshot_id: query parameter is required")
        for sid in filter(None, (from_id, to_id)):
            s = snap_of(ctx, sid)
            if s["volume_id"] != vid:
                raise bad_request(f"Snapshot {sid} is not a snapshot of volume {vid}.")
        extents = state.blockstore.changed_extents(vid, from_id, to_id)
        return {
            "changed_extents": {
                "volume_id": vol["id"],
                "from_snapshot_id": from_id,
                "to_snapshot_id": to_id,
                "size": vol["size"] * ops.GIB,
                "extents": [{"offset": o, "length": n} for o, n in extents],
                "total_bytes": sum(n for _, n in extents),
            }
        }

    return r
