"""GuestServices: what a simulated guest answers on, so a test failover can probe the copy.

A bubble check after a test failover asks "does the recovered VM's application answer, and is
its data sane?". Each guest can run a small HTTP service on 127.0.0.1 (a free port unless one is
given): ``GET /health`` (200, or 503 while made unhealthy) and ``POST /exec`` with
``{"command": ...}`` for a fixed set of simulated commands, never a shell:

- ``hostname``: the server id;
- ``uptime``: seconds since the service started;
- ``check-consistency``: the consistency checker over the guest's volumes (the callable given),
  i.e. the application's own startup check on the data it booted with;
- ``connect`` with ``"address"``: a TCP connection from this guest to that address's guest
  service, along the paths cloudsim models (``cloudsim.fabric``: same network, a shared
  router, an ACTIVE IPsec tunnel; nothing else): who answered, at which site, by which path, or
  504 with ``no route to host`` / ``connection refused``.

A plain TCP connect to the port doubles as a TCP health check.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cloudsim.guest.checker import check_consistency

COMMANDS = ("hostname", "uptime", "check-consistency", "connect")


class GuestServices:
    """Health and exec endpoints of one guest; ``start`` returns the bound port."""

    def __init__(
        self,
        server_id: str,
        *,
        volumes: Callable[[], Mapping[str, Path]] | None = None,
        connect: Callable[[str], tuple[int, Any]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.server_id = server_id
        self.healthy = True
        self._volumes = volumes
        self._connect = connect
        self._host = host
        self._port = port
        self._started = 0.0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"services of server {self.server_id} are not running")
        return int(self._httpd.server_address[1])

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def set_healthy(self, healthy: bool) -> None:
        """Fault injection: an unhealthy guest answers 503 on /health."""
        self.healthy = healthy

    def start(self) -> int:
        if self._httpd is not None:
            return self.port
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path != "/health":
                    self._reply(404, {"error": f"no such path {self.path}"})
                elif owner.healthy:
                    self._reply(200, {"server_id": owner.server_id, "status": "ok"})
                else:
                    self._reply(503, {"server_id": owner.server_id, "status": "unhealthy"})

            def do_POST(self) -> None:
                if self.path != "/exec":
                    self._reply(404, {"error": f"no such path {self.path}"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body: Any = None
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                    command = body["command"] if isinstance(body, dict) else None
                except (ValueError, KeyError):
                    command = None
                if command not in COMMANDS:
                    self._reply(400, {"error": f"command must be one of {', '.join(COMMANDS)}"})
                    return
                address = body.get("address") if isinstance(body, dict) else None
                status, result = owner.run(str(command), address=address)
                self._reply(status, {"command": command, "result": result})

        self._httpd = ThreadingHTTPServer((self._host, self._port), Handler)
        self._httpd.daemon_threads = True
        self._started = time.monotonic()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits at most this long
            name=f"guest-{self.server_id}",
            daemon=True,
        )
        self._thread.start()
        return self.port

    def run(self, command: str, *, address: Any = None) -> tuple[int, Any]:
        """Run one simulated command; returns (HTTP status, result)."""
        if command == "connect":
            if not isinstance(address, str) or not address:
                return 400, "connect needs an address (the IP to open a TCP connection to)"
            if self._connect is None:
                return 409, "this guest has no network"
            return self._connect(address)
        if command == "hostname":
            return 200, self.server_id
        if command == "uptime":
            return 200, round(time.monotonic() - self._started, 3)
        if command == "check-consistency":
            volumes = dict(self._volumes()) if self._volumes is not None else {}
            if not volumes:
                return 409, "this guest has no volumes to check"
            return 200, check_consistency(volumes).model_dump()
        return 400, f"unknown command {command}"

    def stop(self) -> None:
        """Stop answering (power off): connections are refused afterwards."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
