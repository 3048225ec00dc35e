"""Nova discovery, flavors, keypairs, limits, quotas, availability zones, server interfaces."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.auth import context
from cloudsim.errors import APIError, bad_request
from cloudsim.keystone import base_url
from cloudsim.nova.keys import make_keypair
from cloudsim.nova.servers import get_server
from cloudsim.state import Res, SiteState, new_id, now_iso_micro
from cloudsim.util import get_int, get_str, json_body, member, paginate, public
from cloudsim.versions import nova_version

NOVA_QUOTA_KEYS = ("instances", "cores", "ram", "key_pairs", "metadata_items")


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/compute")

    @r.get("")
    @r.get("/")
    async def versions() -> Res:
        v = nova_version(base_url(state))
        return {"versions": [v]}

    @r.get("/v2.1")
    @r.get("/v2.1/")
    async def version() -> Res:
        return {"version": nova_version(base_url(state))}

    # --- flavors ------------------------------------------------------------------------------
    def flavor_view(f: Res) -> Res:
        out = dict(f)
        out["links"] = [
            {"rel": "self", "href": f"{base_url(state)}/compute/v2.1/flavors/{f['id']}"}
        ]
        return out

    def find_flavor(fid: str) -> Res:
        f = state.flavors.get(fid)
        if f is None:
            raise APIError(404, f"Flavor {fid} could not be found.")
        return f

    @r.get("/v2.1/flavors")
    async def list_flavors(request: Request) -> Res:
        context(state, request)
        items = paginate(sorted(state.flavors.values(), key=lambda f: f["id"]), request)
        return {
            "flavors": [
                {
                    "id": f["id"],
                    "name": f["name"],
                    "description": f["description"],
                    "links": flavor_view(f)["links"],
                }
                for f in items
            ]
        }

    @r.get("/v2.1/flavors/detail")
    async def list_flavors_detail(request: Request) -> Res:
        context(state, request)
        items = paginate(sorted(state.flavors.values(), key=lambda f: f["id"]), request)
        return {"flavors": [flavor_view(f) for f in items]}

    @r.get("/v2.1/flavors/{fid}")
    async def show_flavor(fid: str, request: Request) -> Res:
        context(state, request)
        return {"flavor": flavor_view(find_flavor(fid))}

    @r.get("/v2.1/flavors/{fid}/os-extra_specs")
    async def flavor_specs(fid: str, request: Request) -> Res:
        context(state, request)
        return {"extra_specs": dict(find_flavor(fid)["extra_specs"])}

    @r.post("/v2.1/flavors")
    async def create_flavor(request: Request) -> Res:
        ctx = context(state, request)
        if not ctx.is_admin:
            raise APIError(
                403, "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed."
            )
        spec = member(await json_body(request), "flavor")
        name = get_str(spec, "name", required=True) or ""
        fid = str(spec.get("id") or f"{len(state.flavors) + 100}")
        if fid in state.flavors or any(f["name"] == name for f in state.flavors.values()):
            raise APIError(409, f"Flavor with name {name} already exists.")
        f: Res = {
            "id": fid,
            "name": name,
            "vcpus": get_int(spec, "vcpus", required=True, minimum=1),
            "ram": get_int(spec, "ram", required=True, minimum=1),
            "disk": get_int(spec, "disk", required=True, minimum=0),
            "OS-FLV-EXT-DATA:ephemeral": 0,
            "swap": 0,
            "rxtx_factor": 1.0,
            "os-flavor-access:is_public": bool(spec.get("os-flavor-access:is_public", True)),
            "OS-FLV-DISABLED:disabled": False,
            "description": spec.get("description"),
            "extra_specs": {},
        }
        state.flavors[fid] = f
        return {"flavor": flavor_view(f)}

    @r.delete("/v2.1/flavors/{fid}", status_code=202)
    async def delete_flavor(fid: str, request: Request) -> Response:
        ctx = context(state, request)
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow os_compute_api:os-flavor-manage:delete.")
        find_flavor(fid)
        del state.flavors[fid]
        return Response(status_code=202)

    # --- keypairs -----------------------------------------------------------------------------
    @r.get("/v2.1/os-keypairs")
    async def list_keypairs(request: Request) -> Res:
        ctx = context(state, request)
        return {
            "keypairs": [
                {
                    "keypair": {
                        k: v
                        for k, v in public(kp).items()
                        if k in ("name", "public_key", "fingerprint", "type")
                    }
                }
                for (uid, _), kp in state.keypairs.items()
                if uid == ctx.user_id
            ]
        }

    @r.post("/v2.1/os-keypairs")
    async def create_keypair(request: Request) -> Res:
        ctx = context(state, request)
        spec = member(await json_body(request), "keypair")
        name = get_str(spec, "name", required=True) or ""
        if not name or len(name) > 255:
            raise bad_request("Invalid input for field/attribute name: must be 1-255 characters.")
        if (ctx.user_id, name) in state.keypairs:
            raise APIError(409, f"Key pair '{name}' already exists.")
        used = sum(1 for (u, _) in state.keypairs if u == ctx.user_id)
        if used >= state.quota(ctx.project_id, "key_pairs"):
            raise APIError(403, "Quota exceeded, too many key pairs.")
        kp = make_keypair(
            name, ctx.user_id, get_str(spec, "public_key"), get_str(spec, "type") or "ssh"
        )
        state.keypairs[(ctx.user_id, name)] = kp
        return {"keypair": {k: v for k, v in kp.items() if k != "id"}}

    @r.get("/v2.1/os-keypairs/{name}")
    async def show_keypair(name: str, request: Request) -> Res:
        ctx = context(state, request)
        kp = state.keypairs.get((ctx.user_id, name))
        if kp is None:
            raise APIError(404, f"Keypair {name} not found for user {ctx.user_id}")
        out = {k: v for k, v in kp.items() if k != "private_key"}
        return {"keypair": out}

    @r.delete("/v2.1/os-keypairs/{name}", status_code=202)
    async def delete_keypair(name: str, request: Request) -> Response:
        ctx = context(state, request)
        if state.keypairs.pop((ctx.user_id, name), None) is None:
            raise APIError(404, f"Keypair {name} not found for user {ctx.user_id}")
        return Response(status_code=202)

    # --- limits, quotas, AZs, interfaces --------------------------------------------------------
    def usage(pid: str) -> dict[str, int]:
        mine = [s for s in state.servers.values() if s["tenant_id"] == pid]
        return {
            "instances": len(mine),
            "cores": sum(s["_flavor"]["vcpus"] for s in mine),
            "ram": sum(s["_flavor"]["ram"] for s in mine),
        }

    @r.get("/v2.1/limits")
    async def limits(request: Request) -> Res:
        ctx = context(state, request)
        pid, u = ctx.project_id, usage(ctx.project_id)
        q = {k: state.quota(pid, k) for k in NOVA_QUOTA_KEYS}
        return {
            "limits": {
                "rate": [],
                "absolute": {
                    "maxTotalInstances": q["instances"],
                    "maxTotalCores": q["cores"],
                    "maxTotalRAMSize": q["ram"],
                    "maxTotalKeypairs": q["key_pairs"],
                    "maxServerMeta": q["metadata_items"],
                    "maxServerGroups": 10,
                    "maxServerGroupMembers": 10,
                    "totalInstancesUsed": u["instances"],
                    "totalCoresUsed": u["cores"],
                    "totalRAMUsed": u["ram"],
                    "totalServerGroupsUsed": 0,
                },
            }
        }

    @r.get("/v2.1/os-quota-sets/{pid}")
    async def quota_set(pid: str, request: Request) -> Res:
        ctx = context(state, request)
        if not ctx.can_see(pid):
            raise APIError(403, "Policy doesn't allow os_compute_api:os-quota-sets:show.")
        out: Res = {"id": pid}
        out.update({k: state.quota(pid, k) for k in NOVA_QUOTA_KEYS})
        if request.url.path.endswith("/detail"):
            return {"quota_set": out}
        return {"quota_set": out}

    @r.put("/v2.1/os-quota-sets/{pid}")
    async def update_quota_set(pid: str, request: Request) -> Res:
        ctx = context(state, request)
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow os_compute_api:os-quota-sets:update.")
        spec = member(await json_body(request), "quota_set")
        vals = {k: get_int(spec, k) for k in spec if k in NOVA_QUOTA_KEYS}
        state.set_quotas(pid, {k: v for k, v in vals.items() if v is not None})
        return {"quota_set": {k: state.quota(pid, k) for k in NOVA_QUOTA_KEYS}}

    @r.get("/v2.1/os-availability-zone")
    async def azs(request: Request) -> Res:
        context(state, request)
        return {
            "availabilityZoneInfo": [
                {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}
            ]
        }

    @r.get("/v2.1/servers/{sid}/os-interface")
    async def interfaces(sid: str, request: Request) -> Res:
        srv = get_server(state, context(state, request), sid)
        out = []
        for pid in srv["_ports"]:
            p = state.ports.get(pid)
            if p is not None:
                out.append(
                    {
                        "port_id": p["id"],
                        "net_id": p["network_id"],
                        "mac_addr": p["mac_address"],
                        "port_state": p["status"],
                        "fixed_ips": [dict(ip) for ip in p["fixed_ips"]],
                        "tag": None,
                    }
                )
        return {"interfaceAttachments": out}

    # --- server groups (2.64 shape: one policy + rules) -------------------------------------
    def group_view(g: Res) -> Res:
        return dict(g, members=[m for m in g["members"] if m in state.servers])

    def group_of(ctx_pid: str, admin: bool, gid: str) -> Res:
        g = state.server_groups.get(gid)
        if g is None or not (admin or g["project_id"] == ctx_pid):
            raise APIError(404, f"Instance group {gid} could not be found.")
        return g

    @r.get("/v2.1/os-server-groups")
    async def list_groups(request: Request) -> Res:
        ctx = context(state, request)
        items = [g for g in state.server_groups.values() if g["project_id"] == ctx.project_id]
        return {"server_groups": [group_view(g) for g in paginate(items, request)]}

    @r.post("/v2.1/os-server-groups")
    async def create_group(request: Request) -> Res:
        ctx = context(state, request)
        spec = member(await json_body(request), "server_group")
        name = get_str(spec, "name", required=True) or ""
        policy = spec.get("policy") or (spec.get("policies") or [None])[0]
        if policy not in ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"):
            raise bad_request(
                f"Invalid input for field/attribute policy: {policy!r} is not one "
                "of affinity, anti-affinity, soft-affinity, soft-anti-affinity."
            )
        g: Res = {
            "id": new_id(),
            "name": name,
            "policy": policy,
            "rules": spec.get("rules") or {},
            "members": [],
            "project_id": ctx.project_id,
            "user_id": ctx.user_id,
        }
        state.server_groups[g["id"]] = g
        return {"server_group": group_view(g)}

    @r.get("/v2.1/os-server-groups/{gid}")
    async def show_group(gid: str, request: Request) -> Res:
        ctx = context(state, request)
        return {"server_group": group_view(group_of(ctx.project_id, ctx.is_admin, gid))}

    @r.delete("/v2.1/os-server-groups/{gid}", status_code=204)
    async def delete_group(gid: str, request: Request) -> Response:
        ctx = context(state, request)
        group_of(ctx.project_id, ctx.is_admin, gid)
        del state.server_groups[gid]
        return Response(status_code=204)

    @r.get("/v2.1/os-services")
    async def services(request: Request) -> JSONResponse:
        context(state, request)
        return JSONResponse(
            {
                "services": [
                    {
                        "id": 1,
                        "binary": "nova-compute",
                        "host": "cloudsim-" + state.config.name,
                        "zone": "nova",
                        "status": "enabled",
                        "state": "up",
                        "updated_at": now_iso_micro(),
                        "disabled_reason": None,
                        "forced_down": False,
                    }
                ]
            }
        )

    return r
