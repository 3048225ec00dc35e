"""Tables the billing service owns."""

import sqlalchemy as sa

metadata = sa.MetaData()

usage_ledger = sa.Table(
    "usage_ledger",
    metadata,
    sa.Column("usage_id", sa.String(128), primary_key=True),
    sa.Column("project_id", sa.String(64), nullable=False, index=True),
    sa.Column("site_id", sa.String(128), nullable=False),
    sa.Column("group_id", sa.String(64), nullable=True),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("quantity", sa.Numeric(24, 6), nullable=False),
    sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
)
