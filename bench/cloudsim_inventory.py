"""Benchmark: inventory of a 1,000-VM project through Lifeboat's cloud driver, against cloudsim.

Goal (issue 3): <= 2 s. References in the same run, each run --runs times alternating with the
driver (bench/fair.py; median quoted, best shown): the same nine list calls made with plain
openstacksdk, (a) as plain JSON (GET through the SDK's service adapters with the microversion
the driver uses, following next links, no Resource objects: the strongest plain client, what the
driver itself does minus its models), one thread and one Connection per list; (b) SDK proxies
(Resource objects), the same threads and Connections; (c) SDK proxies one after the other (what a
straightforward script does). Connections are warmed and reused across runs. Also the driver's
per-list timings.

    uv run python bench/cloudsim_inventory.py [--vms 1000] [--runs 5]   (smoke: --vms 50 --runs 3)

Population (not timed): N boot-from-volume servers, each with its own port on the demo
network (a /20) and a data volume attached at boot, created through the driver.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import fair
import openstack.config
import openstack.connection

from lifeboat_shared.cloud import CloudDriver, CloudDriverSettings, CloudProject, SiteConfig

GOAL_S = 2.0


async def _populate(project: CloudProject, vms: int, concurrency: int) -> None:
    net = await project.network.create_network("bench-net")
    await project.network.create_subnet(net.id, "10.100.0.0/20", name="bench-subnet")
    flavor = min(await project.compute.list_flavors(), key=lambda f: f.ram_mb)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            root = await project.block_storage.create_volume(
                1, name=f"bench-root-{i}", bootable=True, wait=False
            )
            data = await project.block_storage.create_volume(1, name=f"bench-data-{i}", wait=False)
            port = await project.network.create_port(net.id, name=f"bench-port-{i}")
            await project.block_storage.wait_for_volume(root.id, "available")
            await project.block_storage.wait_for_volume(data.id, "available")
            await project.compute.create_server(
                f"bench-vm-{i}",
                flavor.id or "1",
                boot_volume_id=root.id,
                data_volume_ids=[data.id],
                port_ids=[port.id],
                metadata={"app": f"app-{i % 50}"},
                wait=False,
            )

    started = time.perf_counter()
    done = 0
    for chunk in range(0, vms, 200):
        await asyncio.gather(*(one(i) for i in range(chunk, min(vms, chunk + 200))))
        done = min(vms, chunk + 200)
        print(f"  populated {done}/{vms} VMs ({time.perf_counter() - started:.1f} s)", flush=True)


def _raw_lists(conn: openstack.connection.Connection) -> dict[str, Callable[[], Iterable[Any]]]:
    pid = conn.current_project_id
    return {
        "servers": lambda: conn.compute.servers(details=True),
        "flavors": lambda: conn.compute.flavors(details=True),
        "images": lambda: conn.image.images(),
        "volumes": lambda: conn.block_storage.volumes(details=True),
        "ports": lambda: conn.network.ports(project_id=pid),
        "networks": lambda: conn.network.networks(),
        "subnets": lambda: conn.network.subnets(),
        "security groups": lambda: conn.network.security_groups(project_id=pid),
        "floating IPs": lambda: conn.network.ips(project_id=pid),
    }


def _time_raw(conn: openstack.connection.Connection) -> tuple[float, dict[str, tuple[float, int]]]:
    per: dict[str, tuple[float, int]] = {}
    started = time.perf_counter()
    for name, source in _raw_lists(conn).items():
        t0 = time.perf_counter()
        count = len(list(source()))
        per[name] = (time.perf_counter() - t0, count)
    return time.perf_counter() - started, per


def _json_list(adapter: Any, path: str, key: str, **kw: Any) -> list[Any]:
    """Every item of a paginated OpenStack list as JSON (next links followed)."""
    items: list[Any] = []
    url, params = path, kw.pop("params", {})
    while url:
        body = adapter.get(url, params=params, **kw).json()
        items += body.get(key) or []
        nxt = [x["href"] for x in body.get(f"{key}_links") or () if x.get("rel") == "next"]
        url, params = (nxt[0], {}) if nxt else (body.get("next") or "", {})
        if url.startswith("/v2/"):  # Glance's next link repeats the endpoint's version
            url = url[3:]
    return items


Lists = dict[str, Callable[[], Iterable[Any]]]


def _json_lists(conn: openstack.connection.Connection) -> Lists:
    pid = conn.current_project_id
    nova = {"microversion": "2.47"}  # embeds flavors in servers, as the driver reads them
    mine = {"params": {"project_id": pid}}
    net = conn.network
    return {
        "servers": lambda: _json_list(conn.compute, "/servers/detail", "servers", **nova),
        "flavors": lambda: _json_list(conn.compute, "/flavors/detail", "flavors"),
        "images": lambda: _json_list(conn.image, "/images", "images"),
        "volumes": lambda: _json_list(conn.block_storage, "/volumes/detail", "volumes"),
        "ports": lambda: _json_list(net, "/ports", "ports", **mine),
        "networks": lambda: _json_list(net, "/networks", "networks"),
        "subnets": lambda: _json_list(net, "/subnets", "subnets"),
        "security groups": lambda: _json_list(net, "/security-groups", "security_groups", **mine),
        "floating IPs": lambda: _json_list(net, "/floatingips", "floatingips", **mine),
    }


def _time_raw_concurrent(
    conns: dict[str, openstack.connection.Connection],
    pool: concurrent.futures.ThreadPoolExecutor,
    lists: Callable[[openstack.connection.Connection], Lists] = _raw_lists,
    counts: dict[str, int] | None = None,
) -> float:
    """Every list in its own thread through its own Connection; wall time of the slowest."""

    def one(conn: openstack.connection.Connection, name: str) -> int:
        return len(list(lists(conn)[name]()))

    started = time.perf_counter()
    futures = {n: pool.submit(one, c, n) for n, c in conns.items()}
    for n, f in futures.items():
        found = f.result()
        if counts is not None:
            counts[n] = found
    return time.perf_counter() - started


async def _bench(vms: int, runs: int, base: Path) -> int:
    from cloudsim.testing import running_sites

    with running_sites(["bench"], base, time_scale=0.0) as sites:
        site = SiteConfig(name="bench", cloud="bench", clouds_yaml=sites.clouds_yaml)
        driver = CloudDriver([site], CloudDriverSettings(poll_initial_interval=0.02))
        try:
            project = await driver.project("bench")
            print(f"populating a {vms}-VM project on cloudsim ...", flush=True)
            await _populate(project, vms, concurrency=16)
            while True:  # let every server finish building
                servers = await project.compute.list_servers()
                if all(s.status == "ACTIVE" for s in servers):
                    break
                await asyncio.sleep(0.2)

            loader = openstack.config.OpenStackConfig(
                config_files=[str(sites.clouds_yaml)], load_envvars=False
            )
            raw = openstack.connection.Connection(config=loader.get_one(cloud="bench"))
            _time_raw(raw)  # warm-up: token, version discovery
            names = list(_raw_lists(raw))
            conns = {
                n: openstack.connection.Connection(config=loader.get_one(cloud="bench"))
                for n in names
            }
            pool = concurrent.futures.ThreadPoolExecutor(len(names))
            _time_raw_concurrent(conns, pool)  # warm-up of every Connection
            json_counts: dict[str, int] = {}
            _time_raw_concurrent(conns, pool, _json_lists, json_counts)

            await project.inventory()  # warm-up
            raw_per: dict[str, tuple[float, int]] = {}
            inv_box: list[Any] = []

            async def by_driver() -> None:
                inv_box.append(await project.inventory())

            async def raw_sequential() -> float:
                nonlocal raw_per
                total, raw_per = await asyncio.to_thread(_time_raw, raw)
                return total

            async def raw_concurrent() -> float:
                return await asyncio.to_thread(_time_raw_concurrent, conns, pool)

            async def json_concurrent() -> float:
                return await asyncio.to_thread(
                    _time_raw_concurrent, conns, pool, _json_lists, json_counts
                )

            series = await fair.alternate_async(
                {
                    "driver inventory (concurrent lists + models)": by_driver,
                    "plain JSON via openstacksdk adapters, 9 threads": json_concurrent,
                    "raw openstacksdk, 9 threads, 1 Connection each": raw_concurrent,
                    "raw openstacksdk, same lists, sequential": raw_sequential,
                },
                runs,
            )
            inv = inv_box[-1]
            timings = project.last_inventory_timings
            raw.close()
            for c in conns.values():
                c.close()
            pool.shutdown()
        finally:
            await driver.aclose()

    counts = {
        "servers": len(inv.servers),
        "flavors": len(inv.flavors),
        "images": len(inv.images),
        "volumes": len(inv.volumes),
        "ports": len(inv.ports),
        "networks": len(inv.networks),
        "subnets": len(inv.subnets),
        "security groups": len(inv.security_groups),
        "floating IPs": len(inv.floating_ips),
    }
    print()
    print(f"Inventory of a {len(inv.servers)}-VM project on cloudsim ({runs} runs)")
    print(f"{'list':<18}{'items':>8}{'JSON items':>12}{'driver (s)':>12}{'raw sdk (s)':>13}")
    for name, count in counts.items():
        print(
            f"{name:<18}{count:>8}{json_counts.get(name, -1):>12}"
            f"{timings.get(name, 0.0):>12.3f}{raw_per[name][0]:>13.3f}"
        )
    print()
    w = max(len(n) for n in series)
    print(f"{'measure':<{w}}  {'median (s)':>10}  {'best (s)':>8}")
    for name, ser in series.items():
        print(f"{name:<{w}}  {ser.median:>10.3f}  {ser.best:>8.3f}")
    d_med = series["driver inventory (concurrent lists + models)"].median
    verdict = "PASS" if d_med <= GOAL_S else "FAIL"
    print(f"goal: driver inventory <= {GOAL_S:.1f} s -> {verdict}")
    return 0 if verdict == "PASS" else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fair.HelpFormatter)
    parser.add_argument("--vms", type=int, default=1000, help="VMs in the project")
    parser.add_argument("--runs", type=int, default=5, help="runs of every compared client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-inventory-") as tmp:
        return asyncio.run(_bench(args.vms, args.runs, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
