"""createImage of a volume-backed server: quiesce, one-instant snapshots of all its volumes,
thaw, image whose block_device_mapping references the snapshots; quiesce failure -> 409."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from openstack import exceptions

MIB = 1024 * 1024


def _server_with_volumes(conn: Any, name: str, image_id: Callable[[Any], str]) -> Any:
    srv = conn.compute.create_server(
        name=name,
        flavor_id="2",
        networks="none",
        block_device_mapping=[
            {
                "boot_index": 0,
                "uuid": image_id(conn),
                "source_type": "image",
                "destination_type": "volume",
                "volume_size": 1,
                "delete_on_termination": True,
            },
            {
                "boot_index": -1,
                "source_type": "blank",
                "destination_type": "volume",
                "volume_size": 1,
                "delete_on_termination": True,
            },
        ],
    )
    return conn.compute.wait_for_server(srv, wait=20, interval=0.05)


def test_create_image_quiesces_and_snapshots_all_volumes(
    conn: Any, admin_http: httpx.Client, image_id: Callable[[Any], str]
) -> None:
    srv = _server_with_volumes(conn, "db-img", image_id)
    sid = srv.id
    wl = admin_http.post(
        "/workloads",
        json={"workload_id": "db1", "servers": [sid], "rate_per_s": 2000, "region_offset": MIB},
    )
    assert wl.status_code == 201, wl.text
    deadline = time.monotonic() + 30
    while admin_http.get("/workloads/db1").json()["last_seq"] < 50:  # records to capture
        assert time.monotonic() < deadline, admin_http.get("/workloads/db1").json()
        time.sleep(0.02)
    image = conn.compute.create_server_image(srv, "db-img-snap", metadata={"k": "v"})
    img = conn.image.get_image(image.id)
    assert img.status == "active"
    props = img.properties
    assert img.to_dict()["os_require_quiesce"] in (True, "True")
    assert props["k"] == "v"
    bdm = json.loads(props["block_device_mapping"])
    assert [b["device_name"] for b in bdm] == ["/dev/vda", "/dev/vdb"]
    assert all(b["source_type"] == "snapshot" for b in bdm)
    snaps = {b["snapshot_id"]: conn.block_storage.get_snapshot(b["snapshot_id"]) for b in bdm}
    vols = {a["id"] for a in srv.attached_volumes}
    assert {s.volume_id for s in snaps.values()} == vols
    stop = admin_http.post("/workloads/db1/stop")
    assert stop.status_code == 200
    source_last = stop.json()["last_seq"]
    report = admin_http.post(
        "/check",
        json={
            "snapshots": {f"snap{i}": s for i, s in enumerate(snaps)},
            "expected_last_seq": source_last,
        },
    ).json()
    assert report["crash_consistent"] is True, report["violations"]
    assert report["application_consistent"] is True
    assert report["ends_at_quiesce_mark"] is True
    assert 0 < report["last_seq"] <= source_last
    assert report["missing_records"] == source_last - report["last_seq"]
    # a new server booted from the image gets volumes cloned from those snapshots
    clone = conn.compute.create_server(
        name="db-restored",
        flavor_id="2",
        image_id=img.id,
        networks="none",
        block_device_mapping=[
            {
                "boot_index": 0,
                "uuid": bdm[0]["snapshot_id"],
                "source_type": "snapshot",
                "destination_type": "volume",
                "delete_on_termination": True,
            }
        ],
    )
    clone = conn.compute.wait_for_server(clone, wait=20, interval=0.05)
    assert clone.status == "ACTIVE"
    admin_http.delete("/workloads/db1")
    conn.compute.delete_server(clone)
    conn.compute.delete_server(srv)


def test_create_image_fails_when_quiesce_fails(
    conn: Any, admin_http: httpx.Client, image_id: Callable[[Any], str]
) -> None:
    srv = _server_with_volumes(conn, "db-noquiesce", image_id)
    sid = srv.id
    r = admin_http.put(f"/servers/{sid}/guest", json={"fail_quiesce": True})
    assert r.status_code == 200
    assert r.json()["server_id"] == sid
    before = len(list(conn.block_storage.snapshots()))
    with pytest.raises(exceptions.ConflictException, match="quiesce"):
        conn.compute.create_server_image(srv, "never")
    assert len(list(conn.block_storage.snapshots())) == before
    admin_http.put(f"/servers/{sid}/guest", json={"fail_quiesce": False})
    image = conn.compute.create_server_image(srv, "now-ok")
    assert conn.image.get_image(image.id).status == "active"
    conn.compute.delete_server(srv)
