"""Guest services: health answers (and fails on demand), simulated exec, refused when stopped."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cloudsim.blockstore import BlockStore
from cloudsim.guest import GuestServices, Workload, WorkloadVolume


def _get(port: int, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _exec(port: int, body: bytes) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/exec", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_health_exec_and_stop(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    path = store.create_volume("v", 1024**2)
    workload = Workload("w", [WorkloadVolume("vm1", "v", path)], rate_per_s=500, agents={})
    services = GuestServices("vm1", volumes=lambda: {"v": path})
    port = services.start()
    try:
        assert _get(port, "/health") == (200, {"server_id": "vm1", "status": "ok"})
        services.set_healthy(False)
        assert _get(port, "/health")[0] == 503
        services.set_healthy(True)
        assert _exec(port, b'{"command": "hostname"}') == (
            200,
            {"command": "hostname", "result": "vm1"},
        )
        status, body = _exec(port, b'{"command": "rm -rf /"}')
        assert status == 400
        assert "command must be one of" in str(body["error"])
        assert _exec(port, b"not json")[0] == 400
        workload.start()
        deadline = time.monotonic() + 10
        while workload.last_seq < 5:  # a few records to check
            assert time.monotonic() < deadline, "the workload wrote nothing"
            time.sleep(0.005)
        workload.stop()
        status, body = _exec(port, b'{"command": "check-consistency"}')
        assert status == 200
        result = body["result"]
        assert isinstance(result, dict)
        assert result["crash_consistent"] is True
        assert result["last_seq"] == workload.last_seq > 0
    finally:
        services.stop()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


def test_guest_without_volumes_cannot_check() -> None:
    services = GuestServices("vm2")
    port = services.start()
    try:
        assert _exec(port, b'{"command": "check-consistency"}')[0] == 409
        assert _get(port, "/nothing")[0] == 404
    finally:
        services.stop()
    with pytest.raises(RuntimeError):
        _ = services.port
