"""Moving extents between volume files, segments and images without touching holes.

Everything here walks only allocated data (``SEEK_DATA``/``SEEK_HOLE``), so a 100 GiB volume with
1 MiB written costs 1 MiB of reads. Copies between files use ``copy_file_range`` (in-kernel, no
round trip through Python); on ext4 it copies bytes rather than sharing blocks (no reflink), which
is why snapshots store only the extents that changed since the previous one.
"""

from __future__ import annotations

import errno
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from cloudsim.blockstore.manifest import (
    DIGEST_SIZE,
    Manifest,
    extent_count,
    nonzero_runs,
    zero_digest,
)

CHUNK_BYTES = 8 * 1024 * 1024


def data_regions(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """Allocated ``[start, end)`` byte regions of a file, clipped to ``size``."""
    off = 0
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return
            raise
        if start >= size:
            return
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        yield start, end
        off = end


def allocated_extent_runs(fd: int, size: int, extent_size: int) -> Iterator[tuple[int, int]]:
    """Merged ``[first, last)`` extent-index runs that overlap allocated data."""
    cur: tuple[int, int] | None = None
    for start, end in data_regions(fd, size):
        a, b = start // extent_size, -(-end // extent_size)
        if cur is not None and a <= cur[1]:
            cur = (cur[0], max(cur[1], b))
        else:
            if cur is not None:
                yield cur
            cur = (a, b)
    if cur is not None:
        yield cur


def copy_range(src_fd: int, dst_fd: int, offset: int, length: int) -> None:
    """Copy ``length`` bytes at ``offset`` to the same offset, in the kernel when possible."""
    done = 0
    while done < length:
        try:
            n = os.copy_file_range(src_fd, dst_fd, length - done, offset + done, offset + done)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            n = _copy_by_pread(src_fd, dst_fd, offset + done, length - done)
        if n == 0:  # source shorter than expected: the rest reads as zeros, leave the hole
            return
        done += n


def _copy_by_pread(src_fd: int, dst_fd: int, offset: int, length: int) -> int:
    data = os.pread(src_fd, min(length, CHUNK_BYTES), offset)
    if data:
        os.pwrite(dst_fd, data, offset)
    return len(data)


@dataclass
class Capture:
    """A manifest under construction: digests, owners and the segments they point into."""

    size: int
    extent_size: int
    own_segment: str
    digests: bytearray = field(default_factory=bytearray)
    owners: array[int] = field(default_factory=lambda: array("i"))
    segments: list[str] = field(default_factory=list)
    stored_bytes: int = 0

    def __post_init__(self) -> None:
        n = extent_count(self.size, self.extent_size)
        self.digests = bytearray(zero_digest(self.extent_size) * n)
        self.owners = array("i", [-1]) * n
        self.segments = [self.own_segment]

    def segment_index(self, name: str) -> int:
        try:
            return self.segments.index(name)
        except ValueError:
            self.segments.append(name)
            return len(self.segments) - 1

    def compacted(self) -> tuple[array[int], list[str]]:
        """Owners and segments with unused segments (e.g. an empty own segment) dropped."""
        used = sorted(set(self.owners) - {-1})
        if used == list(range(len(used))):  # the usual case: nothing to renumber
            return array("i", self.owners), self.segments[: len(used)]
        remap = {old: new for new, old in enumerate(used)}
        remap[-1] = -1
        owners = array("i", (remap[o] for o in self.owners))
        return owners, [self.segments[i] for i in used]


def capture_file(src_fd: int, cap: Capture, dst_fd: int, parent: Manifest | None) -> None:
    """Digest every allocated extent of ``src_fd``; store those not identical in ``parent``."""
    e, size = cap.extent_size, cap.size
    zero = zero_digest(e)
    per_chunk = max(1, CHUNK_BYTES // e)
    buf = bytearray(per_chunk * e)
    mv = memoryview(buf)
    if parent is not None and parent.extent_size != e:
        parent = None
    for first, last in allocated_extent_runs(src_fd, size, e):
        for chunk_first in range(first, last, per_chunk):
            count = min(per_chunk, last - chunk_first)
            off = chunk_first * e
            length = count * e
            got = _read_full(src_fd, mv[:length], off)
            if got < length:
                mv[got:length] = bytes(length - got)
            run = -1  # first extent (chunk-relative) of a pending run to store
            for j in range(count):
                i = chunk_first + j
                d = xxhash.xxh3_128_digest(mv[j * e : (j + 1) * e])
                store = False
                if d != zero:
                    cap.digests[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] = d
                    if parent is not None and parent.digest(i) == d and i < parent.count:
                        owner = parent.owners[i]
                        if owner >= 0:
                            cap.owners[i] = cap.segment_index(parent.segments[owner])
                        else:
                            store = True
                    else:
                        store = True
                if store:
                    cap.owners[i] = 0
                    if run < 0:
                        run = j
                elif run >= 0:
                    _store(dst_fd, mv, off, run, j, e, size, cap)
                    run = -1
            if run >= 0:
                _store(dst_fd, mv, off, run, count, e, size, cap)


def _store(
    dst_fd: int, mv: memoryview, base: int, j0: int, j1: int, e: int, size: int, cap: Capture
) -> None:
    start = base + j0 * e
    end = min(base + j1 * e, size)
    os.pwrite(dst_fd, mv[j0 * e : j0 * e + (end - start)], start)
    cap.stored_bytes += end - start


def _read_full(fd: int, view: memoryview, offset: int) -> int:
    got = 0
    while got < len(view):
        n = os.preadv(fd, [view[got:]], offset + got)
        if n == 0:
            break
        got += n
    return got


class SegmentFiles:
    """Read-only file descriptors of segment files, opened on first use."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._fds: dict[str, int] = {}

    def fd(self, name: str) -> int:
        if name not in self._fds:
            self._fds[name] = os.open(self._root / name, os.O_RDONLY)
        return self._fds[name]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> SegmentFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def owner_runs(m: Manifest, owners: array[int] | None = None) -> Iterator[tuple[int, int, int]]:
    """``(owner, first, last)`` runs of consecutive data extents stored in the same segment.

    Only extents inside data runs are visited, so a huge sparse image costs little.
    """
    table = m.owners if owners is None else owners
    for first, last in nonzero_runs(m):
        run_owner, run_start = -1, first
        for i in range(first, last):
            o = table[i]
            if o != run_owner:
                if run_owner >= 0:
                    yield run_owner, run_start, i
                run_owner, run_start = o, i
        if run_owner >= 0:
            yield run_owner, run_start, last


def materialize(m: Manifest, root: Path, dst_fd: int) -> None:
    """Write the image's data extents into ``dst_fd`` at their offsets; holes stay holes."""
    e = m.extent_size
    with SegmentFiles(root) as segs:
        for owner, first, last in owner_runs(m):
            start = first * e
            copy_range(segs.fd(m.segments[owner]), dst_fd, start, min(last * e, m.size) - start)


def derive(
    src: Manifest, src_root: Path, cap: Capture, dst_fd: int, parent: Manifest | None
) -> None:
    """Build ``cap`` from an image: extents equal in ``parent`` are shared, others copied."""
    e = cap.extent_size
    if parent is not None and parent.extent_size != e:
        parent = None
    copy_plan = array("i", [-1]) * src.count
    for first, last in nonzero_runs(src):
        for i in range(first, last):
            d = src.digest(i)
            owner = src.owners[i]
            cap.digests[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] = d
            if parent is not None and i < parent.count and parent.digest(i) == d:
                p_owner = parent.owners[i]
                if p_owner >= 0:
                    cap.owners[i] = cap.segment_index(parent.segments[p_owner])
                    continue
            if owner >= 0:
                cap.owners[i] = 0
                copy_plan[i] = owner
    with SegmentFiles(src_root) as segs:
        for owner, first, last in owner_runs(src, copy_plan):
            start = first * e
            length = min(last * e, src.size) - start
            copy_range(segs.fd(src.segments[owner]), dst_fd, start, length)
            cap.stored_bytes += length


def read_image(m: Manifest, root: Path, offset: int, length: int) -> bytes:
    """Bytes ``[offset, offset+length)`` of an image; unstored extents read as zeros."""
    e = m.extent_size
    out = bytearray(length)
    pos = offset
    end = offset + length
    with SegmentFiles(root) as segs:
        while pos < end:
            i = pos // e
            stop = min(end, (i + 1) * e)
            owner = m.owners[i] if i < m.count else -1
            if owner >= 0:
                data = os.pread(segs.fd(m.segments[owner]), stop - pos, pos)
                out[pos - offset : pos - offset + len(data)] = data
            pos = stop
    return bytes(out)
