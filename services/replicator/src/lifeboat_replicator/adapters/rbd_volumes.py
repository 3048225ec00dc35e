"""Ceph RBD volumes through librbd: the data mover's BlockSource/BlockTarget for RBD sites.

No root and no kernel mapping: a snapshot is read at that snapshot and a replica image written
through librbd, with this host's own cephx users (`profile rbd-read-only` where it reads,
`profile rbd` where it writes). Access and connections: `rbd_access`; I/O: `rbd_io`.
"""

from __future__ import annotations

from lifeboat_replicator.adapters.rbd_access import (
    RbdAccess,
    RbdConnections,
    RbdUnavailable,
    close_connections,
    librbd,
    open_ioctx,
    opened_image,
    oserror,
)
from lifeboat_replicator.adapters.rbd_io import RbdImageTarget, RbdSnapshotSource
from lifeboat_replicator.datamover import Extent

__all__ = [
    "RbdAccess",
    "RbdConnections",
    "RbdImageTarget",
    "RbdSnapshotSource",
    "RbdUnavailable",
    "close_connections",
    "image_exists",
    "rbd_changed_extents",
]


def image_exists(
    access: RbdAccess, pool: str, image: str, *, connections: RbdConnections | None = None
) -> bool:
    ioctx = open_ioctx(access, pool, connections)
    try:
        _, rbd = librbd()
        try:
            img = rbd.Image(ioctx, image, read_only=True)
        except rbd.ImageNotFound:
            return False
        img.close()
        return True
    finally:
        ioctx.close()


def rbd_changed_extents(
    access: RbdAccess,
    pool: str,
    image: str,
    from_snapshot: str | None,
    to_snapshot: str,
    *,
    connections: RbdConnections | None = None,
) -> list[Extent]:
    """What differs between two snapshots of an image, by `diff_iterate`: extents whose data
    exists at `to_snapshot`, and `zero=True` extents for ranges that were discarded (exists
    False: they reach the replica as ZERO records, never read). With `from_snapshot` None: the
    allocated extents, and the gaps between them as zero extents (the whole image is covered,
    so a replica that held anything else becomes identical; holes cost nothing on the wire)."""
    found: list[tuple[int, int, bool]] = []

    def cb(offset: int, length: int, exists: bool) -> int:
        found.append((offset, length, bool(exists)))
        return 0

    with opened_image(access, pool, image, to_snapshot, connections) as (_, img):
        size = int(img.size())
        try:
            img.diff_iterate(0, size, from_snapshot, cb, whole_object=False)
        except librbd()[1].Error as exc:
            raise oserror(exc, f"diff of {pool}/{image} {from_snapshot}..{to_snapshot}") from exc
    found.sort()
    out: list[Extent] = []
    pos = 0
    for offset, length, exists in found:
        if from_snapshot is None and offset > pos:
            out.append(Extent(pos, offset - pos, zero=True))
        last = out[-1] if out else None
        if last and last.zero == (not exists) and last.offset + last.length == offset:
            out[-1] = Extent(last.offset, last.length + length, zero=not exists)
        else:
            out.append(Extent(offset, length, zero=not exists))
        pos = max(pos, offset + length)
    if from_snapshot is None and pos < size:
        out.append(Extent(pos, size - pos, zero=True))
    return out
