"""Neutron VPNaaS v2 routes: ``/v2.0/vpn/{ikepolicies, ipsecpolicies, vpnservices,
endpoint-groups, ipsec-site-connections}`` (create, list with filters, show, delete)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.auth import context
from cloudsim.state import Res, SiteState
from cloudsim.util import json_body, paginate
from cloudsim.vpnaas_model import SINGULAR, VpnModel, bad


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/network/v2.0/vpn")
    vm = VpnModel(state)

    def fields(res: Res, request: Request) -> Res:
        wanted = request.query_params.getlist("fields")
        return {k: v for k, v in res.items() if k in wanted} if wanted else res

    for name, key in SINGULAR.items():

        def make(name: str = name, key: str = key) -> None:
            @r.get(f"/{name}", name=f"list_vpn_{key}")
            async def list_(request: Request) -> Res:
                ctx = context(state, request)
                items = [vm.render(name, x) for x in vm.visible(ctx, name)]
                q = request.query_params
                for k in set(q.keys()) - {"fields", "limit", "marker", "sort_key", "sort_dir"}:
                    items = [x for x in items if str(x.get(k)) in q.getlist(k)]
                return {
                    f"{key}s" if not key.endswith("y") else f"{key[:-1]}ies": [
                        fields(x, request) for x in paginate(items, request)
                    ]
                }

            @r.get(f"/{name}/{{rid}}", name=f"show_vpn_{key}")
            async def show(rid: str, request: Request) -> Res:
                ctx = context(state, request)
                return {key: fields(vm.render(name, vm.get(ctx, name, rid)), request)}

            @r.post(f"/{name}", status_code=201, name=f"create_vpn_{key}")
            async def create(request: Request) -> JSONResponse:
                ctx = context(state, request)
                body = await json_body(request)
                spec = body.get(key)
                if not isinstance(spec, dict):
                    raise bad(f"Resource body required: '{key}' must be an object.")
                res = vm.create(ctx, name, spec)
                return JSONResponse({key: vm.render(name, res)}, status_code=201)

            @r.delete(f"/{name}/{{rid}}", status_code=204, name=f"delete_vpn_{key}")
            async def delete(rid: str, request: Request) -> Response:
                ctx = context(state, request)
                vm.delete(ctx, name, rid)
                return Response(status_code=204)

        make()
    return r
