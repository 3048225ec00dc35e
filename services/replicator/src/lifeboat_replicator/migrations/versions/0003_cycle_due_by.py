"""A cycle's deadline: when its group's achieved RPO would pass the target. Runners claim the
soonest first (earliest deadline first), so a group that ticked early does not take a slot from
one about to breach.

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
    op.add_column(
        "replication_cycles", sa.Column("due_by", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("replication_cycles") as batch:
        batch.drop_column("due_by")
