"""The schema is the migrations' and the models' alike, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import controller.models  # noqa: F401 - registers every table on SQLModel.metadata
from controller.db import alembic_config, make_engine, migrate


def test_the_migrated_schema_is_what_the_models_declare(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            differences = compare_metadata(
                MigrationContext.configure(connection), SQLModel.metadata
            )
    finally:
        engine.dispose()
    assert differences == [], "a model changed without a migration (or the reverse)"


def test_every_migration_goes_down_and_up_again(database_url: str) -> None:
    engine = make_engine(database_url)
    config = alembic_config(engine)
    heads = ScriptDirectory.from_config(config).get_heads()
    try:
        migrate(engine)
        command.downgrade(config, "base")
        assert sa.inspect(engine).get_table_names() == ["alembic_version"]
        migrate(engine)
        with engine.connect() as connection:
            assert [MigrationContext.configure(connection).get_current_revision()] == heads
    finally:
        engine.dispose()
