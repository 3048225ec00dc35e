"""Tenant isolation: a test run records its plan's project (from BubbleReady).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("test_runs") as batch:
        batch.add_column(sa.Column("project_id", sa.String(128), nullable=True))
        batch.create_index("ix_test_runs_project_id", ["project_id"])


def downgrade() -> None:
    with op.batch_alter_table("test_runs") as batch:
        batch.drop_index("ix_test_runs_project_id")
        batch.drop_column("project_id")
