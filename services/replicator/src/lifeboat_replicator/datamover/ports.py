"""The data mover's ports: where a volume's bytes come from and where the replica's go.

The data mover is written against these two protocols; `files.py` holds the file and block
device adapters (the default when a path is given), the replicator's `adapters.rbd_volumes`
the librbd ones. Implementations raise OSError for I/O failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


class BlockSource(Protocol):
    """Read access to a volume (immutable while it is being sent: a snapshot)."""

    @property
    def size(self) -> int:
        """Bytes readable; reads past it return zeros."""
        ...

    def read_into(self, view: memoryview, offset: int) -> None:
        """Fill all of `view` with the bytes at `offset` (zeros past `size`)."""
        ...

    def data_ranges(self, start: int, end: int) -> list[tuple[int, int]]:
        """Sorted, disjoint [a, b) ranges inside [start, end) that may hold data: everything
        else reads as zeros, is not read and travels as ZERO records."""
        ...


@runtime_checkable
class ReadsMany(Protocol):
    """Optional hook of a BlockSource: fill several (offset, view) at once, overlapping I/O."""

    def read_many(self, reads: Sequence[tuple[int, memoryview]]) -> None: ...


class BlockTarget(BlockSource, Protocol):
    """Write access to a replica. `write`/`zero` may complete asynchronously: only a `sync` that
    returned covers them (the receiver acknowledges nothing before it), and a failed earlier
    write must make a later `write`, `zero` or `sync` raise. Never called concurrently except
    `sync` beside `write`/`zero` (the receiver's syncer and writer threads)."""

    def write(self, view: memoryview, offset: int) -> None:
        """Write all of `view` at `offset` (the view's buffer is reused once this returns)."""
        ...

    def zero(self, offset: int, length: int) -> None:
        """Make [offset, offset + length) read as zeros (punch, discard or write zeros)."""
        ...

    def sync(self) -> None:
        """Make every write and zero issued before this call durable."""
        ...

    def close(self) -> None:
        """Release the target (idempotent); does not imply `sync`."""
        ...


def read_many(source: BlockSource, reads: Sequence[tuple[int, memoryview]]) -> None:
    """Fill every (offset, view) of `reads` through the source's hook if it has one."""
    if isinstance(source, ReadsMany):
        source.read_many(reads)
        return
    for offset, view in reads:
        source.read_into(view, offset)
