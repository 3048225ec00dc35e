"""Throttling: a transfer capped by a token bucket holds its rate; buckets are shared fairly."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from dm_support import MiB, Site, same, write_random

from lifeboat_replicator.datamover import Extent, TokenBucket, TransferCancelled, send_volume


def test_transfer_holds_its_rate(site: Site, tmp_path: Path) -> None:
    rate = 20e6
    size = 40 * MiB  # ~2 s at 20 MB/s
    src = tmp_path / "src"
    write_random(src, size)
    samples: list[tuple[float, int]] = []  # (seconds since start, bytes the receiver confirmed)
    start = time.monotonic()
    bucket = TokenBucket(rate)
    st = send_volume(
        address=site.address, security=site.security, transfer_id="thr", source=src,
        target="vol-thr", size=size, extents=[Extent(0, size)], chunk_size=256 * 1024,
        throttles=[bucket, TokenBucket(None)],
        progress=lambda d, t: samples.append((time.monotonic() - start, d)),
    )  # fmt: skip
    assert same(src, site.targets / "vol-thr")
    measured = st.bytes_on_wire / st.seconds
    assert 0.9 * rate <= measured <= 1.1 * rate, f"{measured / 1e6:.1f} MB/s"
    assert st.seconds >= 1.7
    # The rate holds all along, not only on average. Never ahead of the bucket: what the
    # receiver confirmed by a time went out before it, within the burst and the rate since the
    # bucket was made (a load elsewhere can only make it later, never earlier).
    assert samples and samples[-1][1] == size, samples[-1:]
    burst = max(64 * 1024, rate * 0.05)
    ahead = [(round(t, 3), d) for t, d in samples if d > burst + rate * t]
    assert not ahead, f"sent faster than {rate / 1e6:.0f} MB/s: {ahead}"
    # Never stalled or bursting either: the rate over every window of at least 0.6 s. ACKs come
    # every ~2 MiB (the receiver's sync), so shorter windows would measure ACK batching.
    windows: list[float] = []
    for i, (t0, d0) in enumerate(samples):
        later = next(((t, d) for t, d in samples[i + 1 :] if t - t0 >= 0.6), None)
        if later is None:
            break
        windows.append((later[1] - d0) / (later[0] - t0))
    assert len(windows) >= 8, samples
    shown = [f"{w / 1e6:.1f}" for w in windows]
    assert all(0.6 * rate <= w <= 1.3 * rate for w in windows), f"MB/s per window: {shown}"


def test_shared_bucket_splits_between_transfers(site: Site, tmp_path: Path) -> None:
    bucket = TokenBucket(24e6)
    size = 16 * MiB
    srcs = []
    for i in range(2):
        p = tmp_path / f"src{i}"
        write_random(p, size, seed=10 + i)
        srcs.append(p)
    out: list[float] = []

    def one(i: int) -> None:
        st = send_volume(
            address=site.address, security=site.security, transfer_id=f"sh-{i}", source=srcs[i],
            target=f"vol-sh-{i}", size=size, extents=[Extent(0, size)], chunk_size=256 * 1024,
            throttles=[bucket],
        )  # fmt: skip
        out.append(st.seconds)

    start = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - start
    total = 2 * size
    assert 0.88 * 24e6 <= total / elapsed <= 1.1 * 24e6, f"{total / elapsed / 1e6:.1f} MB/s"
    assert len(out) == 2 and min(out) > 0.8 * max(out)  # neither starved
    for i in range(2):
        assert same(srcs[i], site.targets / f"vol-sh-{i}")


def test_set_rate_and_unlimited() -> None:
    b = TokenBucket(None)
    t = time.monotonic()
    for _ in range(1000):
        b.take(1 << 20)
    assert time.monotonic() - t < 0.5
    b.set_rate(10e6)
    t = time.monotonic()
    for _ in range(10):
        b.take(500_000)
    assert 0.4 <= time.monotonic() - t <= 0.7


def test_slow_link_with_quiet_receiver_is_not_a_timeout(site: Site, tmp_path: Path) -> None:
    """A chunk that takes longer than io_timeout to trickle out is not a dead link: the frame is
    paced out in slices (the receiver sees bytes) and the ACK reader tolerates the silence."""
    size = 768 * 1024
    src = tmp_path / "src"
    write_random(src, size)
    st = send_volume(
        address=site.address, security=site.security, transfer_id="slow", source=src,
        target="vol-slow", size=size, extents=[Extent(0, size)], chunk_size=256 * 1024,
        throttles=[TokenBucket(300e3)], io_timeout=0.5,
    )  # fmt: skip
    assert same(src, site.targets / "vol-slow")
    assert st.seconds >= 2.0


def test_cancel_stops_at_a_chunk_and_a_resend_resumes(site: Site, tmp_path: Path) -> None:
    """What the replicator does when a group is suspended mid-transfer (UC2e)."""
    size = 24 * MiB  # ~1.2 s at 20 MB/s
    src = tmp_path / "src"
    write_random(src, size)
    cancel = threading.Event()
    confirmed: list[int] = []

    def progress(done: int, _total: int) -> None:  # cancel once 6 MiB are confirmed
        confirmed.append(done)
        if done >= 6 * MiB:
            cancel.set()

    args: dict[str, object] = dict(
        address=site.address, security=site.security, transfer_id="cx", source=src,
        target="vol-cx", size=size, extents=[Extent(0, size)], chunk_size=1024 * 1024,
    )  # fmt: skip
    with pytest.raises(TransferCancelled):
        send_volume(**args, throttles=[TokenBucket(20e6)], cancel=cancel, progress=progress)  # type: ignore[arg-type]
    at_cancel = next(d for d in confirmed if d >= 6 * MiB)
    st = send_volume(**args)  # type: ignore[arg-type]
    assert st.chunks_skipped_resume > 0
    # stopped at the next chunk, not at the end: the resend starts within a few chunks (those
    # in flight, not yet confirmed) of where the cancel came, by bytes rather than by time
    assert at_cancel <= st.resumed_from_offset <= at_cancel + 6 * MiB, (
        at_cancel,
        st.resumed_from_offset,
    )
    assert same(src, site.targets / "vol-cx")
