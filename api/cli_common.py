"""What every `curfew` command group shares: the `--database-url` option, an error that exits,
and opening the store the settings describe. Kept apart from api.cli because api.cli imports the
sub-apps (feeds, reports, venues) to mount them, and they need these too."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
import typer

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


def open_store(database_url: str | None) -> tuple[Settings, Store]:
    """The settings and the store they describe (signing checkpoints if a key is configured);
    a bad setting or signing key exits 2 with its message."""
    settings = settings_with(database_url)
    try:
        return settings, Store.from_settings(settings)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except (sa.exc.ArgumentError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise fail(f"cannot open the database {shown(settings.database_url)}: {reason}") from None


def shown(url: str) -> str:
    """A database URL fit for a message: its password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return repr(url)
