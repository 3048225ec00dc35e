"""A process-wide write fence: the one-instant guarantee of group snapshots.

Writers may write a volume file directly through its path (the replicator, the guest workload), so
the store cannot serialise writes by owning them. Instead every in-process writer brackets each
write with :meth:`WriteFence.writing`, and :meth:`WriteFence.instant` waits for in-flight writes on
*all* the given files to finish and holds new ones back while a snapshot reads them. That is what
a real array does for a consistency group: a write either completed before the instant or starts
after it, so the copies hold one crash-consistent point across all volumes.

A waiting snapshot blocks new writers on its files (writer starvation would otherwise let a busy
workload postpone a snapshot forever). Writers in other processes are not fenced; the store only
promises crash consistency for writers that share this fence (everything inside cloudsim).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


@functools.lru_cache(maxsize=65536)
def _real(path: str) -> str:
    # realpath walks every component with lstat: per write it was 40% of a busy site's CPU
    # (100 workload writers, P6); a volume file's real path does not change.
    return os.path.realpath(path)


def _keys(paths: Iterable[Path | str]) -> frozenset[str]:
    return frozenset(_real(os.fspath(p)) for p in paths)


class WriteFence:
    """Shared (writer) / exclusive (snapshot) locking of volume files by real path."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._writers: dict[str, int] = {}
        self._held: set[str] = set()
        self._waiting: dict[str, int] = {}

    @contextmanager
    def writing(self, paths: Iterable[Path | str]) -> Iterator[None]:
        """Hold the files open for one write; waits while a snapshot holds or awaits any of them."""
        keys = _keys(paths)
        with self._cond:
            self._cond.wait_for(
                lambda: not any(k in self._held or self._waiting.get(k, 0) for k in keys)
            )
            for k in keys:
                self._writers[k] = self._writers.get(k, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                for k in keys:
                    left = self._writers[k] - 1
                    if left:
                        self._writers[k] = left
                    else:
                        del self._writers[k]
                self._cond.notify_all()

    @contextmanager
    def instant(self, paths: Iterable[Path | str]) -> Iterator[None]:
        """Exclusive hold of all files at once: no write to any of them is in flight inside."""
        keys = _keys(paths)
        with self._cond:
            for k in keys:
                self._waiting[k] = self._waiting.get(k, 0) + 1
            try:
                self._cond.wait_for(
                    lambda: not any(k in self._held or self._writers.get(k, 0) for k in keys)
                )
            finally:
                for k in keys:
                    left = self._waiting[k] - 1
                    if left:
                        self._waiting[k] = left
                    else:
                        del self._waiting[k]
            self._held.update(keys)
        try:
            yield
        finally:
            with self._cond:
                self._held.difference_update(keys)
                self._cond.notify_all()


WRITE_FENCE = WriteFence()
"""The fence shared by the block store and the guest workloads of this process."""
