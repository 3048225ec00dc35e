"""Designate v2: zones and recordsets (A records for DNS updates at failover)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from cloudsim.auth import Ctx, context
from cloudsim.errors import APIError
from cloudsim.keystone import base_url
from cloudsim.state import Res, SiteState, new_id, now_iso_micro
from cloudsim.util import json_body, paginate, public

_NAME = re.compile(r"^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+$", re.I)
RTYPES = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "PTR", "SOA", "CAA", "SPF", "SSHFP"}


def _bad(msg: str, kind: str = "invalid_object") -> APIError:
    return APIError(400, msg, kind=kind)


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/dns")

    @r.get("")
    @r.get("/")
    async def versions() -> Res:
        base = base_url(state)
        return {
            "versions": [
                {
                    "id": "v2",
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": f"{base}/dns/v2"}],
                }
            ]
        }

    def links(kind: str, rid: str) -> Res:
        return {"self": f"{base_url(state)}/dns/v2/{kind}/{rid}"}

    def zone_of(ctx: Ctx, zid: str) -> Res:
        state.settle()
        z = state.zones.get(zid)
        if z is None or not ctx.can_see(z["project_id"]):
            raise APIError(404, "Could not find Zone", kind="zone_not_found")
        return z

    def active_later(res: Res) -> None:
        def done() -> None:
            if res["status"] == "PENDING":
                res["status"] = "ACTIVE"
                res["action"] = "NONE"

        state.later(state.config.action_s, done)

    @r.post("/v2/zones", status_code=202)
    async def create_zone(request: Request) -> JSONResponse:
        ctx = context(state, request)
        body = await json_body(request)
        name = body.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise _bad("name: must be a fully qualified domain name ending with '.'")
        if any(z["name"] == name for z in state.zones.values()):
            raise APIError(409, "Duplicate Zone", kind="duplicate_zone")
        if sum(1 for z in state.zones.values() if z["project_id"] == ctx.project_id) >= state.quota(
            ctx.project_id, "zones"
        ):
            raise APIError(413, "Quota exceeded for zones.", kind="over_quota")
        email = body.get("email")
        if body.get("type", "PRIMARY") == "PRIMARY" and not isinstance(email, str):
            raise _bad("email: is required for PRIMARY zones")
        ts = now_iso_micro()
        zid = new_id()
        zone: Res = {
            "id": zid,
            "pool_id": new_id(),
            "project_id": ctx.project_id,
            "name": name,
            "email": email,
            "ttl": int(body.get("ttl", 3600)),
            "serial": 1,
            "status": "PENDING",
            "action": "CREATE",
            "description": body.get("description"),
            "masters": [],
            "type": body.get("type", "PRIMARY"),
            "transferred_at": None,
            "version": 1,
            "created_at": ts,
            "updated_at": None,
            "attributes": {},
            "shared": False,
            "links": links("zones", zid),
        }
        state.zones[zid] = zone
        for rtype, recs in (
            ("SOA", [f"ns1.cloudsim. {str(email).replace('@', '.')}. 1 3600 600 86400 3600"]),
            ("NS", ["ns1.cloudsim."]),
        ):
            _new_rs(state, zone, name, rtype, recs, None, None, managed=True)
        active_later(zone)
        return JSONResponse(public(zone), status_code=202)

    @r.get("/v2/zones")
    async def list_zones(request: Request) -> Res:
        ctx = context(state, request)
        state.settle()
        items = [
            z
            for z in state.zones.values()
            if ctx.can_see(z["project_id"]) and (ctx.is_admin or z["project_id"] == ctx.project_id)
        ]
        for key in ("name", "status", "type", "email"):
            if key in request.query_params:
                items = [z for z in items if z[key] == request.query_params[key]]
        page = paginate(items, request)
        return {
            "zones": [public(z) for z in page],
            "links": {"self": str(request.url)},
            "metadata": {"total_count": len(items)},
        }

    @r.get("/v2/zones/{zid}")
    async def show_zone(zid: str, request: Request) -> Res:
        return public(zone_of(context(state, request), zid))

    @r.patch("/v2/zones/{zid}", status_code=202)
    async def update_zone(zid: str, request: Request) -> JSONResponse:
        zone = zone_of(context(state, request), zid)
        body = await json_body(request)
        for key in ("email", "ttl", "description"):
            if key in body:
                zone[key] = body[key]
        zone["serial"] += 1
        zone["updated_at"] = now_iso_micro()
        return JSONResponse(public(zone), status_code=202)

    @r.delete("/v2/zones/{zid}", status_code=202)
    async def delete_zone(zid: str, request: Request) -> JSONResponse:
        zone = zone_of(context(state, request), zid)
        for rid in [k for k, v in state.recordsets.items() if v["zone_id"] == zid]:
            del state.recordsets[rid]
        del state.zones[zid]
        zone.update(status="PENDING", action="DELETE")
        return JSONResponse(public(zone), status_code=202)

    def rs_of(ctx: Ctx, zid: str, rid: str) -> Res:
        zone_of(ctx, zid)
        rs = state.recordsets.get(rid)
        if rs is None or rs["zone_id"] != zid:
            raise APIError(404, "Could not find RecordSet", kind="recordset_not_found")
        return rs

    @r.post("/v2/zones/{zid}/recordsets", status_code=202)
    async def create_rs(zid: str, request: Request) -> JSONResponse:
        ctx = context(state, request)
        zone = zone_of(ctx, zid)
        body = await json_body(request)
        name, rtype, records = body.get("name"), body.get("type"), body.get("records")
        if not isinstance(name, str) or not name.endswith(zone["name"]):
            raise _bad(
                f"name: must be a fully qualified name within zone {zone['name']}",
                "invalid_recordset_location",
            )
        if rtype not in RTYPES:
            raise _bad(f"type: {rtype!r} is not a supported record type")
        if (
            not isinstance(records, list)
            or not records
            or not all(isinstance(x, str) for x in records)
        ):
            raise _bad("records: a non-empty list of strings is required")
        _validate(rtype, records)
        if any(
            v["zone_id"] == zid and v["name"] == name and v["type"] == rtype
            for v in state.recordsets.values()
        ):
            raise APIError(409, "Duplicate RecordSet", kind="duplicate_recordset")
        used = sum(1 for v in state.recordsets.values() if v["zone_id"] == zid)
        if used >= state.quota(ctx.project_id, "zone_recordsets"):
            raise APIError(413, "Quota exceeded for zone_recordsets.", kind="over_quota")
        rs = _new_rs(state, zone, name, rtype, records, body.get("ttl"), body.get("description"))
        zone["serial"] += 1
        active_later(rs)
        return JSONResponse(public(rs), status_code=202)

    @r.get("/v2/zones/{zid}/recordsets")
    async def list_rs(zid: str, request: Request) -> Res:
        ctx = context(state, request)
        zone_of(ctx, zid)
        state.settle()
        items = [v for v in state.recordsets.values() if v["zone_id"] == zid]
        for key in ("name", "type", "status", "data"):
            if key in request.query_params:
                want = request.query_params[key]
                items = [
                    v for v in items if (want in v["records"] if key == "data" else v[key] == want)
                ]
        page = paginate(items, request)
        return {
            "recordsets": [public(v) for v in page],
            "links": {"self": str(request.url)},
            "metadata": {"total_count": len(items)},
        }

    @r.get("/v2/zones/{zid}/recordsets/{rid}")
    async def show_rs(zid: str, rid: str, request: Request) -> Res:
        return public(rs_of(context(state, request), zid, rid))

    @r.put("/v2/zones/{zid}/recordsets/{rid}", status_code=202)
    async def update_rs(zid: str, rid: str, request: Request) -> JSONResponse:
        rs = rs_of(context(state, request), zid, rid)
        body = await json_body(request)
        if "records" in body:
            recs = body["records"]
            if not isinstance(recs, list) or not recs:
                raise _bad("records: a non-empty list of strings is required")
            _validate(rs["type"], recs)
            rs["records"] = list(recs)
        for key in ("ttl", "description"):
            if key in body:
                rs[key] = body[key]
        rs.update(status="PENDING", action="UPDATE", updated_at=now_iso_micro())
        rs["version"] += 1
        state.zones[zid]["serial"] += 1
        active_later(rs)
        return JSONResponse(public(rs), status_code=202)

    @r.delete("/v2/zones/{zid}/recordsets/{rid}", status_code=202)
    async def delete_rs(zid: str, rid: str, request: Request) -> JSONResponse:
        rs = rs_of(context(state, request), zid, rid)
        if rs["_managed"]:
            raise APIError(403, "Managed records may not be deleted", kind="bad_request")
        del state.recordsets[rid]
        rs.update(status="PENDING", action="DELETE")
        return JSONResponse(public(rs), status_code=202)

    @r.get("/v2/recordsets")
    async def all_rs(request: Request) -> Res:
        ctx = context(state, request)
        items = [
            v
            for v in state.recordsets.values()
            if v["zone_id"] in state.zones and ctx.can_see(v["project_id"])
        ]
        return {
            "recordsets": [public(v) for v in paginate(items, request)],
            "links": {"self": str(request.url)},
            "metadata": {"total_count": len(items)},
        }

    return r


def _validate(rtype: str, records: list[Any]) -> None:
    if rtype in ("A", "AAAA"):
        for rec in records:
            try:
                ip = ipaddress.ip_address(rec)
            except ValueError:
                raise _bad(f"records: {rec!r} is not a valid IP address") from None
            if (rtype == "A") != (ip.version == 4):
                raise _bad(f"records: {rec!r} does not match record type {rtype}")


def _new_rs(
    state: SiteState,
    zone: Res,
    name: str,
    rtype: str,
    records: list[str],
    ttl: Any,
    description: Any,
    *,
    managed: bool = False,
) -> Res:
    rid = new_id()
    rs: Res = {
        "id": rid,
        "zone_id": zone["id"],
        "zone_name": zone["name"],
        "project_id": zone["project_id"],
        "name": name,
        "type": rtype,
        "records": list(records),
        "ttl": ttl,
        "description": description,
        "status": "ACTIVE" if managed else "PENDING",
        "action": "NONE" if managed else "CREATE",
        "version": 1,
        "created_at": now_iso_micro(),
        "updated_at": None,
        "links": {"self": f"/v2/zones/{zone['id']}/recordsets/{rid}"},
        "_managed": managed,
    }
    state.recordsets[rid] = rs
    return rs
