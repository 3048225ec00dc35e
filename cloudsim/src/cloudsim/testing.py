"""`running_sites`: start cloudsim sites in one child process for tests, benchmarks and demos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass(frozen=True)
class SiteHandle:
    name: str
    region: str
    auth_url: str
    admin_url: str
    admin_token: str
    port: int
    data_dir: Path

    def admin(self) -> httpx.Client:
        """An HTTP client for this site's admin API (token set; close it or use `with`)."""
        return httpx.Client(
            base_url=self.admin_url, headers={"X-Auth-Token": self.admin_token}, timeout=30
        )


@dataclass
class SiteSet:
    sites: dict[str, SiteHandle]
    clouds_yaml: Path
    pid: int = 0
    extra: dict[str, object] = field(default_factory=dict)


@contextmanager
def running_sites(
    names: Sequence[str], base_dir: Path, *, time_scale: float = 0.01, startup_timeout: float = 30.0
) -> Iterator[SiteSet]:
    """Start `names` as cloudsim sites (one child process, real HTTP on 127.0.0.1, free ports),
    wait until ready, write base_dir/clouds.yaml; stop them on exit."""
    if not names or len(set(names)) != len(names):
        raise ValueError("names must be a non-empty list of distinct site names")
    base_dir = Path(base_dir)
    base_dir.mkdir(parents=True, exist_ok=True)
    ready = base_dir / "sites.json"
    ready.unlink(missing_ok=True)
    args = json.dumps(
        {
            "names": list(names),
            "base_dir": str(base_dir),
            "time_scale": time_scale,
            "watch_stdin": True,
        }
    )
    log = (base_dir / "cloudsim.log").open("ab")
    env = dict(os.environ)
    env.pop("OS_CLOUD", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudsim.multisite", args],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        while not ready.exists():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"cloudsim exited with {proc.returncode}; see {base_dir / 'cloudsim.log'}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError("cloudsim sites did not become ready in time")
            time.sleep(0.02)
        info = json.loads(ready.read_text())
        sites = {
            s["name"]: SiteHandle(
                name=s["name"],
                region=s["region"],
                auth_url=s["auth_url"],
                admin_url=s["admin_url"],
                admin_token=s["admin_token"],
                port=s["port"],
                data_dir=Path(s["data_dir"]),
            )
            for s in info["sites"]
        }
        yield SiteSet(sites=sites, clouds_yaml=base_dir / "clouds.yaml", pid=proc.pid)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
