"""Tell this process's RPO scheduler that a tick unit became due at a given time.

``TickUnitRepository`` posts every due time it writes (a new group, a CP, a resume, a
replicate-now) once its transaction has committed; the scheduler, asleep until the soonest due
time it knew of, wakes early when a posted time is sooner. The scheduler's pass interval still
bounds how late it sees a due time this process did not write (another replica's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger(__name__)

_subscribers: list[Callable[[datetime], None]] = []


def subscribe(wake: Callable[[datetime], None]) -> Callable[[], None]:
    """Call ``wake(due_at)`` on every post until the returned function unsubscribes it."""
    _subscribers.append(wake)

    def unsubscribe() -> None:
        if wake in _subscribers:
            _subscribers.remove(wake)

    return unsubscribe


def has_subscribers() -> bool:
    return bool(_subscribers)


def post(due_at: datetime) -> None:
    """Never raises (it runs after a commit: the caller's change is already made)."""
    for wake in list(_subscribers):
        try:
            wake(due_at)
        except Exception:  # e.g. the scheduler's loop closed while shutting down
            log.warning("could not wake the RPO scheduler", exc_info=True)
