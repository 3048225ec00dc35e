"""`cloudsim up`: N sites on N ports with a seed file, clouds.yaml usable by openstacksdk."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from cloudsim.testing import SiteSet

CLOUDSIM = str(Path(sys.executable).parent / "cloudsim")

SEED = {
    "identity": {
        "projects": ["ops", "demo"],
        "roles": ["admin", "member", "reader"],
        "users": [
            {"name": "admin", "password": "s3cret", "roles": {"ops": "admin"}},
            {"name": "demo", "password": "demo-pw", "roles": {"demo": "member"}},
            {"name": "alice", "password": "alice-pw", "roles": {"ops": "member"}},
        ],
    }
}


def test_up_with_seed_writes_clouds_yaml(
    tmp_path: Path, connect: Callable[[SiteSet, str], Any]
) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(yaml.safe_dump(SEED))
    d = tmp_path / "run"
    proc = subprocess.Popen(
        [
            CLOUDSIM,
            "up",
            "--sites",
            "x,y",
            "--dir",
            str(d),
            "--time-scale",
            "0",
            "--seed",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (d / "sites.json").exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        info = json.loads((d / "sites.json").read_text())
        assert [s["name"] for s in info["sites"]] == ["x", "y"]
        assert len({s["port"] for s in info["sites"]}) == 2
        clouds = yaml.safe_load((d / "clouds.yaml").read_text())["clouds"]
        assert set(clouds) == {"x", "x-admin", "x-alice", "y", "y-admin", "y-alice"}
        assert clouds["x-alice"]["auth"]["project_name"] == "ops"
        sites = SiteSet(sites={}, clouds_yaml=d / "clouds.yaml")
        for cloud, project in (("x-alice", "ops"), ("y", "demo")):
            conn = connect(sites, cloud)
            assert conn.identity.get_project(conn.current_project_id).name == project
            assert [f.name for f in conn.compute.flavors()]
            conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_up_rejects_bad_seed(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        yaml.safe_dump({"identity": {"projects": ["p"], "roles": ["r"], "users": [{"name": "u"}]}})
    )
    proc = subprocess.run(
        [CLOUDSIM, "up", "--dir", str(tmp_path / "d"), "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "identity.users[0]" in proc.stdout + proc.stderr
