"""a router's session output stored once, content-addressed; outcome records cite it by hash

`device_outputs(sha256, text)` is append-only like `changes` (triggers refuse UPDATE and
DELETE, and TRUNCATE on PostgreSQL). `changes.device_output_sha256` is the reference a new
outcome record's hash covers; records written before keep their output inline.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_outputs",
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    # a plain column, no foreign key: verification names a missing output with its record,
    # and SQLite can drop the column again in place (it cannot drop one a foreign key uses)
    op.add_column("changes", sa.Column("device_output_sha256", sa.String(), nullable=True))
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER device_outputs_no_{verb.lower()} BEFORE {verb} ON device_outputs "
                "BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END"
            )
    elif dialect == "postgresql":
        # changes_append_only() is 0001's: it raises 'the change log is append-only'
        op.execute(
            "CREATE TRIGGER device_outputs_append_only BEFORE UPDATE OR DELETE ON device_outputs "
            "FOR EACH ROW EXECUTE FUNCTION changes_append_only()"
        )
        op.execute(
            "CREATE TRIGGER device_outputs_no_truncate BEFORE TRUNCATE ON device_outputs "
            "FOR EACH STATEMENT EXECUTE FUNCTION changes_append_only()"
        )


def downgrade() -> None:
    bind = op.get_bind()
    citing = bind.execute(
        sa.text("SELECT min(seq) FROM changes WHERE device_output_sha256 IS NOT NULL")
    ).scalar()
    if citing is not None:
        # their hashes cover the reference: without it (or with the text put back inline)
        # they would no longer verify
        raise RuntimeError(
            f"records from seq {citing} cite stored device outputs by hash; the schema before "
            "0010 cannot hold them without breaking the log's hash chain"
        )
    if bind.dialect.name == "sqlite":
        op.execute("ALTER TABLE changes DROP COLUMN device_output_sha256")  # SQLite 3.35+, in place
    else:
        op.drop_column("changes", "device_output_sha256")
    op.drop_table("device_outputs")  # its triggers go with it
