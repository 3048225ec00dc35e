"""Tell this process's RPO scheduler that a tick unit became due at a given time.

``TickUnitRepository`` posts every due time it writes (a new group, a CP, a resume, a
replicate-now) once its transaction has committed; the scheduler, asleep until the soonest due
time it knew of, wakes early when a posted time is sooner. The scheduler's pass interval still
bounds how late it sees a due time this process did not write (another replica's).
"""

from __future__ import annotations

from datetime import datetime

from lifeboat_shared.service.wakeups import Wakeups

DUE_TIMES: Wakeups[datetime] = Wakeups("the RPO scheduler")
