"""Tables the replicator owns."""

import sqlalchemy as sa

metadata = sa.MetaData()

replication_cycles = sa.Table(
    "replication_cycles",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("group_id", sa.String(64), nullable=False, index=True),
    sa.Column("project_id", sa.String(64), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("trigger_event_id", sa.String(128), nullable=False, unique=True),
    sa.Column("tick_seq", sa.Integer, nullable=True),
    sa.Column("full_resync", sa.Boolean, nullable=False, default=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("consistency", sa.String(16), nullable=True),
    sa.Column("consistency_reason", sa.String(500), nullable=True),
    sa.Column("quiesce_failures", sa.JSON, nullable=True),
    sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("volumes", sa.JSON, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_by", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

consistency_points = sa.Table(
    "consistency_points",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("group_id", sa.String(64), nullable=False, index=True),
    sa.Column("project_id", sa.String(64), nullable=False),
    sa.Column("cycle_id", sa.String(64), nullable=False, unique=True),
    sa.Column("source_site", sa.String(128), nullable=False),
    sa.Column("target_site", sa.String(128), nullable=False),
    sa.Column("consistency", sa.String(16), nullable=False),
    sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("members", sa.JSON, nullable=False),
    sa.Column("member_groups", sa.JSON, nullable=False),
    sa.Column("pruned", sa.Boolean, nullable=False, default=False),
    sa.Column("consistency_reason", sa.String(500), nullable=True),
    sa.Column("quiesce_failures", sa.JSON, nullable=True),
)

# Per group: the newest tick seen (stale ticks are dropped) and whether it is suspended.
group_state = sa.Table(
    "group_state",
    metadata,
    sa.Column("group_id", sa.String(64), primary_key=True),
    sa.Column("last_tick_seq", sa.Integer, nullable=False, default=0),
    sa.Column("suspended", sa.Boolean, nullable=False, default=False),
    sa.Column("resync_next", sa.Boolean, nullable=False, default=False),
)
