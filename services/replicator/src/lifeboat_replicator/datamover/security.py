"""Link security: who may talk to whom, and the per-session keys.

PSK mode: both sites hold the same 32-byte key. On connect each side sends a fresh 32-byte nonce;
the receiver proves it holds the key first (HMAC-SHA256 over both nonces), then the sender does,
so neither side gives anything to a peer that has not proved itself, and a recorded handshake
cannot be replayed (fresh nonces). Session keys (one per direction) come from HKDF-SHA256 over the
PSK with both nonces as salt; every frame after the handshake is AES-256-GCM with a counter nonce,
so frames cannot be forged, replayed, reordered or dropped unnoticed.

TLS mode: mutual TLS with client certificates; if a PSK is given too, frames are still
AES-GCM-sealed with the PSK-derived keys (defence in depth), otherwise TLS alone protects them.
"""

from __future__ import annotations

import hmac
import os
import ssl
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"LBDM"
VERSION = 1
NONCE_LEN = 32
PROOF_LEN = 32
KEY_LEN = 32


@dataclass(frozen=True)
class LinkSecurity:
    """How sender and receiver authenticate each other and encrypt (see module docstring)."""

    psk: bytes | None = None
    tls_server: ssl.SSLContext | None = None  # receiver side
    tls_client: ssl.SSLContext | None = None  # sender side

    def __post_init__(self) -> None:
        if self.psk is not None and len(self.psk) != KEY_LEN:
            raise ValueError(f"psk must be exactly {KEY_LEN} bytes, got {len(self.psk)}")
        if self.psk is None and self.tls_server is None and self.tls_client is None:
            raise ValueError("LinkSecurity needs a psk or a TLS context; refusing an open link")
        if self.tls_server is not None and self.tls_server.verify_mode != ssl.CERT_REQUIRED:
            raise ValueError(
                "tls_server must require client certificates (verify_mode=CERT_REQUIRED)"
            )

    @classmethod
    def from_psk_file(cls, path: Path) -> LinkSecurity:
        """Load a PSK file: 32 raw bytes or 64 hex digits (surrounding whitespace ignored)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"psk file {path}: cannot read: {exc.strerror}") from exc
        if len(data) == KEY_LEN:
            return cls(psk=data)
        text = data.strip()
        if len(text) == 2 * KEY_LEN:
            try:
                return cls(psk=bytes.fromhex(text.decode("ascii")))
            except (ValueError, UnicodeDecodeError):
                pass
        raise ValueError(
            f"psk file {path}: expected 32 raw bytes or 64 hex digits, got {len(data)} bytes"
        )

    @staticmethod
    def generate_psk() -> bytes:
        return os.urandom(KEY_LEN)


def proof(psk: bytes, role: bytes, client_nonce: bytes, server_nonce: bytes) -> bytes:
    """HMAC-SHA256 proof that the `role` side holds the PSK, bound to both nonces."""
    return hmac.new(psk, b"lifeboat-dm " + role + client_nonce + server_nonce, sha256).digest()


def proofs_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def session_keys(psk: bytes, client_nonce: bytes, server_nonce: bytes) -> tuple[bytes, bytes]:
    """(sender->receiver key, receiver->sender key) for one connection."""
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=2 * KEY_LEN,
        salt=client_nonce + server_nonce,
        info=b"lifeboat-dm v1 session keys",
    ).derive(psk)
    return okm[:KEY_LEN], okm[KEY_LEN:]
