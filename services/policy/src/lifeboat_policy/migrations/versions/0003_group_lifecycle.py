"""Protection groups in the DR lifecycle (issue #12): why a group is suspended (an operator, a
failover, a split brain), the DR-side volumes its first cycle starts from (seeding, UC5c), and
the forward group a reverse group replicates back for (after reprotect).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("protection_groups") as batch:
        batch.add_column(sa.Column("suspended_reason", sa.String(32), nullable=True))
        batch.add_column(sa.Column("seed_volumes", sa.JSON, nullable=True))
        batch.add_column(sa.Column("reverse_of", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("protection_groups") as batch:
        batch.drop_column("reverse_of")
        batch.drop_column("seed_volumes")
        batch.drop_column("suspended_reason")
