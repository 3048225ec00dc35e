"""Two-phase capture of a live volume file: copy outside the fence, settle inside it.

Copying a volume's data (the first snapshot of a full 2 GiB volume writes 2 GiB: ext4 has no
reflink) takes seconds; holding the write fence that long would stall every writer of every volume
in the group. So phase 1 reads, digests and stores the extents while writers keep going, and
phase 2, under the fence, reads and digests the allocated extents again (page cache, ~0.2 s/GiB)
and stores only the extents that changed in between into a second segment. The result is exactly
the bytes at the fenced instant; the fence is held for a re-read, not for a copy.

Idle volumes skip the re-read: every write (through any path, any process) sets the file's
ctime, which nobody can set back. If ctime is unchanged under the fence and was already older
than one second when phase 1 started (so a later write cannot share its coarse clock tick), no
byte changed since phase 1 read it and its result stands.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from cloudsim.blockstore.extents import Capture, capture_file
from cloudsim.blockstore.manifest import Manifest


@dataclass
class Prepared:
    """Phase-1 result: a provisional manifest of the volume as phase 1 read it."""

    path: Path
    first: Manifest
    first_segment: str
    second_segment: str
    stored_bytes: int
    ctime_ns: int = 0
    started_ns: int = 0


@dataclass
class Captured:
    owners_and_segments: Manifest
    self_contained: bool
    stored_bytes: int


def _run(
    root: Path, path: Path, segment: str, extent_size: int, parent: Manifest | None
) -> Capture:
    size = path.stat().st_size
    src = os.open(path, os.O_RDONLY)
    try:
        dst = os.open(root / segment, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.ftruncate(dst, size)
            cap = Capture(size, extent_size, segment)
            capture_file(src, cap, dst, parent)
        except BaseException:
            (root / segment).unlink(missing_ok=True)
            raise
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return cap


def prepare(
    root: Path,
    path: Path,
    extent_size: int,
    parent: Manifest | None,
    first_segment: str,
    second_segment: str,
) -> Prepared:
    """Phase 1 (no fence): store every extent that differs from ``parent``."""
    started_ns = time.time_ns()
    ctime_ns = path.stat().st_ctime_ns
    cap = _run(root, path, first_segment, extent_size, parent)
    owners, segments = cap.compacted()
    first = Manifest(
        kind="capture",
        object_id="",
        volume_id="",
        size=cap.size,
        extent_size=extent_size,
        digests=bytes(cap.digests),
        owners=owners,
        segments=segments,
    )
    return Prepared(
        path, first, first_segment, second_segment, cap.stored_bytes, ctime_ns, started_ns
    )


def unchanged_since_prepare(prep: Prepared) -> bool:
    st = prep.path.stat()
    return (
        st.st_ctime_ns == prep.ctime_ns
        and st.st_size == prep.first.size
        and prep.ctime_ns < prep.started_ns - 1_000_000_000
    )


def finish(root: Path, prep: Prepared) -> Captured:
    """Phase 2 (under the fence): store what changed since phase 1; drop unused segments."""
    if unchanged_since_prepare(prep):
        used = prep.first.segments
        if prep.first_segment in used:
            os.chmod(root / prep.first_segment, 0o444)
        else:
            (root / prep.first_segment).unlink(missing_ok=True)
        return Captured(prep.first, used == [prep.first_segment], prep.stored_bytes)
    cap = _run(root, prep.path, prep.second_segment, prep.first.extent_size, prep.first)
    owners, segments = cap.compacted()
    for seg in (prep.first_segment, prep.second_segment):
        if seg not in segments:
            (root / seg).unlink(missing_ok=True)
        else:
            os.chmod(root / seg, 0o444)
    # The first segment alone is a faithful image iff phase 1 shared nothing with a parent and
    # nothing changed between the phases (a cheap, conservative test: bytes comparisons).
    self_contained = (
        prep.first.segments == [prep.first_segment]
        and segments == [prep.first_segment]
        and cap.size == prep.first.size
        and bytes(cap.digests) == prep.first.digests
    )
    result = Manifest(
        kind="capture",
        object_id="",
        volume_id="",
        size=cap.size,
        extent_size=cap.extent_size,
        digests=bytes(cap.digests),
        owners=owners,
        segments=segments,
    )
    return Captured(result, self_contained, prep.stored_bytes + cap.stored_bytes)


def discard(root: Path, prep: Prepared) -> None:
    for seg in (prep.first_segment, prep.second_segment):
        (root / seg).unlink(missing_ok=True)
