"""Smoke test of a running lab site through openstacksdk, the way Lifeboat uses a cloud.

Run from the workspace (not the lab venv):
    uv run python deploy/openstack-lab/smoke.py DIR/clouds.yaml SITE

Acts as the member cloud SITE (the admin cloud SITE-admin only makes the flavor, the external
network and the group type, which members may not). Every step prints PASS or FAIL with its
time; the script exits 1 when any step failed and cleans up what it made either way.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openstack

WAIT = 120


class Smoke:
    """Runs steps, records failures, remembers what to delete."""

    def __init__(self, member: Any, admin: Any, ceph: dict[str, Any] | None = None) -> None:
        self.c = member
        self.a = admin
        # cluster.json of the site's Ceph cluster when its Cinder runs the RBD driver.
        self.ceph = ceph
        self.failed: list[str] = []
        self.cleanup: list[tuple[str, Callable[[], Any]]] = []
        self.t0 = time.monotonic()

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        t = time.monotonic()
        try:
            result = fn()
        except Exception as err:
            self.failed.append(name)
            print(f"FAIL {name} ({time.monotonic() - t:.1f}s): {type(err).__name__}: {err}")
            traceback.print_exc(limit=2, file=sys.stdout)
            return None
        shown = f": {str(result)[:150]}" if result else ""
        print(f"PASS {name} ({time.monotonic() - t:.1f}s){shown}")
        return result

    def later(self, what: str, fn: Callable[[], Any]) -> None:
        self.cleanup.append((what, fn))

    def run_cleanup(self) -> None:
        for what, fn in reversed(self.cleanup):
            try:
                fn()
            except Exception as err:
                print(f"cleanup of {what} failed: {err}")


def run(s: Smoke) -> None:
    c, a = s.c, s.a
    bs, cp, net, img = c.block_storage, c.compute, c.network, c.image
    tag = f"smoke{os.getpid()}"

    s.step("auth + catalog", lambda: sorted({e["type"] for e in c.service_catalog}))
    s.step(
        "inventory: list everything",
        lambda: [
            len(list(x))
            for x in (
                cp.servers(),
                bs.volumes(),
                bs.snapshots(),
                net.networks(),
                net.ports(),
                net.routers(),
                net.security_groups(),
                img.images(),
            )
        ],
    )

    # Network
    n = s.step("network", lambda: net.create_network(name=f"{tag}-net"))
    s.later("network", lambda: net.delete_network(n))
    s.later("subnet", lambda: net.delete_subnet(sub))
    sub = s.step(
        "subnet",
        lambda: net.create_subnet(
            network_id=n.id, ip_version=4, cidr="10.20.0.0/24", name=f"{tag}-sub"
        ),
    )
    sg = s.step("security group + rule", lambda: _sg(net, tag))
    s.later("security group", lambda: net.delete_security_group(sg))
    ext = s.step("external network", lambda: _external(a.network, tag))
    if ext is not None and ext.name == f"{tag}-ext":
        s.later("external network", lambda: a.network.delete_network(ext))
    r = s.step("router with gateway and interface", lambda: _router(net, ext, sub, tag))

    def drop_router() -> None:
        net.remove_interface_from_router(r, subnet_id=sub.id)
        net.delete_router(r)

    s.later("router", drop_router)
    port = s.step(
        "port",
        lambda: net.create_port(network_id=n.id, name=f"{tag}-port", security_groups=[sg.id]),
    )
    s.later("port", lambda: net.delete_port(port))

    # Volumes
    fl = s.step(
        "admin: flavor",
        lambda: a.compute.create_flavor(
            name=f"{tag}-flavor", ram=512, vcpus=1, disk=0, is_public=True
        ),
    )
    s.later("flavor", lambda: a.compute.delete_flavor(fl))
    s.step(
        "image upload",
        lambda: (
            img.wait_for_status(
                img.create_image(
                    name=f"{tag}-img",
                    data=b"lifeboat" * 131072,
                    disk_format="raw",
                    container_format="bare",
                    wait=True,
                ),
                "active",
                failures=["killed"],
                wait=WAIT,
            ).status
        ),
    )
    s.later("image", lambda: img.delete_image(img.find_image(f"{tag}-img")))
    boot = s.step(
        "boot volume from image",
        lambda: _wait_vol(
            bs,
            bs.create_volume(name=f"{tag}-boot", size=1, image_id=img.find_image(f"{tag}-img").id),
        ),
    )
    s.later("boot volume", lambda: _gone(bs, bs.delete_volume, boot))
    s.step("boot volume is bootable", lambda: bs.get_volume(boot).is_bootable)
    if s.ceph is None:
        s.step(
            "admin: 'local' connection info holds the image bytes", lambda: _local_bytes(a, boot)
        )
    else:
        s.step(
            "admin: 'rbd' connection info, image bytes read with lifeboat-reader",
            lambda: _rbd_bytes(a, boot, s.ceph),
        )
    data = s.step(
        "data volume", lambda: _wait_vol(bs, bs.create_volume(name=f"{tag}-data", size=1))
    )
    s.later("data volume", lambda: _gone(bs, bs.delete_volume, data))
    snap = s.step(
        "snapshot",
        lambda: bs.wait_for_status(
            bs.create_snapshot(volume_id=data.id, name=f"{tag}-snap"),
            "available",
            failures=["error"],
            wait=WAIT,
        ),
    )
    s.later("snapshot", lambda: _gone(bs, bs.delete_snapshot, snap))
    clone = s.step(
        "volume from snapshot",
        lambda: _wait_vol(
            bs, bs.create_volume(name=f"{tag}-fromsnap", size=1, snapshot_id=snap.id)
        ),
    )
    s.later("volume from snapshot", lambda: _gone(bs, bs.delete_volume, clone))

    # Server
    srv = s.step(
        "boot-from-volume server with port and metadata -> ACTIVE",
        lambda: cp.wait_for_server(
            cp.create_server(
                name=f"{tag}-vm",
                flavor_id=fl.id,
                networks=[{"port": port.id}],
                metadata={"lifeboat": "smoke"},
                block_device_mapping=[
                    {
                        "boot_index": 0,
                        "uuid": boot.id,
                        "source_type": "volume",
                        "destination_type": "volume",
                        "delete_on_termination": False,
                    }
                ],
            ),
            status="ACTIVE",
            failures=["ERROR"],
            interval=1,
            wait=WAIT,
        ),
    )

    def drop_server() -> None:
        cp.delete_server(srv)
        cp.wait_for_delete(srv, wait=WAIT)

    s.later("server", drop_server)
    s.step(
        "server addresses and metadata",
        lambda: (cp.get_server(srv).addresses, cp.get_server_metadata(srv).metadata),
    )
    s.step("port bound and ACTIVE", lambda: _port_active(net, port.id))
    fip = s.step("floating IP associated", lambda: _fip(net, ext, port))
    s.later("floating IP", lambda: net.delete_ip(fip))
    s.step(
        "stop",
        lambda: (
            cp.wait_for_server(
                _act(cp.stop_server, srv), status="SHUTOFF", interval=1, wait=WAIT
            ).status
        ),
    )
    s.step(
        "start",
        lambda: (
            cp.wait_for_server(
                _act(cp.start_server, srv), status="ACTIVE", interval=1, wait=WAIT
            ).status
        ),
    )
    s.step("attach volume", lambda: _attach(cp, bs, srv, data))
    s.step("detach volume", lambda: _detach(cp, bs, srv, data))
    s.step("createImage of volume-backed server", lambda: _create_image(cp, img, bs, srv, tag, s))

    # Groups
    gt = s.step(
        "admin: group type",
        lambda: a.block_storage.create_group_type(
            name=f"{tag}-gt", group_specs={"consistent_group_snapshot_enabled": "<is> True"}
        ),
    )
    s.later("group type", lambda: a.block_storage.delete_group_type(gt))
    s.step("volume group + group snapshot", lambda: _groups(bs, gt, tag, s))


def _gone(bs: Any, delete: Callable[[Any], Any], res: Any) -> None:
    """Delete a Cinder resource and wait until it is gone (the next cleanup may depend on it)."""
    delete(res)
    bs.wait_for_delete(res, interval=0.5, wait=WAIT)


def _local_bytes(a: Any, vol: Any) -> str:
    """What Lifeboat's replicator does on a real site: ask Cinder for the connection info of a
    volume (as admin) and read the data; the lab's file driver answers with a local path."""
    connector = {"host": "lifeboat-smoke", "initiator": "none", "ip": "127.0.0.1"}
    info = a.block_storage.init_volume_attachment(vol, connector)
    try:
        assert info["driver_volume_type"] == "local", info
        with open(info["data"]["device_path"], "rb") as f:
            head = f.read(16)
        assert head == b"lifeboat" * 2, head
        return f"{info['driver_volume_type']} {info['data']['device_path']} starts {head[:8]!r}"
    finally:
        a.block_storage.terminate_volume_attachment(vol, connector)


def _rbd_bytes(a: Any, vol: Any, ceph: dict[str, Any]) -> str:
    """The same on an RBD site: the connection info names the RBD image (no keyring: the
    reader brings its own read-only key) and librbd reads it as client.lifeboat-reader."""
    import rados  # Debian's, through deploy/ceph/ceph-local.sh python-shim
    import rbd

    connector = {"host": "lifeboat-smoke", "initiator": "none", "ip": "127.0.0.1"}
    info = a.block_storage.init_volume_attachment(vol, connector)
    try:
        data = info["data"]
        assert info["driver_volume_type"] == "rbd", info
        assert data["name"] == f"volumes/volume-{vol.id}", data
        assert data["hosts"] == ["127.0.0.1"] and data["ports"] == [str(ceph["port"])], data
        pool, image = data["name"].split("/")
        conn = rados.Rados(
            conffile=ceph["conf"],
            rados_id="lifeboat-reader",
            conf={"keyring": ceph["keyrings"]["lifeboat-reader"]},
        )
        conn.connect(timeout=10)
        try:
            with conn.open_ioctx(pool) as ioctx, rbd.Image(ioctx, image, read_only=True) as img:
                head = img.read(0, 16)
        finally:
            conn.shutdown()
        assert head == b"lifeboat" * 2, head
        keys = sorted(k for k in data if k not in ("name", "hosts", "ports"))
        return f"rbd {data['name']} {data['hosts']}:{data['ports']} {keys} starts {head[:8]!r}"
    finally:
        a.block_storage.terminate_volume_attachment(vol, connector)


def _act(fn: Callable[[Any], Any], srv: Any) -> Any:
    fn(srv)
    return srv


def _wait_vol(bs: Any, v: Any) -> Any:
    return bs.wait_for_status(v, "available", failures=["error"], interval=0.5, wait=WAIT)


def _sg(net: Any, tag: str) -> Any:
    sg = net.create_security_group(name=f"{tag}-sg")
    net.create_security_group_rule(
        security_group_id=sg.id,
        direction="ingress",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
    )
    return sg


def _external(anet: Any, tag: str) -> Any:
    """The site's external network (lab.sh start makes 'public'), else one made for the run."""
    existing = list(anet.networks(is_router_external=True))
    if existing:
        return existing[0]
    ext = anet.create_network(
        name=f"{tag}-ext",
        is_router_external=True,
        provider_network_type="flat",
        provider_physical_network=f"{tag}-ext",
    )
    anet.create_subnet(
        network_id=ext.id,
        ip_version=4,
        cidr="198.51.100.0/24",
        name=f"{tag}-extsub",
        is_dhcp_enabled=False,
    )
    return ext


def _router(net: Any, ext: Any, sub: Any, tag: str) -> Any:
    r = net.create_router(name=f"{tag}-router", external_gateway_info={"network_id": ext.id})
    net.add_interface_to_router(r, subnet_id=sub.id)
    return r


def _port_active(net: Any, port_id: str) -> tuple[str, str, str]:
    deadline = time.monotonic() + 30
    while True:
        p = net.get_port(port_id)
        if p.status == "ACTIVE" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert p.status == "ACTIVE", p.status
    return p.status, p.binding_vif_type, p.binding_host_id


def _fip(net: Any, ext: Any, port: Any) -> Any:
    fip = net.create_ip(floating_network_id=ext.id, port_id=port.id)
    assert net.get_ip(fip.id).fixed_ip_address, "floating IP has no fixed address"
    return fip


def _attach(cp: Any, bs: Any, srv: Any, vol: Any) -> str:
    cp.create_volume_attachment(srv, volume_id=vol.id)
    v = bs.wait_for_status(vol, "in-use", failures=["error"], interval=0.5, wait=WAIT)
    return str([(x["server_id"][:8], x.get("device")) for x in v.attachments])


def _detach(cp: Any, bs: Any, srv: Any, vol: Any) -> str:
    cp.delete_volume_attachment(vol.id, srv)
    return str(
        bs.wait_for_status(vol, "available", failures=["error"], interval=0.5, wait=WAIT).status
    )


def _create_image(cp: Any, img: Any, bs: Any, srv: Any, tag: str, s: Smoke) -> str:
    image_id = cp.create_server_image(srv, name=f"{tag}-snapimg", metadata={"lifeboat": "smoke"})
    image = img.wait_for_status(
        img.get_image(image_id), "active", failures=["killed"], interval=1, wait=WAIT
    )
    mappings = image.properties.get("block_device_mapping") or getattr(
        image, "block_device_mapping", None
    )
    snaps = [x for x in bs.snapshots() if x.name and tag in x.name and "snapshot for" in x.name]
    for snap in snaps:
        s.later("image snapshot", functools.partial(_gone, bs, bs.delete_snapshot, snap))
    s.later("server image", lambda: img.delete_image(image))
    return f"image {image.status}, bdm={str(mappings)[:120]}, cinder snapshots={len(snaps)}"


def _groups(bs: Any, gt: Any, tag: str, s: Smoke) -> str:
    vt = next(t for t in bs.types() if t.name == "__DEFAULT__")
    g = bs.create_group(name=f"{tag}-grp", group_type=gt.id, volume_types=[vt.id])
    g = bs.wait_for_status(g, "available", failures=["error"], interval=0.5, wait=WAIT)
    s.later("group", lambda: _gone(bs, lambda x: bs.delete_group(x, delete_volumes=True), g))
    v = _wait_vol(
        bs, bs.create_volume(name=f"{tag}-gvol", size=1, group_id=g.id, volume_type=vt.id)
    )
    gs = bs.create_group_snapshot(group_id=g.id, name=f"{tag}-gsnap")
    gs = bs.wait_for_status(gs, "available", failures=["error"], interval=0.5, wait=WAIT)
    s.later("group snapshot", lambda: _gone(bs, bs.delete_group_snapshot, gs))
    return f"group {g.status} with volume {v.status}, group snapshot {gs.status}"


def _ceph_cluster(site_dir: Path) -> dict[str, Any] | None:
    """cluster.json of the Ceph cluster under an RBD site (from site.json beside clouds.yaml)."""
    try:
        site = json.loads((site_dir / "site.json").read_text())
    except OSError:
        return None
    if site.get("volume_driver") != "rbd":
        return None
    return dict(json.loads((Path(site["ceph_dir"]) / "cluster.json").read_text()))


def main() -> None:
    clouds_yaml, site = sys.argv[1], sys.argv[2]
    config = openstack.config.OpenStackConfig(config_files=[clouds_yaml], load_envvars=False)

    def connect(name: str) -> Any:
        region = config.get_one(cloud=name, compute_api_version="2.latest")
        return openstack.connection.Connection(config=region)

    member, admin = connect(site), connect(f"{site}-admin")
    s = Smoke(member, admin, _ceph_cluster(Path(clouds_yaml).parent))
    try:
        run(s)
    finally:
        s.run_cleanup()
    total = time.monotonic() - s.t0
    print(
        f"smoke: {len(s.failed)} failed in {total:.1f}s"
        + (f": {', '.join(s.failed)}" if s.failed else "")
    )
    sys.exit(1 if s.failed else 0)


if __name__ == "__main__":
    main()
