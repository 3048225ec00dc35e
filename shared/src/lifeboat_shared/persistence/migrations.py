"""Alembic, driven from code: each service keeps its migrations in its package.

Embedded mode applies them at start-up; production runs ``lifeboat-<service> migrate``. The
version table lives in the service's own schema on PostgreSQL. Several replicas of a service may
start at once (the Helm chart runs three): on PostgreSQL the schema creation and the upgrade run
under a transaction-scoped advisory lock per schema, so one replica migrates and the others then
find the schema at head (concurrent ``CREATE TABLE alembic_version`` once crashed them).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from lifeboat_shared.persistence.database import Database

# Alembic's ``context`` is process-global: migrations of services sharing one process (the
# embedded default) must not interleave. One lock per event loop: an asyncio.Lock binds to the
# loop of its first contended acquire, and a process may run stacks in several loops one after
# the other (tests; a stack in a thread of its own beside a browser driver).
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _one_at_a_time() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


async def upgrade_to_head(db: Database, script_location: str) -> None:
    async with _one_at_a_time(), db.engine.begin() as conn:
        if db.is_postgres:
            key = f"lifeboat-migrate:{db.schema or 'public'}"
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
            if db.schema:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
        await conn.run_sync(_upgrade, script_location, db.schema)


def _upgrade(connection: Connection, script_location: str, schema: str | None) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    cfg.attributes["connection"] = connection
    cfg.attributes["schema"] = schema
    command.upgrade(cfg, "head")


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py``."""
    attributes: dict[str, Any] = context.config.attributes
    connection = attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=attributes.get("schema"),
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
