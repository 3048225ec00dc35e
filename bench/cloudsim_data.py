"""Benchmark cloudsim's volume data path: snapshot cost and snapshot diff of a 2 GiB volume.

Run: ``cd /work/main && uv run python bench/cloudsim_data.py [--size-gib 2] [--changed 0.01]``

Scenario: a fully written volume (the worst case for a snapshot: every extent must be read and
digested), a first snapshot, then ``--changed`` of its 64 KiB extents rewritten *through the file
path* (as a guest or the replicator would), a second snapshot and ``changed_extents`` between the
two (goal: <= 50 ms for 2 GiB with 1% changed). References in the same run: ``cp --sparse=always``
(what a full-copy snapshot would cost), ``cmp -l | wc -l`` and a Python byte comparison of two
full copies (what a diff without digests costs).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cloudsim.blockstore import WRITE_FENCE, BlockStore

MiB = 1024**2


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def fill(path: Path, size: int) -> None:
    block = os.urandom(64 * MiB)
    with open(path, "r+b") as f:
        for off in range(0, size, len(block)):
            f.write(block[: min(len(block), size - off)])


def rewrite_extents(path: Path, indices: list[int], extent: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        for i in indices:
            os.pwrite(fd, os.urandom(extent), i * extent)
    finally:
        os.close(fd)


def snapshot_under_writer(store: BlockStore, path: Path, size: int) -> tuple[float, float]:
    """Snapshot while a fenced writer runs; returns (snapshot time, writer's worst latency)."""
    stop = threading.Event()
    worst = [0.0]

    def writer() -> None:
        fd = os.open(path, os.O_WRONLY)
        rnd = random.Random(3)
        try:
            while not stop.is_set():
                start = time.perf_counter()
                with WRITE_FENCE.writing([path]):
                    os.pwrite(fd, os.urandom(4096), rnd.randrange(size // 4096) * 4096)
                worst[0] = max(worst[0], time.perf_counter() - start)
                time.sleep(0.002)
        finally:
            os.close(fd)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.2)
    try:
        took, _ = timed(lambda: store.create_snapshots({"s5": "vol"}))
    finally:
        stop.set()
        t.join()
    return took, worst[0]


def python_brute_diff(a: Path, b: Path, extent: int) -> int:
    changed = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x = fa.read(8 * MiB)
            y = fb.read(8 * MiB)
            if not x:
                return changed
            for off in range(0, len(x), extent):
                if x[off : off + extent] != y[off : off + extent]:
                    changed += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of extents rewritten")
    parser.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=7, help="diff repetitions (median reported)")
    args = parser.parse_args()
    size = int(args.size_gib * 1024**3)
    work = Path(tempfile.mkdtemp(prefix="cloudsim-bench-", dir=args.dir))
    rows: list[tuple[str, str, str]] = []
    diffs: list[float] = []
    diffs3: list[float] = []
    try:
        store = BlockStore(work / "store")
        extent = store.extent_size
        path = store.create_volume("vol", size)
        t_fill, _ = timed(lambda: fill(path, size))
        rows.append(
            ("fill volume (write 100%)", f"{t_fill * 1000:.0f} ms", f"{size / MiB:.0f} MiB")
        )

        t_s1, _ = timed(lambda: store.create_snapshots({"s1": "vol"}))
        rows.append(
            (
                "snapshot #1 (full: read+digest+store)",
                f"{t_s1 * 1000:.0f} ms",
                f"writers stalled {store.last_fence_hold_s * 1000:.0f} ms",
            )
        )
        n_ext = size // extent
        picked = sorted(random.Random(42).sample(range(n_ext), max(1, int(n_ext * args.changed))))
        rewrite_extents(path, picked, extent)
        t_s2, _ = timed(lambda: store.create_snapshots({"s2": "vol"}))
        seg2 = (work / "store" / "segments" / "vol" / "s2.img").stat().st_blocks * 512
        rows.append(
            (
                "snapshot #2 (incremental)",
                f"{t_s2 * 1000:.0f} ms",
                f"stores {seg2 / MiB:.1f} MiB, writers stalled "
                f"{store.last_fence_hold_s * 1000:.0f} ms",
            )
        )

        ranges: list[tuple[int, int]] = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            ranges = store.changed_extents("vol", "s1", "s2")
            diffs.append(time.perf_counter() - start)
        changed_bytes = sum(length for _, length in ranges)
        assert changed_bytes == len(picked) * extent, "diff disagrees with the extents rewritten"
        rows.append(
            (
                "changed_extents(s1, s2) median",
                f"{statistics.median(diffs) * 1000:.2f} ms",
                f"{len(ranges)} ranges, {changed_bytes / MiB:.1f} MiB (exact)",
            )
        )
        t_cold, _ = timed(lambda: BlockStore(work / "store").changed_extents("vol", "s1", "s2"))
        rows.append(
            ("changed_extents after reopening store", f"{t_cold * 1000:.1f} ms", "loads manifests")
        )
        t_full, _ = timed(lambda: store.changed_extents("vol", None, "s2"))
        rows.append(("changed_extents(None, s2)", f"{t_full * 1000:.2f} ms", "all data extents"))

        # second pattern: the same fraction of *bytes* as scattered 4 KiB writes (touches ~16x
        # more extents than it changes bytes: the worst case for an extent-granular diff)
        pages = size // 4096
        scattered = random.Random(7).sample(range(pages), max(1, int(pages * args.changed)))
        fd = os.open(path, os.O_WRONLY)
        try:
            for page in scattered:
                os.pwrite(fd, os.urandom(4096), page * 4096)
        finally:
            os.close(fd)
        t_s3, _ = timed(lambda: store.create_snapshots({"s3": "vol"}))
        rows.append(
            (
                "snapshot #3 (after scattered 4 KiB writes)",
                f"{t_s3 * 1000:.0f} ms",
                f"writers stalled {store.last_fence_hold_s * 1000:.0f} ms",
            )
        )
        for _ in range(args.repeat):
            start = time.perf_counter()
            ranges3 = store.changed_extents("vol", "s2", "s3")
            diffs3.append(time.perf_counter() - start)
        touched = {page * 4096 // extent for page in scattered}
        assert sum(n for _, n in ranges3) == len(touched) * extent, "scattered diff is wrong"
        rows.append(
            (
                "changed_extents(s2, s3) median",
                f"{statistics.median(diffs3) * 1000:.2f} ms",
                f"{len(ranges3)} ranges over {len(touched)} extents (exact)",
            )
        )

        time.sleep(1.1)  # idle volume: ctime older than a second, the fenced re-read is skipped
        t_s4, _ = timed(lambda: store.create_snapshots({"s4": "vol"}))
        rows.append(
            (
                "snapshot #4 (idle volume, nothing changed)",
                f"{t_s4 * 1000:.0f} ms",
                f"writers stalled {store.last_fence_hold_s * 1000:.1f} ms",
            )
        )
        t_s5, worst = snapshot_under_writer(store, path, size)
        rows.append(
            (
                "snapshot #5 (writer doing 4 KiB at 500/s)",
                f"{t_s5 * 1000:.0f} ms",
                f"writers stalled {store.last_fence_hold_s * 1000:.0f} ms, "
                f"worst write latency {worst * 1000:.0f} ms",
            )
        )

        t_mat, _ = timed(lambda: store.create_volume_from_snapshot("copy", "s2", size))
        rows.append(("volume from snapshot #2", f"{t_mat * 1000:.0f} ms", "copy_file_range"))

        ref1 = work / "ref1.img"
        ref2 = work / "ref2.img"
        t_cp, _ = timed(
            lambda: subprocess.run(
                ["cp", "--sparse=always", str(store.snapshot_path("s1")), str(ref1)], check=True
            )
        )
        rows.append(("reference: cp --sparse=always (full copy)", f"{t_cp * 1000:.0f} ms", ""))
        shutil.copyfile(store.snapshot_path("s2"), ref2)
        start = time.perf_counter()
        cmp_out = subprocess.run(
            f"cmp -l {ref1} {ref2} | wc -l", shell=True, check=False, capture_output=True
        ).stdout
        t_cmp = time.perf_counter() - start
        differing = int(cmp_out.strip() or b"0")
        rows.append(
            (
                "reference: cmp -l | wc -l (full copies)",
                f"{t_cmp * 1000:.0f} ms",
                f"{differing / MiB:.1f} MiB of bytes differ",
            )
        )
        t_py, n = timed(lambda: python_brute_diff(ref1, ref2, extent))
        rows.append(("reference: python byte compare", f"{t_py * 1000:.0f} ms", f"{n} extents"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\ncloudsim data path: {args.size_gib:g} GiB volume, {args.changed:.1%} of extents changed"
    )
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"{'operation':<{w0}}  {'time':>{w1}}  notes")
    print("-" * (w0 + w1 + 30))
    for name, value, note in rows:
        print(f"{name:<{w0}}  {value:>{w1}}  {note}")
    worst = max(statistics.median(diffs), statistics.median(diffs3))
    verdict = "PASS" if worst <= 0.05 else "FAIL"
    print(f"\ngoal: diff <= 50 ms -> {verdict}")


if __name__ == "__main__":
    main()
