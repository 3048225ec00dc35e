"""Nova server routes: create, list (with filters), show, update, delete, metadata, tags."""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.auth import Ctx, context
from cloudsim.errors import APIError, bad_request
from cloudsim.keystone import base_url
from cloudsim.nova import model
from cloudsim.state import Res, SiteState, now_iso
from cloudsim.util import json_body, match_metadata, member, paginate, str_metadata

_STATUSES = {
    "ACTIVE",
    "BUILD",
    "SHUTOFF",
    "ERROR",
    "REBOOT",
    "HARD_REBOOT",
    "DELETED",
    "PAUSED",
    "SUSPENDED",
    "RESCUE",
    "RESIZE",
    "VERIFY_RESIZE",
    "SHELVED",
    "SHELVED_OFFLOADED",
    "MIGRATING",
    "UNKNOWN",
}


def get_server(state: SiteState, ctx: Ctx, sid: str) -> Res:
    state.settle()
    srv = state.servers.get(sid)
    if srv is None or not ctx.can_see(srv["tenant_id"]):
        raise APIError(404, f"Instance {sid} could not be found.")
    return srv


def _filter(state: SiteState, ctx: Ctx, request: Request) -> list[Res]:
    q = request.query_params
    items = list(state.servers.values())
    if not (
        ctx.is_admin
        and q.get("all_tenants", "").lower() in ("1", "true", "")
        and "all_tenants" in q
    ):
        items = [s for s in items if s["tenant_id"] == ctx.project_id]
    elif q.get("project_id") or q.get("tenant_id"):
        pid = q.get("project_id") or q.get("tenant_id")
        items = [s for s in items if s["tenant_id"] == pid]
    if "name" in q:
        try:
            rx = re.compile(q["name"])
        except re.error:
            raise bad_request(f"Invalid filter name: {q['name']!r} is not a valid regex") from None
        items = [s for s in items if rx.search(s["name"])]
    if "status" in q:
        st = q["status"].upper()
        if st not in _STATUSES:
            raise bad_request(f"Invalid status value: {q['status']}")
        items = [s for s in items if s["status"] == st]
    if "flavor" in q:
        fl = state.flavors.get(q["flavor"])
        items = [s for s in items if fl is not None and s["_flavor"]["id"] == fl["id"]]
    if "image" in q:
        items = [
            s for s in items if isinstance(s["image"], dict) and s["image"]["id"] == q["image"]
        ]
    if "tags" in q:
        want = set(q["tags"].split(","))
        items = [s for s in items if want <= set(s["tags"])]
    if "tags-any" in q:
        anyw = set(q["tags-any"].split(","))
        items = [s for s in items if anyw & set(s["tags"])]
    if "not-tags" in q:
        nw = set(q["not-tags"].split(","))
        items = [s for s in items if not nw <= set(s["tags"])]
    if "metadata" in q:
        items = [s for s in items if match_metadata(s["metadata"], q["metadata"])]
    if "changes-since" in q:
        items = [s for s in items if s["updated"] >= q["changes-since"]]
    if "ip" in q:
        rx = re.compile(re.escape(q["ip"]))
        items = [
            s
            for s in items
            if any(rx.search(a["addr"]) for lst in model.addresses(state, s).values() for a in lst)
        ]
    items.reverse()  # newest first, as Nova sorts by created_at desc
    return paginate(items, request)


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/compute/v2.1")

    def view(srv: Res, ctx: Ctx) -> Res:
        return model.server_view(state, srv, base_url(state), admin=ctx.is_admin)

    @r.post("/servers")
    async def create(request: Request) -> Response:
        ctx = context(state, request)
        body = await json_body(request)
        spec = member(body, "server")
        if "os:scheduler_hints" in body and not isinstance(body["os:scheduler_hints"], dict):
            raise bad_request("Invalid input for field/attribute os:scheduler_hints.")
        hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
        group = state.server_groups.get(str(hints.get("group", "")))
        if hints.get("group") and (group is None or group["project_id"] != ctx.project_id):
            raise bad_request(f"Invalid server group {hints.get('group')}.")
        srv = model.create_server(state, spec, ctx.project_id, ctx.user_id)
        if group is not None:
            group["members"].append(srv["id"])
            srv["server_groups"] = [group["id"]]
        base = base_url(state)
        out = {
            "id": srv["id"],
            "links": [{"rel": "self", "href": f"{base}/compute/v2.1/servers/{srv['id']}"}],
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": srv["security_groups"],
            "adminPass": "cloudsim-" + srv["id"][:8],
        }
        return JSONResponse(
            {"server": out}, status_code=202, headers={"Location": out["links"][0]["href"]}
        )

    @r.get("/servers")
    async def list_servers(request: Request) -> Res:
        ctx = context(state, request)
        state.settle()
        base = base_url(state)
        return {
            "servers": [
                {
                    "id": s["id"],
                    "name": s["name"],
                    "links": [{"rel": "self", "href": f"{base}/compute/v2.1/servers/{s['id']}"}],
                }
                for s in _filter(state, ctx, request)
            ]
        }

    @r.get("/servers/detail")
    async def list_detail(request: Request) -> Res:
        ctx = context(state, request)
        state.settle()
        return {"servers": [view(s, ctx) for s in _filter(state, ctx, request)]}

    @r.get("/servers/{sid}")
    async def show(sid: str, request: Request) -> Res:
        ctx = context(state, request)
        return {"server": view(get_server(state, ctx, sid), ctx)}

    @r.put("/servers/{sid}")
    async def update(sid: str, request: Request) -> Res:
        ctx = context(state, request)
        srv = get_server(state, ctx, sid)
        spec = member(await json_body(request), "server")
        for key in ("name", "description", "accessIPv4", "accessIPv6"):
            if key in spec:
                if spec[key] is not None and not isinstance(spec[key], str):
                    raise bad_request(f"Invalid input for field/attribute {key}.")
                srv[key] = spec[key]
        srv["updated"] = now_iso()
        return {"server": view(srv, ctx)}

    @r.delete("/servers/{sid}", status_code=204)
    async def delete(sid: str, request: Request) -> Response:
        ctx = context(state, request)
        srv = get_server(state, ctx, sid)
        if srv["locked"] and not ctx.is_admin:
            raise APIError(409, f"Instance {sid} is locked")
        model.delete_server(state, srv)
        return Response(status_code=204)

    # --- metadata ---------------------------------------------------------------------------
    @r.get("/servers/{sid}/metadata")
    async def get_meta(sid: str, request: Request) -> Res:
        return {"metadata": dict(get_server(state, context(state, request), sid)["metadata"])}

    async def _set_meta(sid: str, request: Request, replace: bool) -> Res:
        srv = get_server(state, context(state, request), sid)
        body = await json_body(request)
        meta = body.get("metadata")
        if not isinstance(meta, dict):
            raise bad_request(
                "Invalid input for field/attribute metadata: 'metadata' is a required property"
            )
        meta = str_metadata(meta)
        new = meta if replace else {**srv["metadata"], **meta}
        if len(new) > state.quota(srv["tenant_id"], "metadata_items"):
            raise APIError(403, "Quota exceeded for metadata_items")
        srv["metadata"] = new
        srv["updated"] = now_iso()
        return {"metadata": dict(new)}

    @r.post("/servers/{sid}/metadata")
    async def update_meta(sid: str, request: Request) -> Res:
        return await _set_meta(sid, request, replace=False)

    @r.put("/servers/{sid}/metadata")
    async def replace_meta(sid: str, request: Request) -> Res:
        return await _set_meta(sid, request, replace=True)

    @r.get("/servers/{sid}/metadata/{key}")
    async def get_meta_item(sid: str, key: str, request: Request) -> Res:
        srv = get_server(state, context(state, request), sid)
        if key not in srv["metadata"]:
            raise APIError(404, "Metadata item was not found")
        return {"meta": {key: srv["metadata"][key]}}

    @r.put("/servers/{sid}/metadata/{key}")
    async def set_meta_item(sid: str, key: str, request: Request) -> Res:
        srv = get_server(state, context(state, request), sid)
        meta = (await json_body(request)).get("meta")
        if not isinstance(meta, dict) or list(meta) != [key]:
            raise bad_request("Request body and URI mismatch")
        srv["metadata"].update(str_metadata(meta, "meta"))
        return {"meta": dict(meta)}

    @r.delete("/servers/{sid}/metadata/{key}", status_code=204)
    async def del_meta_item(sid: str, key: str, request: Request) -> Response:
        srv = get_server(state, context(state, request), sid)
        if srv["metadata"].pop(key, None) is None:
            raise APIError(404, "Metadata item was not found")
        return Response(status_code=204)

    # --- tags (2.26) ------------------------------------------------------------------------
    @r.get("/servers/{sid}/tags")
    async def get_tags(sid: str, request: Request) -> Res:
        return {"tags": list(get_server(state, context(state, request), sid)["tags"])}

    @r.put("/servers/{sid}/tags")
    async def put_tags(sid: str, request: Request) -> Res:
        srv = get_server(state, context(state, request), sid)
        tags = (await json_body(request)).get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise bad_request("Invalid input for field/attribute tags.")
        srv["tags"] = list(dict.fromkeys(tags))
        return {"tags": list(srv["tags"])}

    @r.put("/servers/{sid}/tags/{tag}", status_code=201)
    async def add_tag(sid: str, tag: str, request: Request) -> Response:
        srv = get_server(state, context(state, request), sid)
        if tag in srv["tags"]:
            return Response(status_code=204)
        srv["tags"].append(tag)
        return Response(status_code=201)

    @r.get("/servers/{sid}/tags/{tag}", status_code=204)
    async def has_tag(sid: str, tag: str, request: Request) -> Response:
        srv = get_server(state, context(state, request), sid)
        if tag not in srv["tags"]:
            raise APIError(404, f"Tag {tag} could not be found.")
        return Response(status_code=204)

    @r.delete("/servers/{sid}/tags/{tag}", status_code=204)
    async def del_tag(sid: str, tag: str, request: Request) -> Response:
        srv = get_server(state, context(state, request), sid)
        if tag not in srv["tags"]:
            raise APIError(404, f"Tag {tag} could not be found.")
        srv["tags"].remove(tag)
        return Response(status_code=204)

    return r
