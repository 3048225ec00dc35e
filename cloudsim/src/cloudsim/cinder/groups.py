"""Cinder generic volume groups and group snapshots (one instant across the whole group)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.auth import Ctx
from cloudsim.cinder import ops
from cloudsim.cinder.volumes import ctx_for, visible
from cloudsim.errors import APIError, bad_request
from cloudsim.state import Res, SiteState, new_id, now_iso_micro
from cloudsim.util import (
    eq_filters,
    get_bool,
    get_str,
    json_body,
    member,
    paginate,
)

SNAP_PROJECT = "os-extended-snapshot-attributes:project_id"


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/volume/v3/{pid}")

    def creating(res: Res, done: str = "available") -> None:
        res["status"] = "creating"

        def ready() -> None:
            if res["status"] == "creating":
                ops.set_status(res, done)

        state.later(state.config.volume_create_s, ready)

    # --- group types, groups ----------------------------------------------------------------------
    @r.get("/group_types")
    async def group_types(pid: str, request: Request) -> Res:
        ctx_for(state, request, pid)
        return {"group_types": list(state.group_types.values())}

    @r.get("/group_types/default")
    async def default_group_type(pid: str, request: Request) -> Res:
        ctx_for(state, request, pid)
        return {"group_type": next(iter(state.group_types.values()))}

    @r.get("/group_types/{gtid}")
    async def group_type(pid: str, gtid: str, request: Request) -> Res:
        ctx_for(state, request, pid)
        return {"group_type": find_group_type(gtid)}

    def find_group_type(ref: str) -> Res:
        for gt in state.group_types.values():
            if ref in (gt["id"], gt["name"]):
                return gt
        raise APIError(404, f"Group type {ref} could not be found.")

    def group_of(ctx: Ctx, gid: str) -> Res:
        state.settle()
        g = state.groups.get(gid)
        if g is None or not ctx.can_see(g["project_id"]):
            raise APIError(404, f"Group {gid} could not be found.")
        return g

    @r.post("/groups", status_code=202)
    async def create_group(pid: str, request: Request) -> JSONResponse:
        ctx_for(state, request, pid)
        spec = member(await json_body(request), "group")
        gt = find_group_type(get_str(spec, "group_type", required=True) or "")
        vts = spec.get("volume_types")
        if not isinstance(vts, list) or not vts:
            raise bad_request(
                "Invalid input for field/attribute volume_types: a non-empty list is required."
            )
        types = [ops.find_type(state, str(t))["id"] for t in vts]
        if sum(1 for g in state.groups.values() if g["project_id"] == pid) >= state.quota(
            pid, "groups"
        ):
            raise APIError(413, "GroupLimitExceeded: Maximum number of groups allowed exceeded")
        ts = now_iso_micro()
        g: Res = {
            "id": new_id(),
            "name": get_str(spec, "name"),
            "description": get_str(spec, "description"),
            "status": "creating",
            "availability_zone": get_str(spec, "availability_zone") or "nova",
            "created_at": ts,
            "group_type": gt["id"],
            "volume_types": types,
            "volumes": [],
            "group_snapshot_id": None,
            "source_group_id": None,
            "project_id": pid,
            "replication_status": "disabled",
        }
        state.groups[g["id"]] = g
        creating(g)
        return JSONResponse({"group": {"id": g["id"], "name": g["name"]}}, status_code=202)

    def gview(g: Res) -> Res:
        return dict(g, volumes=list(g["volumes"]), volume_types=list(g["volume_types"]))

    @r.get("/groups")
    async def list_groups(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        state.settle()
        scope = visible(ctx, request)
        items = [g for g in state.groups.values() if scope is None or g["project_id"] == scope]
        items = paginate(eq_filters(items, request, ("name", "status")), request)
        return {"groups": [{"id": g["id"], "name": g["name"]} for g in items]}

    @r.get("/groups/detail")
    async def list_groups_detail(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        state.settle()
        scope = visible(ctx, request)
        items = [g for g in state.groups.values() if scope is None or g["project_id"] == scope]
        return {
            "groups": [
                gview(g) for g in paginate(eq_filters(items, request, ("name", "status")), request)
            ]
        }

    @r.get("/groups/{gid}")
    async def show_group(pid: str, gid: str, request: Request) -> Res:
        return {"group": gview(group_of(ctx_for(state, request, pid), gid))}

    @r.put("/groups/{gid}", status_code=202)
    async def update_group(pid: str, gid: str, request: Request) -> Response:
        ctx = ctx_for(state, request, pid)
        g = group_of(ctx, gid)
        spec = member(await json_body(request), "group")
        if g["status"] != "available":
            raise bad_request(
                f"Invalid group: Group {gid} status must be available, but "
                f"current status is: {g['status']}."
            )
        add = [v for v in (get_str(spec, "add_volumes") or "").split(",") if v]
        rem = [v for v in (get_str(spec, "remove_volumes") or "").split(",") if v]
        for vid in add:
            vol = ops.get_volume(state, vid, None if ctx.is_admin else ctx.project_id)
            if vol["group_id"] not in (None, gid):
                raise bad_request(f"Invalid volume: Volume {vid} is already in a group.")
            if vol["volume_type_id"] not in g["volume_types"]:
                raise bad_request(
                    f"Invalid volume: Volume {vid}'s type is not supported by group {gid}."
                )
            if vol["status"] not in ("available", "in-use"):
                raise bad_request(f"Invalid volume: Volume {vid} status {vol['status']}.")
        for vid in rem:
            if vid not in g["volumes"]:
                raise bad_request(f"Invalid volume: Volume {vid} is not in group {gid}.")
        for vid in add:
            state.volumes[vid]["group_id"] = gid
            if vid not in g["volumes"]:
                g["volumes"].append(vid)
        for vid in rem:
            g["volumes"].remove(vid)
            if vid in state.volumes:
                state.volumes[vid]["group_id"] = None
        for key in ("name", "description"):
            if key in spec:
                g[key] = get_str(spec, key)
        return Response(status_code=202)

    @r.post("/groups/{gid}/action", status_code=202)
    async def group_action(pid: str, gid: str, request: Request) -> Response:
        ctx = ctx_for(state, request, pid)
        g = group_of(ctx, gid)
        body = await json_body(request)
        if "delete" not in body:
            raise bad_request(
                f"Invalid group action: {list(body)} is not supported by cloudsim (use 'delete')."
            )
        spec = body["delete"] if isinstance(body["delete"], dict) else {}
        delete_vols = get_bool(spec, "delete-volumes", False)
        if any(gs["group_id"] == gid for gs in state.group_snapshots.values()):
            raise bad_request(f"Invalid group: Group {gid} still has group snapshots.")
        if g["volumes"] and not delete_vols:
            raise bad_request(
                f"Invalid group: Group {gid} still contains volumes. The "
                "delete-volumes flag is required to delete it."
            )
        for vid in list(g["volumes"]):
            vol = state.volumes.get(vid)
            if vol is not None:
                vol["group_id"] = None
                ops.delete_volume(state, vol, cascade=True)
        del state.groups[gid]
        return Response(status_code=202)

    # --- group snapshots ---------------------------------------------------------------------
    def gs_of(ctx: Ctx, gsid: str) -> Res:
        state.settle()
        gs = state.group_snapshots.get(gsid)
        if gs is None or not ctx.can_see(gs["project_id"]):
            raise APIError(404, f"GroupSnapshot {gsid} could not be found.")
        return gs

    @r.post("/group_snapshots", status_code=202)
    async def create_group_snapshot(pid: str, request: Request) -> JSONResponse:
        ctx = ctx_for(state, request, pid)
        spec = member(await json_body(request), "group_snapshot")
        g = group_of(ctx, get_str(spec, "group_id", required=True) or "")
        if g["status"] != "available":
            raise bad_request(
                f"Invalid group: Group {g['id']} status must be available, but "
                f"current status is: {g['status']}."
            )
        vols = [state.volumes[v] for v in g["volumes"] if v in state.volumes]
        if not vols:
            raise bad_request(f"Invalid group: Group {g['id']} has no volumes.")
        gsid = new_id()
        name = get_str(spec, "name")
        snaps = ops.snapshot_volumes(
            state,
            vols,
            project_id=g["project_id"],
            user_id=ctx.user_id,
            name_fmt="snapshot-" + gsid,
            group_snapshot_id=gsid,
        )
        gs: Res = {
            "id": gsid,
            "group_id": g["id"],
            "status": "creating",
            "created_at": now_iso_micro(),
            "name": name,
            "description": get_str(spec, "description"),
            "group_type_id": g["group_type"],
            "project_id": g["project_id"],
        }
        state.group_snapshots[gsid] = gs
        creating(gs)
        for s in snaps:
            creating(s)
        return JSONResponse(
            {"group_snapshot": {"id": gsid, "name": name, "group_type_id": g["group_type"]}},
            status_code=202,
        )

    @r.get("/group_snapshots")
    async def list_group_snapshots(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        state.settle()
        scope = visible(ctx, request)
        items = [
            g for g in state.group_snapshots.values() if scope is None or g["project_id"] == scope
        ]
        items = paginate(eq_filters(items, request, ("name", "status", "group_id")), request)
        return {"group_snapshots": [{"id": g["id"], "name": g["name"]} for g in items]}

    @r.get("/group_snapshots/detail")
    async def list_group_snapshots_detail(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        state.settle()
        scope = visible(ctx, request)
        items = [
            g for g in state.group_snapshots.values() if scope is None or g["project_id"] == scope
        ]
        items = paginate(eq_filters(items, request, ("name", "status", "group_id")), request)
        return {"group_snapshots": [dict(g) for g in items]}

    @r.get("/group_snapshots/{gsid}")
    async def show_group_snapshot(pid: str, gsid: str, request: Request) -> Res:
        return {"group_snapshot": dict(gs_of(ctx_for(state, request, pid), gsid))}

    @r.delete("/group_snapshots/{gsid}", status_code=202)
    async def delete_group_snapshot(pid: str, gsid: str, request: Request) -> Response:
        gs = gs_of(ctx_for(state, request, pid), gsid)
        if gs["status"] not in ("available", "error"):
            raise bad_request(
                f"Invalid group snapshot: status must be available or error, it is {gs['status']}."
            )
        for s in [s for s in state.snapshots.values() if s["group_snapshot_id"] == gsid]:
            state.blockstore.delete_snapshot(s["id"])
            del state.snapshots[s["id"]]
        del state.group_snapshots[gsid]
        return Response(status_code=202)

    return r
