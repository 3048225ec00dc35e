"""The real python-openstackclient (`openstack`) against cloudsim through clouds.yaml.

Each `openstack` run spends seconds importing its plugins, so the commands run concurrently in
one fixture and the tests check their outputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cloudsim.testing import SiteSet

OPENSTACK = str(Path(sys.executable).parent / "openstack")


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPENSTACK, "--os-cloud", "east", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def cli(
    sites: SiteSet,
    conn: Any,
    image_id: Callable[[Any], str],
    clouds_env: Callable[[SiteSet], dict[str, str]],
) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    env = clouds_env(sites)
    srv = conn.compute.create_server(
        name="cli-vm", flavor_id="1", image_id=image_id(conn), networks="auto"
    )
    conn.compute.wait_for_server(srv, wait=10, interval=0.05)
    first = {
        "token": ("token", "issue", "-f", "json"),
        "servers": ("server", "list", "-f", "json"),
        "networks": ("network", "list", "-f", "json"),
        "images": ("image", "list", "-f", "json"),
        "volume_create": ("volume", "create", "--size", "2", "cli-vol", "-f", "json"),
        "missing": ("server", "show", "no-such-vm"),
        "server_create": (
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "cirros",
            "--network",
            "private",
            "--wait",
            "cli-created",
            "-f",
            "json",
        ),
    }
    with ThreadPoolExecutor(max_workers=len(first)) as pool:
        futs = {k: pool.submit(_run, env, *args) for k, args in first.items()}
        out = {k: f.result() for k, f in futs.items()}
    out["volumes"] = _run(env, "volume", "list", "-f", "json")
    out["server_id"] = subprocess.CompletedProcess([], 0, stdout=srv.id)
    yield out
    conn.compute.delete_server(srv)


def test_token_issue(cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
    tok = _json(cli["token"])
    assert tok["id"]
    assert tok["project_id"]
    assert tok["expires"]


def test_server_list(cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
    rows = _json(cli["servers"])
    row = next(r for r in rows if r["ID"] == cli["server_id"].stdout)
    assert row["Name"] == "cli-vm"
    assert row["Status"] == "ACTIVE"
    assert "private" in str(row["Networks"])


def test_volume_create_and_list(cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
    vol = _json(cli["volume_create"])
    assert vol["name"] == "cli-vol"
    assert vol["size"] == 2
    rows = _json(cli["volumes"])
    assert any(r["ID"] == vol["id"] and r["Size"] == 2 for r in rows)


def test_network_and_image_list(cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
    nets = {r["Name"] for r in _json(cli["networks"])}
    assert {"public", "private"} <= nets
    images = {r["Name"]: r["Status"] for r in _json(cli["images"])}
    assert images["cirros"] == "active"


def test_cli_error_for_missing_server(cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
    proc = cli["missing"]
    assert proc.returncode == 1
    assert "No Server found for no-such-vm" in proc.stderr


def test_server_create(cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
    srv = _json(cli["server_create"])
    assert srv["name"] == "cli-created"
    assert srv["status"] == "ACTIVE"
    assert "private" in str(srv["addresses"])
