"""Benchmark: cloudsim server creates/s and volume creates/s with zero injected latency.

Goal: >= 200/s each, so cloudsim never bounds Lifeboat's own benchmarks. Measured through
openstacksdk (what Lifeboat's driver uses; serial and with threads) and through plain HTTP with
keep-alive (the server's own capacity). Every cell (client x resource) runs REPEAT times
(default 3), alternating with the order rotated every round (bench/fair.py); reported as the
median rate (quoted) and the best. Run: `uv run python bench/cloudsim_api.py [N] [REPEAT]`
(N creates per cell, default 400; smoke run: 50 2).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fair
import httpx
import openstack
from openstack.config import OpenStackConfig

from cloudsim.testing import running_sites

THREADS = 8


def _sdk(clouds_yaml: Path) -> Any:
    cfg = OpenStackConfig(config_files=[str(clouds_yaml)]).get_one(cloud="bench")
    return openstack.connection.Connection(config=cfg)


def _run(n: int, threads: int, fn: Callable[[int], object]) -> fair.Trial:
    """A trial: n creates (fresh names every run), 1 thread or a pool; seconds taken."""
    offset = [0]

    def trial() -> float:
        base, offset[0] = offset[0], offset[0] + n
        t = time.perf_counter()
        if threads == 1:
            for i in range(base, base + n):
                fn(i)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(fn, range(base, base + n)))
        return time.perf_counter() - t

    return trial


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    trials: dict[tuple[str, str], fair.Trial] = {}
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
            trials[(f"openstacksdk, {threads} thread(s)", "server")] = _run(n, threads, sdk_server)
            trials[(f"openstacksdk, {threads} thread(s)", "volume")] = _run(n, threads, sdk_volume)

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

        http = f"plain HTTP keep-alive, {THREADS} threads"
        trials[(http, "server")] = _run(n, THREADS, http_server)
        trials[(http, "volume")] = _run(n, THREADS, http_volume)
        keys = list(trials)
        series = fair.alternate({f"{a}|{b}": trials[(a, b)] for a, b in keys}, repeat)
        client.close()
        conn.close()
    print(
        f"\ncloudsim API benchmark: {n} creates per cell, {repeat} runs of every cell, zero "
        "injected latency (goal >= 200/s); creates/s, median (best)\n"
    )

    def rate(client: str, kind: str) -> str:
        s = series[f"{client}|{kind}"]
        return f"{n / s.median:.0f} ({n / s.best:.0f})"

    print(f"| {'client':<36} | {'server creates/s':>16} | {'volume creates/s':>16} |")
    print(f"|{'-' * 38}|{'-' * 18}|{'-' * 18}|")
    for name in dict.fromkeys(a for a, _ in keys):
        print(f"| {name:<36} | {rate(name, 'server'):>16} | {rate(name, 'volume'):>16} |")


if __name__ == "__main__":
    main()
