"""Site-to-site links as each sending side sees them (UC6: partitions).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "site_links",
        sa.Column("source_site", sa.String(128), primary_key=True),
        sa.Column("target_site", sa.String(128), primary_key=True),
        sa.Column("reachable", sa.Boolean, nullable=False),
        sa.Column("since", ts, nullable=True),
        sa.Column("last_observed_at", ts, nullable=True),
        sa.Column("observer", sa.String(160), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("failures", sa.JSON, nullable=False),
        sa.Column("successes", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("site_links")
