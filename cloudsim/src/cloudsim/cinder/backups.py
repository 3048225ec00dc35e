"""Cinder backups: full and incremental, restore (new or existing volume), export/import record."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.auth import Ctx
from cloudsim.cinder import ops
from cloudsim.cinder.volumes import ctx_for, visible
from cloudsim.errors import APIError, bad_request
from cloudsim.state import Res, SiteState, new_id, now_iso_micro
from cloudsim.util import eq_filters, get_bool, get_dict, get_str, json_body, member, paginate


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/volume/v3/{pid}")

    def backup_of(ctx: Ctx, bid: str) -> Res:
        state.settle()
        b = state.backups.get(bid)
        if b is None or not ctx.can_see(b["_project_id"]):
            raise APIError(404, f"Backup {bid} could not be found.")
        return b

    def view(b: Res) -> Res:
        out = {k: v for k, v in b.items() if not k.startswith("_")}
        out["has_dependent_backups"] = any(
            x.get("_parent_id") == b["id"] for x in state.backups.values()
        )
        return out

    @r.post("/backups", status_code=202)
    async def create_backup(pid: str, request: Request) -> JSONResponse:
        ctx = ctx_for(state, request, pid)
        spec = member(await json_body(request), "backup")
        vid = get_str(spec, "volume_id", required=True) or ""
        vol = ops.get_volume(state, vid, None if ctx.is_admin else ctx.project_id)
        force = get_bool(spec, "force", False)
        if vol["status"] == "in-use" and not force:
            raise bad_request(
                f"Invalid volume: Volume {vid} to be backed up must be available "
                'or in-use, but the current status is "in-use" (use force).'
            )
        if vol["status"] not in ("available", "in-use"):
            raise bad_request(
                f"Invalid volume: Volume {vid} to be backed up must be available "
                f'or in-use, but the current status is "{vol["status"]}".'
            )
        snap_id = get_str(spec, "snapshot_id")
        if snap_id is not None:
            s = state.snapshots.get(snap_id)
            if s is None or s["volume_id"] != vid:
                raise APIError(404, f"Snapshot {snap_id} could not be found.")
        parent: Res | None = None
        if get_bool(spec, "incremental", False):
            cands = [
                b
                for b in state.backups.values()
                if b["volume_id"] == vid and b["status"] == "available"
            ]
            if not cands:
                raise bad_request(
                    "Invalid backup: No backups available to do an incremental backup."
                )
            parent = max(cands, key=lambda b: b["created_at"])
        if sum(1 for b in state.backups.values() if b["_project_id"] == pid) >= state.quota(
            pid, "backups"
        ):
            raise APIError(
                413,
                "BackupLimitExceeded: Maximum number of backups allowed "
                f"({state.quota(pid, 'backups')}) exceeded",
            )
        bid = new_id()
        ts = now_iso_micro()
        b: Res = {
            "id": bid,
            "name": get_str(spec, "name"),
            "description": get_str(spec, "description"),
            "status": "creating",
            "volume_id": vid,
            "snapshot_id": snap_id,
            "size": vol["size"],
            "object_count": 0,
            "container": get_str(spec, "container"),
            "availability_zone": "nova",
            "created_at": ts,
            "updated_at": ts,
            "data_timestamp": ts,
            "fail_reason": None,
            "is_incremental": parent is not None,
            "os-backup-project-attr:project_id": pid,
            "user_id": ctx.user_id,
            "metadata": get_dict(spec, "metadata"),
            "encryption_key_id": None,
            "_project_id": pid,
            "_parent_id": parent["id"] if parent else None,
            "_stored_bytes": 0,
        }
        state.backups[bid] = b
        prev_status = vol["status"]
        ops.set_status(vol, "backing-up")
        try:
            stored = await asyncio.to_thread(
                state.blockstore.create_backup,
                bid,
                vid,
                parent_backup_id=parent["id"] if parent else None,
                snapshot_id=snap_id,
            )
        except Exception as exc:
            b.update(status="error", fail_reason=str(exc))
            ops.set_status(vol, prev_status)
            raise
        if vol["status"] == "backing-up":
            ops.set_status(vol, prev_status)
        b["_stored_bytes"] = stored
        b["object_count"] = max(1, stored // (64 * 1024))

        def ready() -> None:
            if b["status"] == "creating":
                ops.set_status(b, "available")

        state.later(state.config.volume_create_s, ready)
        return JSONResponse(
            {"backup": {"id": bid, "name": b["name"], "links": []}}, status_code=202
        )

    def filtered(ctx: Ctx, request: Request) -> list[Res]:
        state.settle()
        scope = visible(ctx, request)
        items = [b for b in state.backups.values() if scope is None or b["_project_id"] == scope]
        items = eq_filters(items, request, ("name", "status", "volume_id"))
        items.reverse()
        return paginate(items, request)

    @r.get("/backups")
    async def list_backups(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        return {
            "backups": [
                {"id": b["id"], "name": b["name"], "links": []} for b in filtered(ctx, request)
            ]
        }

    @r.get("/backups/detail")
    async def list_backups_detail(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        return {"backups": [view(b) for b in filtered(ctx, request)]}

    @r.get("/backups/{bid}")
    async def show_backup(pid: str, bid: str, request: Request) -> Res:
        return {"backup": view(backup_of(ctx_for(state, request, pid), bid))}

    @r.delete("/backups/{bid}", status_code=202)
    async def delete_backup(pid: str, bid: str, request: Request) -> Response:
        b = backup_of(ctx_for(state, request, pid), bid)
        if b["status"] not in ("available", "error"):
            raise bad_request(
                f"Invalid backup: Backup status must be available or error, it is {b['status']}."
            )
        if any(x.get("_parent_id") == bid for x in state.backups.values()):
            raise bad_request("Invalid backup: Incremental backups exist for this backup.")
        if b["status"] != "error":
            await asyncio.to_thread(state.blockstore.delete_backup, bid)
        del state.backups[bid]
        return Response(status_code=202)

    @r.post("/backups/{bid}/restore", status_code=202)
    async def restore(pid: str, bid: str, request: Request) -> JSONResponse:
        ctx = ctx_for(state, request, pid)
        b = backup_of(ctx, bid)
        spec = member(await json_body(request), "restore")
        if b["status"] != "available":
            raise bad_request(
                f"Invalid backup: Backup status must be available, it is {b['status']}."
            )
        vid = get_str(spec, "volume_id")
        if vid is None:
            vol = ops.new_volume(
                state,
                project_id=pid,
                user_id=ctx.user_id,
                size=b["size"],
                name=get_str(spec, "name") or f"restore_backup_{bid}",
                backup_id=bid,
            )
            vol["status"] = "restoring-backup"
            state.later(state.config.volume_create_s, lambda: ops.set_status(vol, "available"))
        else:
            vol = ops.get_volume(state, vid, None if ctx.is_admin else ctx.project_id)
            if vol["status"] != "available":
                raise bad_request(
                    f"Invalid volume: Volume to be restored to must be available, "
                    f"but the current status is {vol['status']}."
                )
            if vol["size"] < b["size"]:
                raise bad_request(
                    f"Invalid volume: volume size {vol['size']}GB is too small to "
                    f"restore backup of size {b['size']}GB."
                )
            ops.set_status(vol, "restoring-backup")
            ops.set_status(b, "restoring")
            try:
                await asyncio.to_thread(state.blockstore.restore_backup, bid, vol["id"])
            finally:
                ops.set_status(b, "available")
                ops.set_status(vol, "available")
        return JSONResponse(
            {"restore": {"backup_id": bid, "volume_id": vol["id"], "volume_name": vol["name"]}},
            status_code=202,
        )

    @r.get("/backups/{bid}/export_record")
    async def export_record(pid: str, bid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow backup:export-import to be performed.")
        b = backup_of(ctx, bid)
        if b["status"] != "available":
            raise bad_request(
                f"Invalid backup: Backup status must be available, it is {b['status']}."
            )
        return {"backup-record": state.blockstore.export_backup_record(bid)}

    @r.post("/backups/import_record", status_code=201)
    async def import_record(pid: str, request: Request) -> JSONResponse:
        ctx = ctx_for(state, request, pid)
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow backup:backup-import to be performed.")
        rec = member(await json_body(request), "backup-record")
        service = get_str(rec, "backup_service", required=True) or ""
        url = get_str(rec, "backup_url", required=True) or ""
        bid = new_id()
        await asyncio.to_thread(
            state.blockstore.import_backup_record,
            bid,
            {"backup_service": service, "backup_url": url},
        )
        size_bytes = state.blockstore.backup_size(bid)
        ts = now_iso_micro()
        b: Res = {
            "id": bid,
            "name": None,
            "description": None,
            "status": "available",
            "volume_id": "",
            "snapshot_id": None,
            "size": max(1, -(-size_bytes // ops.GIB)),
            "object_count": 0,
            "container": None,
            "availability_zone": "nova",
            "created_at": ts,
            "updated_at": ts,
            "data_timestamp": ts,
            "fail_reason": None,
            "is_incremental": False,
            "os-backup-project-attr:project_id": pid,
            "user_id": ctx.user_id,
            "metadata": {},
            "encryption_key_id": None,
            "_project_id": pid,
            "_parent_id": None,
            "_stored_bytes": 0,
        }
        state.backups[bid] = b
        return JSONResponse({"backup": {"id": bid, "name": None, "links": []}}, status_code=201)

    return r
