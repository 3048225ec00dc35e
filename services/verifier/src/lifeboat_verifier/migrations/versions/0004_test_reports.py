"""Signed reports of bubble test runs (one per run), kept per the retention setting.

Revision ID: 0004
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_reports",
        sa.Column("report_id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(128), nullable=False, unique=True),
        sa.Column("plan_id", sa.String(128), nullable=False, index=True),
        sa.Column("project_id", sa.String(128), nullable=False, index=True),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("started_by", sa.String(256), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("key_fingerprint", sa.String(80), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("test_reports")
