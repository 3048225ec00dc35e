"""The data mover between two real Ceph clusters through librbd (no kernel mapping, no root):
a reader key at the protected site, a writer key at the recovery site."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import xxhash
from dm_support import Proxy

from lifeboat_replicator.adapters.rbd_access import open_ioctx
from lifeboat_replicator.adapters.rbd_volumes import (
    RbdAccess,
    RbdConnections,
    RbdImageTarget,
    RbdSnapshotSource,
    rbd_changed_extents,
)
from lifeboat_replicator.datamover import (
    BlockTarget,
    LinkSecurity,
    Receiver,
    TokenBucket,
    TransferStats,
    send_volume,
)

from .conftest import Cluster

MiB = 1024 * 1024
POOL = "volumes"
FEATURES = ("layering", "exclusive-lock", "object-map", "fast-diff")


@dataclass
class Link:
    a: Cluster
    b: Cluster
    conns: RbdConnections
    address: tuple[str, int]
    security: LinkSecurity
    state: Path

    def reader(self) -> RbdAccess:
        return self.a.access("lifeboat-reader")

    def source(self, image: str, snap: str) -> RbdSnapshotSource:
        return RbdSnapshotSource(self.reader(), POOL, image, snap, connections=self.conns)

    def send(self, tid: str, image: str, snap: str, **kw: object) -> TransferStats:
        with self.source(image, snap) as src:
            kw.setdefault("address", self.address)
            return send_volume(
                security=self.security, transfer_id=tid, source=src, target=image,
                size=src.size, **kw,  # type: ignore[arg-type]
            )  # fmt: skip


_CREATED: list[tuple[Cluster, str]] = []


def _create(site: Cluster, conns: RbdConnections, name: str, size: int) -> None:
    import rbd

    ioctx = open_ioctx(site.access("admin"), POOL, conns)
    _CREATED.append((site, name))
    try:
        feats = {
            "layering": rbd.RBD_FEATURE_LAYERING,
            "exclusive-lock": rbd.RBD_FEATURE_EXCLUSIVE_LOCK,
            "object-map": rbd.RBD_FEATURE_OBJECT_MAP,
            "fast-diff": rbd.RBD_FEATURE_FAST_DIFF,
        }
        bits = 0
        for f in FEATURES:
            bits |= feats[f]
        rbd.RBD().create(ioctx, name, size, old_format=False, features=bits)
    finally:
        ioctx.close()


def _remove_created(conns: RbdConnections) -> None:
    import rbd

    while _CREATED:
        site, name = _CREATED.pop()
        ioctx = open_ioctx(site.access("admin"), POOL, conns)
        try:
            with rbd.Image(ioctx, name) as img:
                for snap in list(img.list_snaps()):
                    img.remove_snap(snap["name"])
            rbd.RBD().remove(ioctx, name)
        finally:
            ioctx.close()


@contextmanager
def _writer(site: Cluster, conns: RbdConnections, name: str) -> Iterator[RbdImageTarget]:
    t = RbdImageTarget(site.access("admin"), POOL, name, connections=conns)
    try:
        yield t
        t.sync()
    finally:
        t.close()


def _snap(site: Cluster, conns: RbdConnections, name: str, snap: str) -> None:
    with _writer(site, conns, name) as t:
        t.image.create_snap(snap)


def _digest(site: Cluster, conns: RbdConnections, name: str, snap: str) -> str:
    """xxh3 of the image at `snap`, read in 16 MiB windows of overlapped 4 MiB reads."""
    h = xxhash.xxh3_128()
    with RbdSnapshotSource(site.access("admin"), POOL, name, snap, connections=conns) as s:
        buf = memoryview(bytearray(16 * MiB))
        for off in range(0, s.size, len(buf)):
            n = min(len(buf), s.size - off)
            s.read_many([(off + i, buf[i : i + 4 * MiB]) for i in range(0, n, 4 * MiB)])
            h.update(buf[:n])
    return h.hexdigest()


def _replica_digest(link: Link, name: str, tag: str) -> str:
    _snap(link.b, link.conns, name, tag)
    return _digest(link.b, link.conns, name, tag)


def _scatter(t: BlockTarget, size: int, blocks: int, seed: int) -> list[int]:
    """Write `blocks` random 4 KiB blocks at random places; returns their offsets."""
    rnd = random.Random(seed)
    offsets = [b * 4096 for b in rnd.sample(range(size // 4096), blocks)]
    for off in offsets:
        t.write(memoryview(rnd.randbytes(4096)), off)
    return offsets


@pytest.fixture
def link(
    ceph_sites: tuple[Cluster, Cluster], rbd_connections: RbdConnections, tmp_path: Path
) -> Iterator[Link]:
    a, b = ceph_sites
    writer = b.access("lifeboat-writer")

    @contextmanager
    def resolve(name: str, size: int) -> Iterator[BlockTarget]:
        t = RbdImageTarget(writer, POOL, name, size=size, connections=rbd_connections)
        try:
            yield t
        finally:
            t.close()

    sec = LinkSecurity(psk=os.urandom(32))
    rcv = Receiver(
        listen=("127.0.0.1", 0), security=sec, state_dir=tmp_path / "state",
        resolve_target=resolve, sync_every=4 * MiB, sync_interval=0.2,
    )  # fmt: skip
    th = threading.Thread(target=rcv.serve_forever, daemon=True)
    th.start()
    try:
        yield Link(a, b, rbd_connections, ("127.0.0.1", rcv.port), sec, tmp_path / "state")
    finally:
        rcv.shutdown()
        th.join(10)
        _remove_created(rbd_connections)


def _name(tag: str) -> str:
    return f"dm-{tag}-{os.getpid()}-{random.randrange(1 << 30):x}"


def test_full_copy_then_delta_with_a_discard(link: Link) -> None:
    size, name = 96 * MiB, _name("full")
    for site in (link.a, link.b):
        _create(site, link.conns, name, size)
    rnd = random.Random(1)
    with _writer(link.a, link.conns, name) as t:
        t.write(memoryview(rnd.randbytes(40 * MiB)), 0)
        for off in (50 * MiB, 61 * MiB + 4096, 90 * MiB):
            t.write(memoryview(rnd.randbytes(MiB)), off)
    _snap(link.a, link.conns, name, "s1")

    extents = rbd_changed_extents(link.reader(), POOL, name, None, "s1", connections=link.conns)
    assert sum(e.length for e in extents) == size  # the gaps travel as zero extents
    st = link.send(f"{name}-1", name, "s1", extents=extents)
    assert _replica_digest(link, name, "r1") == _digest(link.a, link.conns, name, "s1")
    assert st.bytes_on_wire < 46 * MiB  # holes were not sent

    with _writer(link.a, link.conns, name) as t:
        written = _scatter(t, size, 300, seed=2)
        t.image.discard(16 * MiB, 8 * MiB)  # whole objects: they no longer exist
    changed = 4096 * sum(not 16 * MiB <= off < 24 * MiB for off in written)
    _snap(link.a, link.conns, name, "s2")
    extents = rbd_changed_extents(link.reader(), POOL, name, "s1", "s2", connections=link.conns)
    zeros = [e for e in extents if e.zero]
    assert sum(e.length for e in zeros) >= 8 * MiB - 300 * 4096
    st = link.send(f"{name}-2", name, "s2", extents=extents)
    print(f"delta: {changed} bytes changed, {st.bytes_on_wire} on the wire, {st.seconds:.3f} s")
    assert changed <= st.bytes_on_wire <= changed * 1.05 + 64 * 1024
    assert st.bytes_read <= sum(e.length for e in extents if not e.zero)  # discards: not read
    assert _replica_digest(link, name, "r2") == _digest(link.a, link.conns, name, "s2")
    with RbdSnapshotSource(link.b.access("admin"), POOL, name, "r2", connections=link.conns) as r:
        hole = memoryview(bytearray(8 * MiB))
        r.read_into(hole, 16 * MiB)
        assert not any(hole[: 8 * MiB])  # discarded at the source: zeros at the replica


def test_seed_sends_only_what_differs_from_a_stale_copy(link: Link) -> None:
    size, name = 64 * MiB, _name("seed")
    for site in (link.a, link.b):
        _create(site, link.conns, name, size)
    stale = random.Random(3).randbytes(24 * MiB)
    for site in (link.a, link.b):
        with _writer(site, link.conns, name) as t:
            t.write(memoryview(stale), 8 * MiB)
    with _writer(link.a, link.conns, name) as t:
        changed = 4096 * len(_scatter(t, size, 100, seed=4))
    _snap(link.a, link.conns, name, "s1")
    st = link.send(f"{name}-1", name, "s1", extents=None)
    print(f"seed: {changed} bytes changed, {st.bytes_on_wire} on the wire, {st.seconds:.3f} s")
    assert st.bytes_on_wire <= changed * 1.05 + 128 * 1024
    assert _replica_digest(link, name, "r1") == _digest(link.a, link.conns, name, "s1")


def test_cut_link_resumes_where_the_replica_is_durable(link: Link) -> None:
    size, name = 64 * MiB, _name("cut")
    for site in (link.a, link.b):
        _create(site, link.conns, name, size)
    with _writer(link.a, link.conns, name) as t:
        t.write(memoryview(random.Random(5).randbytes(size)), 0)
    _snap(link.a, link.conns, name, "s1")
    extents = rbd_changed_extents(link.reader(), POOL, name, None, "s1", connections=link.conns)
    proxy = Proxy(link.address)
    result: list[TransferStats | BaseException] = []

    def run() -> None:
        try:
            result.append(link.send(
                "cut-" + name, name, "s1", extents=extents, address=("127.0.0.1", proxy.port),
                throttles=[TokenBucket(48e6)], chunk_size=MiB, retry_for=10.0, connect_timeout=2,
            ))  # fmt: skip
        except BaseException as exc:
            result.append(exc)

    th = threading.Thread(target=run)
    th.start()
    journal = link.state / f"cut-{name}.journal.json"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if journal.exists() and json.loads(journal.read_text()).get("bytes_done", 0) > size / 4:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no durable progress within 30 s")
        proxy.cut()
        time.sleep(0.5)
        proxy.restore()
        th.join(60)
    finally:
        proxy.close()
        th.join(10)
    st = result[0]
    assert isinstance(st, TransferStats), st
    assert st.chunks_skipped_resume > 0
    assert st.bytes_on_wire <= size * 1.15  # resent at most what was in flight
    assert _replica_digest(link, name, "r1") == _digest(link.a, link.conns, name, "s1")


def _write_one_block(access: RbdAccess, name: str, conns: RbdConnections) -> None:
    t = RbdImageTarget(access, POOL, name, connections=conns)
    try:
        t.write(memoryview(b"x" * 4096), 0)
        t.sync()
    finally:
        t.close()


def test_reader_key_cannot_write(link: Link) -> None:
    name = _name("ro")
    _create(link.a, link.conns, name, 8 * MiB)
    with pytest.raises(PermissionError):
        _write_one_block(link.reader(), name, link.conns)
    with _writer(link.a, link.conns, name) as t:  # nothing reached the image
        view = memoryview(bytearray(4096))
        t.read_into(view, 0)
        assert not any(view)


def test_scattered_4k_blocks_rates(link: Link) -> None:
    """1% of a 2 GiB image in scattered 4 KiB blocks: aio writes, then the chunked reads."""
    size, name = 2048 * MiB, _name("rate")
    _create(link.a, link.conns, name, size)
    t0 = time.monotonic()
    with _writer(link.a, link.conns, name) as t:
        offsets = _scatter(t, size, size // 100 // 4096, seed=6)
    n = len(offsets)
    wrote = time.monotonic() - t0
    _snap(link.a, link.conns, name, "s1")
    blocks = sorted(o // 4096 for o in offsets)
    buf = memoryview(bytearray(1024 * 4096))
    t0 = time.monotonic()
    with link.source(name, "s1") as src:
        for i in range(0, n, 1024):  # as the chunker asks: up to 1024 ranges per chunk
            part = blocks[i : i + 1024]
            src.read_many([(b * 4096, buf[k * 4096 : (k + 1) * 4096]) for k, b in enumerate(part)])
    read = time.monotonic() - t0
    print(f"{n} scattered 4 KiB blocks: aio write+flush {wrote:.2f} s, read {read:.2f} s")
    assert read < 2.5  # 0.5 s on a quiet 2-core host, ~1 s beside other load (README)
