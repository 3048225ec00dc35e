"""One receiver connection: handshake, journal check, (seed), write loop, batched fsync + ACK.

Durability rule: a chunk is acknowledged (and journaled) only after a target sync (fdatasync,
librbd flush) that covers it.
Syncs are batched (every `sync_every` bytes or `sync_interval` seconds) and run in a helper thread
so the disk flush overlaps with receiving the next chunks. When the sender vanishes mid-transfer,
everything fully received is synced and journaled before the connection is dropped, so a resume
re-sends only what never arrived.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

from . import protocol as P
from .blocks import MAX_CHUNK, MIN_CHUNK
from .channel import Channel, server_handshake
from .errors import IntegrityError, LinkDown, ProtocolError, TargetRejected, TransferError
from .files import FileTarget
from .journal import Journal, JournalEntry
from .ports import BlockTarget
from .security import LinkSecurity
from .seed import answer_seed
from .writer import Writer

log = logging.getLogger(__name__)
# yields a writable path (opened and closed here) or a BlockTarget (the resolver closes it)
Resolver = Callable[[str, int], AbstractContextManager[Path | BlockTarget]]


@dataclass
class Settings:
    security: LinkSecurity
    journal: Journal
    resolve_target: Resolver
    sync_every: int = 16 * 1024 * 1024
    sync_interval: float = 0.5
    io_timeout: float = 120.0
    handshake_timeout: float = 10.0


class Registry:
    """Which transfer ids and targets are being written; a reconnect preempts its stale session.

    Another transfer on a busy target waits up to `target_wait` seconds: a sender that just got
    DONE may start the next transfer to the same target while the previous session is still
    closing its descriptors.
    """

    def __init__(self, target_wait: float = 10.0) -> None:
        self.cond = threading.Condition()
        self.by_id: dict[str, Session] = {}
        self.by_target: dict[str, str] = {}
        self.target_wait = target_wait

    def claim(self, s: Session, tid: str, target: str) -> None:
        deadline = time.monotonic() + self.target_wait
        preempted = False
        while True:
            with self.cond:
                old = self.by_id.get(tid)
                owner = self.by_target.get(target)
                if old is None and owner in (None, tid):
                    self.by_id[tid] = s
                    self.by_target[target] = tid
                    return
                if old is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TargetRejected(
                            f"target {target!r} is being written by transfer {owner!r}"
                        )
                    self.cond.wait(left)
                    continue
            if preempted:
                raise TargetRejected(f"transfer {tid!r} is still active on another connection")
            old.abort()  # the sender reconnected: the old connection is dead or dying
            old.finished.wait(10.0)
            preempted = True

    def release(self, s: Session, tid: str, target: str) -> None:
        with self.cond:
            if self.by_id.get(tid) is s:
                del self.by_id[tid]
                if self.by_target.get(target) == tid:
                    del self.by_target[target]
            self.cond.notify_all()


class Session:
    def __init__(
        self, sock: socket.socket, peer: str, settings: Settings, registry: Registry
    ) -> None:
        self.sock, self.peer, self.s, self.registry = sock, peer, settings, registry
        self.finished = threading.Event()
        self.ch: Channel | None = None

    def abort(self) -> None:
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        try:
            self._run()
        except TransferError as exc:
            log.warning("data mover: connection from %s ended: %s", self.peer, exc)
        except Exception:  # a bug must not kill the server thread silently
            log.exception("data mover: connection from %s failed", self.peer)
        finally:
            if self.ch is not None:
                self.ch.close()
            else:
                with suppress(OSError):
                    self.sock.close()
            self.finished.set()

    def _reject(self, code: str, message: str) -> None:
        log.warning("data mover: refusing %s: %s", self.peer, message)
        if self.ch is not None:
            with suppress(LinkDown):
                self.ch.send(P.REJECT, P.dumps({"code": code, "message": message}))

    def _run(self) -> None:
        self.sock.settimeout(self.s.handshake_timeout)
        if self.s.security.tls_server is not None:
            try:
                self.sock = self.s.security.tls_server.wrap_socket(self.sock, server_side=True)
            except OSError as exc:
                raise TransferError(f"TLS handshake refused: {exc}") from exc
        self.ch = ch = server_handshake(self.sock, self.s.security)
        ftype, _, body = ch.recv()
        if ftype != P.HELLO:
            raise ProtocolError(f"expected HELLO, got frame type {ftype}")
        hello = P.loads(body)
        try:
            tid, target, size, mode, params, chunk = _validate(hello)
        except ValueError as exc:
            self._reject("request", str(exc))
            return
        self.sock.settimeout(self.s.io_timeout)
        try:
            self.registry.claim(self, tid, target)
        except TargetRejected as exc:
            self._reject("busy", str(exc))
            return
        try:
            self._transfer(ch, tid, target, size, mode, params, chunk)
        finally:
            self.registry.release(self, tid, target)

    def _transfer(
        self, ch: Channel, tid: str, target: str, size: int, mode: str, params: str, chunk: int
    ) -> None:
        journal = self.s.journal
        entry = journal.load(tid)
        if entry is not None and entry.params_hash != params:
            self._reject("params", f"transfer id {tid!r} was already used for a different transfer")
            return
        if entry is not None and entry.complete:
            ch.send(
                P.WELCOME,
                P.dumps({"status": "complete", "next_seq": entry.next_seq, "digest": entry.digest}),
            )
            return
        with ExitStack() as stack:
            try:
                got = stack.enter_context(self.s.resolve_target(target, size))
                if isinstance(got, (str, os.PathLike)):
                    dest: BlockTarget = stack.enter_context(FileTarget.open(got))
                else:
                    dest = got
            except TargetRejected as exc:
                self._reject("target", str(exc))
                return
            except Exception as exc:  # the resolver is pluggable (Cinder...): refuse, say why
                self._reject("target", f"target {target!r} cannot be opened: {exc}")
                return
            if dest.size < size:
                self._reject(
                    "target", f"target {target!r} is smaller than the volume ({size} bytes)"
                )
                return
            if entry is None or mode == "seed" or entry.next_seq == 0:
                entry = JournalEntry(tid, params, target)
                journal.save(entry)
                status = "new"
            else:
                status = "resume"
            ch.send(
                P.WELCOME,
                P.dumps({"status": status, "next_seq": entry.next_seq, "digest": entry.digest}),
            )
            if mode == "seed":
                answer_seed(ch, dest, size)
            self._receive(ch, dest, size, chunk, entry)

    def _receive(
        self, ch: Channel, dest: BlockTarget, size: int, chunk: int, entry: JournalEntry
    ) -> None:
        w = Writer(
            dest, size, ch, self.s.journal, entry, chunk, self.s.sync_every, self.s.sync_interval
        )
        w.start()
        seq = entry.next_seq
        try:
            while True:
                w.check()
                ftype, flags, body = ch.recv()
                if ftype == P.END:
                    count, theirs = P.END_BODY.unpack(body)
                    ours_count, digest = w.finish()
                    if count != ours_count or theirs != digest:
                        self._reject(
                            "integrity", f"final digest mismatch after {ours_count} chunks"
                        )
                        return
                    entry.complete = True
                    self.s.journal.save(entry)
                    ch.send(P.DONE, digest)
                    return
                if ftype != P.DATA or len(body) < P.DATA_HEAD.size:
                    raise ProtocolError(f"unexpected frame type {ftype} during the transfer")
                got, npieces, n_raw, n_wire, h = P.DATA_HEAD.unpack_from(body)
                t1 = P.DATA_HEAD.size + npieces * P.PIECE.size
                if got != seq or t1 != len(body) or n_raw > chunk or n_wire > chunk:
                    raise ProtocolError(f"malformed DATA frame (chunk {got}, expected {seq})")
                table = bytes(body[P.DATA_HEAD.size :])
                buf = -1
                if n_wire:
                    buf = w.take_buffer()
                    ftype, _, payload = ch.recv(into=w.bufs[buf])
                    if ftype != P.PAYLOAD or len(payload) != n_wire:
                        w.free.put(buf)
                        raise ProtocolError(
                            f"chunk {seq}: expected its {n_wire}-byte PAYLOAD frame"
                        )
                w.submit(seq, flags, table, n_raw, n_wire, h, buf)
                seq += 1
        except IntegrityError as exc:
            self._reject("integrity", str(exc))
            raise
        except TargetRejected as exc:
            self._reject("io", str(exc))
            raise
        finally:
            w.stop()


def _validate(h: dict[str, object]) -> tuple[str, str, int, str, str, int]:
    tid, target, size, mode = h.get("transfer_id"), h.get("target"), h.get("size"), h.get("mode")
    params, chunk = h.get("params_hash"), h.get("chunk_size")
    if not isinstance(tid, str) or not P.valid_transfer_id(tid):
        raise ValueError("transfer_id: missing or not 1-128 of [A-Za-z0-9._-]")
    if not isinstance(target, str) or not target:
        raise ValueError("target: missing")
    if not isinstance(size, int) or size < 0:
        raise ValueError("size: must be a non-negative integer")
    if mode not in P.MODES:
        raise ValueError(f"mode: must be one of {', '.join(P.MODES)}")
    if not isinstance(params, str) or not params:
        raise ValueError("params_hash: missing")
    if not isinstance(chunk, int) or not MIN_CHUNK <= chunk <= MAX_CHUNK:
        raise ValueError("chunk_size: out of range")
    return tid, target, size, str(mode), params, chunk
