"""Alembic, driven from code: each service keeps its migrations in its package.

Embedded mode applies them at start-up; production runs ``lifeboat-<service> migrate``. The
version table lives in the service's own schema on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from lifeboat_shared.persistence.database import Database

# Alembic's ``context`` is process-global: migrations of services sharing one process (the
# embedded default) must not interleave.
_one_at_a_time = asyncio.Lock()


async def upgrade_to_head(db: Database, script_location: str) -> None:
    await db.ensure_schema()
    async with _one_at_a_time, db.engine.begin() as conn:
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
