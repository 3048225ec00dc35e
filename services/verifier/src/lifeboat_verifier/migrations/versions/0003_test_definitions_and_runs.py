"""Bubble tests: test definitions, and runs that go from request to teardown.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_RUN_COLUMNS = (
    ("definition_id", sa.String(64)),
    ("phase", sa.String(16)),
    ("started_by", sa.String(255)),
    ("started_at", sa.DateTime(timezone=True)),
    ("consistency_point_id", sa.String(64)),
    ("cp_taken_at", sa.DateTime(timezone=True)),
    ("endpoints", sa.JSON),
    ("checks", sa.JSON),
    ("results", sa.JSON),
    ("failover_error", sa.String(2000)),
    ("cleanup", sa.String(16)),
    ("cleanup_attempts", sa.Integer),
    ("cleanup_error", sa.String(2000)),
    ("resources_removed", sa.Integer),
    ("removed_at", sa.DateTime(timezone=True)),
    ("checks_done_at", sa.DateTime(timezone=True)),
    ("finished_at", sa.DateTime(timezone=True)),
    ("evidence", sa.JSON),
    ("expires_at", sa.DateTime(timezone=True)),
    ("lease_owner", sa.String(128)),
    ("lease_until", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "test_definitions",
        sa.Column("definition_id", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(128), nullable=False, index=True),
        sa.Column("plan_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("schedule", sa.String(128), nullable=True),
        sa.Column("consistency_point_id", sa.String(64), nullable=True),
        sa.Column("target_site", sa.String(128), nullable=True),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True, index=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("test_runs") as batch:
        batch.alter_column("site_id", existing_type=sa.String(128), nullable=True)
        batch.alter_column("network_id", existing_type=sa.String(64), nullable=True)
        batch.alter_column("ready_at", existing_type=sa.DateTime(timezone=True), nullable=True)
        for name, type_ in _RUN_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
        batch.create_index("ix_test_runs_phase", ["phase"])
        batch.create_index("ix_test_runs_definition_id", ["definition_id"])


def downgrade() -> None:
    with op.batch_alter_table("test_runs") as batch:
        batch.drop_index("ix_test_runs_definition_id")
        batch.drop_index("ix_test_runs_phase")
        for name, _ in reversed(_RUN_COLUMNS):
            batch.drop_column(name)
    op.drop_table("test_definitions")
