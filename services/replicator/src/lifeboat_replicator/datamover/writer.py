"""Receiver write path: a writer thread (verify + write) and a syncer thread (sync + ACK).

The connection thread only receives and decrypts, into one of three reused page-aligned payload
buffers; the writer thread decompresses, checks the chunk hash and writes into the BlockTarget
while the next chunk is being received (pwrite into the page cache measured ~0.33 s/GiB here, as
much as the decrypt, so overlapping them matters on 2 cores). The syncer batches the target's
`sync` (fdatasync, librbd flush) and acknowledges only what a completed sync covers, then records
it in the journal.
"""

from __future__ import annotations

import queue
import threading
import time
from contextlib import suppress

import zstandard

from . import protocol as P
from .blocks import aligned_buffer, hash64
from .channel import Channel
from .errors import IntegrityError, LinkDown, ProtocolError, TargetRejected, TransferError
from .journal import Journal, JournalEntry
from .ports import BlockTarget

_BUFFERS = 3


class Syncer(threading.Thread):
    """target.sync + journal + ACK for the latest posted state, coalescing posts while busy."""

    def __init__(
        self, target: BlockTarget, ch: Channel, journal: Journal, entry: JournalEntry
    ) -> None:
        super().__init__(daemon=True, name="dm-sync")
        self.target, self.ch, self.journal, self.entry = target, ch, journal, entry
        self.cond = threading.Condition()
        self.pending: tuple[int, bytes, int, int] | None = None
        self.synced_seq = entry.next_seq
        self.stopping = False
        self.error: Exception | None = None

    def post(self, seq: int, digest: bytes, done: int, written: int) -> None:
        with self.cond:
            self.pending = (seq, digest, done, written)
            self.cond.notify_all()

    def flush(self) -> None:
        """Wait until everything posted is durable (or the syncer failed)."""
        with self.cond:
            while self.pending is not None and self.error is None:
                self.cond.wait()
        if self.error is not None:
            raise TargetRejected(f"writing the target failed: {self.error}")

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.join()

    def run(self) -> None:
        while True:
            with self.cond:
                while self.pending is None and not self.stopping:
                    self.cond.wait()
                if self.pending is None:
                    return
                item = self.pending
            seq, digest, done, written = item
            try:
                self.target.sync()
                self.entry.next_seq, self.entry.digest, self.entry.bytes_done = (
                    seq,
                    digest.hex(),
                    done,
                )
                self.journal.save(self.entry)
                self.synced_seq = seq
                # if the link is gone, progress is journaled; the sender learns it on reconnect
                with suppress(LinkDown):
                    self.ch.send(P.ACK, P.ACK_BODY.pack(seq, written))
            except OSError as exc:
                self.error = exc
            with self.cond:
                if self.pending == item:
                    self.pending = None
                self.cond.notify_all()
                if self.error is not None:
                    return


class Writer(threading.Thread):
    def __init__(
        self,
        target: BlockTarget,
        size: int,
        ch: Channel,
        journal: Journal,
        entry: JournalEntry,
        chunk_size: int,
        sync_every: int,
        sync_interval: float,
    ) -> None:
        super().__init__(daemon=True, name="dm-write")
        self.target, self.size = target, size
        self.chunk_size = chunk_size
        self.bufs = [aligned_buffer(chunk_size)[1] for _ in range(_BUFFERS)]
        self.free: queue.Queue[int] = queue.Queue()
        for i in range(_BUFFERS):
            self.free.put(i)
        self.work: queue.Queue[tuple[int, int, bytes, int, int, int, int] | None] = queue.Queue()
        self.syncer = Syncer(target, ch, journal, entry)
        self.seq, self.digest = entry.next_seq, bytes.fromhex(entry.digest)
        self.done, self.written = entry.bytes_done, 0
        self.sync_every, self.sync_interval = sync_every, sync_interval
        self.error: TransferError | None = None
        self._zd = zstandard.ZstdDecompressor()

    def start(self) -> None:
        self.syncer.start()
        super().start()

    def take_buffer(self) -> int:
        """A free payload buffer index (blocks while the writer is two chunks behind)."""
        while True:
            self.check()
            with suppress(queue.Empty):
                return self.free.get(timeout=0.5)

    def check(self) -> None:
        if self.error is not None:
            raise self.error
        if self.syncer.error is not None:
            raise TargetRejected(f"writing the target failed: {self.syncer.error}")

    def submit(
        self, seq: int, flags: int, table: bytes, n_raw: int, n_wire: int, h: int, buf: int
    ) -> None:
        self.work.put((seq, flags, table, n_raw, n_wire, h, buf))

    def finish(self) -> tuple[int, bytes]:
        """Wait for queued chunks, fdatasync everything; returns (chunk count, chain digest)."""
        self.work.join()
        self.check()
        self.syncer.post(self.seq, self.digest, self.done, self.written)
        self.syncer.flush()
        return self.seq, self.digest

    def stop(self) -> None:
        """Write what fully arrived, make it durable and journaled, stop both threads."""
        self.work.put(None)
        self.join()
        if self.error is None and self.syncer.error is None and self.seq > self.syncer.synced_seq:
            self.syncer.post(self.seq, self.digest, self.done, self.written)
            with suppress(TransferError):
                self.syncer.flush()
        self.syncer.stop()

    def run(self) -> None:
        since, last = 0, time.monotonic()
        while True:
            item = self.work.get()
            if item is None:
                self.work.task_done()
                return
            seq, flags, table, n_raw, n_wire, h, buf = item
            try:
                if self.error is None:
                    payload = self.bufs[buf][:n_wire] if buf >= 0 else memoryview(b"")
                    nbytes = self._write(seq, flags, table, payload, n_raw, h)
                    self.digest = P.chain(self.digest, seq, table, h)
                    self.seq = seq + 1
                    self.done += nbytes
                    self.written += n_raw
                    since += nbytes
                    now = time.monotonic()
                    if since >= self.sync_every or now - last >= self.sync_interval:
                        self.syncer.post(self.seq, self.digest, self.done, self.written)
                        since, last = 0, now
            except TransferError as exc:
                self.error = exc
            except OSError as exc:
                self.error = TargetRejected(f"writing the target failed: {exc}")
            finally:
                if buf >= 0:
                    self.free.put(buf)
                self.work.task_done()

    def _write(
        self, seq: int, flags: int, table: bytes, wire: memoryview, n_raw: int, h: int
    ) -> int:
        """Verify and write one chunk; returns the volume bytes it covers."""
        if flags & P.F_ZSTD:
            try:
                raw = memoryview(self._zd.decompress(wire, max_output_size=n_raw))
            except zstandard.ZstdError as exc:
                raise IntegrityError(f"chunk {seq}: payload does not decompress: {exc}") from exc
        else:
            raw = wire
        if len(raw) != n_raw or (n_raw and hash64(raw) != h):
            raise IntegrityError(f"chunk {seq}: payload hash mismatch")
        pos = nbytes = 0
        target = self.target
        for off, ln, kind in P.PIECE.iter_unpack(table):
            if off + ln > self.size:
                raise ProtocolError(f"chunk {seq}: piece beyond the volume end")
            nbytes += ln
            if kind == P.PIECE_ZERO:
                target.zero(off, ln)
                continue
            if pos + ln > n_raw:
                raise ProtocolError(f"chunk {seq}: piece table longer than its payload")
            target.write(raw[pos : pos + ln], off)
            pos += ln
        if pos != n_raw:
            raise ProtocolError(f"chunk {seq}: payload longer than its piece table")
        return nbytes
