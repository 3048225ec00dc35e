"""Fault injection through the admin API, observed through openstacksdk and raw HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openstack import exceptions

from cloudsim.testing import SiteSet, running_sites


@pytest.fixture(scope="module")
def fsites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteSet]:
    with running_sites(["f1", "f2"], Path(tmp_path_factory.mktemp("faults"))) as s:
        yield s


@pytest.fixture(scope="module")
def fconn(fsites: SiteSet, connect: Callable[[SiteSet, str], Any]) -> Iterator[Any]:
    c = connect(fsites, "f1")
    yield c
    c.close()


@pytest.fixture
def admin(fsites: SiteSet) -> Iterator[httpx.Client]:
    with fsites.sites["f1"].admin() as client:
        yield client
        client.delete("/rules")
        client.post("/up")


def _base(fsites: SiteSet) -> str:
    return fsites.sites["f1"].auth_url.rsplit("/identity", 1)[0]


def test_admin_api_needs_token(fsites: SiteSet) -> None:
    r = httpx.get(fsites.sites["f1"].admin_url + "/status", timeout=10)
    assert r.status_code == 401
    # the admin API is not reachable with the OpenStack endpoints' Keystone tokens either
    r = httpx.get(
        fsites.sites["f1"].admin_url + "/status",
        headers={"X-Auth-Token": "gAAAA-not-admin"},
        timeout=10,
    )
    assert r.status_code == 401


def test_site_down_503_everywhere(fsites: SiteSet, fconn: Any, admin: httpx.Client) -> None:
    assert list(fconn.compute.flavors())
    assert admin.post("/down", json={"mode": "503"}).json()["down"] == "503"
    base = _base(fsites)
    for path in ("/identity/v3", "/compute/v2.1/servers", "/network/v2.0/networks", "/image/v2"):
        r = httpx.get(base + path, timeout=10)
        assert r.status_code == 503, path
    with pytest.raises(exceptions.HttpException) as err:
        list(fconn.compute.servers())
    assert err.value.status_code == 503
    assert admin.get("/status").json()["down"] == "503"  # admin API stays up
    admin.post("/up")
    assert list(fconn.compute.flavors())


def test_site_down_refuses_connections(fsites: SiteSet, admin: httpx.Client) -> None:
    base = _base(fsites)
    assert admin.post("/down", json={"mode": "refuse"}).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/identity/v3", timeout=5)
    admin.post("/up")
    assert httpx.get(base + "/identity/v3", timeout=5).status_code == 200


def test_partition_between_named_sites(fsites: SiteSet, fconn: Any, admin: httpx.Client) -> None:
    base = _base(fsites)
    assert admin.put("/partitions/f2").json()["partitioned_from"] == ["f2"]
    with fsites.sites["f2"].admin() as a2:
        assert a2.get("/partitions").json()["partitioned_from"] == ["f1"]  # symmetric
    r = httpx.get(base + "/identity/v3", headers={"X-Cloudsim-Client-Site": "f2"}, timeout=5)
    assert r.status_code == 503
    assert httpx.get(base + "/identity/v3", timeout=5).status_code == 200
    vol = fconn.block_storage.create_volume(size=1)
    fconn.block_storage.wait_for_status(vol, "available", wait=10, interval=0.05)
    with pytest.raises(exceptions.HttpException) as err:
        fconn.block_storage.create_attachment(
            vol.id, connector={"host": "x", "cloudsim_site": "f2"}
        )
    assert err.value.status_code == 503
    admin.delete("/partitions/f2")
    att = fconn.block_storage.create_attachment(
        vol.id, connector={"host": "x", "cloudsim_site": "f2"}
    )
    fconn.block_storage.delete_attachment(att.id)


def test_error_rate_and_latency_per_operation(
    fsites: SiteSet, fconn: Any, admin: httpx.Client, image_id: Callable[[Any], str]
) -> None:
    r = admin.put(
        "/rules",
        json={
            "rules": [
                {"operation": "server.create", "error_rate": 1.0, "status": 503},
                {"operation": "volume.list", "latency_ms": 150},
                {"method": "GET", "path": "/network/v2.0/ports*", "error_rate": 0.3, "status": 500},
            ]
        },
    )
    assert r.status_code == 200, r.text
    with pytest.raises(exceptions.HttpException) as err:
        fconn.compute.create_server(
            name="x", flavor_id="1", image_id=image_id(fconn), networks="none"
        )
    assert err.value.status_code == 503
    assert list(fconn.compute.flavors())  # other operations unaffected
    t = time.monotonic()
    list(fconn.block_storage.volumes())
    assert time.monotonic() - t >= 0.15
    base = _base(fsites)
    token = fconn.session.get_token()
    with httpx.Client(base_url=base, headers={"X-Auth-Token": str(token)}) as h:
        codes = [h.get("/network/v2.0/ports").status_code for _ in range(100)]
    assert set(codes) == {200, 500}
    assert 10 <= codes.count(500) <= 55
    bad = admin.put("/rules", json={"rules": [{"operation": "nope"}]})
    assert bad.status_code == 400
    assert "operation" in bad.json()["error"]["message"]


def test_429_with_retry_after_and_project_rate_limit(
    fsites: SiteSet, fconn: Any, admin: httpx.Client, connect: Callable[[SiteSet, str], Any]
) -> None:
    base = _base(fsites)
    token = fconn.session.get_token()
    admin.put(
        "/rules",
        json={
            "rules": [
                {"operation": "server.list", "error_rate": 1.0, "status": 429, "retry_after": 3}
            ]
        },
    )
    r = httpx.get(base + "/compute/v2.1/servers", headers={"X-Auth-Token": str(token)}, timeout=5)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "3"
    assert r.json()["overLimit"]["code"] == 429
    admin.delete("/rules")
    assert admin.put("/rate-limits/demo", json={"per_second": 0.5, "burst": 2}).status_code == 200
    codes = [
        httpx.get(base + "/compute/v2.1/flavors", headers={"X-Auth-Token": str(token)}, timeout=5)
        for _ in range(3)
    ]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert float(codes[2].headers["Retry-After"]) >= 1
    admin_token = connect(fsites, "f1-admin").session.get_token()
    other = httpx.get(
        base + "/compute/v2.1/flavors", headers={"X-Auth-Token": str(admin_token)}, timeout=5
    )
    assert other.status_code == 200  # the admin project is not limited
    admin.delete("/rate-limits/demo")
    ok = httpx.get(base + "/compute/v2.1/flavors", headers={"X-Auth-Token": str(token)}, timeout=5)
    assert ok.status_code == 200


def test_power_loss_and_restore(
    fconn: Any, admin: httpx.Client, image_id: Callable[[Any], str]
) -> None:
    srv = fconn.compute.create_server(
        name="p1", flavor_id="1", image_id=image_id(fconn), networks="none"
    )
    srv = fconn.compute.wait_for_server(srv, wait=10, interval=0.05)
    lost = admin.post("/power/loss").json()["shut_off"]
    assert srv.id in lost
    assert fconn.compute.get_server(srv.id).status == "SHUTOFF"
    back = admin.post("/power/restore").json()["restored"]
    assert srv.id in back
    assert fconn.compute.get_server(srv.id).status == "ACTIVE"
    fconn.compute.delete_server(srv)


def test_build_delay_and_token_expiry(
    fsites: SiteSet,
    fconn: Any,
    admin: httpx.Client,
    image_id: Callable[[Any], str],
    connect: Callable[[SiteSet, str], Any],
) -> None:
    assert admin.put("/config", json={"server_build_s": 100_000}).status_code == 200
    try:
        srv = fconn.compute.create_server(
            name="slow", flavor_id="1", image_id=image_id(fconn), networks="none"
        )
    finally:
        admin.put("/config", json={"server_build_s": 5})
    # Still building once a server created after it with the usual delay is up (not "after a
    # while"): its build was scheduled 20000 times further out (1000 s here).
    fast = fconn.compute.create_server(
        name="fast", flavor_id="1", image_id=image_id(fconn), networks="none"
    )
    fconn.compute.wait_for_server(fast, wait=60, interval=0.05)
    assert fconn.compute.get_server(srv.id).status == "BUILD"
    fconn.compute.delete_server(srv)
    fconn.compute.delete_server(fast)
    bad = admin.put("/config", json={"server_build_s": -1})
    assert bad.status_code == 400
    assert "server_build_s" in bad.json()["error"]["message"]
    admin.put("/config", json={"token_ttl_s": 0.3})
    try:
        short = connect(fsites, "f1")
        token = str(short.session.get_token())
        base = _base(fsites)
        ok = httpx.get(base + "/compute/v2.1/flavors", headers={"X-Auth-Token": token})
        assert ok.status_code == 200
        time.sleep(0.5)
        expired = httpx.get(base + "/compute/v2.1/flavors", headers={"X-Auth-Token": token})
        assert expired.status_code == 401
    finally:
        admin.put("/config", json={"token_ttl_s": 3600})
