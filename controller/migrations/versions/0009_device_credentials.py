"""device credentials by reference or encrypted, and pinned SSH host keys

Inline passwords and enable secrets are encrypted with CURFEW_SECRETS_KEY_FILE (the migration
fails, saying so, when plain-text ones exist and no key is configured). `password_env` and
`secret_env` become references of the same name: the credential is then read from
CURFEW_CREDENTIALS_DIR/NAME or from CURFEW_DEVICE_SECRET_NAME, never from the old variable.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from controller.credentials import REF, SEALED, SecretsError, Vault, env_name, seal, unseal

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COLUMNS = ("password_ref", "secret_ref", "host_key", "host_key_tofu_by")


def _key(why: str) -> bytes:
    """The key of the store being migrated (handed over by `controller.db.migrate`), or of the
    environment's CURFEW_SECRETS_KEY_FILE."""
    vault = context.config.attributes.get("vault") or Vault.from_environment()
    if vault.key is None:
        raise SecretsError(
            f"{why}: set CURFEW_SECRETS_KEY_FILE (create a key with `curfew secrets keygen "
            "--out FILE`) and open the store again"
        )
    key: bytes = vault.key
    return key


def _ref(variable: str | None) -> str | None:
    """An old `*_env` variable name as a credential name (the operator renames the variable
    to CURFEW_DEVICE_SECRET_<NAME>, or writes the file NAME in CURFEW_CREDENTIALS_DIR)."""
    if not variable:
        return None
    ref = variable.lstrip("_")[:64]
    return ref if REF.fullmatch(ref) else None


def _drop_column(column: str) -> None:
    """Drop a column of `devices` in place. Batch mode would copy the table, drop it and
    rename the copy, and SQLite refuses to drop a table the lines' foreign keys point at."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f'ALTER TABLE devices DROP COLUMN "{column}"')  # SQLite 3.35+
    else:
        op.drop_column("devices", column)


def upgrade() -> None:
    for column in NEW_COLUMNS:
        op.add_column("devices", sa.Column(column, sa.String(), nullable=True))
    devices = sa.table(
        "devices",
        *(sa.column(c) for c in ("id", "name", "password", "password_env", "secret",
                                 "secret_env", "password_ref", "secret_ref")),  # fmt: skip
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(devices)).mappings().all()
    key: bytes | None = None
    for row in rows:
        values: dict[str, str | None] = {
            "password_ref": _ref(row["password_env"]),
            "secret_ref": _ref(row["secret_env"]),
        }
        for field in ("password", "secret"):
            plain = row[field]
            if plain and not plain.startswith(SEALED):
                key = key or _key(
                    "this database holds device passwords or secrets in plain text, which "
                    "migration 0009 encrypts, and no key is configured"
                )
                values[field] = seal(key, row["name"], field, plain)
        bind.execute(sa.update(devices).where(devices.c.id == row["id"]).values(**values))
    _drop_column("password_env")
    _drop_column("secret_env")


def downgrade() -> None:
    op.add_column("devices", sa.Column("password_env", sa.String(), nullable=True))
    op.add_column("devices", sa.Column("secret_env", sa.String(), nullable=True))
    devices = sa.table(
        "devices",
        *(sa.column(c) for c in ("id", "name", "password", "password_env", "secret",
                                 "secret_env", "password_ref", "secret_ref")),  # fmt: skip
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(devices)).mappings().all()
    key: bytes | None = None
    for row in rows:
        # the schema before 0009 read secrets in plain text, and any variable by name
        values: dict[str, str | None] = {
            "password_env": env_name(row["password_ref"]) if row["password_ref"] else None,
            "secret_env": env_name(row["secret_ref"]) if row["secret_ref"] else None,
        }
        for field in ("password", "secret"):
            stored = row[field]
            if stored and stored.startswith(SEALED):
                key = key or _key(
                    "the schema before 0009 keeps device secrets in plain text: decrypting "
                    "them needs their key"
                )
                values[field] = unseal(key, row["name"], field, stored)
        bind.execute(sa.update(devices).where(devices.c.id == row["id"]).values(**values))
    for column in reversed(NEW_COLUMNS):
        _drop_column(column)
