"""Quiesce failures (UC2c): every VM that could not be quiesced, and why a cycle or a CP is
crash-consistent, on the cycle and on the consistency point.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("replication_cycles", "consistency_points")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("consistency_reason", sa.String(500), nullable=True))
        op.add_column(table, sa.Column("quiesce_failures", sa.JSON, nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("quiesce_failures")
            batch.drop_column("consistency_reason")
