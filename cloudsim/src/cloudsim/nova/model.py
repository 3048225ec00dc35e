"""Nova server records: creation (networks, ports, boot volumes), views, deletion.

Kept apart from the HTTP routes so the admin API (power loss, workloads) and createImage can
use the same logic.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
from pathlib import Path
from typing import Any

from cloudsim.cinder import ops as cinder
from cloudsim.errors import APIError, bad_request
from cloudsim.guest import GuestAgent, GuestServices
from cloudsim.neutron_ops import create_port, delete_port
from cloudsim.nova import boot as boot_spec
from cloudsim.state import Res, SiteState, new_id, now_iso
from cloudsim.util import get_str

POWER = {"active": 1, "stopped": 4, "building": 0, "error": 0}
DEVICES = [f"/dev/vd{c}" for c in "abcdefghijklmnopqrstuvwxyz"]


def find_flavor(state: SiteState, ref: str) -> Res:
    ref = ref.rstrip("/").rsplit("/", 1)[-1]
    fl = state.flavors.get(ref)
    if fl is None:
        fl = next((f for f in state.flavors.values() if f["name"] == ref), None)
    if fl is None:
        raise bad_request(f"Flavor {ref} could not be found.")
    return fl


def _set_state(srv: Res, status: str, vm_state: str, task: str | None = None) -> None:
    srv["status"] = status
    srv["OS-EXT-STS:vm_state"] = vm_state
    srv["OS-EXT-STS:task_state"] = task
    srv["OS-EXT-STS:power_state"] = POWER.get(vm_state, 0)
    srv["updated"] = now_iso()


def check_server_quota(state: SiteState, project_id: str, flavor: Res, count: int = 1) -> None:
    mine = [s for s in state.servers.values() if s["tenant_id"] == project_id]
    for key, per, used in (
        ("instances", 1, len(mine)),
        ("cores", flavor["vcpus"], sum(s["_flavor"]["vcpus"] for s in mine)),
        ("ram", flavor["ram"], sum(s["_flavor"]["ram"] for s in mine)),
    ):
        limit = state.quota(project_id, key)
        if limit >= 0 and used + per * count > limit:
            raise APIError(
                403,
                f"Quota exceeded for {key}: Requested {per * count}, but already used {used} of "
                f"{limit} {key}",
            )


def create_server(state: SiteState, body: dict[str, Any], project_id: str, user_id: str) -> Res:
    name = get_str(body, "name", required=True)
    if not name or len(name) > 255:
        raise bad_request("Invalid input for field/attribute name: must be 1-255 characters.")
    flavor_ref = body.get("flavorRef")
    if not isinstance(flavor_ref, (str, int)):
        raise bad_request(
            "Invalid input for field/attribute flavorRef: 'flavorRef' is a required property"
        )
    flavor = find_flavor(state, str(flavor_ref))
    image_ref = get_str(body, "imageRef") or None
    image: Res | None = None
    if image_ref:
        image = state.images.get(image_ref.rstrip("/").rsplit("/", 1)[-1])
        if image is None:
            raise bad_request(f"Image {image_ref} could not be found.")
    bdms = body.get("block_device_mapping_v2")
    if image is None and not bdms:
        raise bad_request(
            "Block Device Mapping is Invalid: You specified more local devices "
            "than the limit allows or no boot device (imageRef or "
            "block_device_mapping_v2 is required)."
        )
    meta = body.get("metadata") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise bad_request("Invalid input for field/attribute metadata: values must be strings.")
    if len(meta) > state.quota(project_id, "metadata_items"):
        raise APIError(403, "Quota exceeded for metadata_items")
    key_name = get_str(body, "key_name")
    if key_name and (user_id, key_name) not in state.keypairs:
        raise bad_request(f"Invalid key_name provided: {key_name}")
    user_data = get_str(body, "user_data")
    if user_data:
        try:
            base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(
                "Invalid input for field/attribute user_data: not valid base64."
            ) from None
    sgs = body.get("security_groups") or [{"name": "default"}]
    if not isinstance(sgs, list):
        raise bad_request("Invalid input for field/attribute security_groups: must be a list.")
    sg_ids = []
    for sg in sgs:
        ref = sg.get("name") if isinstance(sg, dict) else None
        match = next(
            (
                g
                for g in state.security_groups.values()
                if g["project_id"] == project_id and ref in (g["name"], g["id"])
            ),
            None,
        )
        if match is None:
            raise bad_request(f"Security group {ref} not found for project {project_id}.")
        sg_ids.append(match["id"])
    check_server_quota(state, project_id, flavor)
    nets = boot_spec.resolve_networks(state, body.get("networks"), project_id)
    boot = boot_spec.boot_volumes(state, bdms, project_id, user_id, image_ref) if bdms else []

    sid = new_id()
    ts = now_iso()
    srv: Res = {
        "id": sid,
        "name": name,
        "status": "BUILD",
        "tenant_id": project_id,
        "user_id": user_id,
        "metadata": dict(meta),
        "hostId": hashlib.sha224((project_id + "cloudsim").encode()).hexdigest(),
        "image": {"id": image["id"], "links": []} if image and not boot else "",
        "flavor": {
            "vcpus": flavor["vcpus"],
            "ram": flavor["ram"],
            "disk": flavor["disk"],
            "ephemeral": 0,
            "swap": 0,
            "original_name": flavor["name"],
            "extra_specs": {},
        },
        "created": ts,
        "updated": ts,
        "addresses": {},
        "accessIPv4": get_str(body, "accessIPv4") or "",
        "accessIPv6": get_str(body, "accessIPv6") or "",
        "links": [],
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": get_str(body, "availability_zone") or "nova",
        "config_drive": "True" if body.get("config_drive") else "",
        "key_name": key_name,
        "OS-SRV-USG:launched_at": None,
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-STS:task_state": "spawning",
        "OS-EXT-STS:vm_state": "building",
        "OS-EXT-STS:power_state": 0,
        "OS-EXT-SRV-ATTR:host": "cloudsim-" + state.config.name,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": "cloudsim-" + state.config.name,
        "OS-EXT-SRV-ATTR:instance_name": f"instance-{len(state.servers) + 1:08x}",
        "OS-EXT-SRV-ATTR:user_data": user_data,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": state.security_groups[g]["name"]} for g in sg_ids],
        "description": get_str(body, "description"),
        "tags": [t for t in body.get("tags") or [] if isinstance(t, str)],
        "locked": False,
        "locked_reason": None,
        "trusted_image_certificates": None,
        "server_groups": [],
        "host_status": "UP",
        "_flavor": flavor,
        "_ports": [],
        "_sg_ids": sg_ids,
        "_created_ports": [],
        "_services": meta.get(SERVICES_META, "").lower() == "true",
    }
    for kind, req in nets:
        if kind == "port":
            port = state.ports[req["port"]]
        else:
            fixed = [{"ip_address": req["fixed_ip"]}] if req.get("fixed_ip") else None
            port = create_port(
                state,
                state.networks[req["uuid"]],
                project_id,
                fixed_ips=fixed,
                security_groups=sg_ids,
            )
            srv["_created_ports"].append(port["id"])
        port["device_id"] = sid
        port["device_owner"] = "compute:nova"
        port["status"] = "ACTIVE"
        srv["_ports"].append(port["id"])
    for i, b in enumerate(boot):
        device = b["device"] or DEVICES[i]
        cinder.attach(state, b["volume"], sid, device)
        srv["os-extended-volumes:volumes_attached"].append(
            {"id": b["volume"]["id"], "delete_on_termination": b["delete"]}
        )
    state.servers[sid] = srv
    state.agents[sid] = GuestAgent(sid)

    def active() -> None:
        if srv["status"] == "BUILD":
            _set_state(srv, "ACTIVE", "active")
            srv["OS-SRV-USG:launched_at"] = now_iso()
            srv["progress"] = 100
            if wants_services(srv):
                start_services(state, srv)

    state.later(state.config.server_build_s, active)
    return srv


def addresses(state: SiteState, srv: Res) -> dict[str, list[Res]]:
    out: dict[str, list[Res]] = {}
    for pid in srv["_ports"]:
        port = state.ports.get(pid)
        if port is None:
            continue
        net = state.networks[port["network_id"]]
        lst = out.setdefault(net["name"], [])
        for ip in port["fixed_ips"]:
            lst.append(
                {
                    "version": 6 if ":" in ip["ip_address"] else 4,
                    "addr": ip["ip_address"],
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": port["mac_address"],
                }
            )
        for fip in state.floatingips.values():
            if fip["port_id"] == pid:
                lst.append(
                    {
                        "version": 4,
                        "addr": fip["floating_ip_address"],
                        "OS-EXT-IPS:type": "floating",
                        "OS-EXT-IPS-MAC:mac_addr": port["mac_address"],
                    }
                )
    return out


def server_view(state: SiteState, srv: Res, base: str, *, admin: bool) -> Res:
    out = {k: v for k, v in srv.items() if not k.startswith("_")}
    if not admin:
        for k in list(out):
            if k.startswith("OS-EXT-SRV-ATTR:"):
                del out[k]
    out["addresses"] = addresses(state, srv)
    out["metadata"] = dict(srv["metadata"])
    out["tags"] = list(srv["tags"])
    out["os-extended-volumes:volumes_attached"] = [
        dict(v) for v in srv["os-extended-volumes:volumes_attached"]
    ]
    out["links"] = [
        {"rel": "self", "href": f"{base}/compute/v2.1/servers/{srv['id']}"},
        {"rel": "bookmark", "href": f"{base}/compute/servers/{srv['id']}"},
    ]
    return out


def delete_server(state: SiteState, srv: Res) -> None:
    sid = srv["id"]
    for va in srv["os-extended-volumes:volumes_attached"]:
        vol = state.volumes.get(va["id"])
        if vol is None:
            continue
        cinder.detach(state, vol, sid)
        if va["delete_on_termination"]:
            with contextlib.suppress(APIError):  # left behind when Cinder refuses, as in Nova
                cinder.delete_volume(state, vol, cascade=False)
    for pid in srv["_ports"]:
        port = state.ports.get(pid)
        if port is None:
            continue
        if pid in srv["_created_ports"]:
            delete_port(state, port)
        else:
            port["device_id"] = ""
            port["device_owner"] = ""
            port["status"] = "DOWN"
    stop_services(state, srv, forget=True)
    agent = state.agents.pop(sid, None)
    if agent is not None and agent.frozen:
        agent.thaw()
    del state.servers[sid]


def set_state(srv: Res, status: str, vm_state: str, task: str | None = None) -> None:
    _set_state(srv, status, vm_state, task)


SERVICES_META = "cloudsim:guest_services"


def wants_services(srv: Res) -> bool:
    return bool(srv.get("_services"))


def start_services(state: SiteState, srv: Res) -> int:
    """Start the guest's health/exec service (bubble checks probe it); returns its port."""
    svc = state.services.get(srv["id"])
    if svc is None:
        sid = srv["id"]

        def volumes() -> dict[str, Path]:
            live = state.servers.get(sid)
            vols = live["os-extended-volumes:volumes_attached"] if live else []
            return {v["id"]: state.blockstore.volume_path(v["id"]) for v in vols}

        def connect(address: str) -> tuple[int, Any]:
            from cloudsim.fabric import connect as fabric_connect

            return fabric_connect(state, sid, address)

        svc = GuestServices(sid, volumes=volumes, connect=connect)
        state.services[sid] = svc
    srv["_services"] = True
    return svc.start()


def stop_services(state: SiteState, srv: Res, *, forget: bool = False) -> None:
    """Power off the guest's services (connections refused); `forget` also disables them."""
    svc = state.services.get(srv["id"])
    if svc is not None:
        svc.stop()
        if forget:
            del state.services[srv["id"]]
    if forget:
        srv["_services"] = False
