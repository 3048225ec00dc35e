"""Block manifests: xxh3-64 per 4 KiB block plus per 64 KiB group of what a replica holds.

A manifest lets the next hash-compare delta run without asking the DR site anything: the sender
hashes its source per 64 KiB group, compares with the manifest's groups, and hashes single blocks
only inside groups that differ. File layout (little endian), written atomically (tmp + fsync +
rename):

    magic b"LBMANIF1" | u32 block size | u32 blocks per group | u64 volume size
    | u64 block count | u64 group count | 24 zero bytes            (64-byte header)
    block hashes: block count x u64
    group hashes: group count x u64
    u64 xxh3-64 of everything above (detects a torn or edited file)
"""

from __future__ import annotations

import os
import struct
from array import array
from dataclasses import dataclass
from pathlib import Path

import xxhash

from .blocks import BLOCK, GROUP, GROUP_BLOCKS

_MAGIC = b"LBMANIF1"
_HEADER = struct.Struct("<8sIIQQQ24x")


def block_count(size: int) -> int:
    return -(-size // BLOCK)


def group_count(size: int) -> int:
    return -(-size // GROUP)


@dataclass
class Manifest:
    """Hashes of a volume's content; `blocks[i]` covers bytes [i*BLOCK, (i+1)*BLOCK)."""

    size: int
    blocks: array[int]
    groups: array[int]

    @classmethod
    def empty(cls, size: int) -> Manifest:
        return cls(
            size, array("Q", bytes(8 * block_count(size))), array("Q", bytes(8 * group_count(size)))
        )

    def save(self, path: Path) -> None:
        head = _HEADER.pack(
            _MAGIC, BLOCK, GROUP_BLOCKS, self.size, len(self.blocks), len(self.groups)
        )
        # Written and hashed piece by piece: no copy of the arrays (4 MiB per 2 GiB of volume,
        # times the streams running at once: bench/memory.py).
        digest = xxhash.xxh3_64()
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for part in (head, memoryview(self.blocks), memoryview(self.groups)):
                view = memoryview(part).cast("B")
                digest.update(view)
                while view:
                    view = view[os.write(fd, view) :]
            os.write(fd, struct.pack("<Q", digest.intdigest()))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    @classmethod
    def load(cls, path: Path, size: int) -> Manifest:
        """Read and check a manifest; ValueError naming the problem if it does not fit `size`."""
        # Read straight into the arrays, hashed piece by piece: no copy of the file in memory
        # (2 MiB per GiB of volume, times the streams running at once: bench/memory.py).
        try:
            with open(path, "rb") as f:
                length = os.fstat(f.fileno()).st_size
                head = f.read(_HEADER.size)
                if length < _HEADER.size + 8 or not head.startswith(_MAGIC):
                    raise ValueError(f"base_manifest {path}: not a Lifeboat block manifest")
                _, bsize, gblocks, msize, nblocks, ngroups = _HEADER.unpack(head)
                if length != _HEADER.size + 8 * (nblocks + ngroups) + 8:
                    raise ValueError(
                        f"base_manifest {path}: checksum mismatch (torn or edited file)"
                    )
                digest = xxhash.xxh3_64(head)
                blocks = array("Q", [0]) * nblocks
                groups = array("Q", [0]) * ngroups
                for arr in (blocks, groups):
                    view = memoryview(arr).cast("B")
                    if f.readinto(view) != len(view):
                        raise ValueError(
                            f"base_manifest {path}: checksum mismatch (torn or edited file)"
                        )
                    digest.update(view)
                (check,) = struct.unpack("<Q", f.read(8))
        except OSError as exc:
            raise ValueError(f"base_manifest {path}: cannot read: {exc.strerror}") from exc
        if digest.intdigest() != check:
            raise ValueError(f"base_manifest {path}: checksum mismatch (torn or edited file)")
        if (bsize, gblocks) != (BLOCK, GROUP_BLOCKS):
            raise ValueError(f"base_manifest {path}: block size {bsize}x{gblocks} not supported")
        if msize != size:
            raise ValueError(f"base_manifest {path}: describes {msize} bytes, volume is {size}")
        if nblocks != block_count(size) or ngroups != group_count(size):
            raise ValueError(f"base_manifest {path}: wrong block/group count")
        return cls(size, blocks, groups)
