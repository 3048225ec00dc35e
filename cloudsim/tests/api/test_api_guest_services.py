"""Guest services (health and exec endpoints for bubble checks) follow the server's power."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest


def test_guest_services_follow_power(
    conn: Any, admin_http: httpx.Client, image_id: Callable[[Any], str]
) -> None:
    srv = conn.compute.create_server(
        name="svc-vm",
        flavor_id="1",
        image_id=image_id(conn),
        networks="none",
        metadata={"cloudsim:guest_services": "true"},
    )
    srv = conn.compute.wait_for_server(srv, wait=10, interval=0.05)
    status = admin_http.get(f"/servers/{srv.id}/guest").json()
    assert status["services"] is True
    port = status["services_port"]
    guest = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{guest}/health", timeout=5).status_code == 200
    r = httpx.post(f"{guest}/exec", json={"command": "hostname"}, timeout=5)
    assert r.status_code == 200
    assert srv.id in r.text
    admin_http.put(f"/servers/{srv.id}/guest", json={"healthy": False})
    assert httpx.get(f"{guest}/health", timeout=5).status_code == 503
    admin_http.put(f"/servers/{srv.id}/guest", json={"healthy": True})
    conn.compute.stop_server(srv)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{guest}/health", timeout=5)
    conn.compute.wait_for_server(srv, status="SHUTOFF", wait=10, interval=0.05)
    conn.compute.start_server(srv)
    new_port = admin_http.get(f"/servers/{srv.id}/guest").json()["services_port"]
    assert httpx.get(f"http://127.0.0.1:{new_port}/health", timeout=5).status_code == 200
    bad = admin_http.put(f"/servers/{srv.id}/guest", json={"services": "yes"})
    assert bad.status_code == 400
    conn.compute.delete_server(srv)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{new_port}/health", timeout=5)
