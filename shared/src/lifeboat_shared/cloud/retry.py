"""Bounded retries with backoff for calls the cloud asked us to repeat.

Retried: `RateLimited` (429) and `Unavailable` (503, connection refused), waiting what the
cloud's Retry-After header says when there is one (capped), else exponential backoff with jitter.
Anything else (404, 409, 400, 500...) is not retried: repeating it cannot help or may not be safe.
Creations are only retried through find-or-create (see `tags.py`), so a retried creation whose
first attempt succeeded returns what that attempt made instead of creating it twice.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from lifeboat_shared.cloud.errors import CloudError, RateLimited, Unavailable

T = TypeVar("T")

RETRYABLE: tuple[type[CloudError], ...] = (RateLimited, Unavailable)
RATE_LIMIT_ONLY: tuple[type[CloudError], ...] = (RateLimited,)


class RetryPolicy:
    """How many attempts, and how long to wait between them."""

    def __init__(self, *, attempts: int, initial_wait: float, max_wait: float) -> None:
        self.attempts = attempts
        self.initial_wait = initial_wait
        self.max_wait = max_wait

    def wait_seconds(self, retry_state: RetryCallState) -> float:
        """Retry-After when the cloud gave one, else exponential backoff with full jitter."""
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float):
            return float(min(max(retry_after, 0.0), self.max_wait))
        ceiling = min(self.max_wait, self.initial_wait * 2 ** (retry_state.attempt_number - 1))
        return random.uniform(self.initial_wait / 2, ceiling)

    async def call(
        self,
        func: Callable[[], Awaitable[T]],
        *,
        retry_on: tuple[type[CloudError], ...] = RETRYABLE,
    ) -> T:
        """Await `func()` until it succeeds, raises a non-retryable error, or attempts run out."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self.wait_seconds,
            retry=retry_if_exception_type(retry_on),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await func()
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover
