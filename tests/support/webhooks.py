"""A real HTTP server for webhook tests (issue 14): records what reached it, answers as told."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordingServer:
    """A webhook receiver on ``host`` (any 127.x address) recording each POST; ``replies`` maps
    a path to (status, headers, body, delay)."""

    def __init__(self, host: str) -> None:
        self.hits: list[dict[str, Any]] = []
        self.replies: dict[str, tuple[int, dict[str, str], bytes, float]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                server.hits.append({"path": self.path, "host": self.headers["Host"], "body": body})
                status, headers, body, delay = server.replies.get(self.path, (204, {}, b"", 0.0))
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
