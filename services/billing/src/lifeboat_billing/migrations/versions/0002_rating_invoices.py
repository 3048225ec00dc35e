"""Rating and invoices: ledger traceability and billing periods, rate cards, closed invoices.

Revision ID: 0002
Revises: 0001
"""

from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_ledger") as batch:
        batch.add_column(sa.Column("event_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("unit", sa.String(16), nullable=True))
        batch.add_column(sa.Column("resource_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("plan_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("usage_period", sa.String(7), nullable=True))
        batch.add_column(sa.Column("billed_period", sa.String(7), nullable=True))
        batch.add_column(
            sa.Column("adjustment", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_usage_ledger_usage_period", ["usage_period"])
        batch.create_index("ix_usage_ledger_billed_period", ["billed_period"])
    # Entries recorded before: billed in their own month.
    ledger = sa.table(
        "usage_ledger",
        sa.column("usage_id", sa.String),
        sa.column("period_start", sa.DateTime(timezone=True)),
        sa.column("usage_period", sa.String),
        sa.column("billed_period", sa.String),
    )
    bind = op.get_bind()
    for usage_id, start in bind.execute(sa.select(ledger.c.usage_id, ledger.c.period_start)):
        moment = start if start.tzinfo else start.replace(tzinfo=UTC)
        period = f"{moment.astimezone(UTC):%Y-%m}"
        bind.execute(
            ledger.update()
            .where(ledger.c.usage_id == usage_id)
            .values(usage_period=period, billed_period=period)
        )
    op.create_table(
        "rate_cards",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
    )
    op.create_table(
        "invoices",
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


def downgrade() -> None:
    op.drop_table("invoices")
    op.drop_table("rate_cards")
    with op.batch_alter_table("usage_ledger") as batch:
        batch.drop_index("ix_usage_ledger_billed_period")
        batch.drop_index("ix_usage_ledger_usage_period")
        for column in (
            "recorded_at",
            "adjustment",
            "billed_period",
            "usage_period",
            "plan_id",
            "resource_id",
            "unit",
            "event_id",
        ):
            batch.drop_column(column)
