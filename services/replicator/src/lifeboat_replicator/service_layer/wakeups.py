"""Wake this process's cycle runners when a cycle may have become runnable.

A handler that adds a pending cycle (after its transaction commits) and a runner whose slot
frees up call ``notify``; each runner subscribed here starts its next pass at once instead of at
its poll interval. The interval still bounds the latency of work this process did not see being
added (another replica's handler, a backoff that ran out, a lease that expired).
"""

from __future__ import annotations

from collections.abc import Callable

_subscribers: list[Callable[[], None]] = []


def subscribe(wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake`` on every notify until the returned function unsubscribes it."""
    _subscribers.append(wake)

    def unsubscribe() -> None:
        if wake in _subscribers:
            _subscribers.remove(wake)

    return unsubscribe


def notify() -> None:
    for wake in list(_subscribers):
        wake()
