"""The schema is the migrations' and the models' alike, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import controller.models  # noqa: F401 - registers every table on SQLModel.metadata
from controller.changelog import NewChange, append
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


def test_going_below_0010_is_refused_while_records_cite_stored_outputs(database_url: str) -> None:
    """Their hashes cover the reference to the stored output: the schema before 0010 cannot
    hold them, and the log is not broken to go back."""
    engine = make_engine(database_url)
    config = alembic_config(engine)
    try:
        migrate(engine)
        answer = NewChange(at=datetime(2026, 11, 25, tzinfo=UTC), kind="outcome", action="cut",
                           actor="test", device_output="R1(config)#")  # fmt: skip
        append(engine, [answer])
        with pytest.raises(RuntimeError, match="records from seq 1 cite stored device outputs"):
            command.downgrade(config, "0009")
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
        # the migrations above 0010 may have gone down (SQLite's DDL is not transactional);
        # 0010 itself, and so the stored outputs the records cite, stays
        assert revision is not None and revision >= "0010"
    finally:
        engine.dispose()
