"""Real SSH keypairs for os-keypairs (ed25519 generated when no public key is given)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from cloudsim.errors import bad_request
from cloudsim.state import Res, now_iso_micro


def fingerprint(public_key: str) -> str:
    parts = public_key.split()
    if len(parts) < 2:
        raise bad_request("Keypair data is invalid: failed to parse the public key.")
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except ValueError:
        raise bad_request("Keypair data is invalid: failed to parse the public key.") from None
    digest = hashlib.md5(raw).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def make_keypair(name: str, user_id: str, public_key: str | None, kind: str) -> Res:
    private: str | None = None
    if public_key is None:
        key = ed25519.Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        public_key = (
            key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        public_key += " Generated-by-Nova"
    kp: Res = {
        "name": name,
        "public_key": public_key,
        "fingerprint": fingerprint(public_key),
        "user_id": user_id,
        "type": kind,
        "created_at": now_iso_micro(),
        "deleted": False,
        "deleted_at": None,
        "updated_at": None,
        "id": 0,
    }
    if private is not None:
        kp["private_key"] = private
    return kp
