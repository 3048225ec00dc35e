"""Usage of protection (issue #16): a meter per group for protected VM-hours and GB-hours, and
the protected volumes' size the newest CP reported.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("protection_groups", sa.Column("protected_bytes", sa.BigInteger, nullable=True))
    op.create_table(
        "protection_usage",
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


def downgrade() -> None:
    op.drop_table("protection_usage")
    with op.batch_alter_table("protection_groups") as batch:
        batch.drop_column("protected_bytes")
