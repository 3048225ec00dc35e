"""Hash half of a large source in a forked helper process (the other core), group hashes only.

Why a process: python-xxhash keeps the GIL, so two threads hash no faster than one (measured),
and a hashing pass over the whole source is the main cost of a manifest delta (P1). The child
only maps the file, hashes and writes the result to a pipe, then `os._exit`s: it takes no lock,
logs nothing and imports nothing, so forking from a threaded process is safe here. Any failure
(no fork, child crash, short result) makes the caller hash that half itself.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .blocks import GROUP

PARALLEL_MIN = 256 * 1024 * 1024
BlocksCallback = Callable[[int, list[int]], None]  # below this the fork costs more than it saves


def split(ranges: Sequence[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Cut group-aligned ranges at the group boundary nearest half of their bytes."""
    half = sum(b - a for a, b in ranges) // 2
    mine: list[tuple[int, int]] = []
    theirs: list[tuple[int, int]] = []
    acc = 0
    for a, b in ranges:
        if acc >= half:
            theirs.append((a, b))
        elif acc + (b - a) <= half:
            mine.append((a, b))
        else:
            cut = a + (half - acc) // GROUP * GROUP
            if cut > a:
                mine.append((a, cut))
            theirs.append((cut, b))
        acc += b - a
    return mine, theirs


def _groups_of(ranges: Sequence[tuple[int, int]]) -> Iterator[int]:
    for a, b in ranges:
        yield from range(a // GROUP, -(-b // GROUP))


@dataclass
class Helper:
    pid: int
    rfd: int
    ranges: list[tuple[int, int]]

    def groups(self) -> Iterator[int]:
        return _groups_of(self.ranges)

    def collect(
        self, groups: array[int], on_blocks: Callable[[int, list[int]], None] | None
    ) -> bool:
        """Read the child's results into `groups` (and hand its block hashes to `on_blocks`);
        False if it failed (the caller then redoes the half)."""
        chunks: list[bytes] = []
        try:
            while True:
                data = os.read(self.rfd, 1 << 20)
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(self.rfd)
            _, status = os.waitpid(self.pid, 0)
        raw = array("Q")
        data = b"".join(chunks)
        wanted = list(self.groups())
        if status != 0 or len(data) % 8 or len(data) < 8 * len(wanted):
            return False
        raw.frombytes(data)
        for g, h in zip(wanted, raw[: len(wanted)], strict=True):
            groups[g] = h
        pos = len(wanted)  # then records: group, count, count block hashes
        while pos + 2 <= len(raw):
            g, n = raw[pos], raw[pos + 1]
            if on_blocks is not None:
                on_blocks(g, list(raw[pos + 2 : pos + 2 + n]))
            pos += 2 + n
        return pos == len(raw)


def start(
    run: Callable[[BlocksCallback | None], None],
    ranges: list[tuple[int, int]],
    groups: array[int],
) -> Helper | None:
    """Fork a child that runs `run(on_blocks)` (filling its copy of `groups` for `ranges`) and
    sends back the group hashes plus the block-hash records; None if it cannot fork here."""
    if not ranges or not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        return None
    rfd, wfd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(rfd)
        os.close(wfd)
        return None
    if pid == 0:  # child: no locks, no logging, no imports; always _exit
        code = 1
        try:
            os.close(rfd)
            records = array("Q")

            def keep(g: int, hashes: list[int]) -> None:
                records.extend((g, len(hashes), *hashes))

            run(keep)
            out = array("Q", (groups[g] for g in _groups_of(ranges)))
            out.extend(records)
            view = memoryview(out.tobytes())
            while view:
                view = view[os.write(wfd, view) :]
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    return Helper(pid, rfd, ranges)
