"""Tables the policy service owns (its own schema on PostgreSQL, its own file on SQLite).

``tick_units`` is the scheduler's table: one row per thing that ticks (a group on its own, or an
application set). Its partial index on ``next_due_at`` is the only index the due query needs;
``next_due_at`` is NULL while a unit is paused (suspended, or a group inside a set).
"""

import sqlalchemy as sa

metadata = sa.MetaData()

TS = sa.DateTime(timezone=True)

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("site_id", sa.String(128), primary_key=True),
    sa.Column("cloud", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("data_endpoint", sa.String(300), nullable=True),
    sa.Column("region", sa.String(255), nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("rpo_seconds", sa.Integer, nullable=True),
    sa.Column("cron", sa.String(255), nullable=True),
    sa.Column("rpo_target_seconds", sa.Integer, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

protection_groups = sa.Table(
    "protection_groups",
    metadata,
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
    sa.Column("last_quiesce", sa.JSON, nullable=True),
    sa.Column("breach_open", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("breach_episode", sa.Integer, nullable=False, server_default="0"),
    sa.Column("suspended_reason", sa.String(32), nullable=True),
    sa.Column("seed_volumes", sa.JSON, nullable=True),
    sa.Column("reverse_of", sa.String(64), nullable=True),
    sa.Column("extra_target_sites", sa.JSON, nullable=True),
    sa.Column("protected_bytes", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("project_id", "name", name="uq_protection_groups_project_name"),
    sa.Index("ix_protection_groups_link", "source_site", "target_site"),
)

app_sets = sa.Table(
    "app_sets",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("project_id", sa.String(128), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("source_site", sa.String(128), nullable=False),
    sa.Column("target_site", sa.String(128), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.UniqueConstraint("project_id", "name", name="uq_app_sets_project_name"),
)

tick_units = sa.Table(
    "tick_units",
    metadata,
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

site_links = sa.Table(
    "site_links",
    metadata,
    sa.Column("source_site", sa.String(128), primary_key=True),
    sa.Column("target_site", sa.String(128), primary_key=True),
    sa.Column("suspended", sa.Boolean, nullable=False),
    sa.Column("requested_by", sa.String(255), nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

replicate_requests = sa.Table(
    "replicate_requests",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("group_id", sa.String(64), nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

protection_usage = sa.Table(
    "protection_usage",
    metadata,
    sa.Column("group_id", sa.String(64), primary_key=True),
    sa.Column("project_id", sa.String(128), nullable=False),
    sa.Column("site_id", sa.String(128), nullable=False),
    sa.Column("window_start", TS, nullable=False),
    sa.Column("last_at", TS, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("servers", sa.Integer, nullable=False),
    sa.Column("volume_bytes", sa.BigInteger, nullable=False),
    sa.Column("active_seconds", sa.Float, nullable=False),
    sa.Column("vm_seconds", sa.Float, nullable=False),
    sa.Column("byte_seconds", sa.Float, nullable=False),
)
