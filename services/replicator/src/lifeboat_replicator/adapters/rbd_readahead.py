"""Read-ahead for an RBD snapshot read in order (the sender's chunks, hashing passes).

One synchronous 4 MiB librbd read per chunk is latency bound (the OSD round trip, not the
bandwidth): once reads walk the allocated data in order, `ReadAhead` keeps aio reads of the next
object-sized pieces of allocated data in flight (<= `budget` bytes issued or held) and serves
reads from the completed buffers (one copy). Anything it does not hold is left to the caller
(a direct read), so any access pattern stays correct: the snapshot never changes.

A call counts as sequential when it hits a piece read ahead, or when it starts at or after the
previous call's end, skipping at most a quarter of its own bytes of allocated data, and reads
at least 3/4 of the allocated bytes of its span (a delta's scattered blocks never do: nothing is
read ahead for them). A failed aio read raises OSError in the call that needs its bytes.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

PIECE = 4 * 1024 * 1024  # rbd's default object size: read-ahead pieces never cross one
BUDGET = 32 * 1024 * 1024  # bytes read ahead (in flight or waiting to be read)


class _Piece:
    __slots__ = ("data", "done", "dropped", "end", "offset", "ret")

    def __init__(self, offset: int, end: int) -> None:
        self.offset, self.end = offset, end
        self.data: bytes = b""
        self.ret = 0
        self.done = False
        self.dropped = False


class ReadAhead:
    """`serve(parts)` fills the parts it can from read-ahead and returns the others."""

    def __init__(
        self,
        name: str,
        issue: Callable[[int, int, Callable[[Any, Any], None]], None],
        allocated: Callable[[], list[tuple[int, int]]],
        budget: int = BUDGET,
    ) -> None:
        self.name, self._issue_read, self._allocated = name, issue, allocated
        self.budget = budget
        self._cond = threading.Condition(threading.RLock())
        self._pieces: list[_Piece] = []  # sorted, disjoint, contiguous over allocated data
        self._next = 0  # where the next piece is issued from
        self._prev_end: int | None = None
        self._inflight = 0  # bytes issued and not completed (dropped ones included)
        self._held = 0  # bytes completed and kept
        self._map: list[tuple[int, int]] | None = None
        self._starts: list[int] = []
        self.hits = self.misses = 0

    # -- allocation map -----------------------------------------------------------------------
    def _alloc(self) -> list[tuple[int, int]]:
        if self._map is None:
            self._map = self._allocated()
            self._starts = [a for a, _ in self._map]
        return self._map

    def _alloc_bytes(self, a: int, b: int) -> int:
        ranges = self._alloc()
        i = max(0, bisect.bisect_right(self._starts, a) - 1)
        n = 0
        while i < len(ranges) and ranges[i][0] < b:
            n += max(0, min(b, ranges[i][1]) - max(a, ranges[i][0]))
            i += 1
        return n

    # -- serving ------------------------------------------------------------------------------
    def serve(self, parts: Sequence[tuple[int, memoryview]]) -> list[tuple[int, memoryview]]:
        if not parts:
            return []
        lo = min(o for o, _ in parts)
        hi = max(o + len(v) for o, v in parts)
        want = sum(len(v) for _, v in parts)
        plans: list[tuple[int, memoryview, list[_Piece]]] = []
        missed: list[tuple[int, memoryview]] = []
        with self._cond:
            hit = any(p.offset < hi and p.end > lo for p in self._pieces)
            if self._sequential(lo, hi, want, hit):
                self._advance(lo, hi, want, hit)
            self._prev_end = hi
            for offset, view in parts:
                covering = self._covering(offset, offset + len(view))
                if covering is None:
                    missed.append((offset, view))
                else:
                    plans.append((offset, view, covering))
            while any(not p.done for _, _, ps in plans for p in ps):
                self._cond.wait()
        for offset, view, covering in plans:
            self._copy(offset, view, covering)
        with self._cond:
            self.hits += len(plans)
            self.misses += len(missed)
            if plans:  # read: what lies behind is not needed again in order
                self._drop(lambda p: p.end <= hi)
        return missed

    def _sequential(self, lo: int, hi: int, want: int, hit: bool) -> bool:
        if 4 * want < 3 * self._alloc_bytes(lo, hi):
            return False  # sparse reads (a delta's blocks): never read ahead
        if hit:
            return True
        prev = self._prev_end
        return prev is not None and lo >= prev and self._alloc_bytes(prev, lo) <= want // 4

    def _advance(self, lo: int, hi: int, want: int, hit: bool) -> None:
        if hit:
            self._drop(lambda p: p.end <= lo)
        else:
            self._drop(lambda p: True)
            self._next = lo
        ranges = self._alloc()
        i = max(0, bisect.bisect_right(self._starts, self._next) - 1)
        while i < len(ranges):
            a, b = ranges[i]
            pos = max(a, self._next)
            if pos >= b:
                i += 1
                continue
            if pos >= hi and self._inflight + self._held >= self.budget + want:
                return
            end = min(b, (pos // PIECE + 1) * PIECE)
            self._start(pos, end)
            self._next = end

    def _start(self, offset: int, end: int) -> None:
        piece = _Piece(offset, end)
        self._pieces.append(piece)
        self._inflight += end - offset

        def done(completion: Any, data: Any) -> None:
            ret = -5
            try:
                ret = int(completion.get_return_value())
            finally:
                self._finish(piece, ret, data if ret >= 0 else b"")

        try:
            self._issue_read(offset, end - offset, done)
        except OSError as exc:
            self._finish(piece, -(exc.errno or 5), b"")

    def _finish(self, piece: _Piece, ret: int, data: bytes) -> None:
        with self._cond:
            self._inflight -= piece.end - piece.offset
            piece.ret, piece.done, piece.data = ret, True, data
            if not piece.dropped:
                self._held += piece.end - piece.offset
            self._cond.notify_all()

    def _drop(self, which: Callable[[_Piece], bool]) -> None:
        keep: list[_Piece] = []
        for p in self._pieces:
            if not which(p):
                keep.append(p)
                continue
            p.dropped = True  # its bytes go with the last reference (a reader may hold it)
            if p.done:
                self._held -= p.end - p.offset
        self._pieces = keep

    def _covering(self, a: int, b: int) -> list[_Piece] | None:
        """The pieces that together hold all of [a, b), else None."""
        out: list[_Piece] = []
        pos = a
        for p in self._pieces:
            if p.end <= pos:
                continue
            if p.offset > pos:
                return None
            out.append(p)
            pos = p.end
            if pos >= b:
                return out
        return None

    def _copy(self, offset: int, view: memoryview, pieces: list[_Piece]) -> None:
        end = offset + len(view)
        for p in pieces:
            if p.ret < 0:
                raise OSError(-p.ret, f"read of {self.name}: {os.strerror(-p.ret)}")
            a, b = max(offset, p.offset), min(end, p.end)
            got = max(0, min(b, p.offset + len(p.data)) - a)  # a short read: zeros after it
            if got:
                view[a - offset : a - offset + got] = memoryview(p.data)[a - p.offset :][:got]
            if got < b - a:
                view[a - offset + got : b - offset] = bytes(b - a - got)

    def close(self, timeout: float = 120.0) -> None:
        """Forget every piece; wait (bounded) for the aio reads still in flight."""
        with self._cond:
            self._drop(lambda p: True)
            self._cond.wait_for(lambda: self._inflight <= 0, timeout)
