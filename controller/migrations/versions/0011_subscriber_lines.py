"""subscriber lines: a line may be a RADIUS subscriber on NAS devices instead of a router port

`lines.kind` is "port" (every line before this) or "subscriber"; a subscriber line has its
`username` and the names of the NAS devices that may hold its sessions (`nas_json`), an empty
interface and no prefixes; its `device_id` is the first NAS named.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lines") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(), nullable=False, server_default="port"))
        batch_op.add_column(sa.Column("username", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("nas_json", sa.String(), nullable=False, server_default="[]"))


def downgrade() -> None:
    # a subscriber line has no port to fall back to: going below 0011 would turn it into a
    # port line with no interface, so it is refused while any exists
    bind = op.get_bind()
    held = bind.execute(sa.text("SELECT count(*) FROM lines WHERE kind = 'subscriber'")).scalar()
    if held:
        raise RuntimeError(
            f"{held} subscriber line(s) exist: remove them from the inventory before going "
            "below migration 0011"
        )
    with op.batch_alter_table("lines") as batch_op:
        batch_op.drop_column("nas_json")
        batch_op.drop_column("username")
        batch_op.drop_column("kind")
