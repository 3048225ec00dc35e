"""Tables the policy service owns (its own schema on PostgreSQL)."""

import sqlalchemy as sa

metadata = sa.MetaData()

protection_groups = sa.Table(
    "protection_groups",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("project_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("rpo_seconds", sa.Integer, nullable=False),
    sa.Column("target_site", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_tick_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("last_tick_seq", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("project_id", "name", name="uq_protection_groups_project_name"),
)
