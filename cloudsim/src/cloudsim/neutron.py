"""Neutron v2.0: networks, subnets, ports, routers (interfaces, gateway), floating IPs,
security groups and rules. Listing filters work on any scalar field, as in Neutron."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.auth import context
from cloudsim.errors import APIError
from cloudsim.keystone import base_url
from cloudsim.neutron_l3 import NeutronModel
from cloudsim.neutron_model import bad
from cloudsim.neutron_ops import create_port, delete_port
from cloudsim.neutron_tags import add_tag_routes, tag_filter
from cloudsim.seed import default_security_group
from cloudsim.state import Res, SiteState, now_iso
from cloudsim.util import json_body, paginate, public

EXTENSIONS = [
    "router",
    "external-net",
    "security-group",
    "quotas",
    "port-security",
    "binding",
    "standard-attr-tag",
    "standard-attr-description",
    "extra_dhcp_opt",
    "allowed-address-pairs",
    "dns-integration",
    "agent",
    "subnet_allocation",
    "network-ip-availability",
    "availability_zone",
    "extraroute",
    "l3_agent_scheduler",
    "project-id",
    "standard-attr-revisions",
    "standard-attr-timestamp",
    "filter-validation",
    "vpnaas",
    "vpn-endpoint-groups",
]


def _body(body: dict[str, Any], key: str) -> dict[str, Any]:
    val = body.get(key)
    if not isinstance(val, dict):
        raise bad(f"Resource body required: '{key}' must be an object.")
    return val


def _filter(items: list[Res], request: Request) -> list[Res]:
    q = request.query_params
    for key in set(q.keys()) - {
        "fields",
        "limit",
        "marker",
        "sort_key",
        "sort_dir",
        "page_reverse",
    }:
        vals = q.getlist(key)
        tagged = tag_filter(items, key, vals)
        if tagged is not None:
            items = tagged
            continue
        if key == "fixed_ips":
            want = [dict(p.split("=", 1) for p in v.split("&") if "=" in p) for v in vals]
            items = [
                r
                for r in items
                if any(
                    all(ip.get(k) == v for k, v in w.items())
                    for ip in r.get("fixed_ips", [])
                    for w in want
                )
            ]
            continue
        items = [r for r in items if _scalar(r.get(key)) in vals]
    return items


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    return "" if v is None else str(v)


def _fields(r: Res, request: Request) -> Res:
    fields = request.query_params.getlist("fields")
    out = public(r)
    return {k: v for k, v in out.items() if k in fields} if fields else out


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/network")

    def versions_doc() -> Res:
        return {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": f"{base_url(state)}/network/v2.0/"}],
                }
            ]
        }

    @r.get("")
    @r.get("/")
    async def versions() -> Res:
        return versions_doc()

    @r.get("/v2.0")
    @r.get("/v2.0/")
    async def version_root(request: Request) -> Res:
        context(state, request)
        return {
            "resources": [
                {"name": n, "collection": n + "s", "links": []}
                for n in ("network", "subnet", "port")
            ]
        }

    @r.get("/v2.0/extensions")
    async def extensions(request: Request) -> Res:
        context(state, request)
        return {
            "extensions": [
                {
                    "alias": a,
                    "name": a,
                    "description": a,
                    "links": [],
                    "updated": "2013-01-01T00:00:00-00:00",
                }
                for a in EXTENSIONS
            ]
        }

    nm = NeutronModel(state)
    add_tag_routes(r, nm)

    singular = {
        "networks": "network",
        "subnets": "subnet",
        "ports": "port",
        "routers": "router",
        "floatingips": "floatingip",
        "security-groups": "security_group",
        "security-group-rules": "security_group_rule",
    }

    for name in singular:

        def make(name: str = name) -> None:
            key = singular[name]

            @r.get(f"/v2.0/{name}", name=f"list_{key}")
            async def list_(request: Request) -> Res:
                ctx = context(state, request)
                if name == "security-groups":
                    default_security_group(state, ctx.project_id)
                items = paginate(_filter(nm.visible_items(ctx, name), request), request)
                return {
                    key.replace("security_group", "security_group") + "s": [
                        _fields(x, request) for x in items
                    ]
                }

            @r.get(f"/v2.0/{name}/{{rid}}", name=f"show_{key}")
            async def show(rid: str, request: Request) -> Res:
                ctx = context(state, request)
                return {key: _fields(nm.get(ctx, name, rid), request)}

        make()

    for name in singular:

        def make_create(name: str = name) -> None:
            key = singular[name]

            @r.post(f"/v2.0/{name}", status_code=201, name=f"create_{key}")
            async def create(request: Request) -> JSONResponse:
                ctx = context(state, request)
                body = await json_body(request)
                if isinstance(body.get(name.replace("-", "_")), list):
                    items = body[name.replace("-", "_")]
                    made = [nm.creators[name](ctx, x) for x in items]
                    for m in made:
                        nm.coll(name)[m["id"]] = m
                    return JSONResponse(
                        {name.replace("-", "_"): [public(m) for m in made]}, status_code=201
                    )
                res = nm.creators[name](ctx, _body(body, key))
                nm.coll(name)[res["id"]] = res
                return JSONResponse({key: public(res)}, status_code=201)

            @r.put(f"/v2.0/{name}/{{rid}}", name=f"update_{key}")
            async def update(rid: str, request: Request) -> Res:
                ctx = context(state, request)
                res = nm.get(ctx, name, rid)
                spec = _body(await json_body(request), key)
                if name == "floatingips" and "port_id" in spec:
                    nm.associate(ctx, res, spec.pop("port_id"), spec.pop("fixed_ip_address", None))
                if name == "routers" and "external_gateway_info" in spec:
                    nm.set_gateway(res, spec.pop("external_gateway_info"))
                for k in ("id", "project_id", "tenant_id", "network_id", "cidr", "created_at"):
                    if k in spec:
                        raise bad(f"Cannot update read-only attribute {k}")
                res.update(spec)
                res["updated_at"] = now_iso()
                res["revision_number"] = res.get("revision_number", 0) + 1
                return {key: public(res)}

            @r.delete(f"/v2.0/{name}/{{rid}}", status_code=204, name=f"delete_{key}")
            async def delete(rid: str, request: Request) -> Response:
                ctx = context(state, request)
                res = nm.get(ctx, name, rid)
                nm.remove(name, res)
                return Response(status_code=204)

        make_create()

    @r.put("/v2.0/routers/{rid}/add_router_interface")
    async def add_interface(rid: str, request: Request) -> Res:
        ctx = context(state, request)
        rt = nm.get(ctx, "routers", rid)
        spec = await json_body(request)
        if spec.get("subnet_id"):
            sub = nm.get(ctx, "subnets", spec["subnet_id"])
            if any(
                p["device_id"] == rid and any(ip["subnet_id"] == sub["id"] for ip in p["fixed_ips"])
                for p in state.ports.values()
            ):
                raise bad(f"Router already has a port on subnet {sub['id']}")
            port = create_port(
                state,
                state.networks[sub["network_id"]],
                rt["project_id"],
                fixed_ips=[{"subnet_id": sub["id"], "ip_address": sub["gateway_ip"]}]
                if sub["gateway_ip"] and not _ip_used(sub)
                else [{"subnet_id": sub["id"]}],
                security_groups=[],
            )
        elif spec.get("port_id"):
            port = nm.get(ctx, "ports", spec["port_id"])
            if port["device_id"]:
                raise APIError(409, f"Port {port['id']} is in use", kind="PortInUse")
        else:
            raise bad("Either subnet_id or port_id must be specified")
        port.update(device_id=rid, device_owner="network:router_interface", status="ACTIVE")
        return {
            "id": rid,
            "subnet_id": port["fixed_ips"][0]["subnet_id"],
            "subnet_ids": [ip["subnet_id"] for ip in port["fixed_ips"]],
            "port_id": port["id"],
            "project_id": rt["project_id"],
            "tenant_id": rt["project_id"],
            "network_id": port["network_id"],
        }

    def _ip_used(sub: Res) -> bool:
        return any(
            ip["ip_address"] == sub["gateway_ip"]
            for p in state.ports.values()
            for ip in p["fixed_ips"]
            if ip["subnet_id"] == sub["id"]
        )

    @r.put("/v2.0/routers/{rid}/remove_router_interface")
    async def remove_interface(rid: str, request: Request) -> Res:
        ctx = context(state, request)
        rt = nm.get(ctx, "routers", rid)
        spec = await json_body(request)
        port = next(
            (
                p
                for p in state.ports.values()
                if p["device_id"] == rid
                and p["device_owner"] == "network:router_interface"
                and (
                    p["id"] == spec.get("port_id")
                    or any(ip["subnet_id"] == spec.get("subnet_id") for ip in p["fixed_ips"])
                )
            ),
            None,
        )
        if port is None:
            raise APIError(
                404,
                f"Router {rid} does not have an interface with id "
                f"{spec.get('port_id') or spec.get('subnet_id')}",
                kind="RouterInterfaceNotFound",
            )
        delete_port(state, port)
        return {
            "id": rid,
            "port_id": port["id"],
            "subnet_id": port["fixed_ips"][0]["subnet_id"],
            "project_id": rt["project_id"],
            "tenant_id": rt["project_id"],
        }

    @r.get("/v2.0/quotas/{pid}")
    async def quotas(pid: str, request: Request) -> Res:
        ctx = context(state, request)
        if not ctx.can_see(pid):
            raise APIError(403, "Policy doesn't allow get_quota.", kind="PolicyNotAuthorized")
        return {
            "quota": {
                k: state.quota(pid, k)
                for k in (
                    "network",
                    "subnet",
                    "port",
                    "router",
                    "floatingip",
                    "security_group",
                    "security_group_rule",
                )
            }
        }

    return r
