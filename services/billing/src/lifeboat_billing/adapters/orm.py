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
    # 0002: traceability and billing periods
    sa.Column("event_id", sa.String(128), nullable=True),
    sa.Column("unit", sa.String(16), nullable=True),
    sa.Column("resource_id", sa.String(128), nullable=True),
    sa.Column("plan_id", sa.String(128), nullable=True),
    sa.Column("usage_period", sa.String(7), nullable=True, index=True),
    sa.Column("billed_period", sa.String(7), nullable=True, index=True),
    sa.Column("adjustment", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
)

rate_cards = sa.Table(
    "rate_cards",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
)

invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("project_id", sa.String(64), nullable=False, index=True),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("total", sa.Numeric(24, 6), nullable=False),
    sa.Column("lines", sa.JSON, nullable=False),
    sa.UniqueConstraint("project_id", "period", name="uq_invoices_project_period"),
)
