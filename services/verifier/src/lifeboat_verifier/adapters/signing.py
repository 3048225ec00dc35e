"""The deployment's Ed25519 key (``cryptography``): sign test reports, verify signed documents.

The private key lives in a PEM (PKCS8) file: generated with mode 0600 in the data directory on
the embedded default's first start, mounted from a Secret in production. Its bytes are never
logged; only the path and the public key's fingerprint are. The fingerprint is
``sha256:<hex>`` of the raw 32-byte public key.

A signed document is ``{"report": {...}, "signature": {"alg": "Ed25519", "key_fingerprint":
..., "value": <base64>}}``; the signature covers the canonical JSON of ``report`` exactly as it
stands in the document (``canonical_json``), so verification never normalises what it checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from lifeboat_verifier.domain.evidence import (
    SIGNATURE_ALG,
    Report,
    ReportSignature,
    SignedReport,
    canonical_json,
)

log = logging.getLogger(__name__)


class SigningKeyError(RuntimeError):
    """The key file is missing (and may not be generated) or does not hold an Ed25519 key."""


class ReportVerificationError(ValueError):
    """Why a signed report does not verify; ``kind`` names it for people and scripts."""

    kind = "invalid"


class MalformedReport(ReportVerificationError):
    kind = "malformed"


class UnknownKey(ReportVerificationError):
    kind = "unknown key"


class BadSignature(ReportVerificationError):
    kind = "bad signature"


def fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: bytes | str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo); ValueError naming what is wrong."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key ({type(key).__name__})")
    return key


@dataclass(frozen=True)
class SigningKey:
    """The deployment's private key, with its public half's PEM and fingerprint."""

    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    @property
    def public_pem(self) -> str:
        return public_pem(self.public)

    def sign(self, payload: bytes) -> bytes:
        return self.private.sign(payload)

    def __repr__(self) -> str:  # never the key's bytes
        return f"SigningKey({self.fingerprint})"

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def load_signing_key(path: Path, *, generate: bool) -> SigningKey:
    """The key in ``path``; if it is missing and ``generate``, a new one written there with mode
    0600 (exclusively: replicas starting together end up with the same key)."""
    if not path.exists():
        if not generate:
            raise SigningKeyError(
                f"signing_key_file: {path} does not exist; production mounts the deployment's "
                "Ed25519 key (PEM, PKCS8) there (LIFEBOAT_VERIFIER_SIGNING_KEY_FILE)"
            )
        _write_new_key(path)
    try:
        data = path.read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(
            f"signing_key_file: {path} is not a readable unencrypted PEM private key "
            f"({type(exc).__name__})"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"signing_key_file: {path} holds a {type(key).__name__}, not an Ed25519 key"
        )
    signing = SigningKey(key)
    log.info("report signing key %s from %s", signing.fingerprint, path)
    return signing


def _write_new_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = SigningKey.generate().private_pem()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another replica wrote it first: use that one
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    log.info("generated a report signing key in %s (mode 0600)", path)


def sign_report(report: Report, key: SigningKey) -> SignedReport:
    value = base64.b64encode(key.sign(report.payload())).decode("ascii")
    return SignedReport(
        report=report,
        signature=ReportSignature(key_fingerprint=key.fingerprint, value=value),
    )


def document_bytes(signed: SignedReport) -> bytes:
    """The document as stored and served (canonical JSON too, so it is byte-stable)."""
    return canonical_json(signed.model_dump(mode="json"))


def verify_document(document: Any, public_key: Ed25519PublicKey) -> Report:
    """The report of a signed document if ``public_key`` signed exactly its ``report``; else
    MalformedReport, UnknownKey (signed by another key) or BadSignature (changed after
    signing). Returns the validated report."""
    if not isinstance(document, dict):
        raise MalformedReport("the document is not a JSON object")
    report, signature = document.get("report"), document.get("signature")
    if not isinstance(report, dict):
        raise MalformedReport("report: missing or not an object")
    if not isinstance(signature, dict):
        raise MalformedReport("signature: missing or not an object")
    if signature.get("alg") != SIGNATURE_ALG:
        raise MalformedReport(f"signature.alg: {signature.get('alg')!r}, expected 'Ed25519'")
    value = signature.get("value")
    try:
        raw = base64.b64decode(value if isinstance(value, str) else "", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64:
        raise MalformedReport("signature.value: not the base64 of a 64-byte Ed25519 signature")
    expected = fingerprint(public_key)
    if signature.get("key_fingerprint") != expected:
        raise UnknownKey(
            f"signed by key {signature.get('key_fingerprint')!r}, not by {expected} "
            "(the key given or the deployment's)"
        )
    try:
        payload = canonical_json(report)
    except ValueError as exc:
        raise MalformedReport(f"report: not canonical JSON ({exc})") from None
    try:
        public_key.verify(raw, payload)
    except InvalidSignature:
        raise BadSignature(
            f"the report does not match its signature by {expected}: it was changed after signing"
        ) from None
    try:
        return Report.model_validate(report)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MalformedReport(f"report.{where}: {first['msg']}") from None
