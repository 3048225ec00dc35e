"""Memory benchmark (goal P9, Lifeboat issue 18): peak RSS of the replicator's data path with 10
concurrent streams, and of the policy scheduler holding 10,000 protection groups.

Run: ``cd /work/main && uv run python bench/memory.py [--sizes 0.5,2] [--streams 10]
[--written 0.25] [--groups 10000] [--sim-seconds 240] [--dir D] [--skip-replicator]
[--skip-scheduler]``

Replicator (goal: sender and receiver each <= 300 MiB, not growing with the volume size):
  one sender process (as the replicator: ``send_volume`` in threads via ``asyncio.to_thread``,
  ``--streams`` at once under a semaphore, like ``max_parallel_volumes`` in service_layer/cycle.py)
  against one receiver process (``python -m lifeboat_replicator.datamover.receiver``, encrypted),
  ``--streams`` volumes of each size in ``--sizes`` GiB. Every volume holds random data in the
  first ``--written`` of every 4 MiB stride (the rest are holes: the data path reads, hashes,
  encrypts, sends and writes the written part; holes travel as ZERO records, as on a real thin
  volume). The phases of what a cycle does, each with all streams at once:
    full    first copy into an empty replica (extents = the whole volume: its allocated data)
    seed    hash-compare with no manifest (full resync / seed: the receiver hashes the replica),
            writing the manifest
    delta-m 1% scattered 4 KiB blocks rewritten, hash-compare against the kept manifest
    delta-x another 1%, extents from the snapshot diff (the changed blocks)
  Peak RSS per phase: VmHWM of each process, reset before the phase (/proc/PID/clear_refs 5),
  and the max of VmRSS sampled every 50 ms (both shown; VmHWM is the figure).
Policy scheduler (goal <= 200 MiB): the 10,000 groups are bulk-loaded into a SQLite database by
  one process (bench/rpo_scheduler.py's loader), then a fresh process (imports, the policy
  service's runtime, the embedded bus) runs the real scheduler (``emit_due_ticks`` in batches of
  500, the CP handler, the outbox) one pass per simulated second for ``--sim-seconds`` (the
  first-tick herd of all 10,000 groups, then the steady state), a simulated replicator answering
  every tick with a ConsistencyPointCreated (bench/rpo_scheduler.py). Reported: its RSS before
  the first pass (runtime built, nothing scheduled yet) and its peak (VmHWM) over the passes.
Context: the RSS of an idle ``python -c pass``-like process and of one that has imported the
data mover. Prints a table and writes bench/results/memory-<UTC timestamp>.json.
Disk: about 2 x streams x size x written per size, in --dir (deleted at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
GiB = 1024 * MiB
STRIDE = 4 * MiB
BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))


def status(pid: int | str, key: str) -> int:
    """VmRSS / VmHWM of a process, bytes (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def reset_peak(pid: int | str) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Sampler:
    """Max VmRSS of some processes, sampled every 50 ms in a thread of the bench's process."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.peak = pids, dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for k, pid in self.pids.items():
                self.peak[k] = max(self.peak[k], status(pid, "VmRSS"))

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._t.join()
        return self.peak


# ---------------------------------------------------------------- replicator


def fill_strided(path: Path, size: int, written: float, pool: bytes, seed: int) -> int:
    """Random data in the first `written` of every 4 MiB stride, holes elsewhere."""
    n = max(4096, int(STRIDE * written) // 4096 * 4096)
    rnd = random.Random(seed)
    done = 0
    with open(path, "wb") as f:
        f.truncate(size)
        for off in range(0, size, STRIDE):
            k = rnd.randrange(0, len(pool) - n)
            f.seek(off)
            f.write(pool[k : k + n])
            done += n
    return done


def sender_main() -> int:
    """The sender process: reads one phase (JSON) per stdin line, runs its transfers at once in
    threads (asyncio.to_thread, as the replicator's cycle does), answers one JSON line."""
    from lifeboat_replicator.datamover import Extent, LinkSecurity, send_volume

    print(json.dumps({"ready": True, "rss": status("self", "VmRSS")}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        sec = LinkSecurity(psk=bytes.fromhex(job["psk"]))

        async def one(
            gate: asyncio.Semaphore,
            t: dict[str, Any],
            job: dict[str, Any] = job,
            sec: LinkSecurity = sec,
        ) -> dict[str, int]:
            extents = None
            if t["extents"] == "full":
                extents = [Extent(0, t["size"])]
            elif t["extents"] is not None:
                extents = [Extent(b * 4096, 4096) for b in t["extents"]]
            async with gate:
                st = await asyncio.to_thread(
                    send_volume,
                    address=("127.0.0.1", job["port"]),
                    security=sec,
                    transfer_id=t["tid"],
                    source=Path(t["src"]),
                    target=t["target"],
                    size=t["size"],
                    extents=extents,
                    base_manifest=Path(t["base"]) if t["base"] else None,
                    write_manifest=Path(t["write"]) if t["write"] else None,
                )
            return {"wire": st.bytes_on_wire, "changed": st.bytes_changed}

        async def phase(job: dict[str, Any] = job) -> list[dict[str, int]]:
            gate = asyncio.Semaphore(job["streams"])
            return await asyncio.gather(*(one(gate, t) for t in job["transfers"]))

        t0 = time.perf_counter()
        stats = asyncio.run(phase())
        print(json.dumps({"seconds": time.perf_counter() - t0, "stats": stats}), flush=True)
    return 0


def replicator(sizes: list[float], streams: int, written: float, work: Path) -> list[dict]:
    from replication import ReceiverProc, scribble

    psk = os.urandom(32)
    (work / "psk").write_text(psk.hex())
    rx = ReceiverProc(work / "dr", work / "psk")
    tx = subprocess.Popen(
        [sys.executable, __file__, "--role", "sender"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert tx.stdin and tx.stdout
    hello = json.loads(tx.stdout.readline())
    pids = {"sender": tx.pid, "receiver": rx.proc.pid}
    rows: list[dict[str, Any]] = [
        {"phase": "idle (imported)", "size_gib": 0, "sender_hwm": hello["rss"],
         "receiver_hwm": status(rx.proc.pid, "VmRSS")}
    ]  # fmt: skip
    pool = os.urandom(64 * MiB)
    try:
        for gib in sizes:
            size = int(gib * GiB) // STRIDE * STRIDE
            vols = [work / f"v{gib}-{i}" for i in range(streams)]
            print(f"writing {streams} x {gib} GiB ({written:.0%} of every 4 MiB) ...", flush=True)
            data = sum(fill_strided(v, size, written, pool, i) for i, v in enumerate(vols))
            os.sync()
            diff: list[list[int]] = []

            def transfers(
                kind: str, diff: list[list[int]], size: int, vols: list[Path], gib: float
            ) -> list[dict]:
                out = []
                for i, v in enumerate(vols):
                    t = {"tid": f"{kind}-{gib}-{i}", "src": str(v), "target": f"t{gib}-{i}",
                         "size": size, "extents": None, "base": None, "write": None}  # fmt: skip
                    if kind == "full":
                        t["extents"] = "full"
                    elif kind == "seed":
                        t["write"] = f"{v}.m0"
                    elif kind == "delta-m":
                        t["base"], t["write"] = f"{v}.m0", f"{v}.m1"
                    else:
                        t["extents"] = diff[i]
                    out.append(t)
                return out

            for kind in ("full", "seed", "delta-m", "delta-x"):
                if kind == "delta-m":
                    for i, v in enumerate(vols):
                        scribble(v, 0.01, seed=100 + i)
                elif kind == "delta-x":
                    diff = [scribble(v, 0.01, seed=200 + i) for i, v in enumerate(vols)]
                os.sync()
                for pid in pids.values():
                    reset_peak(pid)
                sampler = Sampler(pids)
                job = {"psk": psk.hex(), "port": rx.port, "streams": streams,
                       "transfers": transfers(kind, diff, size, vols, gib)}  # fmt: skip
                tx.stdin.write(json.dumps(job) + "\n")
                tx.stdin.flush()
                res = json.loads(tx.stdout.readline())
                sampled = sampler.stop()
                row = {
                    "phase": kind,
                    "size_gib": gib,
                    "streams": streams,
                    "seconds": res["seconds"],
                    "wire": sum(s["wire"] for s in res["stats"]),
                    "changed": sum(s["changed"] for s in res["stats"]),
                    "written_data": data,
                    "sender_hwm": status(tx.pid, "VmHWM"),
                    "receiver_hwm": status(rx.proc.pid, "VmHWM"),
                    "sender_sampled": sampled["sender"],
                    "receiver_sampled": sampled["receiver"],
                }
                rows.append(row)
                print(
                    f"  {kind:8} {gib} GiB: {row['seconds']:.1f} s, wire "
                    f"{row['wire'] / MiB:.0f} MiB, sender {row['sender_hwm'] / MiB:.0f} MiB, "
                    f"receiver {row['receiver_hwm'] / MiB:.0f} MiB",
                    flush=True,
                )
            same = subprocess.run(["cmp", "-s", str(vols[0]), str(work / "dr" / "targets" /
                                  f"t{gib}-0")]).returncode == 0  # fmt: skip
            rows[-1]["replica0_identical"] = same
            for v in vols:
                for p in (v, Path(f"{v}.m0"), Path(f"{v}.m1")):
                    p.unlink(missing_ok=True)
            shutil.rmtree(work / "dr" / "targets", ignore_errors=True)
            (work / "dr" / "targets").mkdir()
    finally:
        tx.stdin.close()
        tx.wait(60)
        rx.stop()
    return rows


# ---------------------------------------------------------------- policy scheduler


def scheduler_main(url: str, groups: int, sim_seconds: int, populate_only: bool) -> int:
    """The scheduler process: bench/rpo_scheduler.py's real scheduler loop; JSON on stdout."""
    import dataclasses
    import heapq
    from datetime import UTC, datetime, timedelta

    from rpo_scheduler import MEMBER, deliver_cps, drain, populate

    from lifeboat_policy.bootstrap import build
    from lifeboat_policy.settings import PolicySettings
    from lifeboat_shared.bus.embedded import EmbeddedBus
    from lifeboat_shared.contracts.messages import ConsistencyPointCreated
    from lifeboat_shared.persistence.database import Database
    from lifeboat_shared.persistence.migrations import upgrade_to_head
    from lifeboat_shared.service.runtime import ServiceRuntime

    async def go() -> dict[str, Any]:
        data = Path(url.rsplit("///", 1)[1]).parent
        settings = PolicySettings(database_url=url, data_dir=data, scheduler_enabled=False)
        spec = dataclasses.replace(build(settings), name="bench_policy_mem")
        bus_db = Database(f"sqlite+aiosqlite:///{data / 'bus.db'}")
        runtime = ServiceRuntime(spec, bus=EmbeddedBus(bus_db))
        await upgrade_to_head(runtime.db, spec.migrations)
        t0 = datetime(2026, 12, 6, tzinfo=UTC)
        if populate_only:
            await populate(runtime, groups, t0)
            return {"populated": groups}
        before = status("self", "VmRSS")
        reset_peak("self")
        rng = random.Random(2)
        pending: list[tuple[datetime, int, ConsistencyPointCreated]] = []
        ticks_total = counter = 0
        for second in range(sim_seconds + 1):
            now = t0 + timedelta(seconds=second)
            ready = []
            while pending and pending[0][0] <= now:
                ready.append(heapq.heappop(pending)[2])
            if ready:
                await deliver_cps(runtime, ready)
            ticks, _ = await drain(runtime, now)
            ticks_total += len(ticks)
            for tick in ticks:
                taken = now + timedelta(seconds=0.5)
                created = taken + timedelta(seconds=rng.uniform(5, 30))
                event = ConsistencyPointCreated(
                    group_id=tick.unit_id, consistency_point_id=f"cp-{tick.unit_id}-{tick.seq}",
                    project_id="p", source_site="a", target_site="b", consistency="crash",
                    taken_at=taken, created_at=created, members=[MEMBER], bytes_sent=0,
                )  # fmt: skip
                counter += 1
                heapq.heappush(pending, (created, counter, event))
        await runtime.db.dispose()
        await bus_db.dispose()
        return {"before_passes": before, "hwm": status("self", "VmHWM"), "ticks": ticks_total,
                "rss_end": status("self", "VmRSS")}  # fmt: skip

    print(json.dumps(asyncio.run(go())), flush=True)
    return 0


def scheduler(groups: int, sim_seconds: int, work: Path) -> dict[str, Any]:
    url = f"sqlite+aiosqlite:///{work / 'policy.db'}"
    base = [sys.executable, __file__, "--db", url, "--groups", str(groups)]
    base += ["--sim-seconds", str(sim_seconds)]
    print(f"loading {groups} protection groups ...", flush=True)
    subprocess.run([*base, "--role", "populate"], check=True, capture_output=True)
    print(f"scheduler: {sim_seconds} simulated seconds of passes ...", flush=True)
    p = subprocess.Popen([*base, "--role", "scheduler"], stdout=subprocess.PIPE, text=True)
    sampler = Sampler({"scheduler": p.pid})
    out, _ = p.communicate()
    r: dict[str, Any] = json.loads(out)
    r["sampled"] = sampler.stop()["scheduler"]
    r["groups"], r["sim_seconds"] = groups, sim_seconds
    return r


# ---------------------------------------------------------------- report


def idle_rss() -> int:
    code = "print(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    return int(out) * 1024


def table(r: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    m = lambda b: f"{b / MiB:.0f}"  # noqa: E731
    for x in r.get("replicator", []):
        if x["phase"].startswith("idle"):
            rows.append(("replicator idle (data mover imported)", "", m(x["sender_hwm"]),
                         m(x["receiver_hwm"]), "", ""))  # fmt: skip
            continue
        wire = f"{x['wire'] / MiB:.0f} MiB in {x['seconds']:.1f} s"
        ok = "yes" if max(x["sender_hwm"], x["receiver_hwm"]) <= 300 * MiB else "NO"
        name = f"replicator {x['phase']} {x['streams']} x {x['size_gib']} GiB"
        tx = f"{m(x['sender_hwm'])} ({m(x['sender_sampled'])})"
        rx = f"{m(x['receiver_hwm'])} ({m(x['receiver_sampled'])})"
        rows.append((name, wire, tx, rx, "<= 300", ok))
    s = r.get("scheduler")
    if s:
        ok = "yes" if s["hwm"] <= 200 * MiB else "NO"
        name = f"policy scheduler {s['groups']} groups"
        rows.append((f"{name}, before passes", "", m(s["before_passes"]), "", "", ""))
        peak = f"{m(s['hwm'])} ({m(s['sampled'])})"
        rows.append(
            (f"{name}, {s['sim_seconds']} passes", f"{s['ticks']} ticks", peak, "", "<= 200", ok)
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="0.5,2", help="volume sizes, GiB, comma separated")
    ap.add_argument("--streams", type=int, default=10, help="concurrent transfers")
    ap.add_argument("--written", type=float, default=0.25, help="written fraction of each 4 MiB")
    ap.add_argument("--groups", type=int, default=10_000, help="protection groups")
    ap.add_argument("--sim-seconds", type=int, default=240, help="scheduler passes (1 per s)")
    ap.add_argument("--dir", type=Path, default=None, help="work directory (None: a temp dir)")
    ap.add_argument("--skip-replicator", action="store_true")
    ap.add_argument("--skip-scheduler", action="store_true")
    ap.add_argument("--role", default="main", help=argparse.SUPPRESS)
    ap.add_argument("--db", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "sender":
        return sender_main()
    if args.role in ("scheduler", "populate"):
        return scheduler_main(args.db, args.groups, args.sim_seconds, args.role == "populate")
    if args.dir is not None:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lb-membench-", dir=args.dir))
    r: dict[str, Any] = {"load_before": round(os.getloadavg()[0], 2), "idle_python": idle_rss()}
    try:
        if not args.skip_replicator:
            sizes = [float(s) for s in args.sizes.split(",")]
            r["replicator"] = replicator(sizes, args.streams, args.written, work)
            r["written_fraction"] = args.written
        if not args.skip_scheduler:
            r["scheduler"] = scheduler(args.groups, args.sim_seconds, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    r["load_after"] = round(os.getloadavg()[0], 2)
    rows = table(r)
    head = ("what", "work", "RSS peak MiB (sampled)", "receiver MiB (sampled)", "goal", "met")
    w = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\nLifeboat memory (P9), {when}, load avg {r['load_before']} -> {r['load_after']}; "
          f"idle python process {r['idle_python'] / MiB:.0f} MiB")  # fmt: skip
    for x in [head, *rows]:
        print("  ".join(f"{c:<{w[i]}}" for i, c in enumerate(x)))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"memory-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps({"results": r, "table": rows}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
