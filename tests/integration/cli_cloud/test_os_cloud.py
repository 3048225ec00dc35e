"""`lifeboat --os-cloud NAME`: credentials from clouds.yaml, a real token from (cloudsim's)
Keystone, Lifeboat's endpoint from the cloud entry's `lifeboat_endpoint` or from the catalog by
service type. A real HTTP server stands in for Lifeboat's public endpoint and records what the
CLI sent; cloudsim's Keystone then confirms the token is one it issued."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from fastapi import FastAPI, Request

from cloudsim.testing import running_sites

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.timeout(180)


@contextlib.contextmanager
def fake_lifeboat() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    api = FastAPI()

    @api.get("/policy/v1/sites")
    async def sites(request: Request) -> list[dict[str, Any]]:
        seen.append({"path": request.url.path, "auth": request.headers.get("authorization")})
        return [{"site_id": "s1", "cloud": "c", "role": "both", "data_endpoint": None,
                 "region": None}]  # fmt: skip

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_os_cloud_finds_lifeboat_and_authenticates_with_keystone(tmp_path: Path) -> None:
    with running_sites(["site-k"], tmp_path / "sites") as sites, fake_lifeboat() as (base, seen):
        clouds = yaml.safe_load(sites.clouds_yaml.read_text())["clouds"]
        entry = dict(clouds["site-k"])
        catalog_entry = {**entry, "lifeboat_service_type": "compute"}
        clouds_yaml = tmp_path / "clouds.yaml"
        clouds_yaml.write_text(
            yaml.safe_dump(
                {
                    "clouds": {
                        "dr": {**entry, "lifeboat_endpoint": f"{base}/"},
                        "by-catalog": catalog_entry,
                        "nowhere": entry,
                    }
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFEBOAT_", "OS_"))}
        env["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml)
        run = subprocess.run(
            [sys.executable, "-m", "lifeboat_cli.main", "--os-cloud", "dr", "site", "list",
             "--json"],
            capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)[0]["site_id"] == "s1"
        assert [s["path"] for s in seen] == ["/policy/v1/sites"]
        token = seen[0]["auth"].removeprefix("Bearer ")
        assert token and token != "lifeboat-dev-token"
        # The token is one cloudsim's Keystone issued (it validates it).
        auth_url = entry["auth"]["auth_url"].rstrip("/")  # http://host:port/identity/v3
        check = httpx.get(
            f"{auth_url}/auth/tokens",
            headers={"X-Auth-Token": token, "X-Subject-Token": token},
            timeout=30,
        )
        assert check.status_code == 200, check.text

        # An explicit flag still wins over the cloud's endpoint: nothing listens there.
        run = subprocess.run(
            [sys.executable, "-m", "lifeboat_cli.main", "--os-cloud", "dr", "site", "list",
             "--policy-url", "http://127.0.0.1:9"],
            capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False,
        )  # fmt: skip
        assert run.returncode == 1 and "127.0.0.1:9" in run.stderr

        # No endpoint anywhere: a clear error naming both ways.
        run = subprocess.run(
            [sys.executable, "-m", "lifeboat_cli.main", "--os-cloud", "nowhere", "site", "list"],
            capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False,
        )  # fmt: skip
        assert run.returncode == 2
        assert "lifeboat_endpoint" in run.stderr and "disaster-recovery" in run.stderr

        # By service type from the catalog (cloudsim's catalog has no Lifeboat entry yet, so
        # this entry names its compute service's type to show the lookup).
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml)
        try:
            from lifeboat_cli.cloud_auth import resolve

            endpoint, _token = resolve("by-catalog")
        finally:
            del os.environ["OS_CLIENT_CONFIG_FILE"]
        assert endpoint.startswith(auth_url.removesuffix("/identity/v3"))
        assert endpoint != base
