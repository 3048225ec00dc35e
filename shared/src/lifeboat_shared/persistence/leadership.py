"""One leader per service schema among a service's replicas (the outbox relay's), on PostgreSQL.

Leadership is a session-level advisory lock held on one dedicated connection. The lock belongs
to that server session: if the connection drops (PostgreSQL restarted, a network cut, the
session terminated), the lock is gone and another replica may take it at once, while this one
still believes it leads. Worse, SQLAlchemy reconnects an invalidated connection on its next use,
so "the connection answers" does not mean "we still hold the lock". So ``held()`` asks the server
whether *this session* holds the lock (``pg_locks``), and a leader calls it before each publish:
if it says no, the leader steps down (``LeadershipLost``) and takes the lock again before
publishing anything more. On SQLite (one process by design) there is nothing to elect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from lifeboat_shared.persistence.database import Database

log = logging.getLogger(__name__)

_KEY = "hashtext(current_schema() || :k)::bigint"
_TRY_LOCK = sa.text(f"SELECT pg_try_advisory_lock({_KEY})")
_UNLOCK = sa.text(f"SELECT pg_advisory_unlock({_KEY})")
# A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits).
_HELD = sa.text(
    f"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    f" AND pid = pg_backend_pid() AND objsubid = 1"
    f" AND classid = (({_KEY} >> 32) & 4294967295)::oid"
    f" AND objid = ({_KEY} & 4294967295)::oid)"
)


class LeadershipLost(Exception):
    """The leader's lock went with its connection: stop publishing, take it again first."""


class Leadership:
    """What a leader checks before acting: ``held()`` (cheap: one query on its connection)."""

    def __init__(self, conn: AsyncConnection | None, key: str, check_timeout: float) -> None:
        self._conn = conn
        self._key = key
        self._timeout = check_timeout
        self.lost = False

    async def held(self) -> bool:
        if self._conn is None:
            return True
        if self.lost:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                held = bool((await self._conn.execute(_HELD, {"k": self._key})).scalar())
                await self._conn.commit()
        except Exception as exc:  # the connection is gone or hangs: so is the lock
            log.warning("leadership %s: its connection failed (%s)", self._key, exc)
            held = False
        self.lost = not held
        return held

    async def ensure(self) -> None:
        if not await self.held():
            raise LeadershipLost(self._key)


@contextlib.asynccontextmanager
async def leadership(
    db: Database, key: str, stop: asyncio.Event, *, retry_seconds: float = 1.0
) -> AsyncIterator[Leadership | None]:
    """Wait until this process leads ``key`` (or ``stop``: then None), and lead in the block."""
    if not db.is_postgres:
        yield Leadership(None, key, 0)
        return
    async with db.engine.connect() as conn:
        got = False
        while not stop.is_set():
            got = bool((await conn.execute(_TRY_LOCK, {"k": key})).scalar())
            await conn.commit()
            if got:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry_seconds)
        if not got:
            yield None
            return
        leader = Leadership(conn, key, check_timeout=max(5.0, retry_seconds))
        try:
            yield leader
        finally:
            if leader.lost:
                # Never give back to the pool a connection that may still hold the lock.
                with contextlib.suppress(Exception):
                    await conn.invalidate()
            else:
                try:
                    await conn.execute(_UNLOCK, {"k": key})
                    await conn.commit()
                except Exception:
                    with contextlib.suppress(Exception):
                        await conn.invalidate()
