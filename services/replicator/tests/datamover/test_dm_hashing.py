"""Hashing passes: the two-process pass equals the serial one; a failed helper is redone."""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable
from pathlib import Path

import pytest
from dm_support import MiB, scribble, write_random, write_sparse

from lifeboat_replicator.datamover import parhash, plan
from lifeboat_replicator.datamover.blocks import DataMap
from lifeboat_replicator.datamover.manifest import Manifest


def _open(path: Path) -> tuple[int, int, DataMap]:
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    return fd, size, DataMap(fd, size)


@pytest.mark.parametrize("sparse", [False, True])
def test_parallel_pass_equals_serial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sparse: bool
) -> None:
    src = tmp_path / "src"
    size = 24 * MiB + 12345  # a partial last group and block
    if sparse:
        write_sparse(src, size, [(0, MiB), (5 * MiB + 4096, 3 * MiB), (20 * MiB, 4 * MiB + 12345)])
    else:
        write_random(src, size)
    fd, size, dmap = _open(src)
    try:
        base_groups, base_blocks, _ = plan.hash_source(fd, size, dmap, True)
        assert base_blocks is not None

        def base() -> Manifest:  # a fresh copy per call: diff_against_manifest updates it in place
            return Manifest(size, array("Q", base_blocks), array("Q", base_groups))

        os.close(fd)
        if not sparse:
            scribble(src, 60, seed=4)
        fd, size, dmap = _open(src)
        monkeypatch.setattr(parhash, "PARALLEL_MIN", 1 << 62)
        serial = plan.diff_against_manifest(fd, size, dmap, base())
        monkeypatch.setattr(parhash, "PARALLEL_MIN", 1)
        forks: list[int] = []
        real_fork = os.fork

        def counting_fork() -> int:
            pid = real_fork()
            if pid:
                forks.append(pid)
            return pid

        monkeypatch.setattr(os, "fork", counting_fork)
        parallel = plan.diff_against_manifest(fd, size, dmap, base())
        assert forks  # the helper process really ran
        assert parallel[0] == serial[0]
        assert parallel[1].blocks == serial[1].blocks and parallel[1].groups == serial[1].groups
        assert len(serial[0]) == (0 if sparse else 60)
    finally:
        os.close(fd)


def test_failed_helper_half_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    write_random(src, 8 * MiB)
    fd, size, dmap = _open(src)
    try:
        want, _, _ = plan.hash_source(fd, size, dmap, False)
        monkeypatch.setattr(parhash, "PARALLEL_MIN", 1)
        real_start = parhash.start

        def broken_start(
            run: Callable[..., None], ranges: list[tuple[int, int]], groups: array[int]
        ) -> parhash.Helper | None:
            def crash(cb: object) -> None:
                raise RuntimeError("helper dies")

            return real_start(crash, ranges, groups)

        monkeypatch.setattr(parhash, "start", broken_start)
        got, _, _ = plan.hash_source(fd, size, dmap, False)
        assert got == want
        assert array("Q", want) == got
    finally:
        os.close(fd)


def test_manifest_save_load_and_damage(tmp_path: Path) -> None:
    """A manifest reads back as saved; a flipped, cut or foreign file is refused by name."""
    size = 3 * MiB + 4096
    m = Manifest.empty(size)
    for i in range(len(m.blocks)):
        m.blocks[i] = i * 0x9E3779B97F4A7C15 % (1 << 64)
    m.groups[1] = 42
    path = tmp_path / "m"
    m.save(path)
    back = Manifest.load(path, size)
    assert back.blocks == m.blocks and back.groups == m.groups
    raw = path.read_bytes()
    flipped = bytearray(raw)
    flipped[100] ^= 1
    for name, data, message in (
        ("flipped", bytes(flipped), "checksum mismatch"),
        ("cut", raw[:-16], "checksum mismatch"),
        ("foreign", b"x" * len(raw), "not a Lifeboat block manifest"),
        ("short", raw[:10], "not a Lifeboat block manifest"),
    ):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=message):
            Manifest.load(tmp_path / name, size)
    with pytest.raises(ValueError, match="describes"):
        Manifest.load(path, size + 4096)
