"""Initial schema: outbox, inbox, sites, policies, protection groups, application sets, the
scheduler's tick units, site links and replicate-now requests.

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

TS = sa.DateTime(timezone=True)
TABLES = (
    "replicate_requests",
    "site_links",
    "tick_units",
    "app_sets",
    "protection_groups",
    "policies",
    "sites",
)


def upgrade() -> None:
    create_messaging_tables(op)

    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(128), primary_key=True),
        sa.Column("cloud", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("data_endpoint", sa.String(300), nullable=True),
        sa.Column("region", sa.String(255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )

    op.create_table(
        "policies",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("rpo_seconds", sa.Integer, nullable=True),
        sa.Column("cron", sa.String(255), nullable=True),
        sa.Column("rpo_target_seconds", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )

    op.create_table(
        "protection_groups",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(128), nullable=False, index=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("source_site", sa.String(128), nullable=False),
        sa.Column("target_site", sa.String(128), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False, index=True),
        sa.Column("rpo_target_seconds", sa.Integer, nullable=False),
        sa.Column("members", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("app_set_id", sa.String(64), nullable=True, index=True),
        sa.Column("suspended", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("newest_cp_id", sa.String(128), nullable=True),
        sa.Column("newest_cp_taken_at", TS, nullable=True),
        sa.Column("newest_cp_created_at", TS, nullable=True),
        sa.Column("failure_stage", sa.String(32), nullable=True),
        sa.Column("failure_reason", sa.String(2000), nullable=True),
        sa.Column("failure_at", TS, nullable=True),
        sa.Column("breach_open", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("breach_episode", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("project_id", "name", name="uq_protection_groups_project_name"),
        sa.Index("ix_protection_groups_link", "source_site", "target_site"),
    )

    op.create_table(
        "app_sets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("source_site", sa.String(128), nullable=False),
        sa.Column("target_site", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_app_sets_project_name"),
    )

    op.create_table(
        "tick_units",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("next_due_at", TS, nullable=True),
        sa.Column("last_tick_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_tick_at", TS, nullable=True),
        sa.Column("lead_seconds", sa.Float, nullable=True),
        sa.Column("newest_cp_taken_at", TS, nullable=True),
        sa.Column("pending_trigger", sa.String(32), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Index(
            "ix_tick_units_due",
            "next_due_at",
            sqlite_where=sa.text("next_due_at IS NOT NULL"),
            postgresql_where=sa.text("next_due_at IS NOT NULL"),
        ),
    )

    op.create_table(
        "site_links",
        sa.Column("source_site", sa.String(128), primary_key=True),
        sa.Column("target_site", sa.String(128), primary_key=True),
        sa.Column("suspended", sa.Boolean, nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )

    op.create_table(
        "replicate_requests",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
    drop_messaging_tables(op)
