"""Token-bucket rate limiting shared by concurrent transfers (per group, per site link...).

A bucket may go into debt: `take(n)` for a frame larger than the burst subtracts n and sleeps until
the debt is repaid, so frames never have to be cut to the bucket size and several threads taking
from one bucket queue up fairly in the order they asked (each one's wait includes the debt of the
ones before it).
"""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """Thread-safe; `rate_bytes_per_s` None (or <= 0 via set_rate) means unlimited."""

    def __init__(self, rate_bytes_per_s: float | None, burst_bytes: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rate: float | None = None
        self._burst_fixed = burst_bytes
        self._burst = 0.0
        self._tokens = 0.0
        self._last = time.monotonic()
        self._apply(rate_bytes_per_s)
        self._tokens = self._burst

    def _apply(self, rate: float | None) -> None:
        self._rate = rate if rate is not None and rate > 0 else None
        if self._burst_fixed is not None:
            self._burst = float(self._burst_fixed)
        elif self._rate is not None:
            # 50 ms worth: small enough to keep a 1.5 s measurement within a few percent.
            self._burst = max(64 * 1024.0, self._rate * 0.05)
        else:
            self._burst = 0.0

    @property
    def rate(self) -> float | None:
        return self._rate

    def set_rate(self, rate: float | None) -> None:
        with self._lock:
            self._refill(time.monotonic())
            self._apply(rate)
            self._tokens = min(self._tokens, self._burst)

    def _refill(self, now: float) -> None:
        if self._rate is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now

    def take(self, n: int) -> None:
        """Block until `n` bytes may go out under this bucket's rate."""
        with self._lock:
            if self._rate is None:
                return
            now = time.monotonic()
            self._refill(now)
            self._tokens -= n
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)
