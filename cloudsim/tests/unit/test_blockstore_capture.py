"""Two-phase capture: writes between the unfenced copy and the fenced re-read are not lost."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from cloudsim.blockstore import WRITE_FENCE, BlockStore
from cloudsim.blockstore.capture import finish, prepare, unchanged_since_prepare
from cloudsim.blockstore.extents import materialize, read_image

E = 4096


def _pwrite(path: Path, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def test_changes_between_phases_are_captured(tmp_path: Path) -> None:
    (tmp_path / "seg").mkdir()
    vol = tmp_path / "vol.img"
    with open(vol, "wb") as f:
        f.truncate(16 * E)
    _pwrite(vol, 0, b"a" * (4 * E))
    prep = prepare(tmp_path, vol, E, None, "seg/one.img", "seg/two.img")
    _pwrite(vol, E, bytes(E))  # zeroed after phase 1 copied it
    _pwrite(vol, 2 * E, b"b" * 10)  # changed
    _pwrite(vol, 9 * E, b"c" * 10)  # new
    done = finish(tmp_path, prep)
    expected = vol.read_bytes()
    assert not done.self_contained  # the first segment still holds the zeroed extent's old bytes
    m = done.owners_and_segments
    assert read_image(m, tmp_path, 0, 16 * E) == expected
    out = tmp_path / "out.img"
    fd = os.open(out, os.O_RDWR | os.O_CREAT)
    try:
        os.ftruncate(fd, 16 * E)
        materialize(m, tmp_path, fd)
    finally:
        os.close(fd)
    assert out.read_bytes() == expected


def test_quiet_volume_snapshot_is_one_self_contained_segment(tmp_path: Path) -> None:
    (tmp_path / "seg").mkdir()
    vol = tmp_path / "vol.img"
    with open(vol, "wb") as f:
        f.truncate(16 * E)
    _pwrite(vol, 3 * E, b"x" * E)
    done = finish(tmp_path, prepare(tmp_path, vol, E, None, "seg/one.img", "seg/two.img"))
    assert done.self_contained
    assert done.owners_and_segments.segments == ["seg/one.img"]
    assert not (tmp_path / "seg" / "two.img").exists()


def test_snapshot_under_concurrent_writes_is_one_instant(tmp_path: Path) -> None:
    """A writer cycles a counter through 8 slots; any instant shows 8 consecutive values."""
    store = BlockStore(tmp_path)
    path = store.create_volume("v", 64 * 1024**2)
    _pwrite(path, 1024**2, os.urandom(32 * 1024**2))  # makes phase 1 take a while
    stop = threading.Event()
    progress = threading.Event()

    def writer() -> None:
        fd = os.open(path, os.O_WRONLY)
        k = 0
        try:
            while not stop.is_set():
                k += 1
                with WRITE_FENCE.writing([path]):
                    os.pwrite(fd, k.to_bytes(8, "little"), (k % 8) * 65536)
                if k > 50:
                    progress.set()
        finally:
            os.close(fd)

    t = threading.Thread(target=writer)
    t.start()
    try:
        progress.wait(5)
        store.create_snapshots({"s": "v"})
    finally:
        stop.set()
        t.join()
    values = sorted(
        int.from_bytes(store.read_snapshot("s", slot * 65536, 8), "little") for slot in range(8)
    )
    assert values == list(range(values[0], values[0] + 8))
    assert store.snapshot_path("s").read_bytes() == store.read_snapshot("s", 0, 64 * 1024**2)


def test_idle_volume_skips_the_fenced_reread_but_a_written_one_does_not(tmp_path: Path) -> None:
    (tmp_path / "seg").mkdir()
    idle, busy = tmp_path / "idle.img", tmp_path / "busy.img"
    for vol in (idle, busy):
        with open(vol, "wb") as f:
            f.truncate(16 * E)
        _pwrite(vol, 2 * E, b"old" * 100)
    time.sleep(1.05)  # ctime must be older than a second for the shortcut to be safe
    p_idle = prepare(tmp_path, idle, E, None, "seg/i1.img", "seg/i2.img")
    p_busy = prepare(tmp_path, busy, E, None, "seg/b1.img", "seg/b2.img")
    _pwrite(busy, 2 * E, b"new")  # right after phase 1: same second, still detected
    assert unchanged_since_prepare(p_idle)
    assert not unchanged_since_prepare(p_busy)
    for prep, vol in ((p_idle, idle), (p_busy, busy)):
        done = finish(tmp_path, prep)
        assert read_image(done.owners_and_segments, tmp_path, 0, 16 * E) == vol.read_bytes()
