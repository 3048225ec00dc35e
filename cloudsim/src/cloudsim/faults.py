"""Fault injection state and the ASGI middleware that applies it to the OpenStack endpoints.

Faults never touch `/cloudsim/admin` (the control plane must stay reachable). Partitions are
process-wide (all sites of a `cloudsim up` run share one `Partitions`), symmetric, and apply to
requests that say which site they come from (header `X-Cloudsim-Client-Site`) and to Cinder
attachments whose connector names a site (`connector.cloudsim_site`).
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from cloudsim.errors import APIError, render
from cloudsim.state import SiteState

ADMIN_PREFIX = "/cloudsim/admin"

# Friendly operation names for rules; a rule may also give method + path glob directly.
OPERATIONS: dict[str, tuple[str, str]] = {
    "token.create": ("POST", "/identity/v3/auth/tokens"),
    "server.create": ("POST", "/compute/v2.1/servers"),
    "server.list": ("GET", "/compute/v2.1/servers*"),
    "server.show": ("GET", "/compute/v2.1/servers/*"),
    "server.delete": ("DELETE", "/compute/v2.1/servers/*"),
    "server.action": ("POST", "/compute/v2.1/servers/*/action"),
    "volume.create": ("POST", "/volume/v3/*/volumes"),
    "volume.list": ("GET", "/volume/v3/*/volumes*"),
    "volume.show": ("GET", "/volume/v3/*/volumes/*"),
    "volume.delete": ("DELETE", "/volume/v3/*/volumes/*"),
    "snapshot.create": ("POST", "/volume/v3/*/snapshots"),
    "group_snapshot.create": ("POST", "/volume/v3/*/group_snapshots"),
    "backup.create": ("POST", "/volume/v3/*/backups"),
    "attachment.create": ("POST", "/volume/v3/*/attachments"),
    "port.create": ("POST", "/network/v2.0/ports"),
    "network.list": ("GET", "/network/v2.0/networks*"),
    "image.create": ("POST", "/image/v2/images"),
    "recordset.create": ("POST", "/dns/v2/zones/*/recordsets"),
}


@dataclass
class OpRule:
    """Latency and/or an error rate for requests matching method + path glob."""

    method: str = "*"
    path: str = "*"
    operation: str | None = None
    latency_ms: float = 0.0
    error_rate: float = 0.0
    status: int = 503
    retry_after: float | None = None
    message: str = "injected fault"

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and fnmatch.fnmatchcase(path, self.path)

    @classmethod
    def parse(cls, d: Any) -> OpRule:
        if not isinstance(d, dict):
            raise APIError(400, "each rule must be an object")
        allowed = {
            "method",
            "path",
            "operation",
            "latency_ms",
            "error_rate",
            "status",
            "retry_after",
            "message",
        }
        extra = set(d) - allowed
        if extra:
            raise APIError(400, f"unknown rule field(s): {sorted(extra)}")
        rule = cls(**d)
        if rule.operation is not None:
            if rule.operation not in OPERATIONS:
                raise APIError(
                    400, f"operation: unknown {rule.operation!r}; known: {sorted(OPERATIONS)}"
                )
            rule.method, rule.path = OPERATIONS[rule.operation]
        rule.method = rule.method.upper()
        if not 0.0 <= rule.error_rate <= 1.0:
            raise APIError(400, "error_rate: must be between 0 and 1")
        if rule.latency_ms < 0:
            raise APIError(400, "latency_ms: must be >= 0")
        if not 400 <= rule.status <= 599:
            raise APIError(400, "status: must be a 4xx or 5xx code")
        return rule

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Bucket:
    """Token bucket for per-project API rate limits."""

    per_second: float
    burst: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> float | None:
        """None when allowed, else seconds until a token is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.per_second


class Partitions:
    """Symmetric partitions between named sites, shared by every site in a process."""

    def __init__(self) -> None:
        self._pairs: set[frozenset[str]] = set()
        self._lock = threading.Lock()

    def add(self, a: str, b: str) -> None:
        with self._lock:
            self._pairs.add(frozenset((a, b)))

    def remove(self, a: str, b: str) -> None:
        with self._lock:
            self._pairs.discard(frozenset((a, b)))

    def between(self, a: str, b: str) -> bool:
        return a != b and frozenset((a, b)) in self._pairs

    def of(self, a: str) -> list[str]:
        return sorted(next(iter(p - {a})) for p in self._pairs if a in p)


class Faults:
    """One site's fault settings."""

    def __init__(self, partitions: Partitions) -> None:
        self.down: str | None = None  # None, "503" or "refuse"
        self.rules: list[OpRule] = []
        self.rate_limits: dict[str, Bucket] = {}
        self.partitions = partitions
        self.power_lost: set[str] = set()
        self.rng = random.Random()


class FaultMiddleware:
    """Applies site-down, partition, per-operation latency/errors and rate limits."""

    def __init__(self, app: ASGIApp, state: SiteState, faults: Faults) -> None:
        self.app = app
        self.state = state
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        err = await self.check(scope)
        if err is not None:
            resp = render(None, err, scope["path"])
            if self.faults.down is not None:
                resp.headers["Connection"] = "close"
            await resp(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def check(self, scope: Scope) -> APIError | None:
        f = self.faults
        path: str = scope["path"]
        method: str = scope["method"]
        if f.down is not None:
            return APIError(503, f"Site {self.state.config.name} is down (injected fault).")
        headers = dict(scope["headers"])
        client_site = headers.get(b"x-cloudsim-client-site")
        if client_site is not None and f.partitions.between(
            self.state.config.name, client_site.decode()
        ):
            return APIError(
                503,
                f"Network partition between {client_site.decode()} and "
                f"{self.state.config.name} (injected fault).",
            )
        for rule in f.rules:
            if rule.matches(method, path):
                if rule.latency_ms:
                    await asyncio.sleep(rule.latency_ms / 1000.0)
                if rule.error_rate and f.rng.random() < rule.error_rate:
                    retry = rule.retry_after
                    if retry is None and rule.status == 429:
                        retry = 1.0
                    return APIError(rule.status, rule.message, retry_after=retry)
                break
        if f.rate_limits:
            token = headers.get(b"x-auth-token")
            tok = self.state.tokens.get(token.decode()) if token else None
            bucket = f.rate_limits.get(tok.project_id) if tok is not None else None
            if bucket is not None:
                wait = bucket.take()
                if wait is not None:
                    return APIError(
                        429,
                        "Rate limit exceeded for this project; retry later.",
                        retry_after=max(wait, 0.001),
                    )
        return None
