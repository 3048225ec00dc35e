"""Tables the replicator owns."""

import sqlalchemy as sa

metadata = sa.MetaData()

replication_cycles = sa.Table(
    "replication_cycles",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("group_id", sa.String(64), nullable=False, index=True),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("trigger_event_id", sa.String(128), nullable=False, unique=True),
    sa.Column("tick_seq", sa.Integer, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
)
