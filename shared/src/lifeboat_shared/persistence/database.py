"""One async database per service: SQLite (embedded default) or PostgreSQL (one schema per service).

SQLite runs in WAL mode with ``BEGIN IMMEDIATE`` transactions, so several processes can share one
file safely: a writer waits for the lock (busy timeout) instead of failing half-way through a
deferred transaction. On PostgreSQL each service lives in its own schema, selected by
``search_path``, so the same table definitions serve both engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session


class Database:
    """An engine and a session factory for one service (or for the embedded bus)."""

    def __init__(self, url: str, *, schema: str | None = None, pool_size: int = 5) -> None:
        self.url = make_url(url)
        self.schema = schema if self.is_postgres else None
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, immediate=True)
            self._read_engine = _sqlite_engine(url, immediate=False)
        else:
            connect_args: dict[str, Any] = {}
            if self.schema:
                connect_args["server_settings"] = {"search_path": self.schema}
            self.engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, connect_args=connect_args
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
        admin = create_async_engine(self.url)
        try:
            async with admin.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        finally:
            await admin.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session. On SQLite it does not take the write lock (WAL readers never
        wait for writers), unlike ``transaction()`` which begins IMMEDIATE."""
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


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so BEGIN IMMEDIATE below is used.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
