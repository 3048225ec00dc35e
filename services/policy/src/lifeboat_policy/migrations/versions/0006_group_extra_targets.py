"""A protection group may replicate to more DR sites (UC3a x UC9): one tick unit per extra target,
its id ``<group>:<site>`` (at most 64 characters, like every group id in the other services).

Revision ID: 0006
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("protection_groups", sa.Column("extra_target_sites", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("protection_groups") as batch:
        batch.drop_column("extra_target_sites")
