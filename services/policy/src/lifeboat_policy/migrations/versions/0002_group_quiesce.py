"""The last cycle's quiesce failures on each protection group (UC2c), for its status.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("protection_groups", sa.Column("last_quiesce", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("protection_groups") as batch:
        batch.drop_column("last_quiesce")
