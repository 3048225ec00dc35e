"""RPO scheduler benchmark: 10,000 protection groups created at once, on SQLite (and on
PostgreSQL when LIFEBOAT_DATABASE_URL is set).

Runs the real scheduler code (``emit_due_ticks``, the CP handler, the outbox) on a simulated
clock: one scheduler pass per simulated second, a simulated replicator that answers every tick
with a ConsistencyPointCreated whose cycle took 5-30 s. Reports, per database:
  * one pass: wall time of a 500-tick batch (the first-tick herd) and of a steady 1-s pass;
  * the due query with nothing due (indexed) against a full scan of the 10,000 units;
  * tick lateness (emission minus due time, simulated clock, 1-s passes) p50/p99/max;
  * spread: ticks per simulated second, max and mean, first-tick herd and steady state;
  * a restart after 10 minutes down: the backlog, and how long it takes to drain at the
    service's cap (max_ticks_per_second) against uncapped wall time.
Not part of the test suite.

    uv run python bench/rpo_scheduler.py [--groups 10000] [--minutes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import heapq
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fair
import sqlalchemy as sa

from lifeboat_policy.adapters.orm import policies, protection_groups, sites, tick_units
from lifeboat_policy.bootstrap import build
from lifeboat_policy.domain import schedule
from lifeboat_policy.service_layer.handlers import on_cp_created
from lifeboat_policy.service_layer.scheduler import EmittedTick, emit_due_ticks
from lifeboat_policy.settings import PolicySettings
from lifeboat_shared.bus.embedded import EmbeddedBus
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.contracts.messages import ConsistencyPointCreated, CpMember
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.migrations import upgrade_to_head
from lifeboat_shared.service.runtime import ServiceRuntime

RPO_MIX = ((60, 0.2), (300, 0.5), (900, 0.3))
MEMBER = CpMember(
    source_volume_id="v",
    size_gib=1,
    source_snapshot_id="s",
    replica_volume_id="rv",
    replica_snapshot_id="rs",
    bytes_changed=0,
    bytes_sent=0,
)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def populate(runtime: ServiceRuntime, n: int, t0: datetime) -> None:
    """Bulk-load n groups created at t0 (what 10,000 POSTs would leave behind)."""
    rng = random.Random(1)
    async with runtime.db.transaction() as s:
        await s.execute(
            sa.insert(sites),
            [
                {"site_id": sid, "cloud": f"cloud-{sid}", "role": role, "created_at": t0,
                 "updated_at": t0, "data_endpoint": "127.0.0.1:7000"}
                for sid, role in (("a", "protected"), ("b", "recovery"))
            ],
        )  # fmt: skip
        spec = {
            "retention": {"keep_last": 3, "hourly": 0, "daily": 0, "weekly": 0},
            "quiesce": {"method": "none", "on_failure": "crash-consistent", "retries": 0,
                        "hook": None},
            "bandwidth_bytes_per_s": None,
            "bind_address": None,
            "encryption_required": True,
            "replicate_on": {"detach": False, "shutdown": False},
        }  # fmt: skip
        await s.execute(
            sa.insert(policies),
            [
                {"id": f"rpo-{rpo}", "name": f"rpo-{rpo}", "rpo_seconds": rpo, "cron": None,
                 "rpo_target_seconds": rpo, "spec": spec, "created_at": t0}
                for rpo, _ in RPO_MIX
            ],
        )  # fmt: skip
        groups, units = [], []
        for i in range(n):
            gid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            rpo = rng.choices([r for r, _ in RPO_MIX], [w for _, w in RPO_MIX])[0]
            groups.append(
                {"id": gid, "project_id": f"p{i % 50}", "name": f"g{i}", "source_site": "a",
                 "target_site": "b", "policy_id": f"rpo-{rpo}", "rpo_target_seconds": rpo,
                 "members": {"servers": [f"s{i}"], "volumes": [f"v{i}"], "stateless": []},
                 "created_at": t0}
            )  # fmt: skip
            due = schedule.first_due(gid, schedule.Cadence(rpo_seconds=rpo), t0)
            units.append({"unit_id": gid, "kind": "group", "next_due_at": due, "created_at": t0})
        for chunk in range(0, n, 1000):
            await s.execute(sa.insert(protection_groups), groups[chunk : chunk + 1000])
            await s.execute(sa.insert(tick_units), units[chunk : chunk + 1000])


async def deliver_cps(runtime: ServiceRuntime, events: list[ConsistencyPointCreated]) -> None:
    """CP events handled in one consumer transaction, as the consumer loop batches them."""
    async with runtime.db.transaction() as session:
        for event in events:
            envelope = runtime.envelope(event)
            await on_cp_created(event, HandlerContext(session, envelope, "/bench"))


async def drain(runtime: ServiceRuntime, now: datetime) -> tuple[list[EmittedTick], list[float]]:
    """One scheduler pass at ``now``: batches of 500 until nothing is due; returns the ticks
    and the wall time of every full (500-tick) batch."""
    ticks: list[EmittedTick] = []
    batch_seconds: list[float] = []
    while True:
        started = time.perf_counter()
        batch = await emit_due_ticks(runtime, now, limit=500)
        if len(batch) == 500:
            batch_seconds.append(time.perf_counter() - started)
        ticks += batch
        if len(batch) < 500:
            return ticks, batch_seconds


async def run(label: str, url: str, n: int, minutes: int) -> dict[str, Any]:
    name = f"bench_policy_{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="lb-rpo-bench-"))
    settings = PolicySettings(database_url=url, data_dir=tmp, scheduler_enabled=False)
    spec = dataclasses.replace(build(settings), name=name)
    bus_db = Database(f"sqlite+aiosqlite:///{tmp / 'bus.db'}")
    bus = EmbeddedBus(bus_db)
    runtime = ServiceRuntime(spec, bus=bus)
    await upgrade_to_head(runtime.db, spec.migrations)
    t0 = datetime.now(UTC) + timedelta(seconds=5)
    started = time.perf_counter()
    await populate(runtime, n, t0)
    populate_s = time.perf_counter() - started

    # The due query when nothing is due, against a full scan of every unit: the same number of
    # runs each, alternating (bench/fair.py); medians reported.
    async with runtime.db.read() as s:

        async def due_query() -> None:
            await s.execute(
                sa.select(tick_units).where(tick_units.c.next_due_at <= t0 - timedelta(days=1))
                .order_by(tick_units.c.next_due_at).limit(500)
            )  # fmt: skip

        async def full_scan() -> None:
            list(await s.execute(sa.select(tick_units)))

        queries = await fair.alternate_async({"due": due_query, "scan": full_scan}, 9)
        due_query_ms = queries["due"].median * 1000
        full_scan_ms = queries["scan"].median * 1000

    rng = random.Random(2)
    pending: list[tuple[datetime, int, ConsistencyPointCreated]] = []
    lateness: list[float] = []
    per_second: list[int] = []
    steady_pass: list[float] = []
    cp_seconds: list[float] = []
    counter = 0
    sim_seconds = minutes * 60
    for second in range(sim_seconds + 1):
        now = t0 + timedelta(seconds=second)
        ready = []
        while pending and pending[0][0] <= now:
            ready.append(heapq.heappop(pending)[2])
        if ready:
            c0 = time.perf_counter()
            await deliver_cps(runtime, ready)
            cp_seconds.append((time.perf_counter() - c0) / len(ready))
        p0 = time.perf_counter()
        ticks, _ = await drain(runtime, now)
        if second > 150:
            steady_pass.append(time.perf_counter() - p0)
        per_second.append(len(ticks))
        for tick in ticks:
            lateness.append((tick.emitted_at - tick.due_at).total_seconds())
            taken = now + timedelta(seconds=0.5)
            created = taken + timedelta(seconds=rng.uniform(5, 30))
            event = ConsistencyPointCreated(
                group_id=tick.unit_id, consistency_point_id=f"cp-{tick.unit_id}-{tick.seq}",
                project_id="p", source_site="a", target_site="b", consistency="crash",
                taken_at=taken, created_at=created, members=[MEMBER], bytes_sent=0,
            )  # fmt: skip
            counter += 1
            heapq.heappush(pending, (created, counter, event))

    # Restart after 10 minutes down: everything is overdue at once.
    down_until = t0 + timedelta(seconds=sim_seconds + 600)
    r0 = time.perf_counter()
    backlog, full_batches = await drain(runtime, down_until)
    backlog_s = time.perf_counter() - r0
    cap = settings.max_ticks_per_second
    await runtime.db.dispose()
    await bus_db.dispose()
    steady = per_second[151:]
    return {
        "db": label,
        "groups": n,
        "simulated_s": sim_seconds,
        "populate_s": populate_s,
        "batch500_ms_p50": 1000 * percentile(full_batches, 0.5),
        "ticks_per_s_in_batches": len(backlog) / backlog_s,
        "steady_pass_ms_p50": 1000 * percentile(steady_pass, 0.5),
        "steady_pass_ms_p99": 1000 * percentile(steady_pass, 0.99),
        "cp_handle_ms": 1000 * statistics.fmean(cp_seconds) if cp_seconds else 0,
        "due_query_ms": due_query_ms,
        "full_scan_ms": full_scan_ms,
        "ticks": sum(per_second),
        "lateness_p50_s": percentile(lateness, 0.5),
        "lateness_p99_s": percentile(lateness, 0.99),
        "lateness_max_s": max(lateness),
        "herd_max_per_s": max(per_second[:151]),
        "herd_mean_per_s": statistics.fmean(per_second[:151]),
        "steady_max_per_s": max(steady) if steady else 0,
        "steady_mean_per_s": statistics.fmean(steady) if steady else 0,
        "restart_backlog": len(backlog),
        "restart_drain_s": backlog_s,
        "restart_drain_capped_s": len(backlog) / cap,
    }


ROWS = [
    ("groups", "groups", "{:.0f}"),
    ("simulated time (s)", "simulated_s", "{:.0f}"),
    ("bulk load of the groups (s)", "populate_s", "{:.1f}"),
    ("pass: one full batch of 500 ticks, p50 (ms)", "batch500_ms_p50", "{:.0f}"),
    ("  ticks/s one scheduler emits (backlog)", "ticks_per_s_in_batches", "{:.0f}"),
    ("pass: steady 1-s pass p50 (ms)", "steady_pass_ms_p50", "{:.1f}"),
    ("pass: steady 1-s pass p99 (ms)", "steady_pass_ms_p99", "{:.1f}"),
    ("CP event handled (ms each)", "cp_handle_ms", "{:.2f}"),
    ("due query, nothing due, median of 9 (ms)", "due_query_ms", "{:.2f}"),
    ("  reference: full scan of all units, median of 9 (ms)", "full_scan_ms", "{:.1f}"),
    ("ticks emitted", "ticks", "{:.0f}"),
    ("tick lateness p50 (s)", "lateness_p50_s", "{:.3f}"),
    ("tick lateness p99 (s)", "lateness_p99_s", "{:.3f}"),
    ("tick lateness max (s)", "lateness_max_s", "{:.3f}"),
    ("first-tick herd: max ticks/s", "herd_max_per_s", "{:.0f}"),
    ("first-tick herd: mean ticks/s", "herd_mean_per_s", "{:.1f}"),
    ("steady: max ticks/s", "steady_max_per_s", "{:.0f}"),
    ("steady: mean ticks/s", "steady_mean_per_s", "{:.1f}"),
    ("restart after 10 min down: backlog", "restart_backlog", "{:.0f}"),
    ("  drained uncapped, wall (s)", "restart_drain_s", "{:.1f}"),
    ("  at max_ticks_per_second=1000 (s)", "restart_drain_capped_s", "{:.1f}"),
]


def print_table(results: list[dict[str, Any]]) -> None:
    width = max(len(r[0]) for r in ROWS)
    print(f"{'':{width}}  " + "  ".join(f"{r['db']:>12}" for r in results))
    for title, key, fmt in ROWS:
        print(f"{title:{width}}  " + "  ".join(f"{fmt.format(r[key]):>12}" for r in results))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fair.HelpFormatter)
    parser.add_argument("--groups", type=int, default=10_000, help="protection groups")
    parser.add_argument("--minutes", type=int, default=5, help="Simulated minutes (>= 3)")
    args = parser.parse_args()
    minutes = max(3, args.minutes)
    tmp = Path(tempfile.mkdtemp(prefix="lb-rpo-bench-"))
    targets = [("sqlite", f"sqlite+aiosqlite:///{tmp / 'policy.db'}")]
    if os.environ.get("LIFEBOAT_DATABASE_URL"):
        targets.append(("postgresql", os.environ["LIFEBOAT_DATABASE_URL"]))
    results = []
    for label, url in targets:
        print(f"running on {label}...", file=sys.stderr, flush=True)
        results.append(await run(label, url, args.groups, minutes))
    print_table(results)
    out = ROOT / "bench" / "results" / "rpo_scheduler.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nJSON: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
