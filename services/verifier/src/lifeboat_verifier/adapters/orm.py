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

# Signed reports of bubble test runs (migration 0004): one per run; `document` is the signed JSON
# exactly as served (README, Reports).
test_reports = sa.Table(
    "test_reports",
    metadata,
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
