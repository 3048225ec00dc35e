"""Initial schema: outbox, inbox, protection groups.

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
        "protection_groups",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("rpo_seconds", sa.Integer, nullable=False),
        sa.Column("target_site", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_tick_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("last_tick_seq", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("project_id", "name", name="uq_protection_groups_project_name"),
    )


def downgrade() -> None:
    op.drop_table("protection_groups")
    drop_messaging_tables(op)
