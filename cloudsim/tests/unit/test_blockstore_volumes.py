"""BlockStore volumes and snapshots: sparse costs, byte-identical copies, errors, persistence."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from cloudsim.blockstore import (
    WRITE_FENCE,
    BlockStore,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
)

GiB = 1024**3
MiB = 1024**2


def _fill(path: Path, offset: int, data: bytes) -> None:
    """Write straight through the file path, as an attached guest or the replicator does."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def test_hundred_gib_volume_costs_nothing_until_written(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    path = store.create_volume("big", 100 * GiB)
    assert path.stat().st_size == 100 * GiB
    assert store.allocated_bytes("big") == 0
    store.write("big", 50 * GiB, b"x" * 4096)
    assert 0 < store.allocated_bytes("big") <= 64 * 1024
    store.create_snapshots({"s": "big"})
    assert store.changed_extents("big", None, "s") == [(50 * GiB, 64 * 1024)]
    # the snapshot stored one extent, not 100 GiB
    assert os.stat(store.snapshot_path("s")).st_blocks * 512 <= 64 * 1024


def test_volume_from_snapshot_is_byte_identical(tmp_path: Path) -> None:
    store = BlockStore(tmp_path, extent_size=4096)
    path = store.create_volume("src", 8 * MiB + 1234)  # size not a multiple of the extent
    rnd = os.urandom(3 * MiB)
    _fill(path, 100_000, rnd)
    _fill(path, 8 * MiB + 1000, b"tail" * 58)  # up to the last byte
    store.create_snapshots({"s1": "src"})
    expected = path.read_bytes()
    _fill(path, 200_000, b"\0" * 50_000)  # zeros over data after the snapshot
    _fill(path, 7 * MiB, b"later")
    store.create_snapshots({"s2": "src"})
    expected2 = path.read_bytes()

    store.create_volume_from_snapshot("copy1", "s1", 8 * MiB + 1234)
    store.create_volume_from_snapshot("copy2", "s2", 16 * MiB)
    assert store.volume_path("copy1").read_bytes() == expected
    copy2 = store.volume_path("copy2").read_bytes()
    assert copy2[: len(expected2)] == expected2
    assert copy2[len(expected2) :] == bytes(16 * MiB - len(expected2))
    assert store.snapshot_path("s1").read_bytes() == expected
    assert store.snapshot_path("s2").read_bytes() == expected2
    assert store.read_snapshot("s2", 7 * MiB - 3, 10) == expected2[7 * MiB - 3 : 7 * MiB + 7]
    # the copy stays sparse: unwritten ranges are holes
    assert store.allocated_bytes("copy2") < 4 * MiB


def test_snapshot_stores_only_changed_extents(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    path = store.create_volume("v", 32 * MiB)
    _fill(path, 0, os.urandom(16 * MiB))
    store.create_snapshots({"s1": "v"})
    _fill(path, 5 * MiB, b"changed")
    store.create_snapshots({"s2": "v"})
    seg1 = tmp_path / "segments" / "v" / "s1.img"
    seg2 = tmp_path / "segments" / "v" / "s2.img"
    assert seg1.stat().st_blocks * 512 >= 16 * MiB
    assert seg2.stat().st_blocks * 512 <= 64 * 1024
    # deleting the older snapshot keeps the segment the newer one still uses
    store.delete_snapshot("s1")
    assert seg1.exists()
    assert store.snapshot_path("s2").read_bytes() == path.read_bytes()
    store.delete_snapshot("s2")
    assert not seg1.exists()
    assert not seg2.exists()


def test_errors_name_the_problem(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    store.create_volume("v", MiB)
    with pytest.raises(ConflictError):
        store.create_volume("v", MiB)
    with pytest.raises(NotFoundError):
        store.volume_path("nope")
    with pytest.raises(NotFoundError):
        store.create_volume_from_snapshot("w", "nosnap", MiB)
    with pytest.raises(InvalidArgumentError, match="volume_id"):
        store.create_volume("../escape", MiB)
    with pytest.raises(InvalidArgumentError, match="size_bytes"):
        store.create_volume("w", 0)
    with pytest.raises(InvalidArgumentError, match="outside the volume"):
        store.write("v", MiB - 1, b"ab")
    with pytest.raises(InvalidArgumentError, match="smaller"):
        store.extend_volume("v", 1024)
    store.create_snapshots({"s": "v"})
    with pytest.raises(ConflictError):
        store.create_snapshots({"s": "v"})
    with pytest.raises(InvalidArgumentError, match="smaller"):
        store.create_volume_from_snapshot("w", "s", 1024)
    with pytest.raises(ConflictError, match="snapshot"):
        store.delete_volume("v")
    store.create_volume("other", MiB)
    with pytest.raises(ConflictError):
        store.changed_extents("other", None, "s")
    store.delete_volume("v", cascade=True)
    with pytest.raises(NotFoundError):
        store.read_snapshot("s", 0, 1)


def test_extend_and_state_survive_a_restart(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    store.create_volume("v", MiB)
    store.write("v", 0, b"a" * 100)
    store.create_snapshots({"s1": "v"})
    store.extend_volume("v", 3 * MiB)
    store.write("v", 2 * MiB, b"b" * 100)
    store.create_snapshots({"s2": "v"})
    reopened = BlockStore(tmp_path)
    assert reopened.changed_extents("v", "s1", "s2") == [(2 * MiB, 64 * 1024)]
    assert reopened.snapshot_size("s1") == MiB
    assert reopened.snapshot_size("s2") == 3 * MiB
    assert reopened.read("v", 2 * MiB, 3) == b"bbb"


def test_volume_from_image_keeps_holes(tmp_path: Path) -> None:
    image = tmp_path / "img.raw"
    with open(image, "wb") as f:
        f.write(b"boot" * 1024)
        f.seek(4 * MiB)
        f.write(b"end")
    store = BlockStore(tmp_path / "store")
    store.create_volume_from_image("boot", image, 10 * MiB)
    data = store.volume_path("boot").read_bytes()
    assert data[: image.stat().st_size] == image.read_bytes()
    assert store.allocated_bytes("boot") <= 2 * 64 * 1024
    with pytest.raises(InvalidArgumentError):
        store.create_volume_from_image("small", image, MiB)


def test_create_snapshots_waits_for_inflight_fenced_writes(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    a = store.create_volume("a", MiB)
    b = store.create_volume("b", MiB)
    started = threading.Event()

    def snapshot_waiting() -> bool:
        with WRITE_FENCE._cond:  # the fence's own record of instants waiting on writers
            return any(WRITE_FENCE._waiting.get(os.path.realpath(v)) for v in (a, b))

    def writer() -> None:
        # a two-volume write that must land in both snapshots or in neither
        with WRITE_FENCE.writing([a, b]):
            started.set()
            _fill(a, 0, b"first")
            # Finish only once the snapshot is waiting on this write (not after a while, which
            # a slow machine could spend before the snapshot even began). If it never waits,
            # it has already been taken between the two halves: the asserts below catch it.
            deadline = time.monotonic() + 10
            while not snapshot_waiting() and time.monotonic() < deadline:
                time.sleep(0.005)
            _fill(b, 0, b"second")

    t = threading.Thread(target=writer)
    t.start()
    started.wait()
    store.create_snapshots({"sa": "a", "sb": "b"})
    t.join()
    assert store.read_snapshot("sa", 0, 5) == b"first"
    assert store.read_snapshot("sb", 0, 6) == b"second"


def test_concurrent_snapshots_of_many_volumes(tmp_path: Path) -> None:
    store = BlockStore(tmp_path, extent_size=4096)
    for i in range(8):
        store.create_volume(f"v{i}", MiB)
        store.write(f"v{i}", i * 4096, bytes([i + 1]) * 4096)
    errors: list[BaseException] = []

    def snap(i: int) -> None:
        try:
            for k in range(5):
                store.write(f"v{i}", 8192 * k, b"z" * 10)
                store.create_snapshots({f"s{i}-{k}": f"v{i}"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=snap, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(8):
        assert (
            store.snapshot_path(f"s{i}-4").read_bytes() == store.volume_path(f"v{i}").read_bytes()
        )
