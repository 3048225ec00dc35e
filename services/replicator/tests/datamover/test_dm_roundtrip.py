"""Round trips through a real receiver over loopback TCP: every mode yields an identical replica."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dm_support import MiB, Site, same, scribble, write_random, write_sparse

from lifeboat_replicator.datamover import (
    Extent,
    Manifest,
    TargetRejected,
    TokenBucket,
    send_volume,
)

SIZE = 32 * MiB


def test_full_then_extents_delta_is_identical_and_small(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src, SIZE)
    seen: list[tuple[int, int]] = []
    st = send_volume(
        address=site.address, security=site.security, transfer_id="full-1", source=src,
        target="vol-a", size=SIZE, extents=[Extent(0, SIZE)], bind_address="127.0.0.1",
        progress=lambda d, t: seen.append((d, t)),
    )  # fmt: skip
    assert same(src, site.targets / "vol-a")
    assert (
        st.bytes_changed == SIZE
        and st.bytes_written == SIZE
        and st.chunks_sent == SIZE // (4 * MiB)
    )
    assert SIZE <= st.bytes_on_wire <= SIZE * 1.01  # random data: sent raw, small framing cost
    assert seen and seen[-1] == (SIZE, SIZE)

    picks = scribble(src, 80)
    extents = [Extent(b * 4096, 4096) for b in picks]
    st = send_volume(
        address=site.address, security=site.security, transfer_id="delta-1", source=src,
        target="vol-a", size=SIZE, extents=extents,
    )  # fmt: skip
    assert same(src, site.targets / "vol-a")
    changed = 80 * 4096
    assert st.bytes_changed == changed
    assert st.bytes_on_wire <= 1.05 * changed + 0.005 * SIZE


def test_repeat_of_completed_transfer_is_idempotent(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src, 4 * MiB)
    kw = dict(
        address=site.address, security=site.security, transfer_id="idem", source=src,
        target="vol-i", size=4 * MiB, extents=[Extent(0, 4 * MiB)],
    )  # fmt: skip
    send_volume(**kw)
    mtime = (site.targets / "vol-i").stat().st_mtime_ns
    again = send_volume(**kw)
    assert again.chunks_sent == 0 and again.bytes_written == 0
    assert (site.targets / "vol-i").stat().st_mtime_ns == mtime
    # the same id for a different request is refused, not silently mixed
    with pytest.raises(TargetRejected, match="different transfer"):
        send_volume(**{**kw, "extents": [Extent(0, 4096)]})


def test_hash_compare_with_base_manifest(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src, SIZE)
    m1 = tmp_path / "m1"
    send_volume(
        address=site.address, security=site.security, transfer_id="seed-m", source=src,
        target="vol-m", size=SIZE, extents=[Extent(0, SIZE)], write_manifest=m1,
    )  # fmt: skip
    scribble(src, 82, seed=9)  # ~1% of the blocks
    m2 = tmp_path / "m2"
    st = send_volume(
        address=site.address, security=site.security, transfer_id="delta-m", source=src,
        target="vol-m", size=SIZE, extents=None, base_manifest=m1, write_manifest=m2,
    )  # fmt: skip
    assert same(src, site.targets / "vol-m")
    assert st.bytes_changed == 82 * 4096
    assert st.bytes_on_wire <= 1.05 * st.bytes_changed + 0.005 * SIZE
    # the new manifest equals a manifest computed from scratch of the new source
    fresh = tmp_path / "m3"
    send_volume(
        address=site.address, security=site.security, transfer_id="check-m", source=src,
        target="vol-m2", size=SIZE, extents=[Extent(0, SIZE)], write_manifest=fresh,
    )  # fmt: skip
    a, b = Manifest.load(m2, SIZE), Manifest.load(fresh, SIZE)
    assert a.blocks == b.blocks and a.groups == b.groups
    # a manifest that does not fit the volume is a clear error
    with pytest.raises(ValueError, match="describes"):
        send_volume(
            address=site.address, security=site.security, transfer_id="bad-m", source=src,
            target="vol-m", size=SIZE - 4096, extents=None, base_manifest=m2,
        )  # fmt: skip


def test_seeding_receiver_hashes_a_restored_copy(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src, SIZE)
    site.targets.mkdir(parents=True, exist_ok=True)
    restored = site.targets / "vol-s"
    restored.write_bytes(src.read_bytes())  # the DR copy restored from a backup...
    scribble(src, 40, seed=5)  # ...then the source moved on
    st = send_volume(
        address=site.address, security=site.security, transfer_id="seed-s", source=src,
        target="vol-s", size=SIZE, extents=None, write_manifest=tmp_path / "ms",
    )  # fmt: skip
    assert same(src, restored)
    assert st.bytes_changed == 40 * 4096
    # wire: the group hashes (8 B / 64 KiB) + the changed blocks
    assert st.bytes_on_wire <= 1.05 * st.bytes_changed + 0.005 * SIZE
    assert Manifest.load(tmp_path / "ms", SIZE).size == SIZE


def test_sparse_source_stays_sparse_and_zero_over_hole_is_free(site: Site, tmp_path: Path) -> None:
    size = 64 * MiB
    src = tmp_path / "sparse"
    write_sparse(src, size, [(0, 1 * MiB), (10 * MiB, 3 * MiB), (50 * MiB + 4096, 2 * MiB)])
    st = send_volume(
        address=site.address, security=site.security, transfer_id="sp-1", source=src,
        target="vol-sp", size=size, extents=[Extent(0, size)],
    )  # fmt: skip
    dst = site.targets / "vol-sp"
    assert same(src, dst)
    src_alloc, dst_alloc = os.stat(src).st_blocks, os.stat(dst).st_blocks
    assert dst_alloc <= src_alloc * 1.01 + 16, (src_alloc, dst_alloc)
    assert st.bytes_read <= 6 * MiB + 64 * 1024  # holes were not read
    assert st.bytes_on_wire <= 6.1 * MiB
    assert st.chunks_sent <= 8  # holes ride along for free, not one chunk per MiB of volume
    # seeding against a fresh target: zeros over holes cost only the hash exchange
    st = send_volume(
        address=site.address, security=site.security, transfer_id="sp-2", source=src,
        target="vol-sp2", size=size, extents=None,
    )  # fmt: skip
    assert same(src, site.targets / "vol-sp2")
    assert st.bytes_changed == 6 * MiB
    assert st.bytes_on_wire <= 6 * MiB * 1.05 + 0.005 * size
    # a later write of zeros over data on the source punches a hole on the replica
    fd = os.open(src, os.O_WRONLY)
    os.pwrite(fd, bytes(1 * MiB), 10 * MiB)
    os.close(fd)
    send_volume(
        address=site.address, security=site.security, transfer_id="sp-3", source=src,
        target="vol-sp", size=size, extents=[Extent(10 * MiB, 1 * MiB)],
    )  # fmt: skip
    assert same(src, dst)
    assert os.stat(dst).st_blocks <= dst_alloc - (1 * MiB // 512) + 16


def test_compressible_data_is_compressed(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "text"
    src.write_bytes((b"lifeboat replicates volumes " * 40000)[: 1 * MiB] * 8)
    st = send_volume(
        address=site.address, security=site.security, transfer_id="z-1", source=src,
        target="vol-z", size=8 * MiB, extents=[Extent(0, 8 * MiB)],
        throttles=[TokenBucket(None)],
    )  # fmt: skip
    assert same(src, site.targets / "vol-z")
    assert st.bytes_on_wire < MiB


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", ""])
def test_unsafe_target_names_are_refused(site: Site, tmp_path: Path, name: str) -> None:
    src = tmp_path / "src"
    write_random(src, 64 * 1024)
    with pytest.raises(TargetRejected):
        send_volume(
            address=site.address, security=site.security, transfer_id="bad-name", source=src,
            target=name, size=64 * 1024, extents=None,
        )  # fmt: skip
    assert not (site.root / "escape").exists()
    assert not any(site.targets.iterdir()) if site.targets.exists() else True


def test_bad_arguments_are_clear(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src, 64 * 1024)
    with pytest.raises(ValueError, match="transfer_id"):
        send_volume(
            address=site.address, security=site.security, transfer_id="../x", source=src,
            target="v", size=64 * 1024, extents=None,
        )  # fmt: skip
    with pytest.raises(ValueError, match="source"):
        send_volume(
            address=site.address, security=site.security, transfer_id="x", source=tmp_path / "nope",
            target="v", size=64 * 1024, extents=None,
        )  # fmt: skip
    with pytest.raises(ValueError, match="negative"):
        send_volume(
            address=site.address, security=site.security, transfer_id="x", source=src,
            target="v", size=64 * 1024, extents=[Extent(-1, 5)],
        )  # fmt: skip


def test_manifest_delta_carries_new_holes_and_zeros(site: Site, tmp_path: Path) -> None:
    from lifeboat_replicator.datamover.blocks import punch_hole

    size = 8 * MiB
    src = tmp_path / "src"
    write_random(src, size)
    m1 = tmp_path / "m1"
    send_volume(
        address=site.address, security=site.security, transfer_id="h-1", source=src,
        target="vol-h", size=size, extents=[Extent(0, size)], write_manifest=m1,
    )  # fmt: skip
    fd = os.open(src, os.O_RDWR)
    punch_hole(fd, 1 * MiB, 1 * MiB)  # a whole-group hole: not even read by the sender
    os.pwrite(fd, bytes(4096), 5 * MiB + 8192)  # a zeroed block inside data
    os.close(fd)
    st = send_volume(
        address=site.address, security=site.security, transfer_id="h-2", source=src,
        target="vol-h", size=size, extents=None, base_manifest=m1,
    )  # fmt: skip
    assert same(src, site.targets / "vol-h")
    assert st.bytes_changed == 1 * MiB + 4096
    assert st.bytes_on_wire < 64 * 1024  # zeros and holes travel as ZERO pieces


def test_back_to_back_transfers_to_one_target(site: Site, tmp_path: Path) -> None:
    """The next transfer may start while the receiver still closes the previous session."""
    src = tmp_path / "src"
    write_random(src, 1 * MiB)
    for i in range(12):
        send_volume(
            address=site.address, security=site.security, transfer_id=f"b2b-{i}", source=src,
            target="vol-b2b", size=1 * MiB, extents=[Extent(i * 4096, 4096)],
        )  # fmt: skip


def test_pluggable_resolver_errors_are_refusals(tmp_path: Path) -> None:
    from collections.abc import Iterator
    from contextlib import contextmanager

    from dm_support import running_receiver

    from lifeboat_replicator.datamover import LinkSecurity

    small = tmp_path / "small"
    small.write_bytes(bytes(4096))

    @contextmanager
    def resolver(name: str, size: int) -> Iterator[Path]:
        if name == "broken":
            raise RuntimeError("attachment of volume broken failed: 503 from Cinder")
        yield small

    sec = LinkSecurity(psk=os.urandom(32))
    src = tmp_path / "src"
    write_random(src, 64 * 1024)
    root = tmp_path / "dr"
    with running_receiver(root, sec, resolve_target=resolver) as rcv:
        for name, pattern in [("broken", "503 from Cinder"), ("tiny", "smaller than the volume")]:
            with pytest.raises(TargetRejected, match=pattern):
                send_volume(
                    address=("127.0.0.1", rcv.port), security=sec, transfer_id=f"r-{name}",
                    source=src, target=name, size=64 * 1024, extents=None,
                )  # fmt: skip
    assert small.read_bytes() == bytes(4096)


def test_odd_sized_volume_all_modes(site: Site, tmp_path: Path) -> None:
    size = 5 * MiB + 777  # partial last block and group; unaligned pieces take the buffered path
    src = tmp_path / "src"
    write_random(src, size)
    m1 = tmp_path / "m1"
    send_volume(
        address=site.address, security=site.security, transfer_id="odd-1", source=src,
        target="vol-odd", size=size, extents=[Extent(0, size)], write_manifest=m1,
    )  # fmt: skip
    assert same(src, site.targets / "vol-odd")
    fd = os.open(src, os.O_WRONLY)
    os.pwrite(fd, b"tail", size - 4)
    os.pwrite(fd, b"middle", 3 * MiB + 1)
    os.close(fd)
    st = send_volume(
        address=site.address, security=site.security, transfer_id="odd-2", source=src,
        target="vol-odd", size=size, extents=None, base_manifest=m1,
    )  # fmt: skip
    assert same(src, site.targets / "vol-odd")
    assert st.bytes_changed == 4096 + 777
    fd = os.open(src, os.O_WRONLY)
    os.pwrite(fd, b"seed", 100)
    os.close(fd)
    st = send_volume(
        address=site.address, security=site.security, transfer_id="odd-3", source=src,
        target="vol-odd", size=size, extents=None,
    )  # fmt: skip
    assert same(src, site.targets / "vol-odd")
    assert st.bytes_changed == 4096
