"""Block-level helpers shared by sender and receiver: sizes, aligned buffers, hashing, holes.

Why these choices (measured on the 2-core dev machine, see README):
- 4 KiB blocks are the unit of comparison, so a 1% scattered 4 KiB change costs ~1% on the wire;
  64 KiB groups are hashed first (one xxh3 call per 64 KiB is ~5x cheaper in Python than 16 calls)
  and blocks are only hashed inside groups that differ.
- Buffers are anonymous mmaps: page-aligned, reused for the whole transfer (reads into a
  misaligned bytearray measured ~4x slower, fresh buffers per chunk page-fault).
- Holes are found with SEEK_DATA/SEEK_HOLE so a sparse volume is not read nor sent, and the
  receiver punches holes (FALLOC_FL_PUNCH_HOLE through libc; os.posix_fallocate cannot).
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import errno
import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import xxhash

from .ports import BlockSource

BLOCK = 4096
GROUP_BLOCKS = 16
GROUP = BLOCK * GROUP_BLOCKS
DEFAULT_CHUNK = 4 * 1024 * 1024  # see README "Performance": best of 1/2/4/8 MiB with O_DIRECT
MAX_CHUNK = 16 * 1024 * 1024
MIN_CHUNK = GROUP
# Room in a frame beyond a chunk's payload: piece tables, hash lists (a 16 MiB chunk of 4 KiB
# fragments has at most 8192 pieces = 104 KiB of table).
FRAME_ROOM = 1024 * 1024

hash64 = xxhash.xxh3_64_intdigest
_ZERO = bytes(GROUP)


@dataclass(frozen=True)
class Extent:
    """A byte range of the volume: [offset, offset + length).

    `zero=True`: the range reads as zeros at the source (a discarded or never written range, e.g.
    librbd's diff with exists=False): it reaches the replica as ZERO records, never read or sent.
    """

    offset: int
    length: int
    zero: bool = False


def zero_hash(length: int) -> int:
    """xxh3-64 of `length` zero bytes (a hole hashes like zeros)."""
    if length == GROUP:
        return ZERO_GROUP_HASH
    if length == BLOCK:
        return ZERO_BLOCK_HASH
    return hash64(bytes(length))


ZERO_GROUP_HASH = hash64(_ZERO)
ZERO_BLOCK_HASH = hash64(_ZERO[:BLOCK])


def is_zero(view: memoryview) -> bool:
    """True if every byte is zero (bytes.startswith is a memcmp: ~1 us per 64 KiB, while
    memoryview == bytes compares item by item, ~60x slower)."""
    n = len(view)
    return all(_ZERO.startswith(view[i : min(i + GROUP, n)]) for i in range(0, n, GROUP))


def aligned_buffer(size: int) -> tuple[mmap.mmap, memoryview]:
    """A page-aligned reusable buffer (anonymous mmap) and a memoryview on it."""
    size = max(mmap.PAGESIZE, -(-size // mmap.PAGESIZE) * mmap.PAGESIZE)
    buf = mmap.mmap(-1, size)
    return buf, memoryview(buf)


def read_exact(fd: int, view: memoryview, offset: int) -> None:
    """Fill `view` from `fd` at `offset`; bytes past end of file read as zeros."""
    done = 0
    n = len(view)
    while done < n:
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            view[done:] = _zeros(n - done)
            return
        done += got


def _zeros(n: int) -> bytes:
    return _ZERO[:n] if n <= GROUP else bytes(n)


def device_size(fd: int) -> int:
    """Size of a file or block device (st_size is 0 for block devices)."""
    return os.lseek(fd, 0, os.SEEK_END)


def data_ranges(fd: int, start: int, end: int) -> list[tuple[int, int]]:
    """Allocated (data) ranges of [start, end) via SEEK_DATA/SEEK_HOLE; all data if unsupported."""
    out: list[tuple[int, int]] = []
    pos = start
    try:
        while pos < end:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data after pos
                    break
                raise
            if data >= end:
                break
            hole = min(os.lseek(fd, data, os.SEEK_HOLE), end)
            out.append((data, hole))
            pos = hole
    except OSError:
        return [(start, end)]
    return out


def subtract(
    ranges: Sequence[tuple[int, int]], holes: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Sorted disjoint [a, b) `ranges` minus sorted disjoint [a, b) `holes`."""
    out: list[tuple[int, int]] = []
    i = 0
    for a, b in ranges:
        while i < len(holes) and holes[i][1] <= a:
            i += 1
        j = i
        while a < b and j < len(holes) and holes[j][0] < b:
            ha, hb = holes[j]
            if ha > a:
                out.append((a, ha))
            a = max(a, hb)
            j += 1
        if a < b:
            out.append((a, b))
    return out


class DataMap:
    """Allocated ranges of a source, computed once, queried per chunk (sorted, disjoint).

    `source` is a BlockSource or a file descriptor; `holes` ([a, b), sorted, disjoint) are known
    to read as zeros (zero extents) and are treated as holes: never read, sent as ZERO pieces.
    """

    def __init__(
        self, source: int | BlockSource, size: int, holes: Sequence[tuple[int, int]] = ()
    ) -> None:
        if isinstance(source, int):
            ranges = data_ranges(source, 0, size)
        else:
            ranges = source.data_ranges(0, size) if size else []
        self.ranges = subtract(ranges, holes) if holes else ranges
        self._starts = [a for a, _ in self.ranges]
        self._full = self.ranges == [(0, size)]  # fully allocated: no lookups needed

    def split(self, offset: int, length: int) -> list[tuple[int, int, bool]]:
        """Cut [offset, offset+length) into (offset, length, is_data) runs (within the size)."""

        if self._full:
            return [(offset, length, True)]
        end = offset + length
        out: list[tuple[int, int, bool]] = []
        i = max(0, bisect.bisect_right(self._starts, offset) - 1)
        pos = offset
        while pos < end and i < len(self.ranges):
            a, b = self.ranges[i]
            if b <= pos:
                i += 1
                continue
            if a >= end:
                break
            if a > pos:
                out.append((pos, a - pos, False))
                pos = a
            stop = min(b, end)
            out.append((pos, stop - pos, True))
            pos = stop
            i += 1
        if pos < end:
            out.append((pos, end - pos, False))
        return out

    def is_hole(self, offset: int, length: int) -> bool:
        return all(not d for _, _, d in self.split(offset, length))


_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02
_libc: ctypes.CDLL | None = None


def _fallocate() -> Any:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        if name is None:
            return None
        _libc = ctypes.CDLL(name, use_errno=True)
    fn = _libc.fallocate
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    fn.restype = ctypes.c_int
    return fn


def punch_hole(fd: int, offset: int, length: int) -> None:
    """Make [offset, offset+length) read as zeros, deallocating it where the filesystem can.

    Falls back to writing zeros, but only over ranges that hold data (a hole already reads zero),
    so a sparse replica stays sparse.
    """
    present = data_ranges(fd, offset, offset + length)
    if not present:
        return  # already a hole (one lseek; a punch on ext4 costs a journal transaction)
    fn = _fallocate()
    if fn is not None and fn(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, length) == 0:
        return
    for a, b in present:
        pos = a
        while pos < b:
            n = min(GROUP, b - pos)
            os.pwrite(fd, _ZERO[:n], pos)
            pos += n
