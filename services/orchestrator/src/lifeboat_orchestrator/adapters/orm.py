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
