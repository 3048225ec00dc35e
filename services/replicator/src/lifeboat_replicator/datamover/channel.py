"""Framed, authenticated-encrypted channel over one TCP (or TLS) socket, and its handshake.

Wire format after the handshake (README has the full protocol): every frame is an 8-byte header
`u8 type | u8 flags | u16 reserved(0) | u32 body length` followed by the body. With a session key
the body is AES-256-GCM(plaintext) + 16-byte tag, nonce = 4 zero bytes + u64 frame counter of that
direction, and the header is the associated data (so type/flags/length are authenticated too).
Blocking sockets with recv_into into a reused page-aligned buffer: measured ~5x faster than
asyncio streams for 4 MiB frames.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .blocks import FRAME_ROOM, MAX_CHUNK, aligned_buffer
from .errors import AuthenticationFailed, IntegrityError, LinkDown, ProtocolError
from .security import (
    MAGIC,
    NONCE_LEN,
    PROOF_LEN,
    VERSION,
    LinkSecurity,
    proof,
    proofs_equal,
    session_keys,
)

HEADER = struct.Struct("<BBHI")
PACE_SLICE = 256 * 1024
HDR = HEADER.size
TAG = 16
MAX_BODY = MAX_CHUNK + FRAME_ROOM
_PREAMBLE = struct.Struct(f"<4sBB{NONCE_LEN}s")
_REPLY = struct.Struct(f"<4sBB{NONCE_LEN}s{PROOF_LEN}s")
_NONCE = struct.Struct("<4xQ")


class Idle(LinkDown):
    """No frame started within the socket timeout (only raised when the caller allows idling)."""


class Channel:
    """One connection's frame I/O. `send*` may be called from two threads (lock inside)."""

    def __init__(
        self,
        sock: socket.socket,
        send_key: bytes | None,
        recv_key: bytes | None,
        max_body: int = MAX_BODY,
    ) -> None:
        self.sock = sock
        self._tx = AESGCM(send_key) if send_key is not None else None
        self._rx = AESGCM(recv_key) if recv_key is not None else None
        self._tx_ctr = 0
        self._rx_ctr = 0
        self._lock = threading.Lock()
        self.bytes_sent = 0
        self.max_body = max_body
        self._rbuf, self._rmv = aligned_buffer(HDR + max_body)
        self._pbuf, self._pmv = aligned_buffer(max_body)
        self._hdr = bytearray(HDR)
        self._hmv = memoryview(self._hdr)

    @property
    def sealed(self) -> bool:
        return self._tx is not None

    def overhead(self) -> int:
        """Wire bytes a frame adds to its plaintext."""
        return HDR + (TAG if self._tx is not None else 0)

    def send(self, ftype: int, payload: bytes, flags: int = 0) -> None:
        """Send a small control frame (allocates; not for the data path)."""
        with self._lock:
            n = len(payload) + (TAG if self._tx is not None else 0)
            head = HEADER.pack(ftype, flags, 0, n)
            if self._tx is not None:
                body = self._tx.encrypt(_NONCE.pack(self._tx_ctr), payload, head)
                self._tx_ctr += 1
            else:
                body = payload
            self._sendall(head + body)

    def send_payload(
        self,
        ftype: int,
        flags: int,
        view: memoryview,
        out: memoryview,
        pace: Callable[[int], None] | None = None,
    ) -> int:
        """Send `view` as one frame without extra copies; sealed, it is encrypted into `out`
        (preallocated, >= HDR + len + TAG, reused). With `pace` (the throttles), the frame goes
        out in PACE_SLICE pieces, each after pace(len): a slow link stays busy and smooth instead
        of idling for a whole chunk's worth of tokens. Returns wire bytes."""
        n = len(view)
        with self._lock:
            if self._tx is not None:
                head = HEADER.pack(ftype, flags, 0, n + TAG)
                out[:HDR] = head
                nonce = _NONCE.pack(self._tx_ctr)
                self._tx.encrypt_into(nonce, view, head, out[HDR : HDR + n + TAG])
                self._tx_ctr += 1
                wire = out[: HDR + n + TAG]
            else:
                out[:HDR] = HEADER.pack(ftype, flags, 0, n)
                out[HDR : HDR + n] = view  # TLS-only mode: one copy, then one paced stream
                wire = out[: HDR + n]
            if pace is None:
                self._sendall(wire)
            else:
                for i in range(0, len(wire), PACE_SLICE):
                    part = wire[i : i + PACE_SLICE]
                    pace(len(part))
                    self._sendall(part)
            return len(wire)

    def _sendall(self, data: bytes | memoryview) -> None:
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError) as exc:
            raise LinkDown(f"send failed: {exc}") from exc
        self.bytes_sent += len(data)

    def recv(
        self, into: memoryview | None = None, idle_ok: bool = False
    ) -> tuple[int, int, memoryview]:
        """Next frame as (type, flags, plaintext view). The view is valid until the next recv,
        or, with `into` (a caller-owned buffer >= the body), until the caller reuses `into`.
        idle_ok: a timeout before the first byte raises Idle (the caller may wait again)."""
        self._recv_exact(self._hmv, idle_ok)
        ftype, flags, _, n = HEADER.unpack(self._hdr)
        if n > self.max_body:
            raise ProtocolError(f"frame of {n} bytes exceeds the {self.max_body}-byte limit")
        if into is not None and n - (TAG if self._rx is not None else 0) > len(into):
            raise ProtocolError(f"frame of {n} bytes is larger than announced")
        if self._rx is None:
            body = (into if into is not None else self._rmv)[:n]
            self._recv_exact(body)
            return ftype, flags, body
        if n < TAG:
            raise ProtocolError("sealed frame shorter than its tag")
        body = self._rmv[:n]
        self._recv_exact(body)
        plain = (into if into is not None else self._pmv)[: n - TAG]
        try:
            self._rx.decrypt_into(_NONCE.pack(self._rx_ctr), body, bytes(self._hdr), plain)
        except InvalidTag as exc:
            raise IntegrityError(
                "a frame failed authentication (tampered, replayed or wrong key)"
            ) from exc
        self._rx_ctr += 1
        return ftype, flags, plain

    def _recv_exact(self, view: memoryview, idle_ok: bool = False) -> None:
        done = 0
        n = len(view)
        while done < n:
            try:
                got = self.sock.recv_into(view[done:], n - done)
            except TimeoutError as exc:
                if idle_ok and done == 0:
                    raise Idle("no frame yet") from exc
                raise LinkDown("timed out waiting for the peer") from exc
            except (OSError, ssl.SSLError) as exc:
                raise LinkDown(f"receive failed: {exc}") from exc
            if got == 0:
                raise LinkDown("connection closed by peer")
            done += got

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


def _recv_fixed(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    done = 0
    while done < n:
        got = sock.recv_into(view[done:], n - done)
        if got == 0:
            raise LinkDown("connection closed during the handshake")
        done += got
    return bytes(buf)


def client_handshake(sock: socket.socket, security: LinkSecurity) -> Channel:
    """Sender side: prove the receiver first, then ourselves; return the sealed channel."""
    psk = security.psk
    cn = os.urandom(NONCE_LEN)
    try:
        sock.sendall(_PREAMBLE.pack(MAGIC, VERSION, 1 if psk else 0, cn))
        reply = _recv_fixed(sock, _REPLY.size)
    except ssl.SSLError as exc:
        raise AuthenticationFailed(
            f"TLS handshake refused by the receiver: {exc.reason or exc}"
        ) from exc
    except OSError as exc:
        raise LinkDown(f"handshake failed: {exc}") from exc
    magic, version, mode, sn, server_proof = _REPLY.unpack(reply)
    if magic != MAGIC or version != VERSION:
        raise ProtocolError("the peer is not a Lifeboat data mover receiver (bad magic/version)")
    if psk is None:
        if mode:
            raise AuthenticationFailed(
                "the receiver requires a pre-shared key; none configured here"
            )
        return Channel(sock, None, None)
    if not mode:
        raise AuthenticationFailed("the receiver has no pre-shared key configured; refusing")
    if not proofs_equal(server_proof, proof(psk, b"server", cn, sn)):
        raise AuthenticationFailed(
            "the receiver failed to prove it holds the pre-shared key (wrong PSK?)"
        )
    try:
        sock.sendall(proof(psk, b"client", cn, sn))
    except OSError as exc:
        raise LinkDown(f"handshake failed: {exc}") from exc
    tx, rx = session_keys(psk, cn, sn)
    return Channel(sock, tx, rx)


def server_handshake(sock: socket.socket, security: LinkSecurity) -> Channel:
    """Receiver side; raises AuthenticationFailed/ProtocolError before anything is written."""
    psk = security.psk
    try:
        magic, version, mode, cn = _PREAMBLE.unpack(_recv_fixed(sock, _PREAMBLE.size))
    except ssl.SSLError as exc:
        raise AuthenticationFailed(f"TLS handshake failed: {exc.reason or exc}") from exc
    except OSError as exc:
        raise LinkDown(f"handshake failed: {exc}") from exc
    if magic != MAGIC or version != VERSION:
        raise ProtocolError("peer is not a Lifeboat data mover sender (bad magic/version)")
    sn = os.urandom(NONCE_LEN)
    server_proof = proof(psk, b"server", cn, sn) if psk is not None and mode else bytes(PROOF_LEN)
    try:
        sock.sendall(_REPLY.pack(MAGIC, VERSION, 1 if psk else 0, sn, server_proof))
    except OSError as exc:
        raise LinkDown(f"handshake failed: {exc}") from exc
    if psk is None:
        if mode:
            raise AuthenticationFailed("sender wants a pre-shared key; none configured here")
        return Channel(sock, None, None)
    if not mode:
        raise AuthenticationFailed("sender offered no pre-shared key")
    try:
        client_proof = _recv_fixed(sock, PROOF_LEN)
    except (OSError, LinkDown) as exc:
        raise AuthenticationFailed(f"sender did not complete the key proof: {exc}") from exc
    if not proofs_equal(client_proof, proof(psk, b"client", cn, sn)):
        raise AuthenticationFailed("sender failed to prove it holds the pre-shared key")
    rx, tx = session_keys(psk, cn, sn)
    return Channel(sock, tx, rx)
