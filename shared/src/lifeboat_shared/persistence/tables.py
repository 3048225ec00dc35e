"""Tables every service has: the transactional outbox and the inbox of handled events.

They are defined once here; each service's first Alembic migration creates them in its own
schema (see ``create_messaging_tables``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

messaging_metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

outbox = sa.Table(
    "lifeboat_outbox",
    messaging_metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(128), nullable=False, unique=True),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("key", sa.LargeBinary, nullable=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index(
        "ix_lifeboat_outbox_unsent",
        "id",
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    ),
)

inbox = sa.Table(
    "lifeboat_inbox",
    messaging_metadata,
    sa.Column("consumer_group", sa.String(255), primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
)


def create_messaging_tables(op: Any) -> None:
    """Called from each service's first migration (``op`` is ``alembic.op``)."""
    bind = op.get_bind()
    messaging_metadata.create_all(bind)


def drop_messaging_tables(op: Any) -> None:
    messaging_metadata.drop_all(op.get_bind())
