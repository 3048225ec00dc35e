"""Cinder v3 discovery, volume types, volumes (CRUD, actions, metadata), limits and quotas."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.auth import Ctx, check_project, context
from cloudsim.cinder import ops
from cloudsim.cinder.connection import driver_info
from cloudsim.errors import APIError, bad_request
from cloudsim.keystone import base_url
from cloudsim.state import Res, SiteState
from cloudsim.util import (
    eq_filters,
    get_bool,
    get_dict,
    get_int,
    get_str,
    json_body,
    match_metadata,
    member,
    paginate,
    str_metadata,
)
from cloudsim.versions import cinder_version

CINDER_QUOTA_KEYS = ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes", "groups")


def ctx_for(state: SiteState, request: Request, project_id: str) -> Ctx:
    ctx = context(state, request)
    check_project(ctx, project_id)
    return ctx


def visible(ctx: Ctx, request: Request) -> str | None:
    """Project filter for listings: None when an admin asked for all_tenants."""
    if ctx.is_admin and request.query_params.get("all_tenants", "0").lower() in ("1", "true"):
        return None
    return ctx.project_id


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/volume")

    @r.get("")
    @r.get("/")
    async def versions() -> JSONResponse:
        return JSONResponse({"versions": [cinder_version(base_url(state))]}, status_code=300)

    @r.get("/v3")
    @r.get("/v3/")
    async def version() -> Res:
        return {"versions": [cinder_version(base_url(state))]}

    @r.get("/v3/{pid}/types")
    async def list_types(pid: str, request: Request) -> Res:
        ctx_for(state, request, pid)
        return {"volume_types": list(state.volume_types.values())}

    @r.get("/v3/{pid}/types/default")
    async def default_type(pid: str, request: Request) -> Res:
        ctx_for(state, request, pid)
        return {"volume_type": ops.default_type(state)}

    @r.get("/v3/{pid}/types/{tid}")
    async def show_type(pid: str, tid: str, request: Request) -> Res:
        ctx_for(state, request, pid)
        return {"volume_type": ops.find_type(state, tid)}

    @r.post("/v3/{pid}/types")
    async def create_type(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        if not ctx.is_admin:
            raise APIError(
                403, "Policy doesn't allow volume_extension:types_manage to be performed."
            )
        spec = member(await json_body(request), "volume_type")
        name = get_str(spec, "name", required=True) or ""
        if any(t["name"] == name for t in state.volume_types.values()):
            raise APIError(409, f"Volume Type {name} already exists.")
        from cloudsim.state import new_id

        t: Res = {
            "id": new_id(),
            "name": name,
            "description": get_str(spec, "description"),
            "is_public": get_bool(spec, "os-volume-type-access:is_public", True),
            "extra_specs": get_dict(spec, "extra_specs"),
            "qos_specs_id": None,
            "os-volume-type-access:is_public": True,
        }
        state.volume_types[t["id"]] = t
        return {"volume_type": t}

    # --- volumes ------------------------------------------------------------------------------
    @r.post("/v3/{pid}/volumes", status_code=202)
    async def create_volume(pid: str, request: Request) -> JSONResponse:
        ctx = ctx_for(state, request, pid)
        spec = member(await json_body(request), "volume")
        size = get_int(spec, "size", minimum=1)
        snap_id = get_str(spec, "snapshot_id")
        backup_id = get_str(spec, "backup_id")
        src_vol = get_str(spec, "source_volid")
        image_id = get_str(spec, "imageRef")
        if size is None:
            if snap_id and snap_id in state.snapshots:
                size = state.snapshots[snap_id]["size"]
            elif backup_id and backup_id in state.backups:
                size = state.backups[backup_id]["size"]
            elif src_vol and src_vol in state.volumes:
                size = state.volumes[src_vol]["size"]
            else:
                raise bad_request(
                    "Invalid input for field/attribute size: 'size' is a required "
                    "property (or give a snapshot_id, source_volid or backup_id)."
                )
        if sum(x is not None for x in (snap_id, backup_id, src_vol, image_id)) > 1:
            raise bad_request(
                "Invalid input received: only one of snapshot_id, source_volid, "
                "backup_id and imageRef may be given."
            )
        if snap_id is not None:
            s = state.snapshots.get(snap_id)
            if s is None or not ctx.can_see(s["os-extended-snapshot-attributes:project_id"]):
                raise APIError(404, f"Snapshot {snap_id} could not be found.")
        if src_vol is not None:
            ops.get_volume(state, src_vol, None if ctx.is_admin else ctx.project_id)
        group_id = get_str(spec, "group_id")
        if group_id is not None:
            group = state.groups.get(group_id)
            if group is None or not ctx.can_see(group["project_id"]):
                raise APIError(404, f"Group {group_id} could not be found.")
            vtype = ops.find_type(state, get_str(spec, "volume_type"))
            if vtype["id"] not in group["volume_types"]:
                # Cinder's volume API: a group only takes volumes of the types it holds.
                raise bad_request(
                    f"Invalid input received: Invalid volume_type provided: {vtype['name']} "
                    "(requested type must be supported by this group)."
                )
        vol = ops.new_volume(
            state,
            project_id=pid,
            user_id=ctx.user_id,
            size=size,
            name=get_str(spec, "name"),
            description=get_str(spec, "description"),
            volume_type=get_str(spec, "volume_type"),
            metadata=str_metadata(get_dict(spec, "metadata")),
            snapshot_id=snap_id,
            source_volid=src_vol,
            backup_id=backup_id,
            image_id=image_id,
            availability_zone=get_str(spec, "availability_zone"),
            multiattach=get_bool(spec, "multiattach", False),
            group_id=group_id,
        )
        if group_id is not None:
            state.groups[group_id]["volumes"].append(vol["id"])
        return JSONResponse({"volume": ops.volume_view(vol, admin=ctx.is_admin)}, status_code=202)

    def filtered(ctx: Ctx, request: Request) -> list[Res]:
        state.settle()
        scope = visible(ctx, request)
        items = [
            v
            for v in state.volumes.values()
            if scope is None or v["os-vol-tenant-attr:tenant_id"] == scope
        ]
        items = eq_filters(
            items,
            request,
            ("name", "status", "bootable", "volume_type", "availability_zone", "group_id"),
        )
        q = request.query_params
        if "metadata" in q:
            items = [v for v in items if match_metadata(v["metadata"], q["metadata"])]
        items.reverse()
        return paginate(items, request)

    @r.get("/v3/{pid}/volumes")
    async def list_volumes(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        return {
            "volumes": [
                {"id": v["id"], "name": v["name"], "links": []} for v in filtered(ctx, request)
            ]
        }

    @r.get("/v3/{pid}/volumes/detail")
    async def list_volumes_detail(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        return {"volumes": [ops.volume_view(v, admin=ctx.is_admin) for v in filtered(ctx, request)]}

    def vol_of(ctx: Ctx, vid: str) -> Res:
        return ops.get_volume(state, vid, None if ctx.is_admin else ctx.project_id)

    @r.get("/v3/{pid}/volumes/{vid}")
    async def show_volume(pid: str, vid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        return {"volume": ops.volume_view(vol_of(ctx, vid), admin=ctx.is_admin)}

    @r.put("/v3/{pid}/volumes/{vid}")
    async def update_volume(pid: str, vid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        vol = vol_of(ctx, vid)
        spec = member(await json_body(request), "volume")
        for key in ("name", "description"):
            if key in spec:
                vol[key] = get_str(spec, key)
        if "metadata" in spec:
            vol["metadata"] = str_metadata(get_dict(spec, "metadata"))
        ops.set_status(vol, vol["status"])
        return {"volume": ops.volume_view(vol, admin=ctx.is_admin)}

    @r.delete("/v3/{pid}/volumes/{vid}", status_code=202)
    async def delete_volume(pid: str, vid: str, request: Request) -> Response:
        ctx = ctx_for(state, request, pid)
        vol = vol_of(ctx, vid)
        cascade = request.query_params.get("cascade", "false").lower() == "true"
        if vol.get("group_id") and vol["group_id"] in state.groups:
            raise bad_request(ops.UNDELETABLE)
        ops.delete_volume(state, vol, cascade=cascade)
        return Response(status_code=202)

    @r.post("/v3/{pid}/volumes/{vid}/action", status_code=202)
    async def volume_action(pid: str, vid: str, request: Request) -> Response:
        ctx = ctx_for(state, request, pid)
        vol = vol_of(ctx, vid)
        body = await json_body(request)
        if len(body) != 1:
            raise bad_request("Invalid volume action: exactly one action is required.")
        name, spec = next(iter(body.items()))
        spec = spec if isinstance(spec, dict) else {}
        if name == "os-extend":
            new_size = get_int(spec, "new_size", required=True, minimum=1) or 0
            if vol["status"] not in ("available", "in-use"):
                raise bad_request(
                    f"Invalid volume: Volume {vid} status must be available or "
                    f"in-use to extend, but current status is: {vol['status']}."
                )
            if new_size <= vol["size"]:
                raise bad_request(
                    f"Invalid input received: New size for extend must be greater "
                    f"than current size. (current: {vol['size']}, extended: "
                    f"{new_size})."
                )
            ops.check_volume_quota(
                state, vol["os-vol-tenant-attr:tenant_id"], new_size - vol["size"], count=0
            )
            state.blockstore.extend_volume(vid, new_size * ops.GIB)
            prev = vol["status"]
            vol["size"] = new_size
            ops.set_status(vol, "extending")
            state.later(state.config.action_s, lambda: ops.set_status(vol, prev))
        elif name == "os-reset_status":
            if not ctx.is_admin:
                raise APIError(
                    403,
                    "Policy doesn't allow volume_extension:volume_admin_actions:"
                    "reset_status to be performed.",
                )
            ops.set_status(vol, get_str(spec, "status", required=True) or vol["status"])
        elif name == "os-initialize_connection":
            # Legacy attach flow: answers the driver's nested shape, unlike the attachments API.
            if not isinstance(spec.get("connector"), dict):
                raise bad_request("Invalid input for field/attribute connector: required object.")
            return JSONResponse({"connection_info": driver_info(state, vol)}, status_code=200)
        elif name == "os-terminate_connection":
            pass  # nothing is exported for a local file
        elif name == "os-set_bootable":
            vol["bootable"] = "true" if get_bool(spec, "bootable", False) else "false"
        elif name == "os-update_readonly_flag":
            vol["metadata"]["readonly"] = str(get_bool(spec, "readonly", False))
        elif name == "os-retype":
            t = ops.find_type(state, get_str(spec, "new_type", required=True))
            vol["volume_type"], vol["volume_type_id"] = t["name"], t["id"]
        else:
            raise bad_request(f"Invalid volume action: {name} is not supported by cloudsim.")
        return Response(status_code=202)

    @r.get("/v3/{pid}/volumes/{vid}/metadata")
    async def get_metadata(pid: str, vid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        return {"metadata": dict(vol_of(ctx, vid)["metadata"])}

    @r.post("/v3/{pid}/volumes/{vid}/metadata")
    @r.put("/v3/{pid}/volumes/{vid}/metadata")
    async def set_metadata(pid: str, vid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        vol = vol_of(ctx, vid)
        meta = str_metadata(get_dict(await json_body(request), "metadata"))
        if request.method == "PUT":
            vol["metadata"] = meta
        else:
            vol["metadata"].update(meta)
        return {"metadata": dict(vol["metadata"])}

    @r.delete("/v3/{pid}/volumes/{vid}/metadata/{key}")
    async def del_metadata(pid: str, vid: str, key: str, request: Request) -> Response:
        ctx = ctx_for(state, request, pid)
        vol = vol_of(ctx, vid)
        if vol["metadata"].pop(key, None) is None:
            raise APIError(404, f"Metadata key {key} could not be found.")
        return Response(status_code=200)

    # --- limits and quotas --------------------------------------------------------------------
    def usage(p: str) -> dict[str, int]:
        vols = [v for v in state.volumes.values() if v["os-vol-tenant-attr:tenant_id"] == p]
        return {
            "volumes": len(vols),
            "gigabytes": sum(v["size"] for v in vols),
            "snapshots": sum(
                1
                for s in state.snapshots.values()
                if s["os-extended-snapshot-attributes:project_id"] == p
            ),
            "backups": sum(1 for b in state.backups.values() if b["_project_id"] == p),
        }

    @r.get("/v3/{pid}/limits")
    async def limits(pid: str, request: Request) -> Res:
        ctx_for(state, request, pid)
        u = usage(pid)
        return {
            "limits": {
                "rate": [],
                "absolute": {
                    "maxTotalVolumes": state.quota(pid, "volumes"),
                    "maxTotalVolumeGigabytes": state.quota(pid, "gigabytes"),
                    "maxTotalSnapshots": state.quota(pid, "snapshots"),
                    "maxTotalBackups": state.quota(pid, "backups"),
                    "maxTotalBackupGigabytes": state.quota(pid, "backup_gigabytes"),
                    "totalVolumesUsed": u["volumes"],
                    "totalGigabytesUsed": u["gigabytes"],
                    "totalSnapshotsUsed": u["snapshots"],
                    "totalBackupsUsed": u["backups"],
                    "totalBackupGigabytesUsed": 0,
                },
            }
        }

    @r.get("/v3/{pid}/os-quota-sets/{target}")
    async def quota_set(pid: str, target: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        if not ctx.can_see(target):
            raise APIError(403, "Policy doesn't allow volume_extension:quotas:show.")
        out: Res = {"id": target}
        u = usage(target)
        if request.query_params.get("usage", "").lower() == "true":
            out.update(
                {
                    k: {
                        "limit": state.quota(target, k),
                        "in_use": u.get(k, 0),
                        "reserved": 0,
                        "allocated": 0,
                    }
                    for k in CINDER_QUOTA_KEYS
                }
            )
        else:
            out.update({k: state.quota(target, k) for k in CINDER_QUOTA_KEYS})
        return {"quota_set": out}

    @r.put("/v3/{pid}/os-quota-sets/{target}")
    async def update_quota_set(pid: str, target: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow volume_extension:quotas:update.")
        spec = member(await json_body(request), "quota_set")
        vals = {k: get_int(spec, k) for k in spec if k in CINDER_QUOTA_KEYS}
        state.set_quotas(target, {k: v for k, v in vals.items() if v is not None})
        return {"quota_set": {k: state.quota(target, k) for k in CINDER_QUOTA_KEYS}}

    @r.get("/v3/{pid}/os-availability-zone")
    async def azs(pid: str, request: Request) -> Res:
        ctx_for(state, request, pid)
        return {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}}]}

    return r
