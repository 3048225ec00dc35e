"""Authentication: wrong keys, strangers and certificate-less clients get nothing written."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import socket
import ssl
import struct
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from dm_support import MiB, Site, running_receiver, same, scribble, write_random

from lifeboat_replicator.datamover import (
    AuthenticationFailed,
    Extent,
    LinkSecurity,
    TokenBucket,
    TransferError,
    send_volume,
)


def _assert_untouched(site: Site, name: str) -> None:
    assert not (site.targets / name).exists()
    assert not list(site.state.glob("*.journal.json"))


def test_wrong_psk_is_refused_and_nothing_written(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src, 1 * MiB)
    with pytest.raises(AuthenticationFailed, match="pre-shared key"):
        send_volume(
            address=site.address, security=LinkSecurity(psk=os.urandom(32)), transfer_id="w1",
            source=src, target="vol-w", size=1 * MiB, extents=[Extent(0, 1 * MiB)],
        )  # fmt: skip
    _assert_untouched(site, "vol-w")


@pytest.mark.parametrize(
    "payload",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(4096),
        b"LBDM\x01\x01" + bytes(32) + os.urandom(32) + os.urandom(64 * 1024),  # forged key proof
        b"LBDM\x01\x00" + bytes(32) + os.urandom(1024),  # claims "no PSK"
    ],
)
def test_a_stranger_is_refused_and_nothing_written(site: Site, payload: bytes) -> None:
    with socket.create_connection(site.address, timeout=5) as s:
        try:
            s.sendall(payload)
            s.settimeout(5)
            while s.recv(65536):  # the receiver closes on us
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass
    # a follow-up HELLO-shaped frame cannot get through either
    _assert_untouched(site, "vol-x")
    assert not site.targets.exists() or not any(site.targets.iterdir())


def test_psk_file_formats(tmp_path: Path) -> None:
    key = os.urandom(32)
    (tmp_path / "raw").write_bytes(key)
    (tmp_path / "hex").write_text(key.hex() + "\n")
    (tmp_path / "short").write_text("abcd")
    assert LinkSecurity.from_psk_file(tmp_path / "raw").psk == key
    assert LinkSecurity.from_psk_file(tmp_path / "hex").psk == key
    with pytest.raises(ValueError, match="32 raw bytes or 64 hex digits"):
        LinkSecurity.from_psk_file(tmp_path / "short")
    with pytest.raises(ValueError, match="cannot read"):
        LinkSecurity.from_psk_file(tmp_path / "missing")
    with pytest.raises(ValueError, match="open link"):
        LinkSecurity()


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey | None, *, ca: bool = False, server: bool = False,
) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        b = b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return b.sign(issuer_key or key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_mutual_tls(tmp_path: Path) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("lifeboat test CA", ca_key, None, None, ca=True)
    srv_key, cli_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    _write(tmp_path / "server", _cert("dr-site", srv_key, ca, ca_key, server=True), srv_key)
    _write(tmp_path / "client", _cert("protected-site", cli_key, ca, ca_key), cli_key)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca_pem)
    server_ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)
    client_ctx.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    no_cert_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)

    src = tmp_path / "src"
    write_random(src, 4 * MiB)
    root = tmp_path / "dr"
    psk = os.urandom(32)
    for label, rx_sec, tx_sec in [
        ("tls", LinkSecurity(tls_server=server_ctx), LinkSecurity(tls_client=client_ctx)),
        (
            "both",
            LinkSecurity(psk=psk, tls_server=server_ctx),
            LinkSecurity(psk=psk, tls_client=client_ctx),
        ),
    ]:
        with running_receiver(root, rx_sec) as rcv:
            st = send_volume(
                address=("127.0.0.1", rcv.port), security=tx_sec, transfer_id=f"tls-{label}",
                source=src, target=f"vol-{label}", size=4 * MiB, extents=[Extent(0, 4 * MiB)],
            )  # fmt: skip
            assert st.bytes_written == 4 * MiB
            assert same(src, root / "targets" / f"vol-{label}")
            # hash-compare (seed) over the same link: hash frames, then a small delta
            scribble(src, 3, seed=len(label))
            st = send_volume(
                address=("127.0.0.1", rcv.port), security=tx_sec, transfer_id=f"tls-s-{label}",
                source=src, target=f"vol-{label}", size=4 * MiB, extents=None,
                throttles=[TokenBucket(1e9)],
            )  # fmt: skip
            assert st.bytes_changed == 3 * 4096
            assert same(src, root / "targets" / f"vol-{label}")
            with pytest.raises(TransferError) as err:
                send_volume(
                    address=("127.0.0.1", rcv.port), security=LinkSecurity(tls_client=no_cert_ctx),
                    transfer_id=f"nocert-{label}", source=src, target=f"vol-nocert-{label}",
                    size=4 * MiB, extents=[Extent(0, 4 * MiB)],
                )  # fmt: skip
            assert isinstance(err.value, AuthenticationFailed), err.value
            assert not (root / "targets" / f"vol-nocert-{label}").exists()
            assert not (root / "state" / f"nocert-{label}.journal.json").exists()


def test_tampered_frame_is_detected(site: Site) -> None:
    """A frame with a flipped bit fails AES-GCM authentication; the receiver writes nothing."""
    from lifeboat_replicator.datamover.channel import client_handshake
    from lifeboat_replicator.datamover.protocol import HELLO, dumps

    with socket.create_connection(site.address, timeout=5) as s:
        ch = client_handshake(s, site.security)
        body = dumps({"transfer_id": "tamper", "target": "vol-t", "size": 4096, "mode": "extents",
                      "params_hash": "x", "chunk_size": 4 * MiB})  # fmt: skip
        sealed = ch._tx.encrypt(bytes(12), body, struct.pack("<BBHI", HELLO, 0, 0, len(body) + 16))  # type: ignore[union-attr]
        flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
        s.sendall(struct.pack("<BBHI", HELLO, 0, 0, len(flipped)) + flipped)
        s.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert s.recv(100) == b""
    _assert_untouched(site, "vol-t")
