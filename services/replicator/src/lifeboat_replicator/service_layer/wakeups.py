"""Wake this process's cycle runners when a cycle may have become runnable.

A handler that adds a pending cycle (after its transaction commits) and a runner whose slot
frees up call ``notify``; each runner subscribed here starts its next pass at once instead of at
its poll interval. The interval still bounds the latency of work this process did not see being
added (another replica's handler, a backoff that ran out, a lease that expired).
"""

from __future__ import annotations

from lifeboat_shared.service.wakeups import Wakeups

RUNNABLE: Wakeups[None] = Wakeups("the cycle runners")


def notify() -> None:
    RUNNABLE.post(None)
