"""P6: sustained RPO. 100 protected volumes under an aggregate churn of ~20 MB/s from cloudsim's
workloads, RPO target 30 s, for 10 minutes of real time (no time scale), on one of two topologies
(--topology):
  one-process  (default) the embedded default: two cloudsim sites, the five services in this
               process (`lifeboat_cli.stack.Stack`; policy scheduler -> embedded bus ->
               replicator -> site-b's receiver process), SQLite.
  production   the production shape, as bench/scaleout.py builds it (bench/production.py):
               PostgreSQL and Kafka (deploy/postgres/pg-local.sh, deploy/kafka/kafka-local.sh,
               started and stopped here), policy + orchestrator + verifier + billing in this
               process (the Stack without its replicator) and ONE replicator as its own OS process
               (`python -m lifeboat_replicator.entrypoints.cli serve`), same replicator settings.
Every second it reads every group's newest CP and records the achieved RPO (now - the CP's
recovery point); after the warm-up (every group has its first CP) it reports p50/p99/max against
the target, the churn actually written, bytes sent, cycle durations and failures. Not part of the
test suite. Every process started here is stopped on the way out, also on Ctrl-C or an exception.

What Lifeboat costs, apart from the simulator (bench/rpo_probe.py, bench/rpo_costs.py), over the
measuring window: CPU per process (Lifeboat's services in this process; in production the
replicator process, PostgreSQL and Kafka (their process trees) on rows of their own; each cloudsim
site in a process of its own, site-a's also running the workload writers (bench/rpo_world.py);
the DR receivers), and per cycle (one cycle = one CP): cloud API calls Lifeboat made (by site and
endpoint), SQL statements (by database and verb; also per second, as the embedded bus polls
whether or not cycles run) and the wall time of each replicator stage. The probe sees only this
process: in production the replicator's API calls, SQL statements and stage times are reported as
not measured, and PostgreSQL's own counters (pg_stat_database: transactions and rows written,
every client) are given per cycle instead. --profile runs py-spy (--gil: Python CPU only) during
the steady state on this process (one-process) or on the replicator process (production), and
prints the top functions; it needs py-spy:
``uv run --with py-spy python bench/rpo_sustained.py --profile``.

    uv run python bench/rpo_sustained.py [--volumes 100] [--churn-mb 20] [--rpo 30] [--minutes 10]
        [--topology one-process|production]
    smoke run on a busy machine: --volumes 10 --churn-mb 2 --minutes 1"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fair
import rpo_probe
from production import (
    HERE_4,
    Replicator,
    infra,
    infra_env,
    measured_roles,
    pg_activity,
    replicator_env,
    replicator_settings,
    services_without_replicator,
    wait_ready,
)
from rpo_costs import per_cycle, print_costs
from rpo_world import split_world

from cloudsim.guest.records import RECORD_SIZE
from lifeboat_cli.demo import SOURCE, TARGET, DemoWorld, demo_world
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


@dataclass
class Deployment:
    """The running P6 stack in either topology (`deployment`)."""

    world: DemoWorld
    stack: Stack
    probe: rpo_probe.Probe
    replicator_url: str
    replicator: Replicator | None = None  # production: the replicator's own OS process
    infra_dir: Path | None = None  # production: PostgreSQL's and Kafka's directories
    pg_url: str | None = None  # production

    def pg_activity(self) -> dict[str, int] | None:
        return pg_activity(self.pg_url) if self.pg_url else None

    def roles(self) -> dict[str, list[psutil.Process]]:
        """Processes whose CPU is reported, by role (each of them once)."""
        if self.replicator is None or self.infra_dir is None:
            return rpo_probe.processes()
        rest = measured_roles([self.replicator], self.infra_dir)
        here = rest.pop(HERE_4)
        rep = [self.replicator.ps, *self.replicator.tree()]
        return {HERE_4: here, "replicator (its own process)": rep, **rest}


@contextlib.asynccontextmanager
async def deployment(args: argparse.Namespace, data_dir: Path) -> AsyncIterator[Deployment]:
    """Everything started here is stopped on the way out, also on Ctrl-C or an exception: the
    replicator process, the stack, the receivers and sites (the world), PostgreSQL and Kafka."""
    production = args.topology == "production"
    with contextlib.ExitStack() as started:
        infra_dir = data_dir / "infra"
        if production:
            pg_url, bootstrap = started.enter_context(infra(infra_dir))
            os.environ.update(infra_env(pg_url, bootstrap, data_dir))
            services_without_replicator()
        world_of = demo_world if args.one_cloudsim_process else split_world
        world = started.enter_context(world_of(data_dir))
        ports = {}
        for name, h in world.sites.sites.items():
            ports[h.port] = name
            for url in (h.auth_url, h.admin_url):
                if (port := urlsplit(url).port) is not None:
                    ports[port] = name
        probe = rpo_probe.Probe(ports)
        probe.install()
        rep_settings = replicator_settings(world.sites.clouds_yaml, args.concurrent_cycles)
        stack = Stack(
            data_dir, port_base=0, overrides={} if production else {"replicator": rep_settings}
        )
        await stack.start()
        rep: Replicator | None = None
        try:
            if not production:
                url = next(s.url for s in stack.services if s.name == "replicator")
                yield Deployment(world, stack, probe, url)
                return
            env = replicator_env(dict(os.environ), rep_settings)
            rep = Replicator(0, env, data_dir, "p6")
            headers = {"Authorization": f"Bearer {stack.token}"}
            async with httpx.AsyncClient(headers=headers, timeout=10) as c:
                await wait_ready(c, [rep], 120)
            yield Deployment(world, stack, probe, rep.url, rep, infra_dir, pg_url)
        finally:
            if rep is not None:
                rep.stop()
            await stack.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="lb-p6-"))
    try:
        speed_before = fair.host_speed()
        res = await measure(args, data_dir)
        res["host_speed_s_before_after"] = [speed_before, fair.host_speed()]
        return res
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)  # 100 volumes and their snapshots: gigabytes


async def measure(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    rate = args.churn_mb * 1e6 / RECORD_SIZE / args.volumes  # records/s per VM
    async with deployment(args, data_dir) as dep:
        world, stack, probe = dep.world, dep.stack, dep.probe
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
                g = (await c.post(f"{policy}/v1/protection-groups", json=body)).raise_for_status()
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
                    f"{dep.replicator_url}/v1/consistency-points", params={"limit": 1000}
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
                    pg0 = dep.pg_activity()
                    roles = dep.roles()
                    cpu0 = rpo_probe.cpu_seconds(roles)
                    if args.profile:
                        spy = rpo_probe.start_profile(
                            min(args.profile_seconds, args.minutes * 60),
                            profile_raw,
                            dep.replicator.proc.pid if dep.replicator else None,
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
                k: (v - cpu0.get(k, 0.0)) / window for k, v in rpo_probe.cpu_seconds(roles).items()
            }
            counters = probe.since(counters0)
            pg1 = dep.pg_activity()
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
                await c.get(f"{dep.replicator_url}/v1/replication-cycles", params={"limit": 1000})
            ).json()
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
    # Where the sawtooth's top comes from: the gap between a group's recovery points (what the
    # scheduler decides) plus the last CP's lag (created - taken); and a cycle's request (its
    # tick arriving) to its recovery point (queueing for a slot, the snapshot).
    by_group: dict[str, list[datetime]] = {}
    for cp in cps_seen.values():
        by_group.setdefault(cp["group_id"], []).append(datetime.fromisoformat(cp["taken_at"]))
    new_taken = {datetime.fromisoformat(cp["taken_at"]) for cp in new}
    gaps = [
        (b - a).total_seconds()
        for times in by_group.values()
        for a, b in zip(sorted(times), sorted(times)[1:], strict=False)
        if b in new_taken
    ]
    to_point = [
        (
            datetime.fromisoformat(cy["taken_at"]) - datetime.fromisoformat(cy["requested_at"])
        ).total_seconds()
        for cy in cycles
        if cy.get("taken_at") and datetime.fromisoformat(cy["taken_at"]) in new_taken
    ]
    production = args.topology == "production"
    return {
        "recovery_point_gap_p50_s": statistics.median(gaps) if gaps else None,
        "recovery_point_gap_p99_s": pct(gaps, 0.99),
        "request_to_point_p50_s": statistics.median(to_point) if to_point else None,
        "request_to_point_p99_s": pct(to_point, 0.99),
        "topology": args.topology,
        "load_avg_1_5_15": os.getloadavg(),
        "database": "postgresql" if production else "sqlite",
        "bus": "kafka" if production else "embedded",
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
        # Server side, every client (this process and the replicator's): pg_stat_database.
        "postgresql_per_cycle": {k: (pg1[k] - pg0[k]) / max(1, len(new)) for k in pg1}
        if pg0 and pg1
        else None,
        # What the in-process probe sees: in production the replicator runs elsewhere, so its
        # cloud API calls, SQL statements and stage times are not in these counts.
        "per_cycle_scope": (
            "this process only (policy, orchestrator, verifier, billing); the replicator "
            "process's cloud API calls, SQL statements and stage times: not measured in this "
            "topology"
            if production
            else "this process: all five services (the receivers' calls are not included)"
        ),
        "replicator_counted": not production,
        "profile": profile,
        "profile_process": "replicator process" if production else "this process",
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
    ap.add_argument(
        "--topology",
        choices=("one-process", "production"),
        default="one-process",
        help="one-process: the five services in this process, SQLite, embedded bus; production: "
        "PostgreSQL + Kafka (started and stopped here), the replicator as its own OS process",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="py-spy in steady state: this process (one-process) or the replicator's (production)",
    )
    ap.add_argument("--profile-seconds", type=float, default=60.0, help="py-spy duration")
    args = ap.parse_args()
    try:
        res = asyncio.run(run(args))
    except KeyboardInterrupt:  # everything started was stopped on the way out (`deployment`)
        print("interrupted; every process it started is stopped", file=sys.stderr)
        sys.exit(130)
    rows = [
        (
            "topology",
            f"{res['topology']} ({res['database']}, {res['bus']} bus"
            + (", replicator in its own process)" if res["topology"] == "production" else ")"),
        ),
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
    if res.get("recovery_point_gap_p50_s") is not None:
        rows.append(
            (
                "gap between a group's recovery points p50 / p99",
                f"{res['recovery_point_gap_p50_s']:.1f} / {res['recovery_point_gap_p99_s']:.1f} s",
            )
        )
    if res.get("request_to_point_p50_s") is not None:
        rows.append(
            (
                "cycle requested -> recovery point p50 / p99 (the newest 1,000 cycles)",
                f"{res['request_to_point_p50_s']:.2f} / {res['request_to_point_p99_s']:.2f} s",
            )
        )
    width = max(len(r[0]) for r in rows)
    speed = res["host_speed_s_before_after"]
    print(
        f"\nP6 sustained RPO, {res['topology']}, {res['minutes']:.0f} min, real time "
        f"(no time scale), load average {res['load_avg_1_5_15'][0]:.1f}, host speed "
        f"{speed[0]:.2f} / {speed[1]:.2f} s before / after (fair.host_speed)"
    )
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print_costs(res)
    out = ROOT / "bench" / "results" / f"rpo_sustained-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"\n{out}")


if __name__ == "__main__":
    main()
