"""Benchmark: cloudsim server creates/s and volume creates/s with zero injected latency.

Goal: >= 200/s each, so cloudsim never bounds Lifeboat's own benchmarks. Measured through
openstacksdk (what Lifeboat's driver uses; serial and with threads) and through plain HTTP with
keep-alive (the server's own capacity). Run: `uv run python bench/cloudsim_api.py [N]`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openstack
from openstack.config import OpenStackConfig

from cloudsim.testing import running_sites

THREADS = 8


def _sdk(clouds_yaml: Path) -> Any:
    cfg = OpenStackConfig(config_files=[str(clouds_yaml)]).get_one(cloud="bench")
    return openstack.connection.Connection(config=cfg)


def _rate(n: int, threads: int, fn: Callable[[int], object]) -> float:
    t = time.perf_counter()
    if threads == 1:
        for i in range(n):
            fn(i)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(fn, range(n)))
    return n / (time.perf_counter() - t)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as d, running_sites(["bench"], Path(d)) as sites:
        conn = _sdk(sites.clouds_yaml)
        image = conn.image.find_image("cirros").id
        conn.compute.servers()  # warm up: token, catalog, version discovery
        list(conn.block_storage.volumes())

        def sdk_server(i: int) -> object:
            return conn.compute.create_server(
                name=f"b{i}", flavor_id="1", image_id=image, networks="auto"
            )

        def sdk_volume(i: int) -> object:
            return conn.block_storage.create_volume(size=1, name=f"v{i}")

        for threads in (1, THREADS):
            rows.append(
                (
                    f"openstacksdk, {threads} thread(s)",
                    _rate(n, threads, sdk_server),
                    _rate(n, threads, sdk_volume),
                )
            )

        token = conn.session.get_token()
        pid = conn.current_project_id
        base = sites.sites["bench"].auth_url.rsplit("/identity", 1)[0]
        client = httpx.Client(
            base_url=base,
            headers={"X-Auth-Token": token},
            limits=httpx.Limits(max_keepalive_connections=THREADS),
        )

        def http_server(i: int) -> object:
            r = client.post(
                "/compute/v2.1/servers",
                json={
                    "server": {
                        "name": f"h{i}",
                        "flavorRef": "1",
                        "imageRef": image,
                        "networks": "auto",
                    }
                },
            )
            assert r.status_code == 202, r.text
            return r

        def http_volume(i: int) -> object:
            r = client.post(f"/volume/v3/{pid}/volumes", json={"volume": {"size": 1}})
            assert r.status_code == 202, r.text
            return r

        rows.append(
            (
                f"plain HTTP keep-alive, {THREADS} threads",
                _rate(n, THREADS, http_server),
                _rate(n, THREADS, http_volume),
            )
        )
        client.close()
        conn.close()
    print(
        f"\ncloudsim API benchmark: {n} creates per cell, zero injected latency (goal >= 200/s)\n"
    )
    print(f"| {'client':<36} | {'server creates/s':>16} | {'volume creates/s':>16} |")
    print(f"|{'-' * 38}|{'-' * 18}|{'-' * 18}|")
    for name, s, v in rows:
        print(f"| {name:<36} | {s:>16.0f} | {v:>16.0f} |")


if __name__ == "__main__":
    main()
