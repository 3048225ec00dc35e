"""Helpers for the data mover tests: real receivers (thread or process), files, a TCP proxy.

Everything binds 127.0.0.1 on free ports and is stopped at teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifeboat_replicator.datamover import DirectoryTargets, LinkSecurity, Receiver

MiB = 1024 * 1024


def write_random(path: Path, size: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        for off in range(0, size, 4 * MiB):
            f.write(rnd.randbytes(min(4 * MiB, size - off)))


def write_sparse(path: Path, size: int, regions: list[tuple[int, int]], seed: int = 2) -> None:
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for off, ln in regions:
            f.seek(off)
            f.write(rnd.randbytes(ln))


def scribble(path: Path, blocks: int, seed: int = 3) -> list[int]:
    """Overwrite `blocks` random 4 KiB blocks; returns their indices."""
    rnd = random.Random(seed)
    n = path.stat().st_size // 4096
    picks = sorted(rnd.sample(range(n), blocks))
    fd = os.open(path, os.O_WRONLY)
    try:
        for b in picks:
            os.pwrite(fd, rnd.randbytes(4096), b * 4096)
    finally:
        os.close(fd)
    return picks


def same(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(4 * MiB), fb.read(4 * MiB)
            if x != y:
                return False
            if not x:
                return True


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def journal(state: Path, tid: str) -> dict[str, object]:
    try:
        data = json.loads((state / f"{tid}.journal.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}
    assert isinstance(data, dict)
    return data


@dataclass
class Site:
    root: Path
    psk: bytes
    security: LinkSecurity
    port: int
    receiver: Receiver | None = None

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def targets(self) -> Path:
        return self.root / "targets"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


@contextlib.contextmanager
def running_receiver(root: Path, security: LinkSecurity, **kw: Any) -> Iterator[Receiver]:
    kw.setdefault("resolve_target", DirectoryTargets(root / "targets"))
    rcv = Receiver(listen=("127.0.0.1", 0), security=security, state_dir=root / "state", **kw)
    t = threading.Thread(target=rcv.serve_forever, daemon=True)
    t.start()
    try:
        yield rcv
    finally:
        rcv.shutdown()
        t.join(10)


class ReceiverProcess:
    """The receiver as its own process, started through the module's command line."""

    def __init__(self, root: Path, psk_file: Path, port: int = 0) -> None:
        self.root = root
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "lifeboat_replicator.datamover.receiver",
                "--listen", f"127.0.0.1:{port}", "--psk-file", str(psk_file),
                "--state-dir", str(root / "state"), "--targets-dir", str(root / "targets"),
                "--sync-every-mib", "1",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            self.proc.kill()
            raise AssertionError(f"receiver did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(10)


class Proxy:
    """A TCP relay in front of the receiver whose links can be cut (and new ones refused)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.up = True
        self.stopped = False
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up:
                c.close()
                continue
            try:
                u = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                data = a.recv(256 * 1024)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.stopped = True
        self.cut()
        self.sock.close()
        self.thread.join(5)
