"""Helpers of bench/rbd.py: two one-node Ceph clusters, seeded test data, CLI pipelines, and an
untimed check that two images hold the same bytes.

Clusters come from deploy/ceph/ceph-local.sh (users admin, lifeboat-reader, lifeboat-writer; pool
``volumes``). Data is written through librbd with aio (synchronous 4 KiB writes cost ~4 ms each).
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# bench/rbd.py would shadow librbd's module `rbd` for anything run from bench/: import Ceph's
# modules with bench/ off the path (rbd.py itself uses them only through this module).
_BENCH = Path(__file__).resolve().parent
_saved = list(sys.path)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
import rados
import rbd

sys.path[:] = _saved
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ROOT = Path(__file__).resolve().parents[1]
CEPH_LOCAL = ROOT / "deploy" / "ceph" / "ceph-local.sh"
POOL = "volumes"
BLOCK = 4096
MiB = 1024 * 1024
PIECE = 4 * MiB  # rbd's default object size
READER, WRITER, ADMIN = "lifeboat-reader", "lifeboat-writer", "admin"


@dataclass
class Cluster:
    dir: Path
    started: bool  # by us: we stop it

    @property
    def conf(self) -> Path:
        return self.dir / "ceph.conf"

    def keyring(self, user: str) -> Path:
        return self.dir / f"client.{user}.keyring"

    def cli(self, user: str) -> list[str]:
        """The ``rbd`` command as ``user`` of this cluster (conf, id and keyring given)."""
        return ["rbd", "-c", str(self.conf), "--id", user, "--keyring", str(self.keyring(user))]

    def rbd(self, *args: str, user: str = ADMIN) -> str:
        out = subprocess.run([*self.cli(user), *args], check=True, capture_output=True, text=True)
        return out.stdout

    @contextmanager
    def ioctx(self, user: str = ADMIN) -> Iterator[rados.Ioctx]:
        conn = rados.Rados(
            conffile=str(self.conf),
            rados_id=user,
            conf={"keyring": str(self.keyring(user))},
        )
        conn.connect(timeout=30)
        try:
            ioctx = conn.open_ioctx(POOL)
            try:
                yield ioctx
            finally:
                ioctx.close()
        finally:
            conn.shutdown()


def start_cluster(d: Path) -> Cluster:
    out = subprocess.run(
        ["bash", str(CEPH_LOCAL), "start", str(d)], check=True, capture_output=True, text=True
    )
    conf = Path(out.stdout.strip().splitlines()[-1])
    return Cluster(conf.parent, started=True)


def stop_cluster(c: Cluster) -> None:
    if c.started:
        subprocess.run(["bash", str(CEPH_LOCAL), "stop", str(c.dir)], check=False)


def seeded_bytes(seed: int, n: int, stream: int = 0) -> bytes:
    """``n`` pseudo-random bytes fixed by ``seed`` (AES-CTR keystream: ~GB/s, unlike randbytes)."""
    key = hashlib.sha256(f"lifeboat-bench-{seed}".encode()).digest()
    nonce = stream.to_bytes(16, "big")
    return Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor().update(bytes(n))


def full_layout(size: int) -> list[tuple[int, int]]:
    return [(off, min(PIECE, size - off)) for off in range(0, size, PIECE)]


def half_layout(size: int, fraction: float, seed: int, region: int = MiB) -> list[tuple[int, int]]:
    """``fraction`` of the image as 1 MiB regions at seeded random places (the rest are holes)."""
    slots = size // region
    picks = sorted(random.Random(seed).sample(range(slots), int(slots * fraction)))
    return [(s * region, region) for s in picks]


def changed_blocks(size: int, fraction: float, seed: int) -> list[int]:
    """Offsets of ``fraction`` of the 4 KiB blocks, scattered, fixed by ``seed``."""
    picks = random.Random(seed).sample(range(size // BLOCK), int(size // BLOCK * fraction))
    return [b * BLOCK for b in sorted(picks)]


def layout_data(seed: int, layout: list[tuple[int, int]]) -> Iterator[tuple[int, bytes]]:
    for i, (off, length) in enumerate(layout):
        yield off, seeded_bytes(seed, length, stream=i << 40)


def change_data(seed: int, offsets: list[int]) -> Iterator[tuple[int, bytes]]:
    data = seeded_bytes(seed + 1000, len(offsets) * BLOCK)
    for i, off in enumerate(offsets):
        yield off, data[i * BLOCK : (i + 1) * BLOCK]


def write_file(path: Path, size: int, pieces: Iterable[tuple[int, bytes]]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, size)
        for off, data in pieces:
            os.pwrite(fd, data, off)
    finally:
        os.close(fd)


def write_image(image: rbd.Image, pieces: Iterable[tuple[int, bytes]], window: int = 32) -> None:
    """aio writes, at most ``window`` in flight, then a flush."""
    slots = threading.Semaphore(window)
    errors: list[int] = []

    def done(comp: rbd.Completion) -> None:
        if comp.get_return_value() < 0:
            errors.append(comp.get_return_value())
        slots.release()

    for off, data in pieces:
        slots.acquire()
        image.aio_write(data, off, done)
    for _ in range(window):
        slots.acquire()
    image.flush()
    if errors:
        raise OSError(-errors[0], f"rbd aio_write failed ({len(errors)} writes)")


def create_image(ioctx: rados.Ioctx, name: str, size: int) -> None:
    rbd.RBD().create(ioctx, name, size, old_format=False)


def build_image(
    c: Cluster, name: str, size: int, steps: list[tuple[Iterable[tuple[int, bytes]], str]]
) -> None:
    """A new image ``name`` (any old one removed): for each step, write its pieces, then take
    the snapshot it names."""
    with c.ioctx() as io:
        remove_image(io, name)
        create_image(io, name, size)
        with rbd.Image(io, name) as img:
            for pieces, snap in steps:
                write_image(img, pieces)
                img.create_snap(snap)


def allocated_bytes(c: Cluster, name: str, snap: str | None) -> int:
    """What librbd reports as allocated (with fast-diff: whole 4 MiB objects)."""
    with c.ioctx() as io, rbd.Image(io, name, snap, read_only=True) as img:
        return sum(n for _, n in allocated(img))


def drop_image(c: Cluster, name: str) -> None:
    with c.ioctx() as io:
        remove_image(io, name)


def rollback(c: Cluster, name: str, snap: str) -> None:
    with c.ioctx() as io:
        reset_to(io, name, snap)


def remove_image(ioctx: rados.Ioctx, name: str) -> None:
    """Remove ``name`` and its snapshots, if it exists."""
    try:
        with rbd.Image(ioctx, name) as img:
            for s in list(img.list_snaps()):
                if img.is_protected_snap(s["name"]):
                    img.unprotect_snap(s["name"])
                img.remove_snap(s["name"])
    except rbd.ImageNotFound:
        return
    rbd.RBD().remove(ioctx, name)


def reset_to(ioctx: rados.Ioctx, name: str, snap: str) -> None:
    """Drop every snapshot but ``snap`` and roll the image back to it (same state each run)."""
    with rbd.Image(ioctx, name) as img:
        for s in list(img.list_snaps()):
            if s["name"] != snap:
                img.remove_snap(s["name"])
        img.rollback_to_snap(snap)


def allocated(image: rbd.Image) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []

    def cb(off: int, length: int, exists: bool) -> int:
        if exists:
            out.append((off, length))
        return 0

    image.diff_iterate(0, image.size(), None, cb)
    return out


def _merge(extents: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for off, length in sorted(extents):
        if merged and off <= merged[-1][0] + merged[-1][1]:
            end = max(merged[-1][0] + merged[-1][1], off + length)
            merged[-1] = (merged[-1][0], end - merged[-1][0])
        else:
            merged.append((off, length))
    return merged


def _digests(image: rbd.Image, extents: list[tuple[int, int]], window: int = 16) -> list[bytes]:
    """blake2b of every 4 MiB piece of ``extents``, read with aio, in order."""
    pieces = [
        (o, min(PIECE, off + length - o))
        for off, length in extents
        for o in range(off, off + length, PIECE)
    ]
    out: list[bytes] = [b""] * len(pieces)
    slots = threading.Semaphore(window)
    errors: list[int] = []

    def reader(i: int) -> Callable[[rbd.Completion, bytes], None]:
        def done(comp: rbd.Completion, data: bytes) -> None:
            if comp.get_return_value() < 0:
                errors.append(comp.get_return_value())
            else:
                out[i] = hashlib.blake2b(data, digest_size=16).digest()
            slots.release()

        return done

    for i, (off, length) in enumerate(pieces):
        slots.acquire()
        image.aio_read(off, length, reader(i))
    for _ in range(window):
        slots.acquire()
    if errors:
        raise OSError(-errors[0], "rbd aio_read failed")
    return out


def same_images(
    a: Cluster, a_image: str, a_snap: str | None, b: Cluster, b_image: str, b_snap: str | None
) -> bool:
    """Both images hold the same bytes: sizes equal, and every range allocated in either one reads
    the same from both (holes read as zeros). Reads only allocated extents."""
    try:
        return _same_images(a, a_image, a_snap, b, b_image, b_snap)
    except rbd.ImageNotFound:
        return False


def _same_images(
    a: Cluster, a_image: str, a_snap: str | None, b: Cluster, b_image: str, b_snap: str | None
) -> bool:
    with (
        a.ioctx() as ia,
        b.ioctx() as ib,
        rbd.Image(ia, a_image, a_snap, read_only=True) as x,
        rbd.Image(ib, b_image, b_snap, read_only=True) as y,
    ):
        if x.size() != y.size():
            return False
        union = _merge([*allocated(x), *allocated(y)])
        return _digests(x, union) == _digests(y, union)


def pipe(producer: list[str], consumer: list[str], count: bool = False) -> int:
    """Run ``producer | consumer``; return the bytes that went through when ``count`` (a Python
    relay in between), else -1 (a plain OS pipe: nothing in the way)."""
    with tempfile.TemporaryFile() as perr, tempfile.TemporaryFile() as cerr:
        p = subprocess.Popen(producer, stdout=subprocess.PIPE, stderr=perr)
        assert p.stdout is not None
        n = -1
        if count:
            c = subprocess.Popen(consumer, stdin=subprocess.PIPE, stderr=cerr)
            assert c.stdin is not None
            n = 0
            while chunk := os.read(p.stdout.fileno(), MiB):
                c.stdin.write(chunk)
                n += len(chunk)
            c.stdin.close()
        else:
            c = subprocess.Popen(consumer, stdin=p.stdout, stderr=cerr)
        p.stdout.close()
        if p.wait() or c.wait():
            perr.seek(0)
            cerr.seek(0)
            raise RuntimeError(
                f"{' '.join(producer[5:])} | {' '.join(consumer[5:])} failed: "
                f"{perr.read().decode(errors='replace')} {cerr.read().decode(errors='replace')}"
            )
    return n


def settle() -> None:
    """Flush dirty pages (not timed) so one run's background writeback does not slow the next."""
    os.sync()
    time.sleep(0.2)


def versions() -> dict[str, str]:
    def first(cmd: list[str]) -> str:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (r.stdout or r.stderr).splitlines()[0] if (r.stdout or r.stderr) else "?"

    return {"ceph": first(["ceph", "--version"]), "rsync": first(["rsync", "--version"])}
