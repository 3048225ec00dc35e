"""What every service module of the driver shares for one (site, project): the connection, the
site's thread pool, the retry policy and status polling.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Collection
from typing import ParamSpec, TypeVar

import openstack.connection

from lifeboat_shared.cloud.errors import CloudError, NotFound, OperationFailed, OperationTimedOut
from lifeboat_shared.cloud.executor import SiteExecutor
from lifeboat_shared.cloud.retry import RETRYABLE, RetryPolicy
from lifeboat_shared.cloud.settings import CloudDriverSettings

_IDS = re.compile(r"[0-9a-fA-F]{8}(?:-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}|\b[0-9a-f]{16,}\b")
FIRST_POLL_SHARE = 0.8  # the first status poll of a wait: at this share of the usual duration
WAIT_EWMA = 0.3
FIRST_POLL_MAX_INTERVALS = 4  # the learned first sleep: at most this many poll_max_interval


def wait_kind(operation: str) -> str:
    """The kind of a wait, for its latency estimate: the operation without resource ids."""
    return _IDS.sub("*", operation)


P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class ProjectContext:
    """One authenticated scope (site, project) and the means to call it safely."""

    def __init__(
        self,
        *,
        site: str,
        project: str | None,
        conn: openstack.connection.Connection,
        executor: SiteExecutor,
        settings: CloudDriverSettings,
    ) -> None:
        self.site = site
        self.project = project
        self.conn = conn
        self.executor = executor
        self.settings = settings
        self.retry = RetryPolicy(
            attempts=settings.retry_attempts,
            initial_wait=settings.retry_initial_wait,
            max_wait=settings.retry_max_wait,
        )

    async def call(
        self,
        operation: str,
        func: Callable[P, R],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """One SDK call in the site's pool, retried on 429/503/unreachable.

        Only for reads and for writes that are safe to repeat (deletes, state changes,
        find-then-create sequences); plain creations use `call_once`.
        """
        return await self.retry.call(
            lambda: self.executor.run(operation, func, *args, **kwargs), retry_on=RETRYABLE
        )

    async def call_once(
        self, operation: str, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """One SDK call in the site's pool, never retried (a creation without a tag)."""
        return await self.executor.run(operation, func, *args, **kwargs)

    async def wait_for(
        self,
        operation: str,
        fetch: Callable[[], T],
        status_of: Callable[[T], str],
        *,
        ready: Collection[str],
        failed: Collection[str] = ("error", "ERROR"),
        timeout: float | None = None,
        initial: T | None = None,
    ) -> T:
        """Poll `fetch` (in the pool) until its status is in `ready`.

        The first poll is at once, or is `initial` when the caller has the resource as the
        creation answered it (a just-created snapshot is "creating": asking again at once only
        costs the site and us a request); a kind of wait (the operation without its ids) that took a
        while before at this site polls next at 0.8 of its usual duration (an EWMA; at most 4x
        the maximum interval), then at the initial interval growing by 1.5x up to the maximum.

        Polling sleeps on the event loop, not in a worker thread, so many concurrent waits cost
        no threads. Raises OperationFailed on a `failed` status, OperationTimedOut at the
        deadline.
        """
        started = time.monotonic()
        deadline = started + (timeout or self.settings.wait_timeout)
        interval = self.settings.poll_initial_interval
        ready_set = {s.lower() for s in ready}
        failed_set = {s.lower() for s in failed}
        kind = wait_kind(operation)
        usual = self.executor.wait_seconds.get(kind)
        polls = 0
        while True:
            if polls == 0 and initial is not None:
                current = initial
            else:
                current = await self.call(operation, fetch)
            polls += 1
            status = status_of(current).lower()
            if status in ready_set:
                if polls > 1 or usual is not None:  # not instant: learn how long it takes
                    took = time.monotonic() - started
                    self.executor.wait_seconds[kind] = (
                        took if usual is None else (1 - WAIT_EWMA) * usual + WAIT_EWMA * took
                    )
                return current
            if status in failed_set:
                raise OperationFailed(f"ended in status {status!r}", operation=operation)
            if polls == 1 and usual is not None:
                # A kind of wait that usually takes a while: the next poll near its usual end
                # instead of a series of early ones (each poll costs the site and us a request);
                # never longer than a few of the longest poll intervals.
                first = min(
                    FIRST_POLL_SHARE * usual - (time.monotonic() - started),
                    FIRST_POLL_MAX_INTERVALS * self.settings.poll_max_interval,
                )
                if first > interval:
                    await asyncio.sleep(min(first, max(0.0, deadline - time.monotonic())))
                    continue
            if time.monotonic() >= deadline:
                raise OperationTimedOut(
                    f"still {status!r} after {timeout or self.settings.wait_timeout:.0f}s",
                    operation=operation,
                )
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, self.settings.poll_max_interval)

    async def wait_gone(
        self,
        operation: str,
        fetch: Callable[[], object],
        *,
        status_of: Callable[[object], str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Poll until `fetch` raises NotFound (a deletion finished)."""
        deadline = time.monotonic() + (timeout or self.settings.wait_timeout)
        interval = self.settings.poll_initial_interval
        while True:
            try:
                current = await self.call(operation, fetch)
            except NotFound:
                return
            if status_of is not None and status_of(current).lower() in ("error", "error_deleting"):
                raise OperationFailed(
                    f"deletion ended in status {status_of(current)!r}", operation=operation
                )
            if time.monotonic() >= deadline:
                raise OperationTimedOut("resource still present", operation=operation)
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, self.settings.poll_max_interval)


__all__ = ["CloudError", "ProjectContext"]
