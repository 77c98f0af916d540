"""lines checked against their device: a mismatch blocks cuts on the line

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import controller.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lines") as batch_op:
        batch_op.add_column(sa.Column("blocked", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("verified_at", controller.models.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("lines") as batch_op:
        batch_op.drop_column("verified_at")
        batch_op.drop_column("blocked")
