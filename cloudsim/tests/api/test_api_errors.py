"""Error responses have each real API's status code and body shape, and name the bad field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cloudsim.testing import SiteSet


@pytest.fixture(scope="module")
def http(sites: SiteSet, conn: Any) -> Iterator[tuple[httpx.Client, str]]:
    base = sites.sites["east"].auth_url.rsplit("/identity", 1)[0]
    with httpx.Client(
        base_url=base, headers={"X-Auth-Token": str(conn.session.get_token())}, timeout=10
    ) as c:
        yield c, str(conn.current_project_id)


def test_nova_shapes(http: tuple[httpx.Client, str]) -> None:
    c, _ = http
    r = c.get("/compute/v2.1/servers/does-not-exist")
    assert r.status_code == 404
    assert r.json() == {
        "itemNotFound": {"code": 404, "message": "Instance does-not-exist could not be found."}
    }
    r = c.post("/compute/v2.1/servers", json={"server": {"name": "x"}})
    assert r.status_code == 400
    assert "flavorRef" in r.json()["badRequest"]["message"]
    r = c.post("/compute/v2.1/servers", content=b"{broken")
    assert r.status_code == 400
    assert "Malformed request body" in r.json()["badRequest"]["message"]
    r = c.post("/compute/v2.1/servers", json={"wrong": {}})
    assert r.status_code == 400
    assert "'server'" in r.json()["badRequest"]["message"]
    ok = c.get("/compute/v2.1/flavors", headers={"OpenStack-API-Version": "compute 2.47"})
    assert ok.headers["OpenStack-API-Version"] == "compute 2.47"
    r = c.post(
        "/compute/v2.1/servers/x/action",
        json={"os-stop": None},
        headers={"OpenStack-API-Version": "compute 9.9"},
    )
    assert r.status_code == 406


def test_cinder_shapes(http: tuple[httpx.Client, str]) -> None:
    c, pid = http
    r = c.post(f"/volume/v3/{pid}/volumes", json={"volume": {"size": "big"}})
    assert r.status_code == 400
    assert "size" in r.json()["badRequest"]["message"]
    r = c.get(f"/volume/v3/{pid}/snapshots/nope")
    assert r.json()["itemNotFound"]["code"] == 404
    r = c.get("/volume/v3/someone-else/volumes")
    assert r.status_code == 403
    assert "forbidden" in r.json()


def test_neutron_glance_designate_keystone_shapes(http: tuple[httpx.Client, str]) -> None:
    c, _ = http
    r = c.get("/network/v2.0/networks/nope")
    assert r.status_code == 404
    body = r.json()["NeutronError"]
    assert body["type"] == "NetworkNotFound"
    assert set(body) == {"type", "message", "detail"}
    r = c.post("/network/v2.0/subnets", json={"subnet": {"cidr": "10.9.0.0/24"}})
    assert r.status_code == 400
    assert "network_id" in r.json()["NeutronError"]["message"]
    r = c.get("/image/v2/images/nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/plain")
    assert "No image found with ID nope" in r.text
    r = c.post("/image/v2/images", json={"disk_format": "floppy"})
    assert r.status_code == 400
    assert "disk_format" in r.text
    r = c.get("/dns/v2/zones/nope")
    assert r.status_code == 404
    assert r.json()["type"] == "zone_not_found"
    r = c.post("/dns/v2/zones", json={"name": "no-dot"})
    assert r.status_code == 400
    assert "name" in r.json()["message"]
    r = c.get("/identity/v3/projects/nope")
    assert r.json()["error"]["code"] == 404


def test_unknown_routes_and_methods(http: tuple[httpx.Client, str]) -> None:
    c, _ = http
    r = c.get("/compute/v2.1/no-such-thing")
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["code"] == 404
    r = c.patch("/compute/v2.1/flavors")
    assert r.status_code == 405
    r = c.get("/network/v2.0/nothing-here")
    assert r.status_code == 404
    assert "NeutronError" in r.json()
