"""One async database per service: SQLite (embedded default) or PostgreSQL (one schema per service).

SQLite allows one writer per file at a time, and its lock is not fair: a writer waiting in the
busy handler polls, so under load a crowd of writer connections can starve one of them past any
busy timeout, and it fails with ``database is locked``. So on SQLite this process writes a file
through one connection, one transaction at a time (an asyncio lock per file, FIFO: tasks queue
instead of polling), each ``BEGIN IMMEDIATE`` (no read-then-write upgrade that could fail half
way), and a ``BEGIN`` that finds another *process* writing is retried with backoff beyond the busy
timeout. Reads use their own connections (WAL readers never wait for writers) opened
``query_only``, so a write slipped into ``read()`` fails at once instead of sometimes.

On PostgreSQL each service lives in its own schema, selected by ``search_path``, so the same table
definitions serve both engines; its pool is sized by ``PoolConfig`` (from the settings).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolConfig:
    """Connection pool of one engine (see the settings ``db_pool_*`` and ``sqlite_*``)."""

    size: int = 5
    max_overflow: int = 10
    timeout_seconds: float = 30.0
    """How long a checkout waits for a free connection before it fails."""
    recycle_seconds: float = 1800.0
    sqlite_busy_timeout_seconds: float = 5.0
    """One ``BEGIN IMMEDIATE``'s wait for another process's write (SQLite's busy handler)."""
    sqlite_write_wait_seconds: float = 300.0
    """A writer's whole wait on SQLite: its turn in this process, then other processes."""


class WriteLockTimeout(TimeoutError):
    """A SQLite writer waited ``sqlite_write_wait_seconds`` for its turn (a stuck writer)."""


class NestedWriteTransaction(RuntimeError):
    """A task opened a write transaction on a SQLite file inside its own: it would wait for
    itself. Do the work in the outer transaction's session."""


@dataclass
class _FileTurn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    holder: asyncio.Task[Any] | None = None


# Per event loop (asyncio locks belong to one loop), per SQLite file: whose turn it is to write.
_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _FileTurn]] = (
    weakref.WeakKeyDictionary()
)


def _turn(key: str) -> _FileTurn:
    turns = _TURNS.setdefault(asyncio.get_running_loop(), {})
    if key not in turns:
        turns[key] = _FileTurn()
    return turns[key]


def is_sqlite_busy(exc: BaseException) -> bool:
    """SQLite's "another connection is writing" (SQLITE_BUSY / SQLITE_LOCKED)."""
    if not isinstance(exc, OperationalError):
        return False
    message = str(exc.orig if exc.orig is not None else exc).lower()
    return "database is locked" in message or "database table is locked" in message


class Database:
    """An engine and a session factory for one service (or for the embedded bus)."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_size: int | None = None,
        pool: PoolConfig | None = None,
    ) -> None:
        self.url = make_url(url)
        self.schema = schema if self.is_postgres else None
        self.pool = pool or PoolConfig()
        if pool_size is not None:
            self.pool = PoolConfig(
                **{**self.pool.__dict__, "size": pool_size, "max_overflow": pool_size}
            )
        if self.is_sqlite:
            database = self.url.database or ""
            memory = database in ("", ":memory:")
            self._file_key = f"memory:{id(self)}" if memory else str(Path(database).resolve())
            self.engine = _sqlite_engine(url, self.pool, writer=True, memory=memory)
            self._read_engine = _sqlite_engine(url, self.pool, writer=False, memory=memory)
        else:
            connect_args: dict[str, Any] = {}
            if self.schema:
                connect_args["server_settings"] = {"search_path": self.schema}
            self.engine = create_async_engine(
                url,
                pool_size=self.pool.size,
                max_overflow=self.pool.max_overflow,
                pool_timeout=self.pool.timeout_seconds,
                pool_recycle=self.pool.recycle_seconds,
                pool_pre_ping=True,  # a connection PostgreSQL dropped is replaced, not used
                connect_args=connect_args,
            )
            self._read_engine = self.engine
        self.outbox_committed = asyncio.Event()
        session_class = type("ServiceSession", (Session,), {})
        event.listen(session_class, "after_commit", self._after_commit)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=session_class
        )

    def _after_commit(self, session: Session) -> None:
        # Wakes the outbox relay as soon as a transaction that staged events commits.
        if session.info.pop("lifeboat_outbox_dirty", False):
            self.outbox_committed.set()

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    async def ensure_schema(self) -> None:
        """Create this service's PostgreSQL schema (no-op on SQLite)."""
        if not self.schema:
            return
        admin = create_async_engine(self.url, poolclass=NullPool)
        try:
            async with admin.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        finally:
            await admin.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        if not self.is_sqlite:
            async with self.sessions() as session, session.begin():
                yield session
            return
        deadline = time.monotonic() + self.pool.sqlite_write_wait_seconds
        async with self._write_turn(deadline), self.sessions() as session:
            await self._begin_immediate(session, deadline)
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    @asynccontextmanager
    async def _write_turn(self, deadline: float) -> AsyncIterator[None]:
        """This task's turn to write the file, in arrival order among the process's tasks."""
        turn = _turn(self._file_key)
        me = asyncio.current_task()
        if turn.holder is not None and turn.holder is me:
            raise NestedWriteTransaction(
                f"write transaction on {self._file_key} opened inside another one by the same "
                "task; it would wait for itself"
            )
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await turn.lock.acquire()
        except TimeoutError:
            holder = turn.holder.get_name() if turn.holder is not None else "?"
            raise WriteLockTimeout(
                f"waited {self.pool.sqlite_write_wait_seconds:.0f} s for the write turn on "
                f"{self._file_key} (held by task {holder})"
            ) from None
        turn.holder = me
        try:
            yield
        finally:
            turn.holder = None
            turn.lock.release()

    async def _begin_immediate(self, session: AsyncSession, deadline: float) -> None:
        """``BEGIN IMMEDIATE`` now (not at the first statement), retried while another process
        holds the write lock past the busy timeout, until ``deadline``."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_sqlite_busy),
            wait=wait_exponential_jitter(multiplier=0.02, max=1.0, jitter=0.05),
            stop=stop_after_delay(max(0.0, deadline - time.monotonic())),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    await session.connection()  # checks out the writer and runs BEGIN IMMEDIATE
                except OperationalError as exc:
                    await session.rollback()
                    if is_sqlite_busy(exc):
                        log.debug("%s busy (another process writing); retrying", self._file_key)
                    raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session. On SQLite it does not take the write lock (WAL readers never
        wait for writers), and any write in it fails at once (``query_only``)."""
        async with AsyncSession(self._read_engine, expire_on_commit=False) as session:
            yield session
            await session.rollback()

    async def ping(self) -> None:
        async with self._read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._read_engine is not self.engine:
            await self._read_engine.dispose()


def _sqlite_engine(url: str, pool: PoolConfig, *, writer: bool, memory: bool) -> AsyncEngine:
    parsed = make_url(url)
    if not memory and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    busy_ms = int(pool.sqlite_busy_timeout_seconds * 1000)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": pool.sqlite_busy_timeout_seconds}}
    if not memory:  # an in-memory database is one connection (StaticPool) by nature
        kwargs.update(
            pool_size=1 if writer else pool.size,
            max_overflow=0 if writer else pool.max_overflow,
            pool_timeout=pool.sqlite_write_wait_seconds if writer else pool.timeout_seconds,
        )
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so BEGIN IMMEDIATE below is used.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not writer:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine
