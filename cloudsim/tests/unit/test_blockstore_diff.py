"""changed_extents against a brute-force byte comparison of the snapshots (property test).

Writes go through ``BlockStore.write`` or straight to the volume file's path (the replicator and
guests do the latter), including zeros over data and over holes, and volume extensions.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudsim.blockstore import BlockStore

EXTENT = 4096
SIZE = 64 * EXTENT


def brute_force_ranges(old: bytes, new: bytes) -> list[tuple[int, int]]:
    size = max(len(old), len(new))
    old = old.ljust(size, b"\0")
    new = new.ljust(size, b"\0")
    ranges: list[tuple[int, int]] = []
    for start in range(0, size, EXTENT):
        end = min(start + EXTENT, size)
        if old[start:end] != new[start:end]:
            if ranges and ranges[-1][0] + ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], end - ranges[-1][0])
            else:
                ranges.append((start, end - start))
    return ranges


write_op = st.tuples(
    # extent index (drawn near-uniformly, unlike a raw offset) plus a position inside it
    st.builds(
        lambda i, r: i * EXTENT + r, st.integers(0, SIZE // EXTENT - 1), st.integers(0, EXTENT - 1)
    ),
    st.integers(1, 3 * EXTENT),  # length
    st.sampled_from([0, 1, 7, 255]),  # byte value (0: zeros over data or holes)
    st.booleans(),  # through the file path (True) or BlockStore.write
)
phase = st.lists(write_op, max_size=10)


def apply(store: BlockStore, volume: str, ops: list[tuple[int, int, int, bool]]) -> None:
    path = store.volume_path(volume)
    size = path.stat().st_size
    for offset, length, value, direct in ops:
        offset = offset % size
        data = bytes([value]) * min(length, size - offset)
        if direct:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, data, offset)
            finally:
                os.close(fd)
        else:
            store.write(volume, offset, data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=phase, second=phase, third=phase, extend=st.booleans(), drop_middle=st.booleans())
def test_changed_extents_equal_brute_force(
    first: list[tuple[int, int, int, bool]],
    second: list[tuple[int, int, int, bool]],
    third: list[tuple[int, int, int, bool]],
    extend: bool,
    drop_middle: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = BlockStore(Path(tmp), extent_size=EXTENT)
        path = store.create_volume("v", SIZE - 100)
        apply(store, "v", first)
        store.create_snapshots({"a": "v"})
        image_a = path.read_bytes()
        apply(store, "v", second)
        if extend:
            store.extend_volume("v", SIZE + 3 * EXTENT + 5)
        store.create_snapshots({"b": "v"})
        image_b = path.read_bytes()
        apply(store, "v", third)
        store.create_snapshots({"c": "v"})
        image_c = path.read_bytes()
        if drop_middle:
            store.delete_snapshot("b")
        else:
            assert store.changed_extents("v", "a", "b") == brute_force_ranges(image_a, image_b)
            assert store.snapshot_path("b").read_bytes() == image_b
        assert store.changed_extents("v", "a", "c") == brute_force_ranges(image_a, image_c)
        assert store.changed_extents("v", None, "c") == brute_force_ranges(b"", image_c)
        assert store.snapshot_path("a").read_bytes() == image_a
        assert store.snapshot_path("c").read_bytes() == image_c


def test_replaying_changed_extents_reproduces_the_new_snapshot(tmp_path: Path) -> None:
    """What a replicator does: copy of the old point + changed extents == the new point."""
    store = BlockStore(tmp_path)
    path = store.create_volume("src", 8 * 1024**2)
    with open(path, "r+b") as f:
        f.write(os.urandom(3 * 1024**2))
    store.create_snapshots({"s1": "src"})
    store.create_volume_from_snapshot("dr", "s1", 8 * 1024**2)
    with open(path, "r+b") as f:
        for off in (10, 1_000_000, 5_000_000, 8 * 1024**2 - 3):
            f.seek(off)
            f.write(b"new")
    store.create_snapshots({"s2": "src"})
    ranges = store.changed_extents("src", "s1", "s2")
    assert len(ranges) == 4
    for offset, length in ranges:
        store.write("dr", offset, store.read_snapshot("s2", offset, length))
    assert store.volume_path("dr").read_bytes() == store.snapshot_path("s2").read_bytes()
