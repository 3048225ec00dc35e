"""Benchmark the replicator's data mover against cp and rsync on the same files, same run.

Run: ``cd /work/main && uv run python bench/replication.py [--size-gib 2] [--quick] [--repeat 3]
[--dir D]``

Scenarios (goals from Lifeboat issues 5 and 18):
  P1 hash-compare delta, 1% scattered 4 KiB blocks changed, two ways:
     steady: against the manifest the previous cycle left (as in production);
     cold: no manifest, sender and receiver both hash (manifest built inside the timing)
     (>= 12x faster than ``rsync --inplace --no-whole-file -I``; wire <= 1.05x changed + 0.5%)
  P2 delta from snapshot-diff extents, end to end (>= 30x faster than the same rsync delta)
  P3 full sync of random data, receiver in its own process, encrypted
     (>= 2x faster than ``rsync -W``, >= 0.4x cp's throughput)
  P4 sparse volume, 10% allocated, full sync (<= 3x ``cp --sparse=always``; DR alloc <= 1.01x)
  P5 resume after SIGKILL of the sender at ~50% (re-sent bytes <= 1.05x the remainder; one run)
Method (bench/fair.py, the same for every tool): within each scenario every tool, Lifeboat's and
the references, runs --repeat times (default 3) in the same run, alternating with the order
rotated every round, each after an untimed ``sync``; delta runs (rsync's and ours) each start from
the same destination, restored (untimed) to the previous cycle's content. Reported: median (the
figure to quote) and best; ratios only between tools of the same run (median/median, best/best).
rsync delta mode: local rsync defaults to --whole-file, so --no-whole-file forces the delta
algorithm; --inplace skips the temp copy; -I ignores mtimes; the checksum is rsync's negotiated
default (xxh128 on rsync >= 3.2.3: as fast as xxh3, ~3x faster than md5; --block-size=8192 made
no difference at 256 MiB). Add flags with --rsync-extra.
The data mover always fsyncs the replica before it reports success; cp and rsync do not, so
"cp+sync" is shown too. Page cache is warm for every tool alike (nothing is dropped: shared host).
Sizes: --size-gib (default 2), --quick = 256 MiB. Disk: about 4x the size in --dir.
Prints a table and writes bench/results/replication-<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import fair

from lifeboat_replicator.datamover import Extent, LinkSecurity, TransferStats, send_volume

MiB = 1024 * 1024
GiB = 1024 * MiB
RESULTS = Path(__file__).resolve().parent / "results"


def fill_random(path: Path, size: int) -> None:
    block = os.urandom(64 * MiB)
    with open(path, "wb") as f:
        for off in range(0, size, len(block)):
            f.write(block[: min(len(block), size - off)] if off else block[: min(len(block), size)])
            block = block[1:] + block[:1]  # different data in every 64 MiB (no dedup tricks)


def fill_sparse(path: Path, size: int, fraction: float) -> None:
    rnd = random.Random(7)
    region = 1 * MiB
    slots = size // region
    with open(path, "wb") as f:
        f.truncate(size)
        for s in sorted(rnd.sample(range(slots), max(1, int(slots * fraction)))):
            f.seek(s * region)
            f.write(os.urandom(region))


def scribble(path: Path, fraction: float, seed: int) -> list[int]:
    rnd = random.Random(seed)
    nblocks = path.stat().st_size // 4096
    picks = sorted(rnd.sample(range(nblocks), int(nblocks * fraction)))
    fd = os.open(path, os.O_WRONLY)
    try:
        junk = os.urandom(4096 * 256)
        for i, b in enumerate(picks):
            j = (i * 4096 * 7) % (len(junk) - 4096)
            os.pwrite(fd, junk[j : j + 4096], b * 4096)
    finally:
        os.close(fd)
    return picks


def settle() -> None:
    """Flush dirty pages (not timed) so one tool's background writeback does not slow the next."""
    os.sync()
    time.sleep(0.2)


def timed(cmd: list[str]) -> tuple[float, str]:
    settle()
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, out


def ensure_rsync() -> bool:
    if shutil.which("rsync"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("rsync missing: apt-get install -y rsync ...", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "rsync"], check=False, capture_output=True
        )
        if not shutil.which("rsync"):
            subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "rsync"], check=False, capture_output=True
            )
    if not shutil.which("rsync"):
        print("rsync not installed: run `apt-get install -y rsync` as root for the rsync columns")
        return False
    return True


def rsync_literal(out: str) -> int:
    m = re.search(r"Literal data: ([\d,]+)", out)
    return int(m.group(1).replace(",", "")) if m else -1


class ReceiverProc:
    def __init__(self, root: Path, psk_file: Path) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lifeboat_replicator.datamover.receiver",
                "--listen",
                "127.0.0.1:0",
                "--psk-file",
                str(psk_file),
                "--state-dir",
                str(root / "state"),
                "--targets-dir",
                str(root / "targets"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            self.proc.kill()
            raise SystemExit(f"receiver did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


_SENDER = """
import json, sys
from pathlib import Path
from lifeboat_replicator.datamover import Extent, LinkSecurity, TransferStats, send_volume
a = json.loads(sys.argv[1])
send_volume(address=("127.0.0.1", a["port"]), security=LinkSecurity(psk=bytes.fromhex(a["psk"])),
            transfer_id=a["tid"], source=Path(a["src"]), target=a["target"], size=a["size"],
            extents=[Extent(0, a["size"])])
"""


def journal_done(state: Path, tid: str) -> int:
    try:
        return int(json.loads((state / f"{tid}.journal.json").read_text())["bytes_done"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def _rm(path: Path) -> None:
    path.unlink(missing_ok=True)


RSYNC_DELTA = ["rsync", "--inplace", "--no-whole-file", "-I", "--stats"]


def restore(base: Path, dst: Path) -> None:
    """Put `dst` back to `base`'s content (untimed): each delta run starts from the same state."""
    shutil.copyfile(base, dst)


def run(size: int, work: Path, repeat: int, rsync_extra: list[str]) -> dict[str, Any]:
    has_rsync = ensure_rsync()
    psk = os.urandom(32)
    (work / "psk").write_text(psk.hex())
    sec = LinkSecurity(psk=psk)
    dr = work / "dr"
    targets = dr / "targets"
    rx = ReceiverProc(dr, work / "psk")
    r: dict[str, Any] = {"size": size, "repeat": repeat, "quoted": fair.QUOTED}
    last: dict[str, TransferStats] = {}

    def dm(tid: str, **kw: Any) -> float:
        st = send_volume(
            address=("127.0.0.1", rx.port), security=sec, transfer_id=tid, size=size, **kw
        )
        last[tid.rsplit("-", 1)[0]] = st
        return st.seconds

    def sh(cmd: list[str]) -> float:
        return timed(cmd)[0]

    def same(a: Path, b: Path) -> bool:
        return subprocess.run(["cmp", "-s", str(a), str(b)]).returncode == 0

    def keep(name: str, series: dict[str, fair.Series]) -> None:
        r[name] = {k: v.as_dict() for k, v in series.items()}

    src = work / "src"
    base = work / "base"
    print(f"writing {size / GiB:.2f} GiB of random data ...", flush=True)
    fill_random(src, size)
    delta = [*RSYNC_DELTA, *rsync_extra, str(src), str(work / "rsync.dst")]
    r["rsync_delta_cmd"] = " ".join(delta[:-2])
    try:
        # P3 full copies: every tool --repeat times, alternating, a sync (not timed) before each
        cp_sync = fair.Series("cp+sync")

        def cp() -> float:
            t = sh(["cp", str(src), str(work / "cp.dst")])
            t0 = time.perf_counter()
            subprocess.run(["sync", str(work / "cp.dst")], check=True)
            cp_sync.runs.append(t + time.perf_counter() - t0)
            return t

        full: dict[str, fair.Trial] = {"cp": cp}
        if has_rsync:
            full["rsync -W"] = lambda: sh(["rsync", "-W", str(src), str(work / "rsync.dst")])
        n_p3 = iter(range(10**6))
        full["P3"] = lambda: dm(
            f"p3-{next(n_p3)}", source=src, target="full", extents=[Extent(0, size)]
        )

        dst_of = {"cp": work / "cp.dst", "rsync -W": work / "rsync.dst", "P3": targets / "full"}

        def fresh(name: str, _: int) -> None:
            _rm(dst_of[name])
            settle()

        p3 = fair.alternate(full, repeat, before_each=fresh)
        p3["cp+sync"] = cp_sync
        keep("p3", p3)
        r["p3_wire"] = last["p3"].bytes_on_wire
        r["p3_identical"] = same(src, targets / "full")
        _rm(targets / "full")
        _rm(work / "cp.dst")

        # the replica as of the previous cycle, and the manifest the previous cycle left
        restore(src, base)
        t0 = time.perf_counter()
        dm("m0", source=src, target="m0", extents=[], write_manifest=work / "m0")
        _rm(targets / "m0")
        r["manifest_build_s"] = time.perf_counter() - t0

        # P1: 1% scattered 4 KiB blocks changed; the replica, the rsync destination and the
        # data mover targets all restored to the previous cycle's content before every run.
        # steady = hash-compare against the manifest kept from the previous cycle (production);
        # cold = no manifest: sender and receiver both hash (the manifest is built in the timing).
        r["changed_bytes"] = len(scribble(src, 0.01, seed=1)) * 4096
        n1 = iter(range(10**6))
        p1_trials: dict[str, fair.Trial] = {
            "P1 steady": lambda: dm(
                f"p1s-{next(n1)}",
                source=src,
                target="p1s",
                extents=None,
                base_manifest=work / "m0",
                write_manifest=work / "m1",
            ),
            "P1 cold": lambda: dm(
                f"p1c-{next(n1)}",
                source=src,
                target="p1c",
                extents=None,
                write_manifest=work / "m1c",
            ),
        }
        rsync_out: list[str] = []
        if has_rsync:

            def rsync_delta() -> float:
                t, out = timed(delta)
                rsync_out.append(out)
                return t

            p1_trials["rsync delta"] = rsync_delta
        restore_for = {
            "P1 steady": targets / "p1s",
            "P1 cold": targets / "p1c",
            "rsync delta": work / "rsync.dst",
        }

        def reset(name: str, _: int) -> None:
            targets.mkdir(parents=True, exist_ok=True)
            restore(base, restore_for[name])
            settle()

        keep("p1", fair.alternate(p1_trials, repeat, before_each=reset))
        r["p1_wire"], r["p1_changed"] = last["p1s"].bytes_on_wire, last["p1s"].bytes_changed
        r["p1_cold_wire"] = last["p1c"].bytes_on_wire
        r["p1_identical"] = same(src, targets / "p1s") and same(src, targets / "p1c")
        if rsync_out:
            r["rsync_delta_literal"] = rsync_literal(rsync_out[-1])
        for p in (targets / "p1s", targets / "p1c"):
            _rm(p)

        # P2: another 1%, extents given (from the snapshot diff); same restore discipline
        restore(src, base)
        ext = [Extent(b * 4096, 4096) for b in scribble(src, 0.01, seed=2)]
        n2 = iter(range(10**6))
        p2_trials: dict[str, fair.Trial] = {
            "P2": lambda: dm(f"p2-{next(n2)}", source=src, target="p2", extents=ext)
        }
        rsync_out.clear()
        if has_rsync:
            p2_trials["rsync delta"] = rsync_delta
        restore_for["P2"] = targets / "p2"
        keep("p2", fair.alternate(p2_trials, repeat, before_each=reset))
        r["p2_wire"], r["p2_changed"] = last["p2"].bytes_on_wire, last["p2"].bytes_changed
        r["p2_identical"] = same(src, targets / "p2")
        if rsync_out:
            r["rsync_delta2_literal"] = rsync_literal(rsync_out[-1])
        _rm(targets / "p2")
        _rm(base)
        _rm(work / "rsync.dst")

        # P4 sparse volume, 10% allocated
        sparse = work / "sparse"
        fill_sparse(sparse, size, 0.10)
        cps_sync = fair.Series("cp --sparse=always +sync")

        def cp_sparse() -> float:
            t = sh(["cp", "--sparse=always", str(sparse), str(work / "cp.sparse")])
            t0 = time.perf_counter()
            subprocess.run(["sync", str(work / "cp.sparse")], check=True)
            cps_sync.runs.append(t + time.perf_counter() - t0)
            return t

        n4 = iter(range(10**6))

        def fresh4(name: str, _: int) -> None:
            _rm(work / "cp.sparse" if name.startswith("cp") else targets / "sparse")
            settle()

        p4 = fair.alternate(
            {
                "cp --sparse=always": cp_sparse,
                "P4": lambda: dm(
                    f"p4-{next(n4)}", source=sparse, target="sparse", extents=[Extent(0, size)]
                ),
            },
            repeat,
            before_each=fresh4,
        )
        p4["cp --sparse=always +sync"] = cps_sync
        keep("p4", p4)
        r["p4_wire"] = last["p4"].bytes_on_wire
        r["p4_src_alloc"] = os.stat(sparse).st_blocks * 512
        r["p4_dr_alloc"] = os.stat(targets / "sparse").st_blocks * 512
        r["p4_identical"] = same(sparse, targets / "sparse")
        _rm(targets / "sparse")
        # P5 resume after SIGKILL of the sender process at ~50% (a correctness figure: one run)
        args = {
            "port": rx.port,
            "psk": psk.hex(),
            "tid": "p5",
            "src": str(src),
            "target": "vol5",
            "size": size,
        }
        proc = subprocess.Popen([sys.executable, "-c", _SENDER, json.dumps(args)])
        seen = 0
        while proc.poll() is None:
            seen = journal_done(dr / "state", "p5")
            if seen >= size // 2:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait()
        time.sleep(0.3)  # the receiver journals what fully arrived
        settle()
        st = send_volume(
            address=("127.0.0.1", rx.port),
            security=sec,
            transfer_id="p5",
            size=size,
            source=src,
            target="vol5",
            extents=[Extent(0, size)],
        )
        r["p5_killed_at"] = seen
        r["p5_resumed_from"] = st.resumed_from_offset
        r["p5_resent_wire"] = st.bytes_on_wire
        r["p5_remainder_at_kill"] = size - seen
        r["p5_remainder_after_resume_point"] = size - st.resumed_from_offset
        r["p5_identical"] = same(src, targets / "vol5")
    finally:
        rx.stop()
    return r


def _s(r: dict[str, Any], group: str, name: str) -> fair.Series | None:
    d = r[group].get(name)
    return fair.Series(name, list(d["runs"])) if d else None


def table(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows: scenario, data mover median (best), reference median (best), ratios (same run)."""
    size = r["size"]
    rows: list[tuple[str, str, str, str]] = []

    def ratio(ref: fair.Series | None, ours: fair.Series) -> str:
        return fair.fmt_ratio(ref, ours) if ref else "n/a (no rsync)"

    p1s, p1c = _s(r, "p1", "P1 steady"), _s(r, "p1", "P1 cold")
    rd, rd2 = _s(r, "p1", "rsync delta"), _s(r, "p2", "rsync delta")
    p2, p3, p4 = _s(r, "p2", "P2"), _s(r, "p3", "P3"), _s(r, "p4", "P4")
    cp, cp_sync, rw = _s(r, "p3", "cp"), _s(r, "p3", "cp+sync"), _s(r, "p3", "rsync -W")
    cps, cps_sync = _s(r, "p4", "cp --sparse=always"), _s(r, "p4", "cp --sparse=always +sync")
    assert p1s and p1c and p2 and p3 and p4 and cp and cp_sync and cps and cps_sync
    p1_wire = r["p1_wire"] / r["p1_changed"]
    p1_goal = 1.05 + 0.005 * size / r["p1_changed"]
    p2_wire = r["p2_wire"] / r["p2_changed"]
    p4_alloc = r["p4_dr_alloc"] / r["p4_src_alloc"]
    p5 = r["p5_resent_wire"] / max(1, r["p5_remainder_at_kill"])
    p5b = r["p5_resent_wire"] / max(1, r["p5_remainder_after_resume_point"])
    rds = rd.fmt() if rd else "n/a"
    rows.append(
        (
            "P1 steady (manifest kept) 1%",
            p1s.fmt(),
            f"rsync delta {rds}",
            f"{ratio(rd, p1s)} faster (goal >=12x); "
            f"wire {p1_wire:.3f}x changed (goal <= {p1_goal:.2f}x)",
        )
    )
    rows.append(
        (
            "P1 cold (no manifest) 1%",
            p1c.fmt(),
            f"rsync delta {rds}",
            f"{ratio(rd, p1c)} faster; wire {r['p1_cold_wire'] / r['p1_changed']:.3f}x changed",
        )
    )
    rows.append(
        (
            "P2 extents delta 1%",
            p2.fmt(),
            f"rsync delta {rd2.fmt() if rd2 else 'n/a'}",
            f"{ratio(rd2, p2)} faster (goal >=30x); wire {p2_wire:.3f}x changed",
        )
    )
    rows.append(
        (
            "P3 full sync (enc, 2 procs)",
            p3.fmt(),
            f"cp {cp.fmt()} / cp+sync {cp_sync.fmt()} / rsync -W {rw.fmt() if rw else 'n/a'}",
            f"{ratio(rw, p3)} faster than rsync -W (goal >=2x); "
            f"{cp.median / p3.median:.2f}x (best/best {cp.best / p3.best:.2f}x) cp throughput "
            f"(goal >=0.4x); {size / p3.median / 1e6:.0f} MB/s",
        )
    )
    rows.append(
        (
            "P4 sparse 10% full sync",
            p4.fmt(),
            f"cp --sparse=always {cps.fmt()} / +sync {cps_sync.fmt()}",
            f"{p4.median / cps.median:.2f}x (best/best {p4.best / cps.best:.2f}x) cp time "
            f"(goal <=3x), {p4.median / cps_sync.median:.2f}x cp+sync; "
            f"DR alloc {p4_alloc:.3f}x source (goal <=1.01x)",
        )
    )
    keys = ("p1_identical", "p2_identical", "p3_identical", "p4_identical", "p5_identical")
    ok = all(r[k] for k in keys)
    rows.append(
        (
            "P5 resume after SIGKILL ~50%",
            f"{r['p5_resent_wire'] / MiB:.0f} MiB resent",
            f"remainder {r['p5_remainder_at_kill'] / MiB:.0f} MiB",
            f"{p5:.3f}x remainder at kill (goal <=1.05x), {p5b:.3f}x after the resume point; "
            f"replicas identical: {ok}",
        )
    )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=fair.HelpFormatter)
    ap.add_argument("--size-gib", type=float, default=2.0, help="volume size")
    ap.add_argument("--quick", action="store_true", help="256 MiB smoke run")
    ap.add_argument("--dir", type=Path, default=None, help="work directory (None: a temp dir)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of every tool per scenario")
    ap.add_argument("--rsync-extra", default="", help="extra flags for the rsync delta")
    args = ap.parse_args()
    size = 256 * MiB if args.quick else int(args.size_gib * GiB) // (64 * 1024) * (64 * 1024)
    work = Path(tempfile.mkdtemp(prefix="lb-replbench-", dir=args.dir))
    load_before = round(os.getloadavg()[0], 2)
    try:
        r = run(size, work, max(1, args.repeat), args.rsync_extra.split())
        r["load_before"], r["load_after"] = load_before, round(os.getloadavg()[0], 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = table(r)
    w0 = max(len(x[0]) for x in rows)
    w1 = max(len(x[1]) for x in rows)
    w2 = max(len(x[2]) for x in rows)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = r["load_before"], r["load_after"]
    print(
        f"\nLifeboat data mover, {size / GiB:.2f} GiB, {r['repeat']} runs of every tool, {when}, "
        f"load avg {load[0]} -> {load[1]}"
    )
    print(f"{'scenario':<{w0}}  {'median (best)':<{w1}}  {'reference median (best)':<{w2}}  result")
    for a, b, c, d in rows:
        print(f"{a:<{w0}}  {b:<{w1}}  {c:<{w2}}  {d}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"replication-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps({"results": r, "table": rows}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
