"""A snapshot's bytes read through the site's own API (cloudsim's snapshot block reads, like the
EBS direct APIs' GetSnapshotBlock): no temporary volume, no attachment, nothing materialised at
the site. Used when the changed extents are known, so the sender reads exactly those ranges.
"""

from __future__ import annotations

from collections.abc import Callable

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from lifeboat_shared.cloud import RateLimited, Unavailable

MAX_REQUEST = 16 * 1024 * 1024  # bytes per API request


class ApiSnapshotSource:
    """A BlockSource over `read(offset, into)` filling the memoryview (blocking: data-mover
    threads)."""

    def __init__(self, read: Callable[[int, memoryview], None], size: int) -> None:
        self._read = read
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def read_into(self, view: memoryview, offset: int) -> None:
        pos = 0
        while pos < len(view):
            at = offset + pos
            if at >= self._size:
                view[pos:] = bytes(len(view) - pos)
                return
            n = min(len(view) - pos, MAX_REQUEST, self._size - at)
            # A busy site's 429/503 is retried a few times (reads are idempotent); what still
            # fails reaches the cycle as the cloud error it is (Unavailable: retried later).
            for attempt in Retrying(
                retry=retry_if_exception_type((Unavailable, RateLimited)),
                stop=stop_after_attempt(4),
                wait=wait_exponential(multiplier=0.2, max=2.0),
                reraise=True,
            ):
                with attempt:
                    self._read(at, view[pos : pos + n])
            pos += n

    def data_ranges(self, start: int, end: int) -> list[tuple[int, int]]:
        # The API does not say where the holes are: everything asked for is read.
        return [(start, min(end, self._size))] if start < min(end, self._size) else []
