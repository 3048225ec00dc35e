"""Benchmark Lifeboat's RBD data path against Ceph's own tools, between two one-node clusters.

Run: ``cd /work/main && uv run python bench/rbd.py [--size-gib 2] [--quick] [--repeat 3]
[--ceph-a DIR --ceph-b DIR] [--dir D]``

Scenarios (each tool run --repeat times, alternating, an untimed ``sync`` before each run;
reported as bench/fair.py does everywhere: median quoted, best beside it, ratios median/median
and best/best between tools of the same run):
  delta  1% of the image changed as scattered 4 KiB blocks of seeded random data between
         snapshots A and B. Lifeboat (librbd diff -> zstd -> AES-GCM -> TCP -> librbd writes into
         the replica -> flush) against ``rbd export-diff --from-snap A src@B - | rbd import-diff -
         dst``. Goal: >= 2x faster, wire bytes <= the export-diff stream. Before each run the
         replica is rolled back to its snapshot A (and import-diff's snapshot B dropped).
  full   every allocated extent of src@B into a new, empty image, against ``rbd export src@B - |
         rbd import - dst``; the 100%-written image and a 50%-written one (1 MiB regions at
         random, so holes matter). Goal: >= 1x.
  local  the same change set through the file path (receiver in its own process) against
         ``rsync --inplace --no-whole-file -I`` (continuity with bench/replication.py).
Both sides use the least-privilege users (lifeboat-reader at site A, lifeboat-writer at site B);
the CLI gets ``-c conf --id user --keyring file``. Every replica is compared with its source
after each run (hashes of all allocated extents of either image; not timed). The reference runs
through a plain OS pipe; its stream size is counted once more, untimed, through a Python relay.
Lifeboat's times include connecting to the source cluster, the diff and the replica's flush.
Prints a Markdown table and writes bench/results/rbd-<UTC timestamp>.json.

Profile (2-core VM, 2 GiB): both tools are bound by the two OSDs' CPU (delta: ~2 s of OSD CPU
for ~5,200 4 KiB reads + writes, the same for both; Lifeboat's own processes ~0.9 s CPU vs the
CLI's ~1.0 s). Full copy: OSDs ~4.7 s CPU for both; Lifeboat's Python threads ~4.3 s (AES-GCM,
loopback TCP, xxh3, buffer copies) on top of librbd's ~1.5 s, vs ~3 s for the two rbd processes
(no encryption, a pipe); the sender waits on its prefetcher (librbd reads) for most of its time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fair
from rbd_support import (
    BLOCK,
    POOL,
    READER,
    WRITER,
    Cluster,
    MiB,
    allocated_bytes,
    build_image,
    change_data,
    changed_blocks,
    drop_image,
    full_layout,
    half_layout,
    layout_data,
    pipe,
    rollback,
    same_images,
    settle,
    start_cluster,
    stop_cluster,
    versions,
    write_file,
)

from lifeboat_replicator.adapters.rbd_volumes import (
    RbdAccess,
    RbdConnections,
    RbdSnapshotSource,
    rbd_changed_extents,
)
from lifeboat_replicator.datamover import Extent, LinkSecurity, TransferStats, send_volume

GiB = 1024 * MiB
RESULTS = Path(__file__).resolve().parent / "results"
SRC, HALF, DST = "lbbench-src", "lbbench-half", "lbbench-dst"

# The DR site's receiver in its own process: targets are images of pool volumes at site B,
# created (empty) when missing, as `rbd import` does. A connection per transfer, like the CLI.
_RBD_RECEIVER = """
import contextlib, sys
from pathlib import Path
import rbd
from lifeboat_replicator.adapters.rbd_access import open_ioctx
from lifeboat_replicator.adapters.rbd_volumes import RbdAccess, RbdConnections, RbdImageTarget
from lifeboat_replicator.datamover import LinkSecurity, Receiver
conf, user, keyring, pool, psk, state = sys.argv[1:]
access = RbdAccess(ceph_conf=Path(conf), user=user, keyring=Path(keyring), pools=[pool])

@contextlib.contextmanager
def resolve(name, size):
    with RbdConnections() as conns:
        ioctx = open_ioctx(access, pool, conns)
        try:
            if name not in rbd.RBD().list(ioctx):
                rbd.RBD().create(ioctx, name, size, old_format=False)
        finally:
            ioctx.close()
        with RbdImageTarget(access, pool, name, size=size, connections=conns) as target:
            yield target

rx = Receiver(listen=("127.0.0.1", 0), security=LinkSecurity(psk=bytes.fromhex(psk)),
              state_dir=Path(state), resolve_target=resolve)
print(f"listening on 127.0.0.1:{rx.port}", flush=True)
rx.serve_forever()
"""
_FILE_RECEIVER = ["-m", "lifeboat_replicator.datamover.receiver", "--listen", "127.0.0.1:0"]


class ReceiverProc:
    """A receiver process; prints ``listening on HOST:PORT`` once ready, stops on SIGTERM."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=None, text=True
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            self.proc.kill()
            raise SystemExit(f"receiver did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    settle()
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


class Bench:
    def __init__(self, a: Cluster, b: Cluster, work: Path, size: int, repeat: int) -> None:
        self.a, self.b, self.work, self.size, self.repeat = a, b, work, size, repeat
        self.psk = os.urandom(32)
        (work / "psk").write_text(self.psk.hex())
        self.sec = LinkSecurity(psk=self.psk)
        self.r: dict[str, Any] = {"size": size, "repeat": repeat}
        self.changes = changed_blocks(size, 0.01, seed=1)
        self.rx = ReceiverProc(["-c", _RBD_RECEIVER, str(b.conf), WRITER,
                                str(b.keyring(WRITER)), POOL, self.psk.hex(),
                                str(work / "rbd-state")])  # fmt: skip
        self.n = 0

    def close(self) -> None:
        self.rx.stop()

    # --- data ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        """src (100% written) at snapshots A and B (B = A + 1% changes), half (50% written) at B,
        dst at site B = src@A with its snapshot A."""
        size, a = self.size, self.a
        steps = [(layout_data(1, full_layout(size)), "A"), (change_data(1, self.changes), "B")]
        build_image(a, SRC, size, steps)
        build_image(a, HALF, size, [(layout_data(2, half_layout(size, 0.5, seed=2)), "B")])
        drop_image(self.b, DST)
        self.export(SRC, "A", DST)
        self.b.rbd("snap", "create", f"{POOL}/{DST}@A")
        assert same_images(self.a, SRC, "A", self.b, DST, None), "dst is not src@A"

    # --- the two tools -----------------------------------------------------------------------
    def reader(self) -> RbdAccess:
        a = self.a
        return RbdAccess(ceph_conf=a.conf, user=READER, keyring=a.keyring(READER), pools=[POOL])

    def lifeboat(self, tid: str, image: str, from_snap: str | None, target: str) -> TransferStats:
        """Snapshot diff at site A, stream, write into site B's image ``target``, flush."""
        access = self.reader()
        with RbdConnections() as conns:  # connect in every run, as the CLI does
            extents = rbd_changed_extents(access, POOL, image, from_snap, "B", connections=conns)
            with RbdSnapshotSource(access, POOL, image, "B", connections=conns) as source:
                return send_volume(
                    address=("127.0.0.1", self.rx.port),
                    security=self.sec,
                    transfer_id=tid,
                    source=source,
                    target=target,
                    size=self.size,
                    extents=extents,
                )

    def export_diff(self, count: bool = False) -> int:
        """export-diff A..B | import-diff into dst; the stream's bytes if ``count``, else -1."""
        return int(pipe(
            [*self.a.cli(READER), "--no-progress", "export-diff", "--from-snap", "A",
             f"{POOL}/{SRC}@B", "-"],
            [*self.b.cli(WRITER), "--no-progress", "import-diff", "-", f"{POOL}/{DST}"],
            count=count,
        ))  # fmt: skip

    def export(self, image: str, snap: str, target: str, count: bool = False) -> int:
        """export image@snap | import as a new image ``target``."""
        return int(
            pipe(
                [*self.a.cli(READER), "--no-progress", "export", f"{POOL}/{image}@{snap}", "-"],
                [*self.b.cli(WRITER), "--no-progress", "import", "-", f"{POOL}/{target}"],
                count=count,
            )
        )

    # --- scenarios ---------------------------------------------------------------------------
    def alternate(
        self,
        key: str,
        reset: Callable[[], None],
        ref: Callable[[], int],
        lb: Callable[[str], TransferStats],
        check: Callable[[str], bool],
    ) -> None:
        """Each tool --repeat times, alternating (the order flips every round), ``reset()`` before
        and ``check(tool)`` after each run (neither timed). ``ref`` returns its wire bytes (-1: not
        counted)."""
        r = self.r
        for k in ("lb_s", "ref_s", "lb_wire", "identical"):
            r.setdefault(f"{key}_{k}", [])
        for i in range(self.repeat):
            for tool in ("ref", "lb") if i % 2 == 0 else ("lb", "ref"):
                reset()
                if tool == "ref":
                    t, wire = timed(ref)
                    r[f"{key}_ref_s"].append(t)
                    if wire >= 0:
                        r.setdefault(f"{key}_ref_wire", []).append(wire)
                else:
                    self.n += 1
                    tid = f"{key}-{os.getpid()}-{self.n}"
                    t, st = timed(lambda: lb(tid))  # noqa: B023 (called at once)
                    r[f"{key}_lb_s"].append(t)
                    r[f"{key}_lb_wire"].append(st.bytes_on_wire)
                    r[f"{key}_lb_seconds_reported"] = st.seconds
                r[f"{key}_identical"].append(check(tool))

    def delta(self) -> None:
        self.r["delta_changed_bytes"] = len(self.changes) * BLOCK
        self.alternate(
            "delta",
            reset=lambda: rollback(self.b, DST, "A"),
            ref=self.export_diff,
            lb=lambda tid: self.lifeboat(tid, SRC, "A", DST),
            check=lambda tool: same_images(self.a, SRC, "B", self.b, DST, None),
        )
        rollback(self.b, DST, "A")  # the stream's size, untimed, through a counting relay
        self.r["delta_ref_wire"] = [self.export_diff(count=True)]

    def full(self, image: str, key: str) -> None:
        self.r[f"{key}_allocated_reported"] = allocated_bytes(self.a, image, "B")
        target = "lbbench-full"
        self.alternate(
            key,
            reset=lambda: drop_image(self.b, target),
            ref=lambda: self.export(image, "B", target),
            lb=lambda tid: self.lifeboat(tid, image, None, target),
            check=lambda tool: same_images(self.a, image, "B", self.b, target, None),
        )
        drop_image(self.b, target)
        self.r[f"{key}_ref_wire"] = [self.export(image, "B", target, count=True)]
        drop_image(self.b, target)

    def local(self) -> None:
        """The same change set, file to file, against rsync's delta (dst reset before each run)."""
        r, size, work = self.r, self.size, self.work
        base, src, targets = work / "base", work / "src", work / "targets"
        write_file(base, size, layout_data(1, full_layout(size)))
        shutil.copyfile(base, src)
        write_file(src, size, change_data(1, self.changes))
        targets.mkdir()
        rsync_dst, lb_dst = work / "rsync.dst", targets / "local"
        shutil.copyfile(base, rsync_dst)
        shutil.copyfile(base, lb_dst)
        with open(base, "rb") as f:
            old = [(off, os.pread(f.fileno(), BLOCK, off)) for off in self.changes]
        extents = [Extent(off, BLOCK) for off in self.changes]
        rx = ReceiverProc(
            [*_FILE_RECEIVER, "--psk-file", str(work / "psk"), "--state-dir",
             str(work / "state"), "--targets-dir", str(targets)]
        )  # fmt: skip

        def reset() -> None:  # both back to the base: the same work every run
            write_file(rsync_dst, size, old)
            write_file(lb_dst, size, old)

        def rsync() -> int:
            out = subprocess.run(
                ["rsync", "--inplace", "--no-whole-file", "-I", "--stats", str(src),
                 str(rsync_dst)], check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            r.setdefault("local_ref_literal", []).append(_stat(out, "Literal data"))
            return _stat(out, "Total bytes sent") + _stat(out, "Total bytes received")

        def lb(tid: str) -> TransferStats:
            return send_volume(
                address=("127.0.0.1", rx.port),
                security=self.sec,
                transfer_id=tid,
                source=src,
                target="local",
                size=size,
                extents=extents,
            )

        def same(tool: str) -> bool:
            dst = rsync_dst if tool == "ref" else lb_dst
            return subprocess.run(["cmp", "-s", str(src), str(dst)]).returncode == 0

        try:
            self.alternate("local", reset, rsync, lb, same)
        finally:
            rx.stop()


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def _stat(out: str, name: str) -> int:
    m = re.search(rf"{name}: ([\d,]+)", out)
    return int(m.group(1).replace(",", "")) if m else -1


def _t(x: list[float]) -> str:
    return fair.Series("", x).fmt()


def table(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str]] = []
    scenarios = [
        ("delta", "delta 1% scattered 4 KiB", "export-diff \\| import-diff", ">= 2x"),
        ("full", "full copy, 100% written", "export \\| import", ">= 1x"),
        ("half", "full copy, 50% written", "export \\| import", ">= 1x"),
        ("local", "local file delta 1%", "rsync --inplace --no-whole-file", "continuity"),
    ]
    for key, name, ref, goal in scenarios:
        lb, rf = r.get(f"{key}_lb_s"), r.get(f"{key}_ref_s")
        if not lb or not rf:
            continue
        ratio = fair.fmt_ratio(fair.Series("ref", rf), fair.Series("lifeboat", lb))
        lw, rw = r[f"{key}_lb_wire"], r[f"{key}_ref_wire"]
        rw_v = rw[-1] if isinstance(rw, list) else rw
        wire = f"{lw[-1]:,} vs {rw_v:,} ({lw[-1] / rw_v:.3f}x)"
        ok = all(r[f"{key}_identical"])
        rows.append((f"{name}{'' if ok else ' (MISMATCH)'}", _t(lb), f"{ref}: {_t(rf)}",
                     f"{ratio}, goal {goal}", wire))  # fmt: skip
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size-gib", type=float, default=2.0)
    ap.add_argument("--quick", action="store_true", help="256 MiB image")
    ap.add_argument("--repeat", type=int, default=3, help="runs of every tool and scenario")
    ap.add_argument("--ceph-a", type=Path, help="running cluster of site A (ceph-local.sh DIR)")
    ap.add_argument("--ceph-b", type=Path, help="running cluster of site B")
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    ap.add_argument("--only", default="delta,full,half,local", help="scenarios to run")
    args = ap.parse_args()
    size = 256 * MiB if args.quick else int(args.size_gib * GiB) // (4 * MiB) * (4 * MiB)
    work = Path(tempfile.mkdtemp(prefix="lb-rbdbench-", dir=args.dir))
    only = set(args.only.split(","))
    load_before = [round(x, 2) for x in os.getloadavg()]
    clusters: list[Cluster] = []
    r: dict[str, Any] = {}
    try:
        for name, given in (("a", args.ceph_a), ("b", args.ceph_b)):
            print(f"site {name}: {'using ' + str(given) if given else 'starting a cluster'}")
            c = Cluster(given.resolve(), False) if given else start_cluster(work / f"ceph-{name}")
            clusters.append(c)
        bench = Bench(clusters[0], clusters[1], work, size, max(1, args.repeat))
        try:
            print(f"writing test images ({size / GiB:.2f} GiB) ...", flush=True)
            bench.prepare()
            for key, run in (("delta", bench.delta), ("full", lambda: bench.full(SRC, "full")),
                             ("half", lambda: bench.full(HALF, "half")),
                             ("local", bench.local)):  # fmt: skip
                if key in only:
                    print(f"{key} ...", flush=True)
                    run()
        finally:
            bench.close()
            r = bench.r
            for name in (SRC, HALF):
                drop_image(clusters[0], name)
            drop_image(clusters[1], DST)
    finally:
        for c in clusters:
            stop_cluster(c)
        shutil.rmtree(work, ignore_errors=True)
    r["load_before"], r["load_after"] = load_before, [round(x, 2) for x in os.getloadavg()]
    r["versions"] = versions()
    rows = table(r)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\nLifeboat RBD path, {size / GiB:.2f} GiB image, --repeat {r['repeat']}, {when}, "
          f"load avg {load_before[0]} -> {r['load_after'][0]}\n")  # fmt: skip
    print("| scenario | Lifeboat median (best) | reference median (best) | ratio | wire bytes "
          "(Lifeboat vs reference) |\n|---|---|---|---|---|")  # fmt: skip
    for row in rows:
        print("| " + " | ".join(row) + " |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"rbd-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps({"results": r, "table": rows}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
