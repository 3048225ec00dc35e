"""Tables the verifier owns."""

import sqlalchemy as sa

metadata = sa.MetaData()

test_runs = sa.Table(
    "test_runs",
    metadata,
    sa.Column("test_id", sa.String(64), primary_key=True),
    sa.Column("plan_id", sa.String(64), nullable=False, index=True),
    sa.Column("site_id", sa.String(128), nullable=False),
    sa.Column("network_id", sa.String(64), nullable=False),
    sa.Column("server_ids", sa.JSON, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("ready_at", sa.DateTime(timezone=True), nullable=False),
    # the plan's project (tenant isolation); None for runs from producers older than 0002
    sa.Column("project_id", sa.String(128), nullable=True, index=True),
)
