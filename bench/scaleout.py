"""Scale-out (issue #18 item 3): CPs per second completed by ONE replicator process vs TWO on
the same work.

The production shape (bench/production.py): PostgreSQL and Kafka (deploy/postgres/pg-local.sh and
deploy/kafka/kafka-local.sh, started and stopped here), each cloudsim site in a process of its
own (site-a's also running the workload writers, bench/rpo_world.py), the DR receivers in
theirs, policy + orchestrator + verifier + billing in this process (`lifeboat_cli.stack.Stack`
without its replicator), and the replicators as separate OS processes
(`python -m lifeboat_replicator.entrypoints.cli serve`) sharing the replicator's database and
the bus's consumer group. They share the cycles through the runner's lease:
`CycleRepository.claim` (UPDATE ... FOR UPDATE SKIP LOCKED, at most `max_concurrent_cycles` per
process).

Saturated: many groups with a short RPO, so that there is always a backlog of pending cycles
(at most one per group). The world (sites, groups, churn) is built once, then two replicators
run untimed until every group has its first CP (a full copy); each trial starts 1 or 2
replicator processes, waits a warm-up, counts the CPs completed over a fixed window, then stops
them (SIGTERM: their cycles go back to pending). Trials alternate 1 and 2 (bench/fair.py order),
the same number of each; median and best (the highest CPs/s) are reported. Per trial: the CPU
(cores) of each replicator process and of the other processes, and the correctness check: every
committed cycle id appears in exactly one process's log, and each CP belongs to one cycle.

Two regimes (say which one a figure is in):
  cpu      cloudsim answers at once: a cycle costs CPU (replicator, cloudsim, receivers) and on a
           2-core host the processes share the cores, so 2 replicators cannot do twice the work.
  latency  cloudsim delays every Cinder/Nova call by --latency-ms (its fault rules, OpRule
           latency_ms): a cycle mostly waits on the cloud, as on a real OpenStack.

    uv run python bench/scaleout.py [--groups 80] [--rpo 2] [--rounds 3] [--window 60]
        [--regimes cpu,latency] [--latency-ms 1000]
    smoke run on a busy machine: --groups 24 --rounds 1 --warmup 10 --window 20

Saturation is checked, not assumed: every 5 s of the window the pending cycles are counted
("fewest pending cycles seen"); a trial whose backlog reached 0 measured the demand, not the
replicators: raise --groups.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fair
import rpo_probe
from production import (
    Replicator,
    infra,
    infra_env,
    measured_roles,
    replicator_env,
    replicator_settings,
    services_without_replicator,
    wait_ready,
)
from rpo_sustained import make_vms
from rpo_world import split_world

from cloudsim.guest.records import RECORD_SIZE
from lifeboat_cli.demo import SOURCE, TARGET
from lifeboat_cli.stack import Stack

# The calls a cycle waits on (site-a's snapshots and attachments, site-b's replica side).
DELAYED = ["snapshot.create", "attachment.create", "volume.create", "volume.show"]


async def pending_cycles(c: httpx.AsyncClient, url: str) -> int:
    """Cycles waiting for a replicator (the backlog: saturated while it stays above 0)."""
    r = await c.get(f"{url}/v1/replication-cycles", params={"limit": 1000})
    r.raise_for_status()
    return sum(1 for cy in r.json() if cy["status"] == "pending")


async def succeeded_cycles(c: httpx.AsyncClient, url: str) -> dict[str, dict[str, Any]]:
    r = await c.get(f"{url}/v1/replication-cycles", params={"limit": 1000})
    r.raise_for_status()
    return {cy["id"]: cy for cy in r.json() if cy["status"] == "succeeded"}


async def trial(
    c: httpx.AsyncClient,
    procs: int,
    env: dict[str, str],
    log_dir: Path,
    tag: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    reps = [Replicator(i, env, log_dir, tag) for i in range(procs)]
    try:
        await wait_ready(c, reps, 120)
        await asyncio.sleep(args.warmup)
        before = [set(r.committed()) for r in reps]
        skip = [len(b) for b in before]
        roles = measured_roles(reps, log_dir)
        cpu0 = [r.cpu() for r in reps]
        other0 = rpo_probe.cpu_seconds(roles)
        t0 = time.monotonic()
        backlog = [await pending_cycles(c, reps[0].url)]
        while time.monotonic() - t0 < args.window:
            await asyncio.sleep(min(5.0, max(0.0, args.window - (time.monotonic() - t0))))
            backlog.append(await pending_cycles(c, reps[0].url))
        window = time.monotonic() - t0
        cpu = [(r.cpu() - c0) / window for r, c0 in zip(reps, cpu0, strict=True)]
        other = {k: (v - other0[k]) / window for k, v in rpo_probe.cpu_seconds(roles).items()}
        after = [set(r.committed()) for r in reps]
        done = [a - b for a, b in zip(after, before, strict=True)]
        cps = sum(len(d) for d in done)
        durations = [x for r, k in zip(reps, skip, strict=True) for x in r.cycle_seconds(k)]
        load = os.getloadavg()[0]
    finally:
        for r in reps:
            r.stop()
    # Correctness over the whole trial (after the stop, logs complete): one committer per cycle.
    per_proc = [r.committed() for r in reps]
    everything = [cid for ids in per_proc for cid in ids]
    duplicates = len(everything) - len(set(everything))
    shared = set.intersection(*(set(x) for x in per_proc)) if len(per_proc) > 1 else set()
    return {
        "processes": procs,
        "cps": cps,
        "window_s": window,
        "cps_per_s": cps / window,
        "cps_per_s_by_process": [len(d) / window for d in done],
        "replicator_cpu_cores": cpu,
        "other_cpu_cores": other,
        "load_1min": load,
        "backlog_min": min(backlog),
        "backlog_median": statistics.median(backlog),
        "cycle_s_median": statistics.median(durations) if durations else None,
        # CPU-seconds one CP costs, all measured processes together (what 2 cores can sustain)
        "cpu_s_per_cp": (sum(cpu) + sum(other.values())) / (cps / window) if cps else None,
        "committed_in_trial": len(everything),
        "cycles_committed_twice": duplicates + len(shared),
        "leases_lost": sum(r.leases_lost() for r in reps),
        "committed_ids": everything,
    }


async def first_cps(c: httpx.AsyncClient, groups: int, env: dict[str, str], tmp: Path) -> None:
    """Untimed: two replicators until every group has its first CP (a full copy), so that the
    trials measure steady cycles."""
    reps = [Replicator(i, env, tmp, "first") for i in range(2)]
    try:
        await wait_ready(c, reps, 120)
        started = time.monotonic()
        while True:
            r = await c.get(f"{reps[0].url}/v1/consistency-points", params={"limit": 1000})
            have = len({cp["group_id"] for cp in r.raise_for_status().json()})
            if have >= groups:
                break
            if time.monotonic() - started > 1800:
                raise RuntimeError(f"only {have} of {groups} groups have a CP after 30 min")
            await asyncio.sleep(2)
        print(f"every group has its first CP after {time.monotonic() - started:.0f} s", flush=True)
    finally:
        for rep in reps:
            rep.stop()


async def set_latency(world: Any, ms: float) -> None:
    rules = [{"operation": op, "latency_ms": ms} for op in DELAYED] if ms else []
    for h in world.sites.sites.values():
        with h.admin() as admin:
            admin.put("/rules", json={"rules": rules}).raise_for_status()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="lb-scale-"))
    data_dir = tmp / "data"
    results: dict[str, Any] = {"args": vars(args), "regimes": {}}
    # The stack in this process runs every service but the replicator (those are the processes).
    services_without_replicator()
    try:
        with infra(tmp) as (pg_url, bootstrap), split_world(data_dir) as world:
            results["database"], results["bus"] = "postgresql", "kafka"
            os.environ.update(infra_env(pg_url, bootstrap, data_dir))
            rep_env = replicator_env(
                dict(os.environ), replicator_settings(world.sites.clouds_yaml, args.concurrent)
            )
            stack = Stack(data_dir, port_base=0)
            await stack.start()
            try:
                await drive(args, stack, world, rep_env, tmp, results)
            finally:
                await stack.stop()
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


async def drive(
    args: argparse.Namespace,
    stack: Stack,
    world: Any,
    rep_env: dict[str, str],
    tmp: Path,
    results: dict[str, Any],
) -> None:
    urls = {s.name: s.url for s in stack.services}
    policy = urls["policy"]
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {stack.token}"}, timeout=60
    ) as c:
        print(f"creating {args.groups} VMs on {SOURCE}...", flush=True)
        servers = await make_vms(world.sites.clouds_yaml, args.groups)
        rate = args.churn_mb * 1e6 / RECORD_SIZE / args.groups
        with world.sites.sites[SOURCE].admin() as admin:
            for sid in servers:
                admin.post(
                    "/workloads", json={"servers": [sid], "rate_per_s": rate}
                ).raise_for_status()
        for site_id, body in (
            (SOURCE, {"cloud": SOURCE, "role": "protected"}),
            (TARGET, {"cloud": TARGET, "role": "recovery", "data_endpoint": world.receiver}),
        ):
            (await c.put(f"{policy}/v1/sites/{site_id}", json=body)).raise_for_status()
        pol = (
            (
                await c.post(
                    f"{policy}/v1/policies",
                    json={"name": "scale", "rpo_seconds": args.rpo, "retention": {"keep_last": 2}},
                )
            )
            .raise_for_status()
            .json()
        )
        for i, sid in enumerate(servers):
            body = {
                "name": f"scale-{i}",
                "project_id": "demo",
                "source_site": SOURCE,
                "target_site": TARGET,
                "policy_id": pol["id"],
                "members": {"servers": [sid]},
            }
            (await c.post(f"{policy}/v1/protection-groups", json=body)).raise_for_status()
        print(f"{args.groups} groups protected (RPO {args.rpo} s)", flush=True)
        await first_cps(c, args.groups, rep_env, tmp)
        for regime in args.regimes.split(","):
            await set_latency(world, args.latency_ms if regime == "latency" else 0)
            trials: dict[str, list[dict[str, Any]]] = {"1": [], "2": []}
            for r in range(args.rounds):
                for name in fair._order(["1", "2"], r):
                    t = await trial(c, int(name), rep_env, tmp, f"{regime}-{r}-{name}", args)
                    trials[name].append(t)
                    print(
                        f"  {regime:<7} round {r + 1}: {name} process(es): "
                        f"{t['cps_per_s']:.2f} CPs/s "
                        f"(by process {', '.join(f'{x:.2f}' for x in t['cps_per_s_by_process'])}; "
                        f"replicator CPU {', '.join(f'{x:.2f}' for x in t['replicator_cpu_cores'])}"
                        f" cores; load {t['load_1min']:.1f}; "
                        f"backlog min {t['backlog_min']}; "
                        f"committed twice {t['cycles_committed_twice']})",
                        flush=True,
                    )
            results["regimes"][regime] = summarise(trials)
        await set_latency(world, 0)
        # Across the whole run: each CP belongs to exactly one cycle, committed by one process.
        rep = Replicator(9, rep_env, tmp, "check")
        try:
            await wait_ready(c, [rep], 120)
            cps = (await c.get(f"{rep.url}/v1/consistency-points", params={"limit": 1000})).json()
            succeeded = await succeeded_cycles(c, rep.url)
        finally:
            rep.stop()
        ids = [cid for reg in results["regimes"].values() for cid in reg.pop("_ids")]
        by_cycle: dict[str, int] = {}
        for cp in cps:
            by_cycle[cp["cycle_id"]] = by_cycle.get(cp["cycle_id"], 0) + 1
        results["check"] = {
            "cycles_committed_in_logs": len(ids),
            "distinct": len(set(ids)),
            "cycles_succeeded_listed": len(succeeded),
            "cps_listed": len(cps),
            "cps_sharing_a_cycle": sum(n - 1 for n in by_cycle.values()),
            "logged_commits_not_succeeded": len({i for i in ids if i in succeeded} ^ set(ids))
            if len(succeeded) < 1000
            else None,
        }


def summarise(trials: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {"_ids": []}
    for name, ts in trials.items():
        rates = [t["cps_per_s"] for t in ts]
        out[name] = {
            "cps_per_s_runs": rates,
            "median": statistics.median(rates),
            "best": max(rates),
            "replicator_cpu_cores_median": statistics.median(
                sum(t["replicator_cpu_cores"]) for t in ts
            ),
            "replicator_cpu_cores_per_process": [t["replicator_cpu_cores"] for t in ts],
            "other_cpu_cores": [t["other_cpu_cores"] for t in ts],
            "load_1min": [t["load_1min"] for t in ts],
            "cycle_s_median": statistics.median(
                [t["cycle_s_median"] for t in ts if t["cycle_s_median"] is not None] or [0.0]
            ),
            "cpu_s_per_cp_median": statistics.median(
                [t["cpu_s_per_cp"] for t in ts if t["cpu_s_per_cp"] is not None] or [0.0]
            ),
            "backlog_min": min(t["backlog_min"] for t in ts),
            "cycles_committed_twice": sum(t["cycles_committed_twice"] for t in ts),
            "leases_lost": sum(t["leases_lost"] for t in ts),
            "trials": [{k: v for k, v in t.items() if k != "committed_ids"} for t in ts],
        }
        out["_ids"] += [cid for t in ts for cid in t["committed_ids"]]
    out["speedup_median"] = out["2"]["median"] / out["1"]["median"] if out["1"]["median"] else None
    out["speedup_best"] = out["2"]["best"] / out["1"]["best"] if out["1"]["best"] else None
    return out


def times(x: float | None) -> str:
    return f"{x:.2f}x" if x is not None else "n/a (no CP with 1 process)"


def print_table(res: dict[str, Any]) -> None:
    a = res["args"]
    print(
        f"\nScale-out: {a['groups']} groups (1 VM, 1 volume each), RPO {a['rpo']} s, churn "
        f"{a['churn_mb']} MB/s, {a['rounds']} round(s) x {a['window']:.0f} s after "
        f"{a['warmup']:.0f} s warm-up; {res['database']} + {res['bus']}; "
        f"max_concurrent_cycles {a['concurrent']} per process"
    )
    print(
        f"  {'regime':<8} {'procs':>5} {'CPs/s median':>13} {'best':>6} {'x of 1':>7} "
        f"{'cycle s':>8} {'replicator CPU':>15} {'others CPU':>11} {'CPU-s/CP':>9}  load"
    )
    for regime, reg in res["regimes"].items():
        for name in ("1", "2"):
            s = reg[name]
            x = f"{reg['speedup_median']:.2f}" if name == "2" and reg["speedup_median"] else ""
            others = statistics.median(sum(o.values()) for o in s["other_cpu_cores"])
            loads = "/".join(f"{x:.1f}" for x in s["load_1min"])
            per = "+".join(
                f"{statistics.median(col):.2f}"
                for col in zip(*s["replicator_cpu_cores_per_process"], strict=True)
            )
            print(
                f"  {regime:<8} {name:>5} {s['median']:13.2f} {s['best']:6.2f} {x:>7} "
                f"{s['cycle_s_median']:8.1f} {per:>15} {others:11.2f} "
                f"{s['cpu_s_per_cp_median']:9.2f}  {loads}"
            )
        print(
            f"  {regime:<8} 2 vs 1: median {times(reg['speedup_median'])}, "
            f"best {times(reg['speedup_best'])} (goal >= 1.7x); cycles committed twice: "
            f"{reg['1']['cycles_committed_twice'] + reg['2']['cycles_committed_twice']}, "
            f"leases lost: {reg['1']['leases_lost'] + reg['2']['leases_lost']}; "
            f"fewest pending cycles seen: {reg['1']['backlog_min']} / {reg['2']['backlog_min']} "
            "(saturated while > 0)"
        )
    print("  others CPU by process (cores, median over the trials):")
    for regime, reg in res["regimes"].items():
        for name in ("1", "2"):
            roles = reg[name]["other_cpu_cores"]
            parts = ", ".join(
                f"{k} {statistics.median(o.get(k, 0.0) for o in roles):.2f}" for k in roles[0]
            )
            print(f"    {regime:<8} {name}: {parts}")
    print(
        "  cycle s: median wall time of a cycle (claim to CP); CPU in cores (1.0 = one core busy);"
        "\n  CPU-s/CP: CPU seconds of every measured process per CP (replicators, cloudsim sites,"
        "\n  receivers, the other services, PostgreSQL, Kafka); load: 1-min load average per trial"
    )
    ck = res["check"]
    print(
        f"  check: {ck['cycles_committed_in_logs']} commits in the logs, {ck['distinct']} distinct "
        f"cycles; {ck['cps_listed']} CPs listed, {ck['cps_sharing_a_cycle']} sharing a cycle"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=fair.HelpFormatter)
    ap.add_argument(
        "--groups",
        type=int,
        default=80,
        help="VMs, one volume and group each; well above 2 x --concurrent, as each group has at "
        "most one cycle and waits for the policy's next request after each CP",
    )
    ap.add_argument("--rpo", type=int, default=2, help="RPO (s): short, to keep a backlog")
    ap.add_argument("--churn-mb", type=float, default=2.0, help="aggregate MB/s written")
    ap.add_argument("--rounds", type=int, default=3, help="trials of 1 and of 2 processes each")
    ap.add_argument("--warmup", type=float, default=20.0, help="s after the processes are up")
    ap.add_argument("--window", type=float, default=60.0, help="measuring window (s)")
    ap.add_argument("--concurrent", type=int, default=8, help="max_concurrent_cycles per process")
    ap.add_argument("--regimes", default="cpu,latency", help="cpu, latency or both")
    ap.add_argument(
        "--latency-ms",
        type=float,
        default=1000.0,
        help="latency regime's delay per delayed call (300 ms left the 2-core host CPU-bound)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = ap.parse_args()
    res = asyncio.run(run(args))
    out = ROOT / "bench" / "results" / f"scaleout-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(res, indent=2))
    print_table(res)
    print(f"\n{out}")


if __name__ == "__main__":
    main()
