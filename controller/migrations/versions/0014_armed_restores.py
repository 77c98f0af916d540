"""armed restores: an armed window's kind, cut or restore

A platform whose arming holds only a window's start (Junos: one scheduled commit at a time) has
the window's end armed apart once the cut is in force: a row of kind `restore`, at the instant
of the restore. Rows written before are cuts.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("armed_windows") as batch:
        batch.add_column(sa.Column("kind", sa.String(), nullable=False, server_default="cut"))


def downgrade() -> None:
    with op.batch_alter_table("armed_windows") as batch:
        batch.drop_column("kind")
