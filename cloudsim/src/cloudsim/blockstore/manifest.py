"""Extent manifests: what a snapshot or a backup holds, one digest and one owner per extent.

A manifest is the whole change-tracking state. For each fixed-size extent it keeps the xxh3-128
digest of the extent's bytes (zero-padded past the end of the volume) and which *segment* file holds
those bytes at the same offset (-1: the extent is all zeros and nothing is stored). Segments are
sparse files shared along a chain: a snapshot stores only the extents whose digest differs from
the previous snapshot of its volume and points at the older segments for the rest (an incremental
backup does the same against its parent backup).

Why digests rather than a dirty bitmap fed by ``BlockStore.write``: the replicator and the guest
write volume files directly through their paths, so no write hook sees every write. Digests taken
at snapshot time see every byte, whoever wrote it; comparing two manifests is then a comparison of
16-byte strings (32 768 of them for 2 GiB), which takes well under a millisecond per block.

File format: magic ``CSMANIF1``, u32 little-endian header length, a JSON header, the digests
(``16 * n`` bytes), the owners (``4 * n`` bytes, little-endian int32).
"""

from __future__ import annotations

import json
import os
import sys
from array import array
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import xxhash

from cloudsim.blockstore.errors import ConflictError

DIGEST_SIZE = 16
MAGIC = b"CSMANIF1"
_COMPARE_FANOUT = 16  # digests per level of the run finder's comparison tree


@lru_cache(maxsize=8)
def zero_digest(extent_size: int) -> bytes:
    """Digest of an all-zero extent: holes and written zeros look the same, as bytes do."""
    return xxhash.xxh3_128_digest(bytes(extent_size))


def extent_count(size: int, extent_size: int) -> int:
    return -(-size // extent_size)


@dataclass
class Manifest:
    """Digests and owners of every extent of one point-in-time image of a volume."""

    kind: str  # "snapshot" or "backup"
    object_id: str
    volume_id: str
    size: int
    extent_size: int
    digests: bytes
    owners: array[int]
    segments: list[str]  # paths relative to the owning store's root
    parent_id: str | None = None
    created_ns: int = 0
    stored_bytes: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.owners)

    def digest(self, index: int) -> bytes:
        if index >= self.count:
            return zero_digest(self.extent_size)
        return self.digests[index * DIGEST_SIZE : (index + 1) * DIGEST_SIZE]

    def used_segments(self) -> set[str]:
        return {self.segments[i] for i in set(self.owners) if i >= 0}

    def save(self, path: Path) -> None:
        header = {
            "kind": self.kind,
            "object_id": self.object_id,
            "volume_id": self.volume_id,
            "size": self.size,
            "extent_size": self.extent_size,
            "segments": self.segments,
            "parent_id": self.parent_id,
            "created_ns": self.created_ns,
            "stored_bytes": self.stored_bytes,
            "extra": self.extra,
            "count": self.count,
        }
        head = json.dumps(header).encode()
        owners = array("i", self.owners)
        if sys.byteorder != "little":  # pragma: no cover - every supported host is little-endian
            owners.byteswap()
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(MAGIC + len(head).to_bytes(4, "little") + head)
            f.write(self.digests)
            f.write(owners.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        raw = path.read_bytes()
        if raw[:8] != MAGIC:
            raise ValueError(f"{path} is not a cloudsim manifest")
        hlen = int.from_bytes(raw[8:12], "little")
        header = json.loads(raw[12 : 12 + hlen])
        n = int(header["count"])
        start = 12 + hlen
        digests = raw[start : start + n * DIGEST_SIZE]
        owners = array("i")
        owners.frombytes(raw[start + n * DIGEST_SIZE : start + n * (DIGEST_SIZE + 4)])
        if sys.byteorder != "little":  # pragma: no cover
            owners.byteswap()
        if len(digests) != n * DIGEST_SIZE or len(owners) != n:
            raise ValueError(f"{path} is truncated")
        return cls(
            kind=str(header["kind"]),
            object_id=str(header["object_id"]),
            volume_id=str(header["volume_id"]),
            size=int(header["size"]),
            extent_size=int(header["extent_size"]),
            digests=digests,
            owners=owners,
            segments=[str(s) for s in header["segments"]],
            parent_id=header.get("parent_id"),
            created_ns=int(header.get("created_ns", 0)),
            stored_bytes=int(header.get("stored_bytes", 0)),
            extra={str(k): str(v) for k, v in dict(header.get("extra", {})).items()},
        )


def differing_runs(a: bytes, b: bytes) -> list[tuple[int, int]]:
    """``[first, last)`` extent-index runs where two equally long digest strings differ.

    Compares 256 digests at a time, then 16, then single ones (measured against a flat scan and
    a deeper tree: this is the fastest for both sparse and dense changes): an unchanged 100 GiB
    volume costs ~6 400 slice comparisons; 2 GiB with 1% changed ~1 ms; 2 GiB all changed ~15 ms.
    """
    d = DIGEST_SIZE
    end = len(b)
    big, mid = _COMPARE_FANOUT * _COMPARE_FANOUT * d, _COMPARE_FANOUT * d
    changed: list[int] = []
    for blo in range(0, end, big):
        bhi = min(blo + big, end)
        if a[blo:bhi] == b[blo:bhi]:
            continue
        for lo in range(blo, bhi, mid):
            hi = min(lo + mid, bhi)
            if a[lo:hi] != b[lo:hi]:
                changed.extend([x // d for x in range(lo, hi, d) if a[x : x + d] != b[x : x + d]])
    runs: list[tuple[int, int]] = []
    start = prev = -2
    for i in changed:
        if i != prev + 1:
            if start >= 0:
                runs.append((start, prev + 1))
            start = i
        prev = i
    if start >= 0:
        runs.append((start, prev + 1))
    return runs


def nonzero_runs(m: Manifest) -> list[tuple[int, int]]:
    """Extent-index runs holding data (digest of a non-zero extent)."""
    return differing_runs(zero_digest(m.extent_size) * m.count, m.digests)


def changed_ranges(old: Manifest | None, new: Manifest) -> list[tuple[int, int]]:
    """Sorted, merged ``(offset, length)`` byte ranges whose contents differ between two images.

    ``old=None`` compares against an all-zero volume, i.e. lists every extent holding data. Images
    of different sizes compare as if the shorter one were zero-padded.
    """
    e = new.extent_size
    if old is not None and old.extent_size != e:
        raise ConflictError(
            f"extent sizes differ ({old.extent_size} vs {e}); cannot diff these snapshots"
        )
    size = max(new.size, old.size if old else 0)
    n = extent_count(size, e)
    zero = zero_digest(e)
    a = (old.digests if old else b"") + zero * (n - (old.count if old else 0))
    b = new.digests + zero * (n - new.count)
    return [(s * e, min(t * e, size) - s * e) for s, t in differing_runs(a, b)]
