"""File and block device adapters of the ports: what a `Path` source or target means.

Same behaviour (and speed) as before the ports existed: `preadv` into the caller's aligned buffer,
holes by SEEK_DATA/SEEK_HOLE, hashing passes that mmap the file (plan.hash_ranges checks for a
FileSource), `O_DIRECT` for large aligned runs, `fallocate(PUNCH_HOLE)`, `fdatasync`.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from .blocks import data_ranges, device_size, punch_hole, read_exact

_ALIGN = 4096
_DIRECT_MIN = 2 * 1024 * 1024  # smaller runs: buffered was faster (P4: 1 MiB runs into holes)


class FileSource:
    """A readable file or block device (by descriptor; `open` owns the one it opens)."""

    def __init__(self, fd: int, *, owned: bool = False) -> None:
        self.fd = fd
        self._owned = owned
        self._size = device_size(fd)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> FileSource:
        return cls(os.open(path, os.O_RDONLY), owned=True)

    @property
    def size(self) -> int:
        return self._size

    def read_into(self, view: memoryview, offset: int) -> None:
        read_exact(self.fd, view, offset)

    def read_many(self, reads: Sequence[tuple[int, memoryview]]) -> None:
        for offset, view in reads:
            read_exact(self.fd, view, offset)

    def data_ranges(self, start: int, end: int) -> list[tuple[int, int]]:
        return data_ranges(self.fd, start, end)

    def close(self) -> None:
        if self._owned and self.fd >= 0:
            os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_direct(fd: int) -> int | None:
    """A second descriptor on the target with O_DIRECT, or None where unsupported (tmpfs...).

    Measured here: 1 GiB in 1 MiB O_DIRECT writes 0.48 s and 0.05 s CPU, buffered writes
    0.2-2.5 s CPU (page-cache pressure on the shared host) plus 0.4 s for the fdatasync.
    """
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | flag)
    except OSError:
        return None


def _address(view: memoryview) -> int | None:
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(view))
    except (TypeError, ValueError):  # read-only (decompressed) or not contiguous
        return None


class FileTarget(FileSource):
    """A writable replica file or block device: pwrite (O_DIRECT for large aligned runs),
    punch_hole, fdatasync."""

    def __init__(self, fd: int, *, owned: bool = False) -> None:
        super().__init__(fd, owned=owned)
        self.dfd = _open_direct(fd)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> FileTarget:
        return cls(os.open(Path(path), os.O_RDWR), owned=True)

    def write(self, view: memoryview, offset: int) -> None:
        ln = len(view)
        w = 0
        # Large aligned runs straight from the aligned receive buffer to the device: no
        # page-cache copy, and no dirty pages for the next fdatasync to flush.
        if self.dfd is not None and ln >= _DIRECT_MIN and not (offset | ln) % _ALIGN:
            addr = _address(view)
            if addr is not None and not addr % _ALIGN:
                try:
                    w = os.pwrite(self.dfd, view, offset)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    os.close(self.dfd)  # opened, but this filesystem refuses direct writes
                    self.dfd = None
        while w < ln:
            w += os.pwrite(self.fd, view[w:], offset + w)

    def zero(self, offset: int, length: int) -> None:
        punch_hole(self.fd, offset, length)

    def sync(self) -> None:
        os.fdatasync(self.fd)

    def close(self) -> None:
        if self.dfd is not None:
            os.close(self.dfd)
            self.dfd = None
        super().close()
