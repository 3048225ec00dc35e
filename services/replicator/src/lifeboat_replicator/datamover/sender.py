"""The sending side: plan, connect, (re)synchronise with the receiver's journal, stream, verify.

`send_volume` is synchronous on purpose (the caller runs several in threads); inside, one extra
thread reads the receiver's ACK/DONE/REJECT frames so acknowledgements never stall the stream.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import protocol as P
from .acks import AckReader, rejection
from .blocks import DEFAULT_CHUNK, MAX_CHUNK, MIN_CHUNK, DataMap, Extent, aligned_buffer, subtract
from .channel import HDR, TAG, Channel, client_handshake
from .chunker import ChunkBuilder, Prefetcher
from .errors import AuthenticationFailed, IntegrityError, LinkDown, ProtocolError, TransferCancelled
from .files import FileSource
from .manifest import Manifest
from .plan import (
    Chunk,
    blocks_to_ranges,
    chunk_plan,
    diff_against_manifest,
    hash_source,
    normalize,
    plan_digest,
    update_manifest,
)
from .ports import BlockSource
from .security import LinkSecurity
from .seed import seed_plan
from .throttle import TokenBucket


@dataclass
class TransferStats:
    transfer_id: str
    bytes_read: int
    bytes_changed: int
    bytes_on_wire: int
    bytes_written: int
    chunks_sent: int
    chunks_skipped_resume: int
    resumed_from_offset: int
    seconds: float


@dataclass
class _Job:
    """Everything one send needs, built once and reused across reconnects."""

    transfer_id: str
    target: str
    size: int
    mode: str
    src: BlockSource
    dmap: DataMap
    chunk_size: int
    chunks: list[Chunk] | None  # None in seed mode until the receiver answered
    params_hash: str
    compress: bool
    new_manifest: Manifest | None = None
    seed_blocks: bool = False


def send_volume(
    *,
    address: tuple[str, int],
    security: LinkSecurity,
    transfer_id: str,
    source: Path | BlockSource,
    target: str,
    size: int,
    extents: Sequence[Extent] | None,
    base_manifest: Path | None = None,
    write_manifest: Path | None = None,
    throttles: Sequence[TokenBucket] = (),
    bind_address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    connect_timeout: float = 10.0,
    retry_for: float = 0.0,
    chunk_size: int = DEFAULT_CHUNK,
    compress: bool = True,
    io_timeout: float = 120.0,
    cancel: threading.Event | None = None,
) -> TransferStats:
    """Replicate `source` (size bytes) into the receiver's `target`; see README for the modes.

    `source`: a path (file or block device, opened and closed here) or a BlockSource (the
    caller's: not closed). extents given: send exactly those byte ranges (`zero=True` ones
    as ZERO records, never read). extents None: hash-compare, against
    base_manifest if given, else against the target as the receiver hashes it (seeding).
    Raises ValueError for bad arguments, TransferError subclasses for transfer failures;
    setting `cancel` stops the transfer at the next chunk (TransferCancelled; resumable).
    """
    if not P.valid_transfer_id(transfer_id):
        raise ValueError(
            f"transfer_id {transfer_id!r}: use 1-128 of [A-Za-z0-9._-], not starting with . or -"
        )
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK or chunk_size % 4096:
        raise ValueError(f"chunk_size must be a multiple of 4096 in [{MIN_CHUNK}, {MAX_CHUNK}]")
    if size < 0:
        raise ValueError("size must be >= 0")
    started = time.monotonic()
    src: BlockSource
    if isinstance(source, (str, os.PathLike)):
        try:
            src = opened = FileSource.open(source)
        except OSError as exc:
            raise ValueError(f"source {source}: cannot open: {exc.strerror}") from exc
    else:
        src, opened = source, None
    try:
        stats = TransferStats(transfer_id, 0, 0, 0, 0, 0, 0, 0, 0.0)
        job = _prepare(
            src,
            size,
            transfer_id,
            target,
            extents,
            base_manifest,
            write_manifest,
            chunk_size,
            compress,
            stats,
        )
        deadline: float | None = None
        delay = 0.2
        while True:
            before = stats.bytes_written, stats.chunks_sent
            _check(cancel, transfer_id)
            try:
                _attempt(
                    job,
                    address,
                    security,
                    throttles,
                    bind_address,
                    progress,
                    connect_timeout,
                    io_timeout,
                    stats,
                    cancel,
                )
                break
            except LinkDown as exc:
                if retry_for <= 0:
                    raise
                now = time.monotonic()
                if deadline is None or (stats.bytes_written, stats.chunks_sent) != before:
                    deadline, delay = now + retry_for, 0.2  # progress was made: a fresh window
                if now >= deadline:
                    raise LinkDown(f"{exc} (gave up after retrying for {retry_for:g} s)") from exc
                time.sleep(min(delay, max(0.0, deadline - now)))
                delay = min(delay * 2, 2.0)
        if write_manifest is not None:
            stats.bytes_read += _write_manifest(job, base_manifest, write_manifest)
        stats.seconds = time.monotonic() - started
        return stats
    finally:
        if opened is not None:
            opened.close()


def _check(cancel: threading.Event | None, transfer_id: str) -> None:
    if cancel is not None and cancel.is_set():
        raise TransferCancelled(f"transfer {transfer_id} cancelled by the caller")


def _prepare(
    src: BlockSource,
    size: int,
    tid: str,
    target: str,
    extents: Sequence[Extent] | None,
    base_manifest: Path | None,
    write_manifest: Path | None,
    chunk_size: int,
    compress: bool,
    stats: TransferStats,
) -> _Job:
    zeros: list[tuple[int, int]] = []
    if extents is not None and any(e.zero for e in extents):
        # zero extents (minus any data extent over them) are holes: ZERO records, never read
        zeros = subtract(
            [(o, o + n) for o, n in normalize(extents, size, zero=True)],
            [(o, o + n) for o, n in normalize(extents, size, zero=False)],
        )
    dmap = DataMap(src, size, zeros)
    if extents is not None:
        mode = "extents"
        chunks: list[Chunk] | None = chunk_plan(normalize(extents, size), chunk_size, dmap)
        new_manifest = None
    elif base_manifest is not None:
        mode = "manifest"
        base = Manifest.load(base_manifest, size)
        changed, new_manifest, read = diff_against_manifest(src, size, dmap, base)
        stats.bytes_read += read
        chunks = chunk_plan(blocks_to_ranges(changed, size), chunk_size, dmap)
    else:
        mode = "seed"
        chunks, new_manifest = None, None
    plan_id = plan_digest(chunks) if chunks is not None else "seed"
    if zeros:  # which ranges travel as zeros is part of the request
        plan_id += ":" + plan_digest([[(a, b - a) for a, b in zeros]])
    params = hashlib.sha256(
        P.dumps({"t": target, "s": size, "m": mode, "c": chunk_size, "p": plan_id})
    ).hexdigest()
    job = _Job(
        tid, target, size, mode, src, dmap, chunk_size, chunks, params, compress, new_manifest
    )
    job.seed_blocks = mode == "seed" and write_manifest is not None
    return job


def _connect(
    address: tuple[str, int], security: LinkSecurity, bind: str | None, timeout: float
) -> socket.socket:
    try:
        sock = socket.create_connection(
            address, timeout=timeout, source_address=(bind, 0) if bind else None
        )
    except OSError as exc:
        raise LinkDown(f"cannot connect to {address[0]}:{address[1]}: {exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if security.tls_client is not None:
        try:
            sock = security.tls_client.wrap_socket(sock, server_hostname=address[0])
        except OSError as exc:
            sock.close()
            raise AuthenticationFailed(
                f"TLS handshake with {address[0]}:{address[1]} failed: {exc}"
            ) from exc
    return sock


def _attempt(
    job: _Job,
    address: tuple[str, int],
    security: LinkSecurity,
    throttles: Sequence[TokenBucket],
    bind: str | None,
    progress: Callable[[int, int], None] | None,
    connect_timeout: float,
    io_timeout: float,
    stats: TransferStats,
    cancel: threading.Event | None = None,
) -> None:
    sock = _connect(address, security, bind, connect_timeout)
    ch: Channel | None = None
    try:
        ch = client_handshake(sock, security)
        sock.settimeout(io_timeout)
        ch.send(
            P.HELLO,
            P.dumps(
                {
                    "transfer_id": job.transfer_id,
                    "target": job.target,
                    "size": job.size,
                    "mode": job.mode,
                    "params_hash": job.params_hash,
                    "chunk_size": job.chunk_size,
                }
            ),
        )
        ftype, _, body = ch.recv()
        msg = P.loads(body)
        if ftype == P.REJECT:
            raise rejection(msg)
        if ftype != P.WELCOME:
            raise ProtocolError(f"expected WELCOME, got frame type {ftype}")
        if msg.get("status") == "complete":
            if job.chunks is None:
                job.chunks = []
            return
        if job.mode == "seed":
            job.chunks, job.new_manifest, read = seed_plan(
                ch, job.src, job.size, job.dmap, job.chunk_size, job.seed_blocks
            )
            stats.bytes_read += read
        assert job.chunks is not None
        _stream(
            job,
            ch,
            throttles,
            progress,
            int(msg.get("next_seq", 0)),
            bytes.fromhex(str(msg.get("digest", "00" * 16))),
            stats,
            cancel,
        )
    finally:
        stats.bytes_on_wire += ch.bytes_sent if ch is not None else 0
        if ch is not None:
            ch.close()
        else:
            with contextlib.suppress(OSError):
                sock.close()


def _stream(
    job: _Job,
    ch: Channel,
    throttles: Sequence[TokenBucket],
    progress: Callable[[int, int], None] | None,
    resume_seq: int,
    resume_digest: bytes,
    stats: TransferStats,
    cancel: threading.Event | None = None,
) -> None:
    chunks = job.chunks
    assert chunks is not None
    builder = ChunkBuilder(job.src, job.dmap, job.chunk_size, job.compress)
    cum: list[int] = []
    acc = 0
    for c in chunks:
        acc += sum(ln for _, ln in c)
        cum.append(acc)
    stats.bytes_changed = acc
    if resume_seq > len(chunks):
        raise IntegrityError(
            f"receiver journal is at chunk {resume_seq} but the plan has {len(chunks)}"
        )
    digest = P.ZERO_DIGEST
    for seq in range(resume_seq):  # rebuild the chain over what the receiver already holds
        prep = builder.build(seq, chunks[seq], for_wire=False)
        digest = P.chain(digest, seq, prep.table, prep.payload_hash)
    if digest != resume_digest:
        raise IntegrityError(
            f"transfer {job.transfer_id}: the receiver's journal does not match this source up to "
            f"chunk {resume_seq} (source changed?); use a new transfer_id"
        )
    stats.chunks_skipped_resume = resume_seq
    stats.resumed_from_offset = (
        chunks[resume_seq - 1][-1][0] + chunks[resume_seq - 1][-1][1] if resume_seq else 0
    )
    acks = AckReader(ch, acc, progress)
    acks.range_done = cum
    acks.next_seq = resume_seq
    acks.start()
    _, out = aligned_buffer(HDR + job.chunk_size + TAG)
    pace: Callable[[int], None] | None = None
    if throttles:

        def pace(n: int) -> None:
            for bucket in throttles:
                bucket.take(n)

    builders = [builder, ChunkBuilder(job.src, job.dmap, job.chunk_size, job.compress)]
    prefetch = Prefetcher(builders, chunks, resume_seq)
    prefetch.start()
    try:
        for _ in range(resume_seq, len(chunks)):
            if acks.error is not None:
                raise acks.error
            _check(cancel, job.transfer_id)
            item = prefetch.next()
            seq, prep, _ = item
            digest = P.chain(digest, seq, prep.table, prep.payload_hash)
            if pace is not None:
                pace(len(prep.prefix) + ch.overhead())
            ch.send(P.DATA, prep.prefix, prep.flags)
            if len(prep.payload):
                ch.send_payload(P.PAYLOAD, prep.flags, prep.payload, out, pace)
            prefetch.done(item)
            stats.chunks_sent += 1
    finally:
        prefetch.stop()
        stats.bytes_read += sum(b.bytes_read for b in builders)
    acks.end_sent.set()
    ch.send(P.END, P.END_BODY.pack(len(chunks), digest))
    if not acks.finished.wait(timeout=ch.sock.gettimeout() or 120.0):
        raise LinkDown("receiver did not confirm the end of the transfer in time")
    stats.bytes_written += acks.bytes_written
    if acks.error is not None:
        raise acks.error
    if acks.done_digest != digest:
        raise IntegrityError(
            f"transfer {job.transfer_id}: final digest mismatch between sender and receiver"
        )
    if progress is not None:
        progress(acc, acc)


def _write_manifest(job: _Job, base_manifest: Path | None, path: Path) -> int:
    """Save the manifest of what the target now holds; returns bytes read to build it."""
    if job.new_manifest is not None:
        job.new_manifest.save(path)
        return 0
    if base_manifest is not None and job.chunks is not None:
        ranges = [r for c in job.chunks for r in c]
        new, read = update_manifest(
            job.src, job.size, Manifest.load(base_manifest, job.size), ranges
        )
    else:
        groups, blocks, read = hash_source(job.src, job.size, job.dmap, with_blocks=True)
        assert blocks is not None
        new = Manifest(job.size, blocks, groups)
    new.save(path)
    return read
