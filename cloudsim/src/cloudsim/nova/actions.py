"""Nova server actions (start/stop/reboot/createImage/...) and volume attachments.

createImage of a volume-backed server follows Nova: quiesce the guest through its agent when the
agent is enabled, snapshot every attached volume at one instant, unquiesce, and register an image
whose `block_device_mapping` property references the snapshots.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudsim.auth import Ctx, context
from cloudsim.cinder import ops as cinder
from cloudsim.errors import APIError, bad_request
from cloudsim.glance_ops import new_image
from cloudsim.guest import QuiesceError
from cloudsim.keystone import base_url
from cloudsim.nova import model
from cloudsim.nova.servers import get_server
from cloudsim.state import Res, SiteState
from cloudsim.util import get_str, json_body, member
from cloudsim.versions import microversion


def _conflict(srv: Res, action: str) -> APIError:
    return APIError(
        409,
        f"Cannot '{action}' instance {srv['id']} while it is in vm_state "
        f"{srv['OS-EXT-STS:vm_state']}",
    )


def _transition(
    state: SiteState, srv: Res, busy: tuple[str, str, str | None], done: tuple[str, str]
) -> None:
    model.set_state(srv, *busy)

    def finish() -> None:
        if srv["id"] in state.servers and srv["status"] == busy[0]:
            model.set_state(srv, *done)

    state.later(state.config.action_s, finish)


def create_image(state: SiteState, ctx: Ctx, srv: Res, spec: dict[str, Any]) -> Res:
    name = get_str(spec, "name", required=True)
    if not name:
        raise bad_request("Invalid input for field/attribute name: must not be empty.")
    meta = spec.get("metadata") or {}
    if not isinstance(meta, dict):
        raise bad_request("Invalid input for field/attribute metadata: must be an object.")
    if srv["status"] not in ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"):
        raise _conflict(srv, "createImage")
    attached = srv["os-extended-volumes:volumes_attached"]
    if not attached:
        src = state.images.get(srv["image"]["id"]) if isinstance(srv["image"], dict) else None
        img = new_image(
            state,
            name=name,
            owner=ctx.project_id,
            properties={
                **{k: str(v) for k, v in meta.items()},
                "image_type": "snapshot",
                "instance_uuid": srv["id"],
            },
        )
        if src is not None:
            shutil.copyfile(state.images_dir / src["id"], state.images_dir / img["id"])
            img.update(
                status="active",
                size=src["size"],
                disk_format=src["disk_format"],
                container_format=src["container_format"],
                checksum=src["checksum"],
            )
        return img
    agent = state.agents.get(srv["id"])
    quiesced = False
    if agent is not None and agent.enabled and srv["status"] == "ACTIVE":
        try:
            agent.freeze()
        except QuiesceError as exc:
            raise APIError(409, f"Failed to quiesce instance {srv['id']}: {exc}") from None
        quiesced = True
    try:
        vols = [state.volumes[a["id"]] for a in attached if a["id"] in state.volumes]
        snaps = cinder.snapshot_volumes(
            state,
            vols,
            project_id=srv["tenant_id"],
            user_id=ctx.user_id,
            name_fmt="snapshot for " + name,
            description=None,
        )
    finally:
        if quiesced and agent is not None:
            agent.thaw()
    by_vol = {s["volume_id"]: s for s in snaps}
    bdm = []
    for i, a in enumerate(attached):
        vol = state.volumes[a["id"]]
        att = next((x for x in vol["attachments"] if x["server_id"] == srv["id"]), None)
        bdm.append(
            {
                "source_type": "snapshot",
                "destination_type": "volume",
                "snapshot_id": by_vol[a["id"]]["id"],
                "volume_id": None,
                "volume_size": vol["size"],
                "device_name": att["device"] if att else None,
                "boot_index": 0 if i == 0 else None,
                "delete_on_termination": False,
                "tag": None,
                "no_device": None,
                "disk_bus": "virtio",
                "device_type": "disk",
                "guest_format": None,
                "volume_type": None,
                "image_id": None,
            }
        )
    props = {k: str(v) for k, v in meta.items()}
    props.update(
        {
            "block_device_mapping": json.dumps(bdm),
            "bdm_v2": "True",
            "root_device_name": bdm[0]["device_name"] or "/dev/vda",
            "image_type": "snapshot",
            "instance_uuid": srv["id"],
            "os_require_quiesce": "True" if quiesced else "False",
        }
    )
    img = new_image(state, name=name, owner=srv["tenant_id"], properties=props)
    img.update(status="active", size=0, disk_format="raw", container_format="bare")
    return img


CONSOLE_META = "cloudsim:console"


def console_log(srv: Res) -> list[str]:
    """What the guest printed on its serial console: a boot banner, a login prompt once it
    runs, then the server's ``cloudsim:console`` metadata (an application's ready marker; a
    recovered server carries its source's metadata, so the marker comes with the copy)."""
    if srv["status"] not in ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"):
        return []
    lines = [
        f"[    0.000000] Linux version 6.1.0-cloudsim ({srv['id'][:8]})",
        "[    1.250000] cloud-init: modules:final finished",
        f"{srv.get('name', 'guest')} login:",
    ]
    extra = (srv.get("metadata") or {}).get(CONSOLE_META)
    if extra:
        lines.extend(str(extra).split("\\n"))
    return lines


def router(state: SiteState) -> APIRouter:
    r = APIRouter(prefix="/compute/v2.1")

    @r.post("/servers/{sid}/action")
    async def action(sid: str, request: Request) -> Response:
        ctx = context(state, request)
        srv = get_server(state, ctx, sid)
        body = await json_body(request)
        if len(body) != 1:
            raise bad_request("Invalid server action: exactly one action is required.")
        name, spec = next(iter(body.items()))
        status = srv["status"]
        if name == "os-stop":
            if status != "ACTIVE":
                raise _conflict(srv, "stop")
            _transition(state, srv, ("ACTIVE", "active", "powering-off"), ("SHUTOFF", "stopped"))
            model.stop_services(state, srv)
            if (agent := state.agents.get(srv["id"])) is not None:
                agent.powered = False  # the guest shuts down: its applications stop writing
        elif name == "os-start":
            if status != "SHUTOFF":
                raise _conflict(srv, "start")
            _transition(state, srv, ("SHUTOFF", "stopped", "powering-on"), ("ACTIVE", "active"))
            if (agent := state.agents.get(srv["id"])) is not None:
                agent.powered = True
            if model.wants_services(srv):
                model.start_services(state, srv)
        elif name == "os-getConsoleOutput":
            length = (spec or {}).get("length") if isinstance(spec, dict) else None
            lines = console_log(srv)
            if isinstance(length, int) and length >= 0:
                lines = lines[-length:] if length else []
            return JSONResponse({"output": "".join(f"{line}\n" for line in lines)})
        elif name == "reboot":
            kind = (spec or {}).get("type", "SOFT") if isinstance(spec, dict) else None
            if kind not in ("SOFT", "HARD"):
                raise bad_request("Invalid input for field/attribute type: must be SOFT or HARD.")
            if status not in ("ACTIVE", "SHUTOFF") or (kind == "SOFT" and status != "ACTIVE"):
                raise _conflict(srv, "reboot")
            busy = "REBOOT" if kind == "SOFT" else "HARD_REBOOT"
            _transition(state, srv, (busy, "active", "rebooting"), ("ACTIVE", "active"))
        elif name == "createImage":
            if not isinstance(spec, dict):
                raise bad_request("Invalid input for field/attribute createImage.")
            img = create_image(state, ctx, srv, spec)
            loc = f"{base_url(state)}/image/v2/images/{img['id']}"
            if microversion(request, "compute", "2.1") >= (2, 45):
                return JSONResponse(
                    {"image_id": img["id"]}, status_code=202, headers={"Location": loc}
                )
            return Response(status_code=202, headers={"Location": loc})
        elif name in ("lock", "unlock"):
            srv["locked"] = name == "lock"
            srv["locked_reason"] = (spec or {}).get("locked_reason") if name == "lock" else None
        elif name in ("pause", "unpause", "suspend", "resume"):
            want = {
                "pause": ("ACTIVE", "PAUSED", "paused"),
                "unpause": ("PAUSED", "ACTIVE", "active"),
                "suspend": ("ACTIVE", "SUSPENDED", "suspended"),
                "resume": ("SUSPENDED", "ACTIVE", "active"),
            }[name]
            if status != want[0]:
                raise _conflict(srv, name)
            model.set_state(srv, want[1], want[2])
        elif name == "addSecurityGroup":
            sg_name = (spec or {}).get("name")
            sg = next(
                (
                    g
                    for g in state.security_groups.values()
                    if g["project_id"] == srv["tenant_id"] and sg_name in (g["name"], g["id"])
                ),
                None,
            )
            if sg is None:
                raise APIError(404, f"Security group {sg_name} not found for project.")
            srv["security_groups"].append({"name": sg["name"]})
            for pid in srv["_ports"]:
                if pid in state.ports and sg["id"] not in state.ports[pid]["security_groups"]:
                    state.ports[pid]["security_groups"].append(sg["id"])
        else:
            raise bad_request(f"There is no such action: {name}")
        return Response(status_code=202)

    # --- volume attachments -------------------------------------------------------------------
    def va_view(srv: Res, att: Res, delete: bool, mv: tuple[int, int]) -> Res:
        out: Res = {
            "id": att["volume_id"],
            "serverId": srv["id"],
            "volumeId": att["volume_id"],
            "device": att["device"],
        }
        if mv >= (2, 70):
            out["tag"] = None
        if mv >= (2, 79):
            out["delete_on_termination"] = delete
        if mv >= (2, 89):
            del out["id"]
            out["attachment_id"] = att["attachment_id"]
            out["bdm_uuid"] = att["attachment_id"]
        return out

    def attached(srv: Res) -> list[tuple[Res, bool]]:
        out = []
        for va in srv["os-extended-volumes:volumes_attached"]:
            vol = state.volumes.get(va["id"])
            att = next(
                (a for a in (vol or {}).get("attachments", []) if a["server_id"] == srv["id"]), None
            )
            if att is not None:
                out.append((att, bool(va["delete_on_termination"])))
        return out

    @r.get("/servers/{sid}/os-volume_attachments")
    async def list_va(sid: str, request: Request) -> Res:
        srv = get_server(state, context(state, request), sid)
        mv = microversion(request, "compute", "2.1")
        return {"volumeAttachments": [va_view(srv, a, d, mv) for a, d in attached(srv)]}

    @r.get("/servers/{sid}/os-volume_attachments/{vid}")
    async def show_va(sid: str, vid: str, request: Request) -> Res:
        srv = get_server(state, context(state, request), sid)
        mv = microversion(request, "compute", "2.1")
        for a, d in attached(srv):
            if a["volume_id"] == vid:
                return {"volumeAttachment": va_view(srv, a, d, mv)}
        raise APIError(404, f"Volume {vid} is not attached to instance {sid}.")

    @r.post("/servers/{sid}/os-volume_attachments")
    async def attach(sid: str, request: Request) -> Res:
        ctx = context(state, request)
        srv = get_server(state, ctx, sid)
        spec = member(await json_body(request), "volumeAttachment")
        vid = get_str(spec, "volumeId", required=True) or ""
        if srv["status"] not in ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"):
            raise _conflict(srv, "attach_volume")
        try:
            vol = cinder.get_volume(state, vid, None if ctx.is_admin else ctx.project_id)
        except APIError:
            raise APIError(404, f"Volume {vid} could not be found.") from None
        if any(va["id"] == vid for va in srv["os-extended-volumes:volumes_attached"]):
            raise bad_request(f"Invalid volume: volume {vid} already attached to the instance.")
        used = {a["device"] for a, _ in attached(srv)}
        device = get_str(spec, "device") or next(d for d in model.DEVICES if d not in used)
        att = cinder.attach(state, vol, sid, device)
        delete = bool(spec.get("delete_on_termination", False))
        srv["os-extended-volumes:volumes_attached"].append(
            {"id": vid, "delete_on_termination": delete}
        )
        return {
            "volumeAttachment": va_view(srv, att, delete, microversion(request, "compute", "2.1"))
        }

    @r.delete("/servers/{sid}/os-volume_attachments/{vid}", status_code=202)
    async def detach(sid: str, vid: str, request: Request) -> Response:
        srv = get_server(state, context(state, request), sid)
        lst = srv["os-extended-volumes:volumes_attached"]
        if not any(va["id"] == vid for va in lst):
            raise APIError(404, f"Volume {vid} is not attached to instance {sid}.")
        if lst and lst[0]["id"] == vid and not isinstance(srv["image"], dict):
            raise bad_request("Can't detach root device volume")
        srv["os-extended-volumes:volumes_attached"] = [va for va in lst if va["id"] != vid]
        vol = state.volumes.get(vid)
        if vol is not None:
            cinder.set_status(vol, "detaching")
            cinder.detach(state, vol, sid)
        return Response(status_code=202)

    return r
