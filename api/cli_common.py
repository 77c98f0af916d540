"""What every `curfew` command group shares: the `--database-url` option, an error that exits,
and opening the store the settings describe. Kept apart from api.cli because api.cli imports the
sub-apps (feeds, reports, venues) to mount them, and they need these too."""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from controller.clock import Clock
from controller.settings import Settings
from controller.store import Store

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL of the store (default: $CURFEW_DATABASE_URL or sqlite:///./curfew.db)",
        show_default=False,
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def settings_with(database_url: str | None) -> Settings:
    try:
        settings = Settings()
    except ValueError as exc:
        raise fail(str(exc)) from None
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


def missing_sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL whose database does not exist yet (None otherwise)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None  # reported as a bad URL when the store is opened
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def open_store(
    database_url: str | None, *, create: bool = False, clock: Clock | None = None
) -> tuple[Settings, Store]:
    """The settings and the store they describe (signing checkpoints if a key is configured);
    a bad setting or signing key exits 2 with its message.

    Only commands that write (`create`) may create a store, and they say so when they do; a
    command that reads an SQLite file that does not exist fails: "no such database"."""
    settings = settings_with(database_url)
    missing = missing_sqlite_file(settings.database_url)
    if missing is not None and not create:
        raise fail(
            f"no such database: {missing} does not exist (check --database-url or "
            "CURFEW_DATABASE_URL; `curfew store init` or `curfew inventory import` creates one)"
        )
    try:
        store = Store.from_settings(settings, clock)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except (sa.exc.ArgumentError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise fail(f"cannot open the database {shown(settings.database_url)}: {reason}") from None
    if missing is not None:
        typer.secho(f"created a new {store.kind} store at {missing}", err=True)
    return settings, store


def shown(url: str) -> str:
    """A database URL fit for a message: its password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return repr(url)


def operator() -> str:
    """Who runs this command, as the log records it: the login name (letters kept tame)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return re.sub(r"[^A-Za-z0-9._-]", "?", name)[:32] or "unknown"
