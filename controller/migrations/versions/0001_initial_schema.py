"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 22:22:10.573111
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import controller.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "authorities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("regions_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("authorities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authorities_name"), ["name"], unique=True)

    op.create_table(
        "changes",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", controller.models.UTCDateTime(), nullable=False),
        sa.Column("pass_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("order_ids_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=True),
        sa.Column("venue_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("intent_seq", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("commands_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("device_output", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("state_after", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
        sa.UniqueConstraint("prev_hash"),
    )
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_changes_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_changes_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_changes_line_id"), ["line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_changes_pass_id"), ["pass_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_changes_venue_id"), ["venue_id"], unique=False)

    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("password", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("password_env", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("secret_env", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_name"), ["name"], unique=True)

    op.create_table(
        "venues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("licence", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("zone", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venues_name"), ["name"], unique=True)

    op.create_table(
        "lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("interface", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prefixes_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"],
            ["venues.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lines_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lines_name"), ["name"], unique=True)
        batch_op.create_index(batch_op.f("ix_lines_venue_id"), ["venue_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("legal_basis", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("effective_from", controller.models.UTCDateTime(), nullable=False),
        sa.Column("effective_until", controller.models.UTCDateTime(), nullable=True),
        sa.Column("issued_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("issued_at", controller.models.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("revoked_at", controller.models.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("revoke_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["authorities.id"],
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"],
            ["venues.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_authority_id"), ["authority_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_venue_id"), ["venue_id"], unique=False)

    op.create_table(
        "line_status",
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("checked_at", controller.models.UTCDateTime(), nullable=False),
        sa.Column("change_seq", sa.Integer(), nullable=True),
        sa.Column("order_ids_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["lines.id"],
        ),
        sa.PrimaryKeyConstraint("line_id"),
    )

    # The change log is append-only: no code path updates or deletes a row, and the schema
    # refuses it too. (A database owner can drop these triggers; the hash chain shows it.)
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER changes_no_{verb.lower()} BEFORE {verb} ON changes "
                "BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END"
            )
    elif op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION changes_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the change log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER changes_append_only BEFORE UPDATE OR DELETE ON changes "
            "FOR EACH ROW EXECUTE FUNCTION changes_append_only()"
        )


def downgrade() -> None:
    op.drop_table("line_status")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_venue_id"))
        batch_op.drop_index(batch_op.f("ix_orders_authority_id"))

    op.drop_table("orders")
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lines_venue_id"))
        batch_op.drop_index(batch_op.f("ix_lines_name"))
        batch_op.drop_index(batch_op.f("ix_lines_device_id"))

    op.drop_table("lines")
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venues_name"))

    op.drop_table("venues")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_name"))

    op.drop_table("devices")
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_changes_venue_id"))
        batch_op.drop_index(batch_op.f("ix_changes_pass_id"))
        batch_op.drop_index(batch_op.f("ix_changes_line_id"))
        batch_op.drop_index(batch_op.f("ix_changes_device_id"))
        batch_op.drop_index(batch_op.f("ix_changes_at"))

    op.drop_table("changes")  # its triggers go with it; PostgreSQL keeps their function
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION changes_append_only()")
    with op.batch_alter_table("authorities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorities_name"))

    op.drop_table("authorities")
