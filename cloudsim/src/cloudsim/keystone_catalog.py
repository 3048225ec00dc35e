"""Keystone v3 services and endpoints (admin only): other services register themselves in the
site's catalog, as on a real Keystone (`openstack service create`, `openstack endpoint create`).

The built-in entries (keystone.SERVICES) are fixed; registered ones are appended to every
token's catalog (e.g. Lifeboat's ``disaster-recovery`` endpoint, registered by `lifeboat up`).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cloudsim.auth import lookup_token
from cloudsim.errors import APIError, bad_request
from cloudsim.state import Res, SiteState
from cloudsim.util import json_body

INTERFACES = ("public", "internal", "admin")


def registered(state: SiteState, project_id: str | None) -> list[Res]:
    """Catalog entries of the registered services (endpoint URLs may hold ``$(project_id)s``)."""
    out = []
    for svc in state.catalog_services.values():
        eps = [
            {
                "id": ep["id"],
                "interface": ep["interface"],
                "region": ep["region_id"],
                "region_id": ep["region_id"],
                "url": ep["url"].replace("$(project_id)s", project_id or ""),
            }
            for ep in state.catalog_endpoints.values()
            if ep["service_id"] == svc["id"] and ep["enabled"]
        ]
        out.append({"id": svc["id"], "type": svc["type"], "name": svc["name"], "endpoints": eps})
    return out


def _admin(state: SiteState, request: Request) -> None:
    tok = lookup_token(state, request.headers.get("x-auth-token"))
    if not tok.is_admin:
        raise APIError(403, "You are not authorized to perform the requested action.")


def _field(body: Res, key: str, name: str) -> Res:
    value = body.get(key)
    if not isinstance(value, dict):
        raise bad_request(f"Invalid input for field '{key}': an object is required")
    if not isinstance(value.get(name), str) or not value[name]:
        raise bad_request(f"Invalid input for field '{key}.{name}': a string is required")
    return value


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/identity/v3")

    @r.get("/services")
    async def list_services(request: Request) -> Res:
        lookup_token(state, request.headers.get("x-auth-token"))
        stype = request.query_params.get("type")
        found = [s for s in state.catalog_services.values() if stype in (None, s["type"])]
        return {"services": found, "links": {"self": None, "next": None, "previous": None}}

    @r.post("/services", status_code=201)
    async def create_service(request: Request) -> Res:
        _admin(state, request)
        spec = _field(await json_body(request), "service", "type")
        sid = uuid.uuid4().hex
        svc = {
            "id": sid,
            "type": spec["type"],
            "name": spec.get("name") or spec["type"],
            "description": spec.get("description") or "",
            "enabled": bool(spec.get("enabled", True)),
            "links": {"self": f"/identity/v3/services/{sid}"},
        }
        state.catalog_services[sid] = svc
        return {"service": svc}

    @r.delete("/services/{service_id}", status_code=204)
    async def delete_service(service_id: str, request: Request) -> Response:
        _admin(state, request)
        if state.catalog_services.pop(service_id, None) is None:
            raise APIError(404, f"Could not find service: {service_id}.")
        for eid in [
            e for e, ep in state.catalog_endpoints.items() if ep["service_id"] == service_id
        ]:
            del state.catalog_endpoints[eid]
        return Response(status_code=204)

    @r.get("/endpoints")
    async def list_endpoints(request: Request) -> Res:
        lookup_token(state, request.headers.get("x-auth-token"))
        sid = request.query_params.get("service_id")
        iface = request.query_params.get("interface")
        found = [
            ep
            for ep in state.catalog_endpoints.values()
            if sid in (None, ep["service_id"]) and iface in (None, ep["interface"])
        ]
        return {"endpoints": found, "links": {"self": None, "next": None, "previous": None}}

    @r.post("/endpoints", status_code=201)
    async def create_endpoint(request: Request) -> Res:
        _admin(state, request)
        body = await json_body(request)
        spec = _field(body, "endpoint", "url")
        _field(body, "endpoint", "service_id")
        if spec["service_id"] not in state.catalog_services:
            raise bad_request(
                f"Invalid input for field 'endpoint.service_id': {spec['service_id']}"
            )
        if spec.get("interface") not in INTERFACES:
            raise bad_request("Invalid input for field 'endpoint.interface': public|internal|admin")
        eid = uuid.uuid4().hex
        region = spec.get("region_id") or spec.get("region") or state.config.region
        ep = {
            "id": eid,
            "service_id": spec["service_id"],
            "interface": spec["interface"],
            "url": spec["url"],
            "region_id": region,
            "region": region,
            "enabled": bool(spec.get("enabled", True)),
            "links": {"self": f"/identity/v3/endpoints/{eid}"},
        }
        state.catalog_endpoints[eid] = ep
        return {"endpoint": ep}

    @r.delete("/endpoints/{endpoint_id}", status_code=204)
    async def delete_endpoint(endpoint_id: str, request: Request) -> Response:
        _admin(state, request)
        if state.catalog_endpoints.pop(endpoint_id, None) is None:
            raise APIError(404, f"Could not find endpoint: {endpoint_id}.")
        return Response(status_code=204)

    return r
