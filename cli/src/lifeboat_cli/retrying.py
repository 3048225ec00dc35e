"""How the CLI's long-running loops treat a slow or failing service: a failed poll is reported on
stderr and retried with backoff, never the end of the command."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class ApiError(RuntimeError):
    """A service answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_transient(exc: BaseException) -> bool:
    """Worth asking again: no answer in time, no connection, or a busy or failing service."""
    if isinstance(exc, httpx.TransportError):  # timeouts, refused or dropped connections
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in TRANSIENT_STATUS
    return isinstance(exc, ApiError) and exc.status in TRANSIENT_STATUS


def describe(exc: BaseException) -> str:
    text = str(exc) or "no detail"
    return f"{type(exc).__name__}: {text}"[:300]


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


class Backoff:
    """Exponential delays for a loop that failed ``failures`` times in a row."""

    def __init__(self, base: float = 0.5, cap: float = 10.0) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def failed(self) -> float:
        self.failures += 1
        return float(min(self.cap, self.base * 2 ** (self.failures - 1)))

    def reset(self) -> None:
        self.failures = 0


async def with_retries(what: str, call: Callable[[], Awaitable[T]], *, within: float = 60.0) -> T:
    """``call()`` again while it fails transiently, for up to ``within`` seconds (each failure
    reported on stderr); the last failure is raised after that. Only for idempotent calls."""

    def report(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        warn(f"{what}: {describe(exc) if exc else '?'}; retrying in {delay:.1f} s")

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(multiplier=0.5, max=10.0, jitter=0.5),
        stop=stop_after_delay(within),
        before_sleep=report,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity re-raises the last failure")
