"""signed checkpoints of the change log, the log's identity, and each device's carrier

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence
from uuid import uuid4

import sqlalchemy as sa
from alembic import op

import controller.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    # The log's identity, signed into every checkpoint so one log's checkpoints never vouch
    # for another's records.
    op.bulk_insert(
        sa.table("log_meta", sa.column("key", sa.String()), sa.column("value", sa.String())),
        [{"key": "log_id", "value": str(uuid4())}],
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(), nullable=False),
        sa.Column("at", controller.models.UTCDateTime(), nullable=False),
        sa.Column("public_key", sa.String(), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("checkpoints") as batch_op:
        batch_op.create_index("ix_checkpoints_seq", ["seq"], unique=False)
    with op.batch_alter_table("devices") as batch_op:
        batch_op.add_column(
            sa.Column("carrier", sa.String(), nullable=False, server_default="default")
        )


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch_op:
        batch_op.drop_column("carrier")
    op.drop_table("checkpoints")
    op.drop_table("log_meta")
