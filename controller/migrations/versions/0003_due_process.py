"""due process: tokens and roles, order versions and events, bureau keys and feeds,
violations and escalation proposals, the licence register, venue addresses

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import controller.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = controller.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("authority_id", sa.Integer(), sa.ForeignKey("authorities.id"), nullable=True),
        sa.Column("token_hash", sa.String(), nullable=False, unique=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("expires_at", UTC(), nullable=True),
        sa.Column("revoked_at", UTC(), nullable=True),
    )
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False, server_default=""),
        sa.Column("detail", sa.String(), nullable=False, server_default=""),
    )
    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("supersedes_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("legal_basis_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("external_id", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("ended_at", UTC(), nullable=True))
    op.execute("UPDATE orders SET status = 'active' WHERE status = 'issued'")
    op.execute("UPDATE orders SET ended_at = revoked_at WHERE status = 'revoked'")
    with op.batch_alter_table("venues") as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(), nullable=True))
    op.create_table(
        "authority_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("authority_id", sa.Integer(), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("public_key", sa.String(), nullable=False, unique=True),
        sa.Column("added_at", UTC(), nullable=False),
        sa.Column("added_by", sa.String(), nullable=False),
        sa.Column("revoked_at", UTC(), nullable=True),
    )
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("authority_id", sa.Integer(), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("source", sa.String(), nullable=False, unique=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=False, server_default="300"),
        sa.Column("last_pulled_at", UTC(), nullable=True),
        sa.Column("last_published_at", UTC(), nullable=True),
        sa.Column("last_sequence", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
    )
    op.create_table(
        "violations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("venue_id", sa.Integer(), sa.ForeignKey("venues.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("observed_at", UTC(), nullable=False),
        sa.Column("recorded_at", UTC(), nullable=False),
        sa.Column("recorded_by", sa.String(), nullable=False),
        sa.Column("authority_id", sa.Integer(), sa.ForeignKey("authorities.id"), nullable=True),
        sa.Column("note", sa.String(), nullable=False, server_default=""),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("venue_id", sa.Integer(), sa.ForeignKey("venues.id"), nullable=False, index=True),
        sa.Column("authority_id", sa.Integer(), sa.ForeignKey("authorities.id"), nullable=True),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("order_kind", sa.String(), nullable=False),
        sa.Column("term_days", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("violation_ids_json", sa.String(), nullable=False, server_default="[]"),
        sa.Column("status", sa.String(), nullable=False, server_default="pending"),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("decided_at", UTC(), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id"), nullable=True),
    )
    op.create_table(
        "licences",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(), nullable=False, unique=True),
        sa.Column("venue_name", sa.String(), nullable=False),
        sa.Column("venue_id", sa.Integer(), sa.ForeignKey("venues.id"), nullable=True, index=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("imported_at", UTC(), nullable=False),
    )


def downgrade() -> None:
    for table in ("licences", "proposals", "violations", "feeds", "authority_keys"):
        op.drop_table(table)
    with op.batch_alter_table("venues") as batch_op:
        batch_op.drop_column("address")
    op.execute("UPDATE orders SET status = 'issued' WHERE status = 'active'")
    with op.batch_alter_table("orders") as batch_op:
        for column in ("ended_at", "external_id", "legal_basis_date", "supersedes_id", "version"):
            batch_op.drop_column(column)
    op.drop_table("order_events")
    op.drop_table("tokens")
