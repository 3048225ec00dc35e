"""P6: sustained RPO. 100 protected volumes under an aggregate churn of ~20 MB/s from cloudsim's
workloads, RPO target 30 s, the whole stack on the embedded default: two cloudsim sites, the
five services in one process (policy scheduler -> embedded bus -> replicator -> site-b's receiver
process), for 10 minutes of real time (no time scale). Every second it reads every group's newest
CP and records the achieved RPO (now - the CP's recovery point); after the warm-up (every group
has its first CP) it reports p50/p99/max against the target, the churn actually written, bytes
sent, cycle durations and failures. Not part of the test suite.

What Lifeboat costs, apart from the simulator (bench/rpo_probe.py), over the measuring window:
CPU per process (Lifeboat's five services in this process; each cloudsim site in a process of its
own, site-a's also running the workload writers (bench/rpo_world.py); the DR receivers), and per
cycle (one cycle = one CP): cloud API calls Lifeboat made (by site and endpoint), SQL statements
(by database and verb; also per second, as the embedded bus polls whether or not cycles run) and
the wall time of each replicator stage. --profile runs py-spy (--gil: Python CPU only) on this
process during the steady state and prints the top functions; it needs py-spy:
``uv run --with py-spy python bench/rpo_sustained.py --profile``.

    uv run python bench/rpo_sustained.py [--volumes 100] [--churn-mb 20] [--rpo 30] [--minutes 10]
    smoke run on a busy machine: --volumes 10 --churn-mb 2 --minutes 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fair
import rpo_probe
from rpo_world import split_world

from cloudsim.guest.records import RECORD_SIZE
from lifeboat_cli.demo import SOURCE, TARGET, demo_world
from lifeboat_cli.stack import Stack
from lifeboat_shared.cloud import CloudDriver, SiteConfig


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def make_vms(clouds_yaml: Path, count: int) -> list[str]:
    driver = CloudDriver([SiteConfig(name=SOURCE, cloud=SOURCE, clouds_yaml=clouds_yaml)])
    try:
        project = await driver.project(SOURCE)
        flavor_id = (await project.compute.list_flavors())[0].id
        assert flavor_id is not None
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> str:
            async with gate:
                vol = await project.block_storage.create_volume(1, name=f"p6-{i}", bootable=True)
                server = await project.compute.create_server(
                    f"p6-vm-{i}", flavor_id, boot_volume_id=vol.id
                )
                return server.id

        return list(await asyncio.gather(*(one(i) for i in range(count))))
    finally:
        await driver.aclose()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="lb-p6-"))
    rate = args.churn_mb * 1e6 / RECORD_SIZE / args.volumes  # records/s per VM
    world_of = demo_world if args.one_cloudsim_process else split_world
    with world_of(data_dir) as world:
        ports = {}
        for name, h in world.sites.sites.items():
            ports[h.port] = name
            for url in (h.auth_url, h.admin_url):
                if (port := urlsplit(url).port) is not None:
                    ports[port] = name
        probe = rpo_probe.Probe(ports)
        probe.install()
        stack = Stack(
            data_dir,
            port_base=0,
            overrides={
                "replicator": {
                    "clouds_yaml": world.sites.clouds_yaml,
                    "max_parallel_volumes": 8,
                    "max_concurrent_cycles": args.concurrent_cycles,
                    "runner_interval_seconds": 0.2,
                }
            },
        )
        await stack.start()
        try:
            urls = {s.name: s.url for s in stack.services}
            headers = {"Authorization": f"Bearer {stack.token}"}
            async with httpx.AsyncClient(headers=headers, timeout=60) as c:
                print(f"creating {args.volumes} VMs on {SOURCE}...", flush=True)
                servers = await make_vms(world.sites.clouds_yaml, args.volumes)
                workloads: list[str] = []
                with world.sites.sites[SOURCE].admin() as admin:
                    for sid in servers:
                        wl = admin.post("/workloads", json={"servers": [sid], "rate_per_s": rate})
                        workloads.append(wl.raise_for_status().json()["workload_id"])
                policy = urls["policy"]
                for site_id, body in (
                    (SOURCE, {"cloud": SOURCE, "role": "protected"}),
                    (
                        TARGET,
                        {"cloud": TARGET, "role": "recovery", "data_endpoint": world.receiver},
                    ),
                ):
                    (await c.put(f"{policy}/v1/sites/{site_id}", json=body)).raise_for_status()
                pol = (
                    (
                        await c.post(
                            f"{policy}/v1/policies",
                            json={
                                "name": "p6",
                                "rpo_seconds": args.rpo,
                                "retention": {"keep_last": 2},
                            },
                        )
                    )
                    .raise_for_status()
                    .json()
                )
                groups = []
                for i, sid in enumerate(servers):
                    body = {
                        "name": f"p6-{i}",
                        "project_id": "demo",
                        "source_site": SOURCE,
                        "target_site": TARGET,
                        "policy_id": pol["id"],
                        "members": {"servers": [sid]},
                    }
                    g = (
                        await c.post(f"{policy}/v1/protection-groups", json=body)
                    ).raise_for_status()
                    groups.append(g.json()["id"])
                started = time.monotonic()
                print(f"{len(groups)} groups protected; warming up...", flush=True)
                samples: list[float] = []
                profile_raw = data_dir.parent / f"{data_dir.name}-pyspy.txt"
                spy = None
                measuring_since: float | None = None
                workload_start_seq: dict[str, int] = {}
                cps_seen: dict[str, dict[str, Any]] = {}
                end = float("inf")
                while time.monotonic() < end:
                    r = await c.get(
                        f"{urls['replicator']}/v1/consistency-points", params={"limit": 1000}
                    )
                    r.raise_for_status()
                    newest: dict[str, datetime] = {}
                    for cp in r.json():
                        cps_seen[cp["id"]] = cp
                        at = datetime.fromisoformat(cp["taken_at"])
                        if cp["group_id"] not in newest or at > newest[cp["group_id"]]:
                            newest[cp["group_id"]] = at
                    now = datetime.now(UTC)
                    if measuring_since is None and len(newest) == len(groups):
                        measuring_since = time.monotonic()
                        end = measuring_since + args.minutes * 60
                        print(
                            f"every group has a CP after {measuring_since - started:.0f} s; "
                            f"measuring for {args.minutes} min",
                            flush=True,
                        )
                        with world.sites.sites[SOURCE].admin() as admin:
                            for wid in workloads:
                                st = admin.get(f"/workloads/{wid}").json()
                                workload_start_seq[wid] = int(st["data_records"])
                        measured_cps = set(cps_seen)
                        counters0 = probe.mark()
                        roles = rpo_probe.processes()
                        cpu0 = rpo_probe.cpu_seconds(roles)
                        if args.profile:
                            spy = rpo_probe.start_profile(
                                min(args.profile_seconds, args.minutes * 60), profile_raw
                            )
                    if measuring_since is not None:
                        samples += [(now - newest[g]).total_seconds() for g in groups]
                        elapsed = time.monotonic() - measuring_since
                        if int(elapsed) % 60 == 0 and elapsed > 1:
                            print(
                                f"  {elapsed:4.0f} s: achieved RPO p99 so far "
                                f"{pct(samples, 0.99):.1f} s",
                                flush=True,
                            )
                    await asyncio.sleep(1.0)
                assert measuring_since is not None
                window = time.monotonic() - measuring_since
                cpu = {
                    k: (v - cpu0.get(k, 0.0)) / window
                    for k, v in rpo_probe.cpu_seconds(roles).items()
                }
                counters = probe.since(counters0)
                with world.sites.sites[SOURCE].admin() as admin:
                    written = sum(
                        (
                            int(admin.get(f"/workloads/{wid}").json()["data_records"])
                            - workload_start_seq.get(wid, 0)
                        )
                        * RECORD_SIZE
                        for wid in workloads
                    )
                cycles = (
                    await c.get(
                        f"{urls['replicator']}/v1/replication-cycles", params={"limit": 1000}
                    )
                ).json()
        finally:
            await stack.stop()
    shutil.rmtree(data_dir, ignore_errors=True)  # 100 volumes and their snapshots: gigabytes
    assert measuring_since is not None
    profile: dict[str, Any] | None = None
    if spy is not None:
        _, err = spy.communicate(timeout=120)
        if profile_raw.exists():
            profile = rpo_probe.top_functions(profile_raw)
            profile_raw.unlink()
        else:
            profile = {"error": err.decode(errors="replace")[-500:]}
    span = args.minutes * 60
    new = [cp for k, cp in cps_seen.items() if k not in measured_cps]
    durations = [
        (
            datetime.fromisoformat(cp["created_at"]) - datetime.fromisoformat(cp["taken_at"])
        ).total_seconds()
        for cp in new
    ]
    return {
        "volumes": args.volumes,
        "rpo_target_s": args.rpo,
        "concurrent_cycles": args.concurrent_cycles,
        "minutes": args.minutes,
        "churn_target_mb_s": args.churn_mb,
        "churn_written_mb_s": written / span / 1e6 if written else None,
        "achieved_rpo_p50_s": pct(samples, 0.5),
        "achieved_rpo_p99_s": pct(samples, 0.99),
        "achieved_rpo_max_s": max(samples) if samples else None,
        "samples": len(samples),
        "cps_in_window": len(new),
        "bytes_sent_mb_s": sum(int(cp["bytes_sent"]) for cp in new) / span / 1e6,
        "cycle_p50_s": statistics.median(durations) if durations else None,
        "cycle_p99_s": pct(durations, 0.99),
        "failed_cycles": sum(1 for cy in cycles if cy["status"] == "failed"),
        "window_s": window,
        "cpu_cores_by_process": cpu,
        "per_cycle": per_cycle(counters, len(new), window),
        "profile": profile,
    }


def per_cycle(counters: dict[str, dict[str, Any]], cycles: int, window: float) -> dict[str, Any]:
    """Counts over the window divided by the cycles (CPs) completed in it; stage means."""
    n = max(1, cycles)
    api, sql = counters["api"], counters["sql"]
    by_site: dict[str, float] = {}
    for key, count in api.items():
        site = key.split(" ", 1)[0]
        by_site[site] = by_site.get(site, 0.0) + count / n
    by_db: dict[str, float] = {}
    for key, count in sql.items():
        db = key.split(" ", 1)[0]
        by_db[db] = by_db.get(db, 0.0) + count / n
    return {
        "cycles": cycles,
        "api_calls": sum(api.values()) / n,
        "api_calls_by_site": by_site,
        "api_calls_top": sorted(((k, v / n) for k, v in api.items()), key=lambda x: -x[1])[:15],
        "sql_statements": sum(sql.values()) / n,
        "sql_by_database": by_db,
        "sql_per_s_by_database": {k: v * n / window for k, v in by_db.items()},
        "sql_top": sorted(((k, v / n) for k, v in sql.items()), key=lambda x: -x[1])[:10],
        "stage_mean_s": {
            k: counters["stage_s"][k] / 1e6 / counters["stage_n"][k] for k in counters["stage_n"]
        },
        "stage_runs": counters["stage_n"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=fair.HelpFormatter)
    ap.add_argument("--volumes", type=int, default=100, help="VMs, one volume and group each")
    ap.add_argument("--churn-mb", type=float, default=20.0, help="aggregate MB/s written")
    ap.add_argument("--rpo", type=int, default=30, help="RPO target (s)")
    ap.add_argument("--minutes", type=float, default=10.0, help="measuring window")
    ap.add_argument(
        "--concurrent-cycles",
        type=int,
        default=8,
        help="the replicator's max_concurrent_cycles (its default: 8)",
    )
    ap.add_argument(
        "--one-cloudsim-process",
        action="store_true",
        help="both sites in one cloudsim process, as `lifeboat up` has them (else one each)",
    )
    ap.add_argument("--profile", action="store_true", help="py-spy this process in steady state")
    ap.add_argument("--profile-seconds", type=float, default=60.0, help="py-spy duration")
    args = ap.parse_args()
    res = asyncio.run(run(args))
    rows = [
        ("protected volumes (1 per VM, 1 group each)", f"{res['volumes']}"),
        (
            "churn written by cloudsim workloads",
            f"{res['churn_written_mb_s'] or 0:.1f} MB/s (target {res['churn_target_mb_s']:.0f})",
        ),
        ("RPO target", f"{res['rpo_target_s']} s"),
        ("replicator max_concurrent_cycles", f"{res['concurrent_cycles']}"),
        (
            "achieved RPO p50 / p99 / max",
            f"{res['achieved_rpo_p50_s']:.1f} / {res['achieved_rpo_p99_s']:.1f} / "
            f"{res['achieved_rpo_max_s']:.1f} s",
        ),
        (
            "goal: p99 <= RPO target",
            "met" if res["achieved_rpo_p99_s"] <= res["rpo_target_s"] else "NOT met",
        ),
        (
            "CPs in the window",
            f"{res['cps_in_window']} ({res['cps_in_window'] / res['minutes'] / 60:.1f}/s)",
        ),
        ("bytes sent to site-b", f"{res['bytes_sent_mb_s']:.1f} MB/s (zstd + AES-GCM)"),
        (
            "cycle (snapshot -> CP) p50 / p99",
            f"{res['cycle_p50_s']:.1f} / {res['cycle_p99_s']:.1f} s",
        ),
        ("failed cycles", f"{res['failed_cycles']}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\nP6 sustained RPO, {res['minutes']:.0f} min, real time (no time scale)")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print_costs(res)
    out = ROOT / "bench" / "results" / f"rpo_sustained-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"\n{out}")


def print_costs(res: dict[str, Any]) -> None:
    pc = res["per_cycle"]
    print(f"\nwhat it costs, over {res['window_s']:.0f} s ({pc['cycles']} cycles):")
    for role, cores in res["cpu_cores_by_process"].items():
        print(f"  CPU {role:<38} {cores:6.2f} cores")
    by_site = ", ".join(f"{k} {v:.1f}" for k, v in pc["api_calls_by_site"].items())
    print(f"  cloud API calls per cycle: {pc['api_calls']:.1f} ({by_site})")
    for k, v in pc["api_calls_top"]:
        print(f"      {v:6.2f}  {k}")
    by_db = ", ".join(f"{k} {v:.1f}" for k, v in pc["sql_by_database"].items())
    print(f"  SQL statements per cycle: {pc['sql_statements']:.1f} ({by_db})")
    per_s = ", ".join(f"{k} {v:.0f}" for k, v in pc["sql_per_s_by_database"].items())
    print(f"    per second: {per_s}")
    for k, v in pc["sql_top"]:
        print(f"      {v:6.2f}  {k}")
    print("  replicator stage wall time, mean per run (runs):")
    for k, v in pc["stage_mean_s"].items():
        print(f"      {v:7.3f} s  {k} ({pc['stage_runs'][k]})")
    prof = res.get("profile")
    if prof and "own" in prof:
        for kind in ("own", "total"):
            print(f"  py-spy, top functions by {kind} samples:")
            for f, _k, share in prof[kind]:
                print(f"      {share:6.1%}  {f}")
    elif prof:
        print(f"  py-spy failed: {prof['error']}")


if __name__ == "__main__":
    main()
