"""Benchmark (issue 6, item 6): evacuate N VMs from site-a to site-b and site-c, and compare the
measured RTO with the critical-path lower bound computed from the same latencies and limits.

Real parts: three cloudsim sites (one child process, real HTTP), the orchestrator in this process
(its FastAPI app and its background runner on the embedded SQLite database and bus), every cloud
call through openstacksdk. The bench plays the replicator: at site-b and site-c it makes a
volume + snapshot per protected volume and hands the orchestrator one ConsistencyPointCreated per
app and target (through the orchestrator's own handlers), then creates one plan per app (4 tiers,
default chain) and POSTs an evacuation (approval none, every plan at once) and times it.

Lower bound: each recover step holds one of the C = site_api_concurrency slots of its target for
at least volume + build (volumes in parallel, then the server), and tiers are a chain, so per site
LB = max(tiers, ceil(n_site / C)) x (volume + build). Defaults: the issue's latencies (volume
0.5 s, server 2 s) at time_scale 1 (real time). Besides RTO/LB it prints where the orchestrator's
CPU goes (threads, SQL statements, the cost of one status GET) to say what to make faster.
cloudsim and the orchestrator share the machine's cores: both CPU figures are reported.

    uv run python bench/evacuation.py --quick            # 100 VMs, 10 apps (~1 min)
    uv run python bench/evacuation.py                    # 1,000 VMs, 100 apps (~5 min)
    options: --vms --apps --tiers --concurrency --time-scale --build-s --volume-s --keep, and
    configuration experiments --poll-initial --poll-max --sdk-workers --topic-partitions
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openstack
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from openstack.config import OpenStackConfig

from cloudsim.testing import SiteSet, running_sites
from lifeboat_orchestrator.bootstrap import build
from lifeboat_orchestrator.service_layer.handlers import HANDLERS
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.cloud import CloudDriver, CloudProject, SiteConfig, convert, rawlist
from lifeboat_shared.cloud.settings import CloudDriverSettings
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import ConsistencyPointCreated, CpMember, SiteRegistered
from lifeboat_shared.contracts.messages.protection import SiteRef
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.runtime import ServiceRuntime

ROOT = Path(__file__).resolve().parents[1]
SOURCE, TARGETS = "site-a", ("site-b", "site-c")
PROJECT = "demo"
TOKEN = "bench-" + uuid.uuid4().hex


@dataclass
class Vm:
    server_id: str
    volumes: list[tuple[str, str]]  # (volume id, device), boot first


@dataclass
class App:
    name: str
    tiers: list[list[Vm]] = field(default_factory=list)

    @property
    def vms(self) -> list[Vm]:
        return [vm for tier in self.tiers for vm in tier]


def tier_sizes(n: int, tiers: int) -> list[int]:
    """n VMs over `tiers` tiers, the first tiers one larger when it does not divide."""
    return [n // tiers + (1 if i < n % tiers else 0) for i in range(tiers)]


def ip_of(i: int) -> str:
    """A unique fixed IP in cloudsim's `private` 10.0.0.0/16 (never .0/.255 of a /24)."""
    return f"10.0.{1 + i // 200}.{10 + i % 200}"


async def gather_bounded(limit: int, jobs: list[Any]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


# --- setup: the protected VMs and the replicator's part ----------------------------------------
async def make_vms(project: CloudProject, args: argparse.Namespace) -> list[App]:
    flavor = await project.compute.find_flavor("m1.tiny")
    net = next(n for n in await project.network.list_networks() if n.name == "private")
    subnet = (await project.network.list_subnets(network_id=net.id))[0]
    per_app = args.vms // args.apps

    async def vm(a: int, t: int, j: int, i: int) -> Vm:
        name = f"app{a:03d}-t{t}-vm{j}"
        boot = await project.block_storage.create_volume(1, name=f"{name}-boot", bootable=True)
        data = await project.block_storage.create_volume(1, name=f"{name}-data", wait=False)
        port = await project.network.create_port(
            net.id, name=f"{name}-0", fixed_ips=[(subnet.id, ip_of(i))]
        )
        server = await project.compute.create_server(
            name,
            flavor.id or "m1.tiny",
            boot_volume_id=boot.id,
            data_volume_ids=[data.id],
            port_ids=[port.id],
        )
        return Vm(server.id, [(boot.id, "/dev/vda"), (data.id, "/dev/vdb")])

    jobs, layout, i = [], [], 0
    for a in range(args.apps):
        for t, size in enumerate(tier_sizes(per_app, args.tiers)):
            for j in range(size):
                jobs.append(vm(a, t, j, i))
                layout.append((a, t))
                i += 1
    made = await gather_bounded(32, jobs)
    apps = [App(f"app{a:03d}", [[] for _ in range(args.tiers)]) for a in range(args.apps)]
    for (a, t), v in zip(layout, made, strict=True):
        apps[a].tiers[t].append(v)
    return apps


async def replicate(project: CloudProject, apps: list[App]) -> dict[str, list[CpMember]]:
    """Per source volume a replica volume and its snapshot (the CP's DR snapshot), by app."""

    async def one(vm: Vm, vol: str, device: str) -> CpMember:
        replica = await project.block_storage.create_volume(1, name=f"replica-{vol}", wait=False)
        snap = await project.block_storage.create_snapshot(replica.id, name=f"cp-{vol}", wait=False)
        return CpMember(
            source_volume_id=vol,
            server_id=vm.server_id,
            device=device,
            size_gib=1,
            source_snapshot_id=f"src-snap-{vol}",
            replica_volume_id=replica.id,
            replica_snapshot_id=snap.id,
            bytes_changed=0,
            bytes_sent=0,
        )

    jobs = [one(vm, vol, dev) for app in apps for vm in app.vms for vol, dev in vm.volumes]
    members = iter(await gather_bounded(32, jobs))
    return {app.name: [next(members) for vm in app.vms for _ in vm.volumes] for app in apps}


# --- the orchestrator --------------------------------------------------------------------------
async def deliver(runtime: ServiceRuntime, message: Message) -> None:
    """Handle an event as the orchestrator's consumer does: in one transaction, its handler."""
    async with runtime.db.transaction() as session:
        ctx = HandlerContext(session=session, envelope=runtime.envelope(message), source="/bench")
        await HANDLERS[type(message)](message, ctx)


async def seed_orchestrator(
    runtime: ServiceRuntime, client: httpx.AsyncClient, apps: list[App], cps: dict[str, Any]
) -> None:
    now = datetime.now(UTC)
    for site in (SOURCE, *TARGETS):
        role = "both" if site == SOURCE else "recovery"
        await deliver(
            runtime, SiteRegistered(site=SiteRef(site_id=site, cloud=site), role=role, at=now)
        )
    for target in TARGETS:
        for app in apps:
            await deliver(
                runtime,
                ConsistencyPointCreated(
                    group_id=app.name,
                    consistency_point_id=f"cp-{app.name}-{target}",
                    project_id=PROJECT,
                    source_site=SOURCE,
                    target_site=target,
                    consistency="crash",
                    taken_at=now,
                    created_at=now,
                    members=cps[target][app.name],
                    bytes_sent=0,
                ),
            )
    for app in apps:
        body = {
            "name": app.name,
            "project_id": PROJECT,
            "groups": [app.name],
            "source_site": SOURCE,
            "target_sites": list(TARGETS),
            "tiers": [
                {"name": f"t{t}", "servers": [vm.server_id for vm in tier]}
                for t, tier in enumerate(app.tiers)
            ],
            "network_mappings": [{"source_network": "private", "ip_mode": "keep"}],
        }
        r = await client.post("/v1/plans", json=body)
        if r.status_code != 201:
            raise RuntimeError(f"plan {app.name}: {r.status_code} {r.text}")


def cpu_of(stat: str) -> float:
    """utime + stime, in seconds, of a /proc/<pid>/stat or /proc/self/task/<tid>/stat file."""
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SqlCounter:
    """Counts the SQL statements this process runs (orchestrator DB and embedded bus DB), by verb
    and table, through SQLAlchemy's public event API, while `on`."""

    PATTERN = re.compile(r"^\s*(UPDATE)\s+\"?(\w+)|^\s*(\w+).*?\b(?:FROM|INTO)\s+\"?(\w+)", re.S)

    def __init__(self) -> None:
        self.on = False
        self.counts: dict[str, int] = {}
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.on:
            m = self.PATTERN.match(statement)
            words = [g for g in m.groups() if g] if m else statement.split(None, 1)[:1]
            key = " ".join(words)
            self.counts[key] = self.counts.get(key, 0) + 1


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's live threads by role: the event loop (the orchestrator's
    Python, SQLAlchemy included), openstacksdk's per-site workers, aiosqlite's threads."""
    out: dict[str, float] = {}
    for th in threading.enumerate():
        role = (
            "event loop" if th is threading.main_thread()
            else "openstacksdk workers" if th.name.startswith("lifeboat-cloud-")
            else "aiosqlite" if "_connection_worker_thread" in th.name
            else "other"
        )  # fmt: skip
        with contextlib.suppress(FileNotFoundError):
            out[role] = out.get(role, 0.0) + cpu_of(f"/proc/self/task/{th.native_id}/stat")
    return out


async def evacuate(client: httpx.AsyncClient, n_apps: int, cloudsim_pid: int) -> dict[str, Any]:
    body = {
        "source_site": SOURCE,
        "target_sites": list(TARGETS),
        "wave_size": n_apps,
        "max_parallel": n_apps,
        "kind": "failover",
        "approval": "none",
    }
    sql = SqlCounter()
    await asyncio.sleep(0.1)
    idle0, t_idle, sql.on = time.process_time(), time.monotonic(), True
    await asyncio.sleep(3.0)  # before the evacuation: what the idle orchestrator burns
    idle = (time.process_time() - idle0) / (time.monotonic() - t_idle)
    idle_sql, sql.counts = {k: v / 3.0 for k, v in sql.counts.items()}, {}
    threads0 = thread_cpu()
    cpu0, sim0, t0 = time.process_time(), cpu_of(f"/proc/{cloudsim_pid}/stat"), datetime.now(UTC)
    r = await client.post("/v1/evacuations", json=body)
    if r.status_code != 201:
        raise RuntimeError(f"evacuation: {r.status_code} {r.text}")
    evac, shown, tick = r.json(), "", 0
    while evac["state"] == "running":  # 1 s polls: the progress view costs the orchestrator CPU
        await asyncio.sleep(1.0)
        evac = (await client.get(f"/v1/evacuations/{evac['id']}")).raise_for_status().json()
        tick, now = tick + 1, str(evac["summary"]["by_state"])
        if now != shown or tick % 15 == 0:
            print(f"  {(datetime.now(UTC) - t0).total_seconds():6.1f} s  {now}", flush=True)
            shown = now
    sql.on = False
    # the orchestrator stamps the evacuation when it saves its final state: RTO to the ms
    rto = (datetime.fromisoformat(evac["updated_at"]) - t0).total_seconds()
    threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu().items()}
    return {
        "threads": threads,
        "idle": idle,
        "idle_sql": idle_sql,
        "sql": sql.counts,
        "evacuation": evac,
        "rto": rto,
        "cpu": time.process_time() - cpu0,
        "cloudsim_cpu": cpu_of(f"/proc/{cloudsim_pid}/stat") - sim0,
    }


async def step_stats(client: httpx.AsyncClient, evac: dict[str, Any]) -> dict[str, Any]:
    """Recover-step durations (slot holding times) and execution spans, from the REST view."""
    durations: list[float] = []
    ends: list[datetime] = []
    outside: list[float] = []  # per execution: span minus its tiers' recover windows
    sample: dict[str, str] = {}
    for entry in (e for wave in evac["waves"] for e in wave["plans"] if e["execution_id"]):
        e = (await client.get(f"/v1/executions/{entry['execution_id']}")).raise_for_status().json()
        windows: dict[str, tuple[datetime, datetime]] = {}
        for s in e["steps"]:
            if s["action"] == "recover" and s["state"] == "succeeded":
                a, b = (datetime.fromisoformat(s[k]) for k in ("started_at", "finished_at"))
                durations.append((b - a).total_seconds())
                w = windows.get(s["tier"], (a, b))
                windows[s["tier"]] = (min(w[0], a), max(w[1], b))
                volume = next(iter(s["result"]["volumes"].values()))
                sample = {"site": e["target_site"], "server": s["result"]["server_id"]}
                sample["volume"] = volume
        if e["finished_at"]:
            ends.append(datetime.fromisoformat(e["finished_at"]))
            span = ends[-1] - datetime.fromisoformat(e["created_at"])
            outside.append(
                (span - sum((b - a for a, b in windows.values()), timedelta())).total_seconds()
            )
    created = datetime.fromisoformat(evac["created_at"])
    durations = durations or [math.nan]
    return {
        "recover_mean": statistics.mean(durations),
        "recover_p50": statistics.median(durations),
        "recover_p95": sorted(durations)[int(0.95 * (len(durations) - 1))],
        "recover_sum": sum(durations),
        "last_execution_end": (max(ends) - created).total_seconds() if ends else math.nan,
        "outside_recover": statistics.mean(outside) if outside else math.nan,
        "sample": sample,
    }


def sdk_call_cost(clouds_yaml: Path, sample: dict[str, str], n: int = 200) -> dict[str, float]:
    """Reference measured in the same run: CPU ms of one status GET (what every poll of the
    orchestrator's driver does) through openstacksdk's Resource path vs the same request through
    the same openstacksdk adapter read as JSON (as the driver's rawlist does for lists)."""
    conn = openstack.connection.Connection(
        config=OpenStackConfig(config_files=[str(clouds_yaml)]).get_one(cloud=sample["site"])
    )
    nova = rawlist.max_microversion(conn.compute, rawlist.NOVA_MAX_MICROVERSION)
    cinder = rawlist.max_microversion(conn.block_storage, rawlist.CINDER_MAX_MICROVERSION)
    sid, vid = sample["server"], sample["volume"]
    calls: dict[str, Callable[[], object]] = {
        "server sdk Resource": lambda: convert.server(conn.compute.get_server(sid)),
        "server raw JSON": lambda: convert.server(
            conn.compute.get(f"/servers/{sid}", microversion=nova).json()["server"]
        ),
        "volume sdk Resource": lambda: convert.volume(conn.block_storage.get_volume(vid)),
        "volume raw JSON": lambda: convert.volume(
            conn.block_storage.get(f"/volumes/{vid}", microversion=cinder).json()["volume"]
        ),
        "16 servers, one raw JSON list": lambda: [
            convert.server(d)
            for d in conn.compute.get("/servers/detail?limit=16", microversion=nova).json()[
                "servers"
            ]
        ],
    }
    out = {}
    try:
        for name, call in calls.items():
            call()  # warm: token, endpoint, microversion discovery
            t = time.thread_time()
            for _ in range(n):
                call()
            out[name] = (time.thread_time() - t) / n * 1000
    finally:
        conn.close()
    return out


async def count_at_targets(clouds_yaml: Path) -> dict[str, int]:
    """ACTIVE servers at each target, counted through openstacksdk (the outcome, not a claim)."""
    driver = CloudDriver([SiteConfig(name=t, cloud=t, clouds_yaml=clouds_yaml) for t in TARGETS])
    try:
        out = {}
        for t in TARGETS:
            servers = await (await driver.project(t)).compute.list_servers()
            out[t] = sum(1 for s in servers if s.status == "ACTIVE")
        return out
    finally:
        await driver.aclose()


# --- the run -----------------------------------------------------------------------------------
def configure(sites: SiteSet, config: dict[str, Any]) -> None:
    """PUT the same admin settings (delays, or quotas when the key is `quotas`) at every site."""
    for site in sites.sites.values():
        with site.admin() as admin:
            if "quotas" in config:
                admin.put(f"/quotas/{PROJECT}", json=config["quotas"]).raise_for_status()
            else:
                admin.put("/config", json=config).raise_for_status()


async def run(args: argparse.Namespace, sites: SiteSet, data_dir: Path) -> dict[str, Any]:
    setup = CloudDriver(
        [SiteConfig(name=s, cloud=s, clouds_yaml=sites.clouds_yaml) for s in (SOURCE, *TARGETS)],
        CloudDriverSettings(max_workers_per_site=16),
    )
    room = max(5000, 4 * args.vms)  # cloudsim's defaults, or room for replicas and copies
    configure(sites, {"quotas": {"instances": room, "volumes": 4 * room, "snapshots": 4 * room}})
    t = time.monotonic()
    try:
        apps = await make_vms(await setup.project(SOURCE), args)
        print(f"{args.vms} VMs at {SOURCE} in {time.monotonic() - t:.0f} s", flush=True)
        t = time.monotonic()
        targets = [await setup.project(target) for target in TARGETS]
        replicas = await asyncio.gather(*(replicate(project, apps) for project in targets))
        cps = dict(zip(TARGETS, replicas, strict=True))
        print(f"replica snapshots at {', '.join(TARGETS)} in {time.monotonic() - t:.0f} s")
    finally:
        await setup.aclose()
    settings = OrchestratorSettings(
        data_dir=data_dir / "orchestrator",
        api_token=TOKEN,
        json_logs=False,
        log_level="WARNING",
        clouds_yaml=sites.clouds_yaml,
        probe_enabled=False,
        site_api_concurrency=args.concurrency,
        max_parallel_executions=max(64, args.apps),
        **({"topic_partitions": args.topic_partitions} if args.topic_partitions else {}),
    )
    app: FastAPI = create_app(build(settings), configure_logs=False)
    return await drive(app, args, sites, apps, cps)


async def drive(
    app: FastAPI, args: argparse.Namespace, sites: SiteSet, apps: list[App], cps: dict[str, Any]
) -> dict[str, Any]:
    async with LifespanManager(app, startup_timeout=60):
        runtime: ServiceRuntime = app.state.runtime
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://orchestrator", headers=headers, timeout=120
        ) as client:
            t = time.monotonic()
            await seed_orchestrator(runtime, client, apps, cps)
            print(f"{args.apps} plans in {time.monotonic() - t:.0f} s", flush=True)
            delays = {"server_build_s": args.build_s, "volume_create_s": args.volume_s}
            configure(sites, {**delays, "time_scale": args.time_scale})
            print(f"evacuating {args.vms} VMs...", flush=True)
            result = await evacuate(client, args.apps, sites.pid)
            result["steps"] = await step_stats(client, result["evacuation"])
    result["active"] = await count_at_targets(sites.clouds_yaml)
    sample = result["steps"]["sample"]
    result["call_cost"] = sdk_call_cost(sites.clouds_yaml, sample) if sample else {}
    return result


def settings_line(args: argparse.Namespace) -> str:
    cloud = CloudDriverSettings()  # as the orchestrator's driver reads it (env included)
    poll_max = cloud.poll_max_interval if "poll_max_interval" in cloud.model_fields_set else 0.5
    return (
        f"max_parallel_executions {max(64, args.apps)}, sdk workers/site "
        f"{cloud.max_workers_per_site}, status poll {cloud.poll_initial_interval} s x1.5 up to "
        f"{poll_max} s, topic partitions {args.topic_partitions or 6}, "
        "SQLite + embedded bus"
    )


def report(args: argparse.Namespace, r: dict[str, Any]) -> str:
    evac, st = r["evacuation"], r["steps"]
    summary, c = evac["summary"], args.concurrency
    vol, srv = args.volume_s * args.time_scale, args.build_s * args.time_scale
    per_vm = vol + srv
    lbs = {
        s: max(args.tiers, math.ceil(k / c)) * per_vm for s, k in summary["vms_by_target"].items()
    }
    lb, n, rto = max(lbs.values()), summary["vms"], r["rto"]

    def per(seconds: float) -> str:
        return (
            f"{seconds / n * 1000:.1f} ms  ({seconds:.1f} s total, {seconds / rto:.0%} of a core)"
        )

    def listing(d: dict[str, Any], fmt: str = "{}") -> str:
        return ", ".join(f"{k} {fmt.format(v)}" for k, v in d.items())

    def top(d: dict[str, float], k: int) -> dict[str, float]:
        return dict(sorted(d.items(), key=lambda kv: -kv[1])[:k])

    sql = top(r["sql"], 6)
    rows = [
        ("VMs / apps / tiers / volumes per VM", f"{n} / {args.apps} / {args.tiers} / 2"),
        ("cloudsim delays (scaled)", f"volume {vol:.3f} s, server ACTIVE {srv:.3f} s (base "
         f"{args.volume_s} / {args.build_s} s x time_scale {args.time_scale})"),
        ("site_api_concurrency C", str(c)),
        ("other settings", settings_line(args)),
        ("VMs by target", listing(summary["vms_by_target"])),
        ("ACTIVE servers at targets (sdk)", listing(r["active"])),
        ("evacuation state", f"{evac['state']} {summary['by_state']}"),
        ("lower bound LB", f"{lb:.2f} s  ({listing(lbs, '{:.2f}')})"),
        ("LB formula", "max over sites of max(tiers, ceil(n_site / C)) x (vol + build)"),
        ("measured RTO (POST -> evacuation succeeded)", f"{rto:.2f} s"),
        ("  last execution finished at", f"{st['last_execution_end']:.2f} s"),
        ("RTO / LB (goal <= 1.2)", f"{rto / lb:.2f}"),
        ("overhead per VM (RTO-LB)/n (goal <= 10 ms)", f"{(rto - lb) / n * 1000:.1f} ms"),
        ("orchestrator CPU per VM (goal <= 10 ms)", per(r["cpu"])),
        ("  of which (threads)", listing({k: v / n * 1000 for k, v in r["threads"].items()},
                                        "{:.1f} ms")),
        ("  idle orchestrator, before the POST", f"{r['idle']:.0%} of a core, SQL/s: "
         + listing(top(r["idle_sql"], 3), "{:.0f}")),
        ("SQL statements per VM", f"{sum(r['sql'].values()) / n:.0f}: "
         + listing({k: v / n for k, v in sql.items()}, "{:.1f}")),
        ("cloudsim CPU per VM (3 sites, 1 process)", per(r["cloudsim_cpu"])),
        ("recover step (slot held) mean/p50/p95", f"{st['recover_mean']:.2f} / "
         f"{st['recover_p50']:.2f} / {st['recover_p95']:.2f} s  (ideal {per_vm:.2f} s)"),
        ("per execution: span - tiers' recover windows",
         f"{st['outside_recover']:.2f} s mean (network, hooks, dns, commit, slot waits, gaps)"),
        ("slot utilisation sum(recover)/(C x sites x RTO)",
         f"{st['recover_sum'] / (c * len(lbs) * rto):.0%}"),
        ("CPU ms per status GET (same run, serial)", listing(r["call_cost"], "{:.2f}")),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    head = (
        f"bench/evacuation.py  {datetime.now(UTC):%Y-%m-%d %H:%M UTC}  "
        f"machine: {os.cpu_count()} cores shared by cloudsim and the orchestrator"
    )
    return "\n".join([head, "-" * len(head)] + [f"{k:<{width}}  {v}" for k, v in rows]) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--vms", type=int, default=1000)
    p.add_argument("--apps", type=int, default=100)
    p.add_argument("--tiers", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=16, help="site_api_concurrency")
    p.add_argument("--time-scale", type=float, default=1.0, help="cloudsim time_scale")
    p.add_argument("--build-s", type=float, default=2.0, help="server ACTIVE after (base s)")
    p.add_argument("--volume-s", type=float, default=0.5, help="volume available after (base s)")
    p.add_argument("--quick", action="store_true", help="100 VMs in 10 apps")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    x = p.add_argument_group("experiments (configuration only; defaults = the shipped defaults)")
    x.add_argument("--poll-initial", type=float, help="LIFEBOAT_CLOUD_POLL_INITIAL_INTERVAL")
    x.add_argument("--poll-max", type=float, help="LIFEBOAT_CLOUD_POLL_MAX_INTERVAL")
    x.add_argument("--sdk-workers", type=int, help="LIFEBOAT_CLOUD_MAX_WORKERS_PER_SITE")
    x.add_argument("--topic-partitions", type=int, help="LIFEBOAT_TOPIC_PARTITIONS")
    args = p.parse_args()
    if args.quick:
        args.vms, args.apps = 100, 10
    if args.apps < 1 or args.vms % args.apps or args.vms // args.apps < args.tiers:
        p.error("--vms must be a multiple of --apps with at least --tiers VMs per app")
    if args.time_scale <= 0 or args.concurrency < 1:
        p.error("--time-scale must be > 0 and --concurrency >= 1")
    for opt, env in (
        ("poll_initial", "LIFEBOAT_CLOUD_POLL_INITIAL_INTERVAL"),
        ("poll_max", "LIFEBOAT_CLOUD_POLL_MAX_INTERVAL"),
        ("sdk_workers", "LIFEBOAT_CLOUD_MAX_WORKERS_PER_SITE"),
    ):
        if getattr(args, opt) is not None:
            os.environ[env] = str(getattr(args, opt))  # read by the orchestrator's driver
    data_dir = Path(tempfile.mkdtemp(prefix="lb-evac-"))
    try:
        with running_sites([SOURCE, *TARGETS], data_dir / "sites", time_scale=0.0) as sites:
            result = asyncio.run(run(args, sites, data_dir))
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    text = report(args, result)
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    experiment = any(
        getattr(args, k) is not None
        for k in ("poll_initial", "poll_max", "sdk_workers", "topic_partitions")
    )
    suffix = "".join(
        part
        for part, on in (
            (f"-{args.vms}vms", args.vms != 1000),
            (f"-c{args.concurrency}", args.concurrency != 16),
            (f"-ts{args.time_scale:g}", args.time_scale != 1.0),
            ("-experiment", experiment),
        )
        if on
    )
    path = out / f"evacuation-{datetime.now(UTC):%Y%m%dT%H%M%SZ}{suffix}.txt"
    path.write_text(text)
    print(f"written to {path.relative_to(ROOT)}")
    if result["evacuation"]["state"] != "succeeded":
        sys.exit(1)


if __name__ == "__main__":
    main()
