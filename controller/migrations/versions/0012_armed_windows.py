"""armed windows: a line's device-timed cut for one night, armed on its router in the evening

One row per line and night (`line_id`, `window_start` unique): the window in UTC, the orders it
executes, its status (armed | disarmed | ended) and the change record that armed it.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "armed_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("order_ids_json", sa.String(), nullable=False),
        sa.Column("armed_at", sa.DateTime(), nullable=False),
        sa.Column("change_seq", sa.Integer(), nullable=True),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"]),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("line_id", "window_start"),
    )
    op.create_index("ix_armed_windows_line_id", "armed_windows", ["line_id"])
    op.create_index("ix_armed_windows_device_id", "armed_windows", ["device_id"])
    op.create_index("ix_armed_windows_status", "armed_windows", ["status"])


def downgrade() -> None:
    op.drop_index("ix_armed_windows_status", table_name="armed_windows")
    op.drop_index("ix_armed_windows_device_id", table_name="armed_windows")
    op.drop_index("ix_armed_windows_line_id", table_name="armed_windows")
    op.drop_table("armed_windows")
