"""Wake a background loop of this process early, and sleep until woken, stopped or timed out.

A loop that polls at an interval (the policy's RPO scheduler, the replicator's cycle runners)
subscribes to a ``Wakeups``; code that commits something the loop should act on now (a sooner
due time, a new pending cycle) posts to it after its commit. The interval still bounds how late
the loop sees what this process did not post (another replica's work).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Wakeups(Generic[T]):
    """In-process publish/subscribe of one kind of news (``T``) to the loops that want it."""

    def __init__(self, listeners: str) -> None:
        self._listeners = listeners  # for the log line when a wake-up fails
        self._subscribers: list[Callable[[T], None]] = []

    def subscribe(self, wake: Callable[[T], None]) -> Callable[[], None]:
        """Call ``wake(news)`` on every post until the returned function unsubscribes it."""
        self._subscribers.append(wake)

        def unsubscribe() -> None:
            if wake in self._subscribers:
                self._subscribers.remove(wake)

        return unsubscribe

    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def post(self, news: T) -> None:
        """Never raises: it runs after a commit, when the caller's change is already made."""
        for wake in list(self._subscribers):
            try:
                wake(news)
            except Exception:  # e.g. the loop closed while shutting down
                log.warning("could not wake %s", self._listeners, exc_info=True)


def setter(event: asyncio.Event) -> Callable[[], None]:
    """A function that sets ``event`` from any thread or loop, through the loop running now."""
    loop = asyncio.get_running_loop()

    def set_event() -> None:
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    return set_event


async def first_of(stop: asyncio.Event, wake: asyncio.Event, *, timeout: float) -> None:
    """Sleep until ``stop`` or ``wake`` is set, at most ``timeout`` seconds."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
