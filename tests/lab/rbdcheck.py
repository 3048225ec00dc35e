"""The test's own view of two Ceph clusters (admin keys): write into a volume's image as its guest
would, and hash what an image holds at a snapshot or now, reading only allocated extents."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rados  # Debian's python3-rados (deploy/ceph/ceph-local.sh python-shim)
import rbd  # Debian's python3-rbd
import xxhash

POOL = "volumes"
_ZEROS = bytes(4 << 20)


@dataclass(frozen=True)
class Cluster:
    """One site's Ceph cluster as the test's admin sees it."""

    ceph_dir: Path

    @contextmanager
    def ioctx(self) -> Iterator[Any]:
        conn = rados.Rados(
            conffile=str(self.ceph_dir / "ceph.conf"),
            conf={"keyring": str(self.ceph_dir / "client.admin.keyring")},
        )
        conn.connect(timeout=30)
        try:
            io = conn.open_ioctx(POOL)
            try:
                yield io
            finally:
                io.close()
        finally:
            conn.shutdown()

    def write_as_guest(self, volume_id: str, blocks: int, seed: int) -> int:
        """`blocks` random 4 KiB writes into the volume's image (what a guest's writes become on
        Ceph); returns the bytes written."""
        rng = random.Random(seed)
        with self.ioctx() as io, rbd.Image(io, f"volume-{volume_id}") as img:
            size = img.size()
            done = []
            for _ in range(blocks):
                off = rng.randrange(0, size // 4096) * 4096
                done.append(img.aio_write(os.urandom(4096), off, lambda *_: None))
            img.flush()
            for c in done:
                c.wait_for_complete_and_cb()
        return blocks * 4096

    def content_hash(self, image: str, snapshot: str | None = None) -> str:
        """xxh3-128 of the image's bytes (at `snapshot`), holes hashed as zeros without reading."""
        with self.ioctx() as io, rbd.Image(io, image, snapshot=snapshot, read_only=True) as img:
            size = img.size()
            extents: list[tuple[int, int]] = []
            img.diff_iterate(0, size, None, lambda o, n, e: extents.append((o, n)) if e else None)
            h = xxhash.xxh3_128()
            pos = 0
            for off, length in sorted(extents):
                _zeros(h, off - pos)
                end = off + length
                while off < end:
                    n = min(4 << 20, end - off)
                    h.update(img.read(off, n))
                    off += n
                pos = end
            _zeros(h, size - pos)
            return f"{size}:{h.hexdigest()}"


def _zeros(h: Any, n: int) -> None:
    while n > 0:
        step = min(n, len(_ZEROS))
        h.update(_ZEROS[:step])
        n -= step
