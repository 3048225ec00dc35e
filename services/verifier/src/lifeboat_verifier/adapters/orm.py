"""Tables the verifier owns."""

import sqlalchemy as sa

metadata = sa.MetaData()

test_runs = sa.Table(
    "test_runs",
    metadata,
    sa.Column("test_id", sa.String(64), primary_key=True),
    sa.Column("plan_id", sa.String(64), nullable=False, index=True),
    sa.Column("site_id", sa.String(128), nullable=True),
    sa.Column("network_id", sa.String(64), nullable=True),
    sa.Column("server_ids", sa.JSON, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
    # the plan's project (tenant isolation); None for runs from producers older than 0002
    sa.Column("project_id", sa.String(128), nullable=True, index=True),
    # 0003: runs from request to teardown (NULL in rows written before it)
    sa.Column("definition_id", sa.String(64), nullable=True, index=True),
    sa.Column("phase", sa.String(16), nullable=True, index=True),
    sa.Column("started_by", sa.String(255), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("consistency_point_id", sa.String(64), nullable=True),
    sa.Column("cp_taken_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("endpoints", sa.JSON, nullable=True),
    sa.Column("checks", sa.JSON, nullable=True),
    sa.Column("results", sa.JSON, nullable=True),
    sa.Column("failover_error", sa.String(2000), nullable=True),
    sa.Column("cleanup", sa.String(16), nullable=True),
    sa.Column("cleanup_attempts", sa.Integer, nullable=True),
    sa.Column("cleanup_error", sa.String(2000), nullable=True),
    sa.Column("resources_removed", sa.Integer, nullable=True),
    sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("checks_done_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("evidence", sa.JSON, nullable=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
)

test_definitions = sa.Table(
    "test_definitions",
    metadata,
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
