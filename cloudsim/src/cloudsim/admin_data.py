"""Admin API, data side: workloads on chosen servers, the consistency checker, and where volume
and snapshot files live."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.admin import AdminControl, admin_auth
from cloudsim.errors import APIError
from cloudsim.faults import ADMIN_PREFIX
from cloudsim.guest import Workload, WorkloadVolume, check_consistency
from cloudsim.state import Res, new_id
from cloudsim.util import json_body


def _workload_volumes(ctl: AdminControl, spec: dict[str, Any]) -> list[WorkloadVolume]:
    state = ctl.state
    out: list[WorkloadVolume] = []
    if isinstance(spec.get("volumes"), list):
        for v in spec["volumes"]:
            if not isinstance(v, dict) or "volume_id" not in v:
                raise APIError(400, "volumes: each item needs volume_id (and server_id, role)")
            vol = state.volumes.get(v["volume_id"])
            if vol is None:
                raise APIError(404, f"volume_id: volume {v['volume_id']} not found")
            sid = v.get("server_id") or next((a["server_id"] for a in vol["attachments"]), None)
            if sid is None:
                raise APIError(400, f"server_id: volume {vol['id']} is not attached; give one")
            out.append(
                WorkloadVolume(
                    sid,
                    vol["id"],
                    state.blockstore.volume_path(vol["id"]),
                    role=str(v.get("role", "data")),
                    region_offset=int(v.get("region_offset", 0)),
                )
            )
        return out
    servers = spec.get("servers")
    if not isinstance(servers, list) or not servers:
        raise APIError(400, "servers: a non-empty list of server ids (or give volumes)")
    offset = int(spec.get("region_offset", 0))
    for sid in servers:
        srv = state.servers.get(sid)
        if srv is None:
            raise APIError(404, f"servers: server {sid} not found")
        for i, va in enumerate(srv["os-extended-volumes:volumes_attached"]):
            out.append(
                WorkloadVolume(
                    sid,
                    va["id"],
                    state.blockstore.volume_path(va["id"]),
                    role="log" if i == 0 else "data",
                    region_offset=offset,
                )
            )
    if not out:
        raise APIError(400, "servers: the chosen servers have no volumes attached")
    return out


def _workload(ctl: AdminControl, wid: str) -> Workload:
    wl = ctl.workloads.get(wid)
    if wl is None:
        raise APIError(404, f"workload {wid} not found")
    return wl


def router(ctl: AdminControl) -> APIRouter:
    r = APIRouter(prefix=ADMIN_PREFIX)
    state = ctl.state
    auth = admin_auth(state)

    @r.get("/volumes/{vid}")
    async def volume_file(vid: str, request: Request) -> Res:
        auth(request)
        if vid not in state.volumes:
            raise APIError(404, f"volume {vid} not found")
        return {
            "volume_id": vid,
            "path": str(state.blockstore.volume_path(vid)),
            "allocated_bytes": state.blockstore.allocated_bytes(vid),
        }

    @r.get("/snapshots/{snap_id}")
    async def snapshot_file(snap_id: str, request: Request) -> Res:
        auth(request)
        if snap_id not in state.snapshots:
            raise APIError(404, f"snapshot {snap_id} not found")
        return {"snapshot_id": snap_id, "path": str(state.blockstore.snapshot_path(snap_id))}

    @r.post("/workloads", status_code=201)
    async def start_workload(request: Request) -> JSONResponse:
        auth(request)
        body = await json_body(request)
        wid = str(body.get("workload_id") or new_id()[:8])
        if wid in ctl.workloads:
            raise APIError(409, f"workload_id: {wid} already exists")
        vols = _workload_volumes(ctl, body)
        try:
            rate = float(body.get("rate_per_s", 100.0))
            wl = Workload(wid, vols, rate_per_s=rate, agents=state.agents)
        except (ValueError, TypeError) as exc:
            raise APIError(400, f"workload: {exc}") from None
        wl.start()
        ctl.workloads[wid] = wl
        return JSONResponse({"workload_id": wid, **wl.status()}, status_code=201)

    @r.get("/workloads/{wid}")
    async def workload_status(wid: str, request: Request) -> Res:
        auth(request)
        return {"workload_id": wid, **_workload(ctl, wid).status()}

    @r.post("/workloads/{wid}/stop")
    async def stop_workload(wid: str, request: Request) -> Res:
        auth(request)
        wl = _workload(ctl, wid)
        await asyncio.to_thread(wl.stop)
        return {"workload_id": wid, **wl.status()}

    @r.delete("/workloads/{wid}", status_code=204)
    async def delete_workload(wid: str, request: Request) -> Response:
        auth(request)
        wl = _workload(ctl, wid)
        await asyncio.to_thread(wl.close)
        del ctl.workloads[wid]
        return Response(status_code=204)

    @r.post("/check")
    async def check(request: Request) -> Res:
        """Consistency check of volumes and/or snapshots of this site (name -> id)."""
        auth(request)
        body = await json_body(request)
        files: dict[str, Path] = {}
        for key, table, path_of in (
            ("volumes", state.volumes, state.blockstore.volume_path),
            ("snapshots", state.snapshots, state.blockstore.snapshot_path),
        ):
            spec = body.get(key) or {}
            if not isinstance(spec, dict):
                raise APIError(400, f"{key}: must map names to ids")
            for name, rid in spec.items():
                if rid not in table:
                    raise APIError(404, f"{key}: {rid} not found")
                files[str(name)] = path_of(rid)
        if not files:
            raise APIError(400, "volumes/snapshots: name at least one volume or snapshot")
        exp = body.get("expected_last_seq")
        if exp is not None and not isinstance(exp, int):
            raise APIError(400, "expected_last_seq: must be an integer")
        wid = body.get("workload_id")
        try:
            report = await asyncio.to_thread(
                check_consistency, files, expected_last_seq=exp, workload_id=wid
            )
        except ValueError as exc:
            raise APIError(400, str(exc)) from None
        return report.model_dump()

    return r
