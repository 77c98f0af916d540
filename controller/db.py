"""The database engine and its schema: SQLite (WAL) by default, PostgreSQL in production.

The schema is managed by Alembic; `migrate()` brings any database to head and is called by
every command that opens the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
IMMEDIATE = {"sqlite_immediate": True}  # execution option: serialize this transaction's writes


def database_url(url: str) -> sa.URL:
    """The URL of a supported store: SQLite, or PostgreSQL through psycopg 3 (a bare
    `postgresql://` means psycopg 3 here, the driver this product ships with)."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ValueError(f"not a database URL: {url!r}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ValueError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST/DB"
        )
    return parsed


def make_engine(url: str) -> sa.Engine:
    """An engine for a supported store; ValueError names what is wrong with the URL."""
    parsed = database_url(url)
    if parsed.drivername.startswith("sqlite"):
        # SQLite takes one writer at a time and makes the others wait (busy_timeout): a pool
        # of a few connections with a timeout of its own would fail the workers queued behind
        # them (256 routers armed at once did), so connections beyond the pool's are opened
        # as needed and closed when returned; the database's own wait bounds them
        on_disk = parsed.database not in (None, "", ":memory:")
        engine = sa.create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 30},
            # (an in-memory database is one connection per thread: SQLAlchemy's own pool)
            **({"pool_size": 8, "max_overflow": -1} if on_disk else {}),
        )
        _sqlite_pragmas(engine)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True)


def _sqlite_pragmas(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE can be asked for.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get("sqlite_immediate"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def alembic_config(engine: sa.Engine, vault: object = None) -> Config:
    # Alembic is imported when the store is opened, not with every module that names the
    # engine: a command that fails before opening it (a busy port) does not wait for it
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    # the store's device-secrets vault: a migration that encrypts secrets uses its key
    config.attributes["vault"] = vault
    return config


def migrate(engine: sa.Engine, vault: object = None) -> None:
    from alembic import command

    command.upgrade(alembic_config(engine, vault), "head")
