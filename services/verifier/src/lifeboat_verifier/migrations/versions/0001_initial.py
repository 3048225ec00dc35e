"""Initial schema: outbox, inbox, test runs.

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
        "test_runs",
        sa.Column("test_id", sa.String(64), primary_key=True),
        sa.Column("plan_id", sa.String(64), nullable=False, index=True),
        sa.Column("site_id", sa.String(128), nullable=False),
        sa.Column("network_id", sa.String(64), nullable=False),
        sa.Column("server_ids", sa.JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("test_runs")
    drop_messaging_tables(op)
