"""Cinder attachments API (3.27+): a connector in, flat `local` connection info out (the volume's
file as device_path; see cinder.connection), complete, delete. Connectors naming a partitioned
site fail (fault)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cloudsim.auth import Ctx
from cloudsim.cinder import ops
from cloudsim.cinder.connection import attachment_info
from cloudsim.cinder.volumes import ctx_for, visible
from cloudsim.errors import APIError, bad_request
from cloudsim.faults import Partitions
from cloudsim.state import Res, SiteState, new_id, now_iso_micro
from cloudsim.util import eq_filters, get_str, json_body, member


def router(state: SiteState, partitions: Partitions | None = None) -> APIRouter:
    r = APIRouter(prefix="/volume/v3/{pid}")

    # --- attachments (3.27+) -----------------------------------------------------------------
    def att_of(ctx: Ctx, aid: str) -> Res:
        a = state.attachments.get(aid)
        if a is None or not ctx.can_see(a["_project_id"]):
            raise APIError(404, f"Attachment {aid} could not be found.")
        return a

    def aview(a: Res) -> Res:
        return {k: v for k, v in a.items() if not k.startswith("_")}

    def connect(a: Res, vol: Res, connector: Res) -> None:
        site = connector.get("cloudsim_site")
        if (
            partitions is not None
            and isinstance(site, str)
            and partitions.between(state.config.name, site)
        ):
            raise APIError(
                503,
                f"Network partition between {site} and {state.config.name} "
                "(injected fault): cannot connect.",
            )
        a["connection_info"] = attachment_info(state, vol, a["id"], a["attach_mode"])
        a["connector"] = connector
        a["status"] = "attaching"
        ops.set_status(vol, "attaching")

    @r.post("/attachments")
    async def create_attachment(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        spec = member(await json_body(request), "attachment")
        vid = get_str(spec, "volume_uuid", required=True) or ""
        vol = ops.get_volume(state, vid, None if ctx.is_admin else ctx.project_id)
        connector = spec.get("connector")
        if connector is not None and not isinstance(connector, dict):
            raise bad_request("Invalid input for field/attribute connector: must be an object.")
        busy = vol["status"] not in ("available", "reserved") and not (
            vol["multiattach"] and vol["status"] == "in-use"
        )
        if busy:
            raise bad_request(
                f"Invalid volume: Volume {vid} status must be available or "
                f"downloading to reserve, but the current status is "
                f"{vol['status']}."
            )
        mode = get_str(spec, "mode") or "rw"
        if mode not in ("rw", "ro"):
            raise bad_request("Invalid input for field/attribute mode: must be 'rw' or 'ro'.")
        aid = new_id()
        a: Res = {
            "id": aid,
            "status": "reserved",
            "instance": get_str(spec, "instance_uuid"),
            "volume_id": vid,
            "attached_at": None,
            "detached_at": None,
            "attach_mode": mode,
            "connection_info": None,
            "connector": None,
            "_project_id": vol["os-vol-tenant-attr:tenant_id"],
        }
        if connector:
            connect(a, vol, connector)
        else:
            ops.set_status(vol, "reserved")
        state.attachments[aid] = a
        return {"attachment": aview(a)}

    @r.put("/attachments/{aid}")
    async def update_attachment(pid: str, aid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        a = att_of(ctx, aid)
        spec = member(await json_body(request), "attachment")
        connector = spec.get("connector")
        if not isinstance(connector, dict):
            raise bad_request("Invalid input for field/attribute connector: required object.")
        connect(a, state.volumes[a["volume_id"]], connector)
        return {"attachment": aview(a)}

    @r.post("/attachments/{aid}/action", status_code=204)
    async def complete(pid: str, aid: str, request: Request) -> Response:
        ctx = ctx_for(state, request, pid)
        a = att_of(ctx, aid)
        body = await json_body(request)
        if "os-complete" not in body:
            raise bad_request(f"Invalid attachment action: {list(body)}")
        vol = state.volumes[a["volume_id"]]
        a["status"] = "attached"
        a["attached_at"] = now_iso_micro()
        vol["attachments"].append(
            {
                "id": aid,
                "attachment_id": aid,
                "volume_id": vol["id"],
                "server_id": a["instance"],
                "host_name": (a["connector"] or {}).get("host"),
                "device": None,
                "attached_at": a["attached_at"],
            }
        )
        ops.set_status(vol, "in-use")
        return Response(status_code=204)

    @r.get("/attachments")
    async def list_attachments(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        scope = visible(ctx, request)
        items = [
            a for a in state.attachments.values() if scope is None or a["_project_id"] == scope
        ]
        items = eq_filters(items, request, ("volume_id", "status", "instance"))
        return {
            "attachments": [
                {
                    "id": a["id"],
                    "status": a["status"],
                    "instance": a["instance"],
                    "volume_id": a["volume_id"],
                }
                for a in items
            ]
        }

    @r.get("/attachments/detail")
    async def list_attachments_detail(pid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        scope = visible(ctx, request)
        items = [
            a for a in state.attachments.values() if scope is None or a["_project_id"] == scope
        ]
        return {
            "attachments": [
                aview(a) for a in eq_filters(items, request, ("volume_id", "status", "instance"))
            ]
        }

    @r.get("/attachments/{aid}")
    async def show_attachment(pid: str, aid: str, request: Request) -> Res:
        return {"attachment": aview(att_of(ctx_for(state, request, pid), aid))}

    @r.delete("/attachments/{aid}")
    async def delete_attachment(pid: str, aid: str, request: Request) -> Res:
        ctx = ctx_for(state, request, pid)
        a = att_of(ctx, aid)
        del state.attachments[aid]
        vol = state.volumes.get(a["volume_id"])
        if vol is not None:
            vol["attachments"] = [x for x in vol["attachments"] if x["id"] != aid]
            if not vol["attachments"] and not any(
                x["volume_id"] == vol["id"] for x in state.attachments.values()
            ):
                ops.set_status(vol, "available")
        return {"attachments": []}

    return r
