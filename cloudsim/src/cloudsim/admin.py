"""The cloudsim admin API (`/cloudsim/admin`, static admin token): faults, power, quotas,
rate limits, workloads and the consistency checker. Never part of the OpenStack endpoints."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cloudsim.errors import APIError
from cloudsim.faults import ADMIN_PREFIX, OPERATIONS, Bucket, Faults, OpRule
from cloudsim.guest import Workload
from cloudsim.nova import model
from cloudsim.state import DEFAULT_QUOTAS, Res, SiteState
from cloudsim.util import json_body


class AdminControl:
    """Admin operations on one site; `listener_hooks` lets the runner close/reopen its port."""

    def __init__(self, state: SiteState, faults: Faults) -> None:
        self.state = state
        self.faults = faults
        self.workloads: dict[str, Workload] = {}
        self.on_down: Callable[[str], Awaitable[None]] | None = None
        self.on_up: Callable[[], Awaitable[None]] | None = None

    async def set_down(self, mode: str) -> None:
        self.faults.down = mode
        if mode == "refuse" and self.on_down is not None:
            await self.on_down(mode)

    async def set_up(self) -> None:
        was = self.faults.down
        self.faults.down = None
        if was == "refuse" and self.on_up is not None:
            await self.on_up()

    def power_loss(self) -> list[str]:
        """Every running server goes SHUTOFF; workloads stop as the guests die."""
        self.state.settle()
        hit = []
        for wl in self.workloads.values():
            if wl.running:
                wl.stop()
        for srv in self.state.servers.values():
            if srv["status"] not in ("SHUTOFF", "ERROR"):
                hit.append(srv["id"])
                model.set_state(srv, "SHUTOFF", "stopped")
                model.stop_services(self.state, srv)
        self.faults.power_lost.update(hit)
        return hit

    def power_restore(self) -> list[str]:
        back = []
        for sid in sorted(self.faults.power_lost):
            srv = self.state.servers.get(sid)
            if srv is not None and srv["status"] == "SHUTOFF":
                model.set_state(srv, "ACTIVE", "active")
                if model.wants_services(srv):
                    model.start_services(self.state, srv)
                back.append(sid)
        self.faults.power_lost.clear()
        return back

    def status(self) -> Res:
        f = self.faults
        return {
            "site": self.state.config.name,
            "region": self.state.config.region,
            "down": f.down,
            "partitions": f.partitions.of(self.state.config.name),
            "rules": [r.to_dict() for r in f.rules],
            "rate_limits": {
                p: {"per_second": b.per_second, "burst": b.burst} for p, b in f.rate_limits.items()
            },
            "power_lost": sorted(f.power_lost),
            "servers": len(self.state.servers),
            "volumes": len(self.state.volumes),
            "projects": {p["name"]: p["id"] for p in self.state.projects.values()},
        }


def admin_auth(state: SiteState) -> Callable[[Request], None]:
    """The admin-token check every admin route calls first."""

    def auth(request: Request) -> None:
        tok = request.headers.get("x-auth-token") or ""
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            tok = tok or bearer[7:]
        if not hmac.compare_digest(tok.encode(), state.config.admin_token.encode()):
            raise APIError(
                401, "cloudsim admin API: a valid admin token (X-Auth-Token) is required."
            )

    return auth


def router(ctl: AdminControl) -> APIRouter:
    r = APIRouter(prefix=ADMIN_PREFIX)
    state, faults = ctl.state, ctl.faults

    auth = admin_auth(state)

    @r.get("/status")
    async def status(request: Request) -> Res:
        auth(request)
        return ctl.status()

    @r.post("/down")
    async def down(request: Request) -> Res:
        auth(request)
        body = await json_body(request, required=False)
        mode = str(body.get("mode", "503"))
        if mode not in ("503", "refuse"):
            raise APIError(400, "mode: must be '503' or 'refuse'")
        await ctl.set_down(mode)
        return ctl.status()

    @r.post("/up")
    async def up(request: Request) -> Res:
        auth(request)
        await ctl.set_up()
        return ctl.status()

    @r.get("/config")
    async def get_config(request: Request) -> Res:
        auth(request)
        return _config_view(state)

    @r.put("/config")
    async def set_config(request: Request) -> Res:
        """Delays (seconds before time_scale), time_scale and token lifetime, changed live."""
        auth(request)
        body = await json_body(request)
        for key, val in body.items():
            if key not in CONFIG_KEYS:
                raise APIError(400, f"{key}: not a settable key; use one of {list(CONFIG_KEYS)}")
            if isinstance(val, bool) or not isinstance(val, (int, float)) or val < 0:
                raise APIError(400, f"{key}: must be a number >= 0")
        for key, val in body.items():
            setattr(state.config, key, float(val))
        return _config_view(state)

    @r.get("/partitions")
    async def partitions(request: Request) -> Res:
        auth(request)
        return {
            "site": state.config.name,
            "partitioned_from": faults.partitions.of(state.config.name),
        }

    @r.put("/partitions/{other}")
    async def partition(other: str, request: Request) -> Res:
        auth(request)
        if other == state.config.name:
            raise APIError(400, "other: a site cannot be partitioned from itself")
        faults.partitions.add(state.config.name, other)
        return {
            "site": state.config.name,
            "partitioned_from": faults.partitions.of(state.config.name),
        }

    @r.delete("/partitions/{other}")
    async def heal(other: str, request: Request) -> Res:
        auth(request)
        faults.partitions.remove(state.config.name, other)
        return {
            "site": state.config.name,
            "partitioned_from": faults.partitions.of(state.config.name),
        }

    @r.get("/rules")
    async def rules(request: Request) -> Res:
        auth(request)
        return {"rules": [x.to_dict() for x in faults.rules], "operations": sorted(OPERATIONS)}

    @r.put("/rules")
    async def set_rules(request: Request) -> Res:
        auth(request)
        body = await json_body(request)
        if not isinstance(body.get("rules"), list):
            raise APIError(400, "rules: a list of rule objects is required")
        faults.rules = [OpRule.parse(x) for x in body["rules"]]
        return {"rules": [x.to_dict() for x in faults.rules]}

    @r.delete("/rules", status_code=204)
    async def clear_rules(request: Request) -> Response:
        auth(request)
        faults.rules = []
        return Response(status_code=204)

    @r.put("/rate-limits/{project}")
    async def rate_limit(project: str, request: Request) -> Res:
        auth(request)
        body = await json_body(request)
        pid = _project_id(state, project)
        try:
            per_s = float(body["per_second"])
            burst = float(body.get("burst", max(per_s, 1.0)))
        except (KeyError, TypeError, ValueError):
            raise APIError(400, "per_second: a positive number is required") from None
        if per_s <= 0 or burst < 1:
            raise APIError(400, "per_second must be > 0 and burst >= 1")
        faults.rate_limits[pid] = Bucket(per_s, burst, tokens=burst)
        return {"project_id": pid, "per_second": per_s, "burst": burst}

    @r.delete("/rate-limits/{project}", status_code=204)
    async def clear_rate_limit(project: str, request: Request) -> Response:
        auth(request)
        faults.rate_limits.pop(_project_id(state, project), None)
        return Response(status_code=204)

    @r.put("/quotas/{project}")
    async def quotas(project: str, request: Request) -> Res:
        auth(request)
        body = await json_body(request)
        bad = [k for k, v in body.items() if k not in DEFAULT_QUOTAS or not isinstance(v, int)]
        if bad:
            raise APIError(
                400,
                f"unknown quota key(s) or non-integer value(s): {bad}; known: "
                f"{sorted(DEFAULT_QUOTAS)}",
            )
        pid = _project_id(state, project)
        return {"project_id": pid, "quotas": state.set_quotas(pid, body)}

    def guest_status(sid: str) -> Res:
        svc = state.services.get(sid)
        running = svc is not None and svc.running
        return {
            "server_id": sid,
            **state.agents[sid].status(),
            "services": bool(state.servers[sid].get("_services")),
            "services_port": svc.port if svc is not None and running else None,
            "healthy": svc.healthy if svc is not None else None,
        }

    @r.get("/servers/{sid}/guest")
    async def get_guest(sid: str, request: Request) -> Res:
        auth(request)
        if sid not in state.agents:
            raise APIError(404, f"server {sid} not found")
        return guest_status(sid)

    @r.put("/servers/{sid}/guest")
    async def guest(sid: str, request: Request) -> Res:
        """Guest agent (quiesce failure, presence) and guest services (health/exec port)."""
        auth(request)
        agent = state.agents.get(sid)
        if agent is None:
            raise APIError(404, f"server {sid} not found")
        body = await json_body(request)
        known = {"fail_quiesce", "enabled", "services", "healthy"}
        bad = [k for k in body if k not in known or not isinstance(body[k], bool)]
        if bad:
            raise APIError(400, f"{bad}: unknown or non-boolean; settable: {sorted(known)}")
        if "fail_quiesce" in body:
            agent.fail_quiesce(body["fail_quiesce"])
        if "enabled" in body:
            agent.enabled = body["enabled"]
        srv = state.servers[sid]
        if body.get("services") is True:
            if srv["status"] == "ACTIVE":
                model.start_services(state, srv)
            else:
                srv["_services"] = True  # started when the server runs
        elif body.get("services") is False:
            model.stop_services(state, srv, forget=True)
        if "healthy" in body:
            svc = state.services.get(sid)
            if svc is None:
                raise APIError(409, "healthy: the server's guest services are not enabled")
            svc.set_healthy(body["healthy"])
        return guest_status(sid)

    @r.post("/power/loss")
    async def power_loss(request: Request) -> Res:
        auth(request)
        return {"shut_off": ctl.power_loss()}

    @r.post("/power/restore")
    async def power_restore(request: Request) -> Res:
        auth(request)
        return {"restored": ctl.power_restore()}

    return r


CONFIG_KEYS = ("time_scale", "server_build_s", "volume_create_s", "action_s", "token_ttl_s")


def _config_view(state: SiteState) -> Res:
    return {k: getattr(state.config, k) for k in CONFIG_KEYS}


def _project_id(state: SiteState, ref: str) -> str:
    for p in state.projects.values():
        if ref in (p["id"], p["name"]):
            return str(p["id"])
    raise APIError(404, f"project {ref} not found")
