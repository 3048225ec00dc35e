"""Alembic, driven from code: each service keeps its migrations in its package.

Embedded mode applies them at start-up; production runs ``lifeboat-<service> migrate``. The
version table lives in the service's own schema on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from lifeboat_shared.persistence.database import Database


async def upgrade_to_head(db: Database, script_location: str) -> None:
    await db.ensure_schema()
    async with db.engine.begin() as conn:
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
