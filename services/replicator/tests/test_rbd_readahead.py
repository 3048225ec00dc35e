"""ReadAhead against a fake aio image: bytes served, what is read ahead, errors, close."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from lifeboat_replicator.adapters.rbd_readahead import PIECE, ReadAhead

MiB = 1024 * 1024


class FakeImage:
    """Completes aio reads on a thread after a short delay, like librbd's finisher."""

    def __init__(self, data: bytes, ranges: list[tuple[int, int]]) -> None:
        self.data, self.ranges = data, ranges
        self.issued: list[tuple[int, int]] = []
        self.fail_at: int | None = None
        self.threads: list[threading.Thread] = []

    def aio_read(self, offset: int, length: int, done: Callable[[Any, Any], None]) -> None:
        self.issued.append((offset, length))
        ret = -5 if self.fail_at is not None and offset <= self.fail_at < offset + length else 0

        class Completion:
            def get_return_value(self) -> int:
                return ret

        def run() -> None:
            time.sleep(0.002)
            done(Completion(), self.data[offset : offset + length] if ret == 0 else None)

        t = threading.Thread(target=run)
        self.threads.append(t)
        t.start()

    def read(self, parts: list[tuple[int, memoryview]], ahead: ReadAhead) -> None:
        for offset, view in ahead.serve(parts):  # misses: "direct" reads
            view[:] = self.data[offset : offset + len(view)]


def _setup(size: int, ranges: list[tuple[int, int]]) -> tuple[FakeImage, ReadAhead]:
    data = bytearray(size)
    for a, b in ranges:
        data[a:b] = os.urandom(b - a)
    img = FakeImage(bytes(data), ranges)
    return img, ReadAhead("fake", img.aio_read, lambda: list(ranges), budget=8 * MiB)


def test_sequential_reads_are_served_from_read_ahead() -> None:
    size = 64 * MiB
    img, ahead = _setup(size, [(0, size)])
    buf = bytearray(PIECE)
    for off in range(0, size, PIECE):
        img.read([(off, memoryview(buf))], ahead)
        assert bytes(buf) == img.data[off : off + PIECE]
    assert ahead.misses == 1 and ahead.hits == size // PIECE - 1
    assert sorted(img.issued) == [(o, PIECE) for o in range(PIECE, size, PIECE)]  # once each
    ahead.close()


def test_holes_are_not_read_ahead_and_random_reads_stay_correct() -> None:
    size = 48 * MiB
    ranges = [(a, a + MiB) for a in range(0, size, 3 * MiB)]  # data runs with holes between
    img, ahead = _setup(size, ranges)
    for a, b in ranges:  # the sender's walk: data runs in order
        buf = bytearray(b - a)
        img.read([(a, memoryview(buf))], ahead)
        assert bytes(buf) == img.data[a:b]
    assert all(any(a <= o and o + n <= b for a, b in ranges) for o, n in img.issued)
    assert ahead.hits > len(ranges) // 2
    rng = random.Random(1)
    for _ in range(200):  # random and re-reads, some over the read-ahead window
        o = rng.randrange(0, size - 64 * 1024)
        n = rng.randrange(1, 64 * 1024)
        buf = bytearray(n)
        img.read([(o, memoryview(buf))], ahead)
        assert bytes(buf) == img.data[o : o + n]
    ahead.close()


def test_sparse_reads_never_read_ahead() -> None:
    size = 64 * MiB
    img, ahead = _setup(size, [(0, size)])
    rng = random.Random(2)
    for _ in range(5):  # a delta's chunk: many 4 KiB blocks spread over the image
        blocks = sorted(rng.sample(range(size // 4096), 64))
        bufs = [bytearray(4096) for _ in blocks]
        pairs = list(zip(blocks, bufs, strict=True))
        img.read([(b * 4096, memoryview(x)) for b, x in pairs], ahead)
        assert all(bytes(x) == img.data[b * 4096 : b * 4096 + 4096] for b, x in pairs)
    assert img.issued == []
    ahead.close()


def test_failed_read_ahead_raises_where_needed_and_close_waits() -> None:
    size = 64 * MiB
    img, ahead = _setup(size, [(0, size)])
    img.fail_at = 6 * PIECE
    buf = bytearray(PIECE)
    for off in range(0, 6 * PIECE, PIECE):
        img.read([(off, memoryview(buf))], ahead)
    with pytest.raises(OSError, match="read of fake") as info:
        img.read([(6 * PIECE, memoryview(buf))], ahead)
    assert info.value.errno == 5
    ahead.close()
    assert ahead._inflight == 0  # every aio read completed before close returned
