"""Request rate limits: a token bucket per principal (``/v1``) and per client address (401s).

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; each request takes one.
An empty bucket answers 429 with ``Retry-After`` (whole seconds until a token is back). The
table of buckets is bounded: past ``max_keys`` the least recently used bucket is forgotten (a
forgotten bucket comes back full, so the bound only ever errs towards letting a request in).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from lifeboat_shared.service.auth import Principal, require_principal

TOO_MANY = "too many requests: slow down and retry after the number of seconds in Retry-After"


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.max_keys, self._clock = rate, burst, max_keys, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate)

    def retry_after(self, key: str) -> int | None:
        """Seconds to wait when ``key``'s bucket is empty, else None (nothing taken)."""
        tokens = self._level(key, self._clock())
        if tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def take(self, key: str) -> int | None:
        """Take a token; None when allowed, else the seconds to wait (Retry-After)."""
        now = self._clock()
        tokens = self._level(key, now)
        if tokens < 1.0:
            self._store(key, tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))
        self._store(key, tokens - 1.0, now)
        return None

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


def too_many(retry_after: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=TOO_MANY,
        headers={"Retry-After": str(retry_after)},
    )


async def limit_principal(
    request: Request, principal: Annotated[Principal, Depends(require_principal)]
) -> Principal:
    """The ``/v1`` dependency after authentication: one token of the principal's bucket."""
    limiter: RateLimiter = request.app.state.principal_rate_limiter
    wait = limiter.take(f"{principal.user_id}@{principal.project_id or '*'}")
    if wait is not None:
        raise too_many(wait)
    return principal
