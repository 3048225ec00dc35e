"""The DR-site receiver: a threaded TCP server (one thread per connection) and its command line.

`python -m lifeboat_replicator.datamover.receiver --listen 127.0.0.1:0 --psk-file F --state-dir D
--targets-dir T` prints "listening on HOST:PORT" once bound, serves until SIGTERM/SIGINT, exits 0.
(The code lives here so that the package can export it without importing the `receiver` module
that `python -m` runs as __main__.)
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import ssl
import sys
import threading
from pathlib import Path
from types import FrameType

from .journal import Journal
from .security import LinkSecurity
from .session import Registry, Resolver, Session, Settings
from .targets import DirectoryTargets

log = logging.getLogger(__name__)


class Receiver:
    def __init__(
        self,
        *,
        listen: tuple[str, int],
        security: LinkSecurity,
        state_dir: Path,
        resolve_target: Resolver,
        sync_every: int = 16 * 1024 * 1024,
        sync_interval: float = 0.5,
        io_timeout: float = 120.0,
    ) -> None:
        self.settings = Settings(
            security, Journal(state_dir), resolve_target, sync_every, sync_interval, io_timeout
        )
        self._registry = Registry()
        self._sock = socket.create_server(listen, reuse_port=False)
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._threads: list[tuple[threading.Thread, Session]] = []
        self._lock = threading.Lock()

    def serve_forever(self) -> None:
        """Accept connections until shutdown(); each one is served by its own thread."""
        try:
            while not self._stop.is_set():
                try:
                    conn, peer = self._sock.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stop.is_set():
                        break
                    raise
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                session = Session(conn, f"{peer[0]}:{peer[1]}", self.settings, self._registry)
                t = threading.Thread(target=session.run, name=f"dm-conn-{peer[1]}", daemon=True)
                with self._lock:
                    self._threads = [(x, s) for x, s in self._threads if x.is_alive()]
                    self._threads.append((t, session))
                t.start()
        finally:
            self._sock.close()

    def shutdown(self, wait: float = 5.0) -> None:
        """Stop accepting, cut live connections (their progress is journaled), wait for threads."""
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        for _, s in threads:
            s.abort()
        for t, _ in threads:
            t.join(wait)


def _parse_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _security(args: argparse.Namespace) -> LinkSecurity:
    psk = LinkSecurity.from_psk_file(Path(args.psk_file)).psk if args.psk_file else None
    tls = None
    if args.tls_cert:
        if not args.tls_key or not args.tls_ca:
            raise ValueError("--tls-cert needs --tls-key and --tls-ca (client CA) too")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=args.tls_ca)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        tls.verify_mode = ssl.CERT_REQUIRED
    return LinkSecurity(psk=psk, tls_server=tls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lifeboat-datamover-receiver", description=__doc__)
    parser.add_argument(
        "--listen", type=_parse_hostport, required=True, help="HOST:PORT (port 0: any free)"
    )
    parser.add_argument("--psk-file", help="file with the 32-byte pre-shared key (raw or hex)")
    parser.add_argument("--tls-cert", help="server certificate (PEM) for mutual TLS")
    parser.add_argument("--tls-key", help="server private key (PEM)")
    parser.add_argument("--tls-ca", help="CA (PEM) that signed the senders' client certificates")
    parser.add_argument("--state-dir", required=True, help="directory for the transfer journals")
    parser.add_argument("--targets-dir", required=True, help="directory holding the replica files")
    parser.add_argument("--sync-every-mib", type=int, default=16, help="fsync+ack cadence in MiB")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    try:
        security = _security(args)
        receiver = Receiver(
            listen=args.listen,
            security=security,
            state_dir=Path(args.state_dir),
            resolve_target=DirectoryTargets(Path(args.targets_dir)),
            sync_every=args.sync_every_mib * 1024 * 1024,
        )
    except (ValueError, OSError, ssl.SSLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        receiver._stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {receiver.host}:{receiver.port}", flush=True)
    receiver.serve_forever()
    receiver.shutdown()
    return 0
