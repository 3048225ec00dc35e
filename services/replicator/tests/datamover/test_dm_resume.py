"""Crashes and link faults mid-transfer: processes killed with SIGKILL, a TCP proxy cut."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from dm_support import MiB, Proxy, ReceiverProcess, Site, journal, same, wait_for, write_random

from lifeboat_replicator.datamover import (
    Extent,
    IntegrityError,
    LinkDown,
    LinkSecurity,
    TokenBucket,
    TransferStats,
    send_volume,
)

SIZE = 48 * MiB
CHUNK = 1 * MiB

_SENDER = """
import json, sys
from pathlib import Path
from lifeboat_replicator.datamover import Extent, LinkSecurity, TokenBucket, send_volume
a = json.loads(sys.argv[1])
send_volume(address=("127.0.0.1", a["port"]), security=LinkSecurity(psk=bytes.fromhex(a["psk"])),
            transfer_id=a["tid"], source=Path(a["src"]), target=a["target"], size=a["size"],
            extents=[Extent(0, a["size"])], throttles=[TokenBucket(a["rate"])],
            chunk_size=a["chunk"])
"""


def test_sigkill_sender_then_resend_resumes(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src, SIZE)
    args = {"port": site.port, "psk": site.psk.hex(), "tid": "ks", "src": str(src),
            "target": "vol-ks", "size": SIZE, "rate": 24e6, "chunk": CHUNK}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", _SENDER, json.dumps(args)])
    try:
        wait_for(
            lambda: int(journal(site.state, "ks").get("bytes_done", 0)) >= SIZE // 4, 30, "progress"
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the receiver notices the dead peer and journals what fully arrived
    wait_for(lambda: site.receiver is not None and not site.receiver._registry.by_id, 10, "release")
    done_before = int(journal(site.state, "ks")["bytes_done"])
    assert 0 < done_before < SIZE
    st = send_volume(
        address=site.address, security=site.security, transfer_id="ks", source=src,
        target="vol-ks", size=SIZE, extents=[Extent(0, SIZE)], chunk_size=CHUNK,
    )  # fmt: skip
    assert same(src, site.targets / "vol-ks")
    assert st.chunks_skipped_resume > 0
    assert st.resumed_from_offset == done_before
    remainder = SIZE - st.resumed_from_offset
    assert st.bytes_on_wire <= 1.05 * remainder, (st.bytes_on_wire, remainder)


def test_sigkill_receiver_then_sender_retries_and_resumes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src, SIZE)
    psk = os.urandom(32)
    (tmp_path / "psk").write_text(psk.hex())
    root = tmp_path / "dr"
    rx = ReceiverProcess(root, tmp_path / "psk")
    port = rx.port
    result: list[TransferStats | BaseException] = []

    def run() -> None:
        try:
            result.append(send_volume(
                address=("127.0.0.1", port), security=LinkSecurity(psk=psk), transfer_id="kr",
                source=src, target="vol-kr", size=SIZE, extents=[Extent(0, SIZE)],
                throttles=[TokenBucket(24e6)], chunk_size=CHUNK, retry_for=20.0,
            ))  # fmt: skip
        except BaseException as exc:
            result.append(exc)

    t = threading.Thread(target=run)
    t.start()
    rx2: ReceiverProcess | None = None
    try:
        wait_for(
            lambda: int(journal(root / "state", "kr").get("bytes_done", 0)) >= SIZE // 4,
            30,
            "progress",
        )
        rx.stop(signal.SIGKILL)
        acked = int(journal(root / "state", "kr")["bytes_done"])
        rx2 = ReceiverProcess(root, tmp_path / "psk", port=port)
        t.join(60)
        assert not t.is_alive()
    finally:
        rx.stop(signal.SIGKILL)
        if rx2 is not None:
            assert rx2.stop() == 0  # clean exit on SIGTERM
        t.join(10)
    st = result[0]
    assert isinstance(st, TransferStats), st
    assert same(src, root / "targets" / "vol-kr")
    assert st.chunks_skipped_resume > 0 and st.resumed_from_offset >= acked
    assert journal(root / "state", "kr")["complete"] is True


def test_link_cut_sender_resumes_by_itself(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src, SIZE)
    proxy = Proxy(site.address)
    result: list[TransferStats | BaseException] = []

    def run() -> None:
        try:
            result.append(send_volume(
                address=("127.0.0.1", proxy.port), security=site.security, transfer_id="cut",
                source=src, target="vol-cut", size=SIZE, extents=[Extent(0, SIZE)],
                throttles=[TokenBucket(24e6)], chunk_size=CHUNK, retry_for=10.0, connect_timeout=2,
            ))  # fmt: skip
        except BaseException as exc:
            result.append(exc)

    t = threading.Thread(target=run)
    t.start()
    try:
        wait_for(
            lambda: int(journal(site.state, "cut").get("bytes_done", 0)) >= SIZE // 4,
            30,
            "progress",
        )
        proxy.cut()
        threading.Event().wait(0.6)  # link down for a while: reconnects are refused
        proxy.restore()
        t.join(60)
    finally:
        proxy.close()
        t.join(10)
    st = result[0]
    assert isinstance(st, TransferStats), st
    assert same(src, site.targets / "vol-cut")
    assert st.chunks_skipped_resume > 0
    # resent after the cut: at most what was in flight, not the whole volume
    assert st.bytes_on_wire <= SIZE * 1.15


def test_resume_refuses_a_source_that_changed_under_the_same_id(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src, SIZE)
    proxy = Proxy(site.address)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            send_volume(
                address=("127.0.0.1", proxy.port), security=site.security, transfer_id="chg",
                source=src, target="vol-chg", size=SIZE, extents=[Extent(0, SIZE)],
                throttles=[TokenBucket(24e6)], chunk_size=CHUNK,
            )  # fmt: skip
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    try:
        wait_for(
            lambda: int(journal(site.state, "chg").get("bytes_done", 0)) >= SIZE // 4,
            30,
            "progress",
        )
        proxy.cut()
        t.join(30)
    finally:
        proxy.close()
        t.join(10)
    assert errors and isinstance(errors[0], LinkDown)  # no retry_for: the caller decides
    fd = os.open(src, os.O_WRONLY)
    os.pwrite(fd, b"\x01" * 4096, 0)  # the "snapshot" changed under the same transfer id
    os.close(fd)
    with pytest.raises(IntegrityError, match="does not match this source"):
        send_volume(
            address=site.address, security=site.security, transfer_id="chg", source=src,
            target="vol-chg", size=SIZE, extents=[Extent(0, SIZE)], chunk_size=CHUNK,
        )  # fmt: skip


def test_receiver_cli_rejects_bad_options(tmp_path: Path) -> None:
    (tmp_path / "bad.psk").write_text("not a key")
    base = [sys.executable, "-m", "lifeboat_replicator.datamover.receiver",
            "--state-dir", str(tmp_path / "s"), "--targets-dir", str(tmp_path / "t")]  # fmt: skip
    r = subprocess.run([*base, "--listen", "127.0.0.1:0", "--psk-file", str(tmp_path / "bad.psk")],
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 2 and "32 raw bytes or 64 hex digits" in r.stderr
    r = subprocess.run(
        [*base, "--listen", "nohostport"], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 2 and "HOST:PORT" in r.stderr
    r = subprocess.run(
        [*base, "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 2 and "psk" in r.stderr.lower()
