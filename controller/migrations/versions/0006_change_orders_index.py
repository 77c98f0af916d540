"""an index of change records by the orders they cite

Revision ID: 0006
Revises: 0005
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "change_orders",
        sa.Column("seq", sa.Integer(), sa.ForeignKey("changes.seq"), primary_key=True),
        sa.Column("order_id", sa.Integer(), primary_key=True),
    )
    op.create_index("ix_change_orders_order_id", "change_orders", ["order_id"])
    rows = op.get_bind().execute(sa.text("SELECT seq, order_ids_json FROM changes")).fetchall()
    entries = [
        {"seq": seq, "order_id": order_id}
        for seq, order_ids in rows
        for order_id in json.loads(order_ids or "[]")
    ]
    if entries:
        op.bulk_insert(table, entries)


def downgrade() -> None:
    op.drop_index("ix_change_orders_order_id", "change_orders")
    op.drop_table("change_orders")
