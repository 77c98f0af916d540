"""PostgreSQL: refuse TRUNCATE of the change log too

Row triggers do not fire on TRUNCATE, so the append-only rule of 0001 left that one statement
open on PostgreSQL. (SQLite has no TRUNCATE: its DELETE trigger already covers it.)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER changes_no_truncate BEFORE TRUNCATE ON changes "
            "FOR EACH STATEMENT EXECUTE FUNCTION changes_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER changes_no_truncate ON changes")
