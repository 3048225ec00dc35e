"""The uvicorn configuration every service is served with (``serve`` and the embedded stack).

HTTP/1.1 through h11 (not httptools, which cannot bound the header size): request line plus
headers are bounded by ``max_header_bytes`` (400 past it); a connection that has not sent a
whole request head within ``header_timeout_seconds`` is closed (no half-open slow-header
connections), and an idle keep-alive connection after ``keep_alive_timeout_seconds``; at most
``max_connections`` connections and requests in flight (uvicorn answers 503 beyond); on shutdown,
requests still running after ``shutdown_grace_seconds`` are cancelled. Forwarded
headers are not trusted: the client address (the per-address rate limit's key) is the TCP peer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from lifeboat_shared.settings import LifeboatSettings


class HeadTimeoutH11Protocol(H11Protocol):
    """h11 with a deadline for each request head (uvicorn has none)."""

    head_timeout_seconds = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        handle: asyncio.TimerHandle | None = getattr(self, "_head_deadline", None)
        if handle is not None:
            handle.cancel()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        handle: asyncio.TimerHandle | None = getattr(self, "_head_deadline", None)
        if handle is not None:
            handle.cancel()
        self._head_deadline = self.loop.call_later(self.head_timeout_seconds, self._head_expired)

    def _head_expired(self) -> None:
        # Still waiting for (the rest of) a request head: the client is too slow or gone.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(
    app: Any, settings: LifeboatSettings, *, host: str, port: int, **extra: Any
) -> uvicorn.Config:
    protocol = type(
        "LifeboatH11Protocol",
        (HeadTimeoutH11Protocol,),
        {"head_timeout_seconds": settings.header_timeout_seconds},
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        http=protocol,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=max(1, round(settings.keep_alive_timeout_seconds)),
        limit_concurrency=settings.max_connections,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
        proxy_headers=False,  # the client address is the TCP peer's (rate limits key on it)
        **extra,
    )
