"""Site health hysteresis: per-site state, recent probes, firing alerts.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "site_health",
        sa.Column("site_id", sa.String(128), primary_key=True),
        sa.Column("declared", sa.String(16), nullable=False),
        sa.Column("declared_at", TS, nullable=True),
        sa.Column("declared_by", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("ok_run_count", sa.Integer, nullable=False),
        sa.Column("ok_run_since", TS, nullable=True),
        sa.Column("assessment", sa.Text, nullable=False),
        sa.Column("evaluated_at", TS, nullable=True),
    )
    op.create_table(
        "site_health_probes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(128), nullable=False),
        sa.Column("observed_at", TS, nullable=False),
        sa.Column("healthy", sa.Boolean, nullable=False),
        sa.Column("services", sa.JSON, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_site_health_probes_site", "site_health_probes", ["site_id", "observed_at"])
    op.create_table(
        "site_health_alerts",
        sa.Column("site_id", sa.String(128), primary_key=True),
        sa.Column("alert_id", sa.String(255), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("since", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("site_health_alerts")
    op.drop_index("ix_site_health_probes_site", table_name="site_health_probes")
    op.drop_table("site_health_probes")
    op.drop_table("site_health")
