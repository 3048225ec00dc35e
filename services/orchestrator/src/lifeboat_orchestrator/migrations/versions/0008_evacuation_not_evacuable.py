"""Evacuations record the plans they leave behind (no recovery site holds their CPs).

Revision ID: 0008
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("evacuations", sa.Column("not_evacuable", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("evacuations", "not_evacuable")
