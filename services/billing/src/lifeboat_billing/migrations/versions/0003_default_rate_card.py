"""The default rate card (version 1, in force since 1970, EUR), so usage has prices out of the box.

Operators replace it by creating a newer card (``POST /v1/rate-cards``); cards are never edited.

Revision ID: 0003
Revises: 0002
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DEFAULT_PRICES: dict[str, dict[str, object]] = {
    "replicated_bytes": {"unit_price": "0.00000000002"},  # 0.02 EUR per GB sent
    "stored_byte_hours": {"unit_price": "0.00000000000014"},  # as stored_gb_hours, per byte
    "stored_gb_hours": {
        "unit_price": "0.00014",
        "tiers": [
            {"up_to": "720000", "unit_price": "0.00014"},  # first 1 TB-month
            {"up_to": None, "unit_price": "0.0001"},
        ],
    },
    "protected_vm_hours": {"unit_price": "0.01"},
    "protected_gb_hours": {"unit_price": "0.00005"},
    "dr_vm_hours": {"unit_price": "0.05"},
    "dr_vcpu_hours": {"unit_price": "0.02"},
    "bubble_vm_hours": {"unit_price": "0.03"},
    "test_runs": {"unit_price": "0.50"},
    "test_failover_runs": {"unit_price": "0.50"},
}


def upgrade() -> None:
    cards = sa.table(
        "rate_cards",
        sa.column("version", sa.Integer),
        sa.column("name", sa.String),
        sa.column("currency", sa.String),
        sa.column("effective_from", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("body", sa.JSON),
    )
    op.bulk_insert(
        cards,
        [
            {
                "version": 1,
                "name": "default",
                "currency": "EUR",
                "effective_from": datetime(1970, 1, 1, tzinfo=UTC),
                "created_at": datetime.now(UTC),
                "body": {"prices": DEFAULT_PRICES, "overrides": {}},
            }
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM rate_cards WHERE version = 1")
