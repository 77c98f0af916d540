"""inventory revision: one counter the database moves on every write to devices, venues, lines

A plan made ahead of an instant (`controller.prepare`) is used at the instant only when no
order, no record and no inventory row changed since it was read. Orders and records have
marks of their own (the newest order event, the newest record); the inventory has none, and
it is written by imports, the API and the NOC's commands alike, so the database keeps this
one itself: a trigger on each of the three tables, which no writer can bypass.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("devices", "venues", "lines")
EVENTS = ("INSERT", "UPDATE", "DELETE")
BUMP = "UPDATE inventory_revision SET revision = revision + 1 WHERE id = 1"
PG_FUNCTION = "curfew_inventory_revised"


def upgrade() -> None:
    op.create_table(
        "inventory_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO inventory_revision (id, revision) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_revised AFTER INSERT OR UPDATE OR DELETE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()"
            )
        return
    for table in TABLES:
        for event in EVENTS:
            op.execute(
                f"CREATE TRIGGER {table}_revised_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_revised ON {table}")
        op.execute(f"DROP FUNCTION {PG_FUNCTION}()")
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER {table}_revised_{event.lower()}")
    op.drop_table("inventory_revision")
