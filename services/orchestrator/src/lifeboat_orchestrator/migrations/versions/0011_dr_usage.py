"""DR usage meters (issue #16): one row per plan and server running at a DR site.

Revision ID: 0011
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "dr_usage",
        sa.Column("plan_id", sa.String(128), primary_key=True),
        sa.Column("server_id", sa.String(128), primary_key=True),
        sa.Column("project_id", sa.String(128), nullable=False),
        sa.Column("site_id", sa.String(128), nullable=False),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("window_start", ts, nullable=False),
        sa.Column("last_at", ts, nullable=False),
        sa.Column("running", sa.Boolean, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dr_usage")
