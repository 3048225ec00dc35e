"""Tables the orchestrator owns."""

import sqlalchemy as sa

metadata = sa.MetaData()

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("declared_by", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
)

TS = sa.DateTime(timezone=True)

site_catalog = sa.Table(
    "site_catalog",
    metadata,
    sa.Column("site_id", sa.String(128), primary_key=True),
    sa.Column("cloud", sa.String(255), nullable=False),
    sa.Column("data_endpoint", sa.String(255), nullable=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("region", sa.String(255), nullable=True),
    sa.Column("updated_at", TS, nullable=False),
)

group_specs = sa.Table(
    "group_specs",
    metadata,
    sa.Column("group_id", sa.String(128), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

consistency_points = sa.Table(
    "consistency_points",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("group_id", sa.String(128), nullable=False),
    sa.Column("project_id", sa.String(128), nullable=False),
    sa.Column("source_site", sa.String(128), nullable=False),
    sa.Column("target_site", sa.String(128), nullable=False),
    sa.Column("consistency", sa.String(16), nullable=False),
    sa.Column("taken_at", TS, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("members", sa.JSON, nullable=False),
    sa.Column("pruned", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_cp_group_target_taken", "group_id", "target_site", "taken_at"),
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("capture", sa.JSON, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("active_site", sa.String(128), nullable=False),
    sa.Column("placement", sa.JSON, nullable=False),
    sa.Column("readiness", sa.JSON, nullable=True),
    sa.Column("checked_at", TS, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("plan_id", sa.String(128), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("source_site", sa.String(128), nullable=False),
    sa.Column("target_site", sa.String(128), nullable=False),
    sa.Column("consistency_point_id", sa.String(128), nullable=True),
    sa.Column("recovery_point", TS, nullable=True),
    sa.Column("requested_by", sa.String(255), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("finished_at", TS, nullable=True),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_until", TS, nullable=True),
)

execution_steps = sa.Table(
    "execution_steps",
    metadata,
    sa.Column("execution_id", sa.String(128), primary_key=True),
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("depends_on", sa.JSON, nullable=False),
    sa.Column("tier", sa.String(64), nullable=True),
    sa.Column("site", sa.String(128), nullable=True),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", TS, nullable=True),
    sa.Column("finished_at", TS, nullable=True),
)

evacuations = sa.Table(
    "evacuations",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("waves", sa.JSON, nullable=False),
    sa.Column("not_evacuable", sa.JSON, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

dr_usage = sa.Table(
    "dr_usage",
    metadata,
    sa.Column("plan_id", sa.String(128), primary_key=True),
    sa.Column("server_id", sa.String(128), primary_key=True),
    sa.Column("project_id", sa.String(128), nullable=False),
    sa.Column("site_id", sa.String(128), nullable=False),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("window_start", TS, nullable=False),
    sa.Column("last_at", TS, nullable=False),
    sa.Column("running", sa.Boolean, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
)
