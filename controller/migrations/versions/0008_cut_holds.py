"""cut holds, and an index from outcomes to their intents

A pass whose cuts exceed the blast-radius bounds waits for the NOC (cut_holds); intents left
without an outcome (a push killed mid-way) are found through changes.intent_seq.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cut_holds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("pass_at", sa.DateTime(), nullable=False),
        sa.Column("cuts", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False, server_default="pending"),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
    )
    op.create_index("ix_cut_holds_status", "cut_holds", ["status"])
    op.create_index("ix_changes_intent_seq", "changes", ["intent_seq"])


def downgrade() -> None:
    op.drop_index("ix_changes_intent_seq", table_name="changes")
    op.drop_index("ix_cut_holds_status", table_name="cut_holds")
    op.drop_table("cut_holds")
