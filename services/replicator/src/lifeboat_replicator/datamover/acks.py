"""Sender side: the thread that reads the receiver's ACK / DONE / REJECT frames.

It runs beside the streaming loop so acknowledgements (sent after each batched fsync) never stall
the data stream, and turns a REJECT into the TransferError subclass the caller expects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from . import protocol as P
from .channel import Channel, Idle
from .errors import IntegrityError, LinkDown, ProtocolError, TargetRejected, TransferError

log = logging.getLogger(__name__)


class AckReader(threading.Thread):
    """Reads the receiver's frames while the main thread streams."""

    def __init__(
        self, ch: Channel, total: int, progress: Callable[[int, int], None] | None
    ) -> None:
        super().__init__(daemon=True, name="dm-acks")
        self.ch = ch
        self.total = total
        self.progress = progress
        self.next_seq = 0
        self.bytes_written = 0
        self.done_digest: bytes | None = None
        self.error: TransferError | None = None
        self.range_done: list[int] = []  # filled by the sender: cumulative range bytes per chunk
        self.finished = threading.Event()
        self.end_sent = threading.Event()

    def run(self) -> None:
        try:
            while True:
                try:
                    # while data still flows, a quiet receiver is fine (a slow throttled chunk)
                    ftype, _, body = self.ch.recv(idle_ok=not self.end_sent.is_set())
                except Idle:
                    continue
                if ftype == P.ACK:
                    self.next_seq, self.bytes_written = P.ACK_BODY.unpack(body)
                    if self.progress is not None and self.next_seq > 0:
                        done = self.range_done[min(self.next_seq, len(self.range_done)) - 1]
                        try:
                            self.progress(done, self.total)
                        except Exception:  # the caller's callback must not break the transfer
                            log.exception("data mover: progress callback failed")
                elif ftype == P.DONE:
                    self.done_digest = bytes(body[:16])
                    return
                elif ftype == P.REJECT:
                    self.error = rejection(P.loads(body))
                    return
                else:
                    self.error = ProtocolError(f"unexpected frame type {ftype} from receiver")
                    return
        except TransferError as exc:
            self.error = exc
        finally:
            self.finished.set()


def rejection(msg: dict[str, object]) -> TransferError:
    code = str(msg.get("code", "?"))
    text = f"receiver refused ({code}): {msg.get('message', '')}"
    if code == "integrity":
        return IntegrityError(text)
    if code == "link":
        return LinkDown(text)
    return TargetRejected(text)
