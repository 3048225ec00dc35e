"""Initial schema: outbox, inbox, replication cycles.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from lifeboat_shared.persistence.tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables(op)
    op.create_table(
        "replication_cycles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("group_id", sa.String(64), nullable=False, index=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("trigger_event_id", sa.String(128), nullable=False, unique=True),
        sa.Column("tick_seq", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("replication_cycles")
    drop_messaging_tables(op)
