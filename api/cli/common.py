"""What every `curfew` command shares: the command group that turns the domain's refusals into
`error: message` and exit 2, the `--database-url` and `--at` options, opening the store the
settings describe, and plain-text tables. Kept apart from `api/cli/__init__.py`, which imports
every command module to assemble the app."""

from __future__ import annotations

import getpass
import io
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from typer.core import TyperGroup

from controller.clock import Clock, SystemClock, parse_instant
from controller.errors import CurfewError
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
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at", help="act as if at this instant, ISO 8601 with offset", show_default=False
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Say `error: message` on stderr; raise what this returns to exit with `code`."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


class Refusals(TyperGroup):
    """A command group whose commands end on a refusal of the domain (`controller.errors`)
    with `error: message` and exit 2: no command maps those errors one by one, and none ends
    on a traceback for one it did not expect. A command that wants another message or exit
    status catches its error itself."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CurfewError as exc:
            raise fail(str(exc)) from None


def group(help: str, **options: Any) -> typer.Typer:
    """A command group (`curfew NAME …`) whose commands' refusals exit as `Refusals` says."""
    return typer.Typer(
        cls=Refusals, help=help, no_args_is_help=True, add_completion=False, **options
    )


def instant(at: str | None, option: str = "--at") -> datetime:
    """The instant an option gives (ISO 8601 with offset), or now; a bad one exits 2."""
    if at is None:
        return SystemClock().now()
    try:
        return parse_instant(at)
    except ValueError as exc:
        raise fail(f"{option}: {exc}") from None


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
    database_url: str | None,
    *,
    create: bool = False,
    clock: Clock | None = None,
    announce: bool = True,
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
    if missing is not None and announce:  # (`store init` says it itself, with the kind it fixes)
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


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, plain: bool = False) -> str:
    """Rows as a table: drawn by Rich when stdout is a terminal, unless `plain` (a table
    written to a file); otherwise plain text, a rule under the headers (what scripts and tests
    read; they had better use `--json`)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    if not plain and sys.stdout.isatty():
        return _rich_table(cells)
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _rich_table(cells: list[list[str]]) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    drawn = Table(*cells[0], box=box.SIMPLE_HEAD, header_style="bold")
    for row in cells[1:]:
        drawn.add_row(*(Text(c) for c in row))  # Text: a cell's "[…]" is not markup
    console = Console(
        file=io.StringIO(), force_terminal=True, width=shutil.get_terminal_size().columns
    )
    with console.capture() as captured:
        console.print(drawn)
    return captured.get().rstrip("\n")


Advance = Callable[..., None]


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Advance | None]:
    """A Rich progress bar on stderr while the block runs, when stderr is a terminal; there,
    yields `advance(steps=1, total=None, description=None)`. Otherwise yields None: the command
    prints its plain lines as before."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(
            steps: int = 1, total: int | None = None, description: str | None = None
        ) -> None:
            bar.update(task, advance=steps, total=total, description=description)

        yield advance


JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON on stdout instead of a table")]


def echo_json(value: Any) -> None:
    """Print `value` (pydantic models, lists of them, dates…) as JSON on stdout."""
    from pydantic import TypeAdapter

    typer.echo(
        json.dumps(TypeAdapter(Any).dump_python(value, mode="json"), ensure_ascii=False, indent=2)
    )


class Format(StrEnum):
    """What a listing prints: `--help` lists the choices."""

    table = "table"
    json = "json"
    csv = "csv"


class TableOrJson(StrEnum):
    table = "table"
    json = "json"


class ReportFormat(StrEnum):
    table = "table"
    csv = "csv"
    html = "html"
    json = "json"


def chosen(format: Enum | str, as_json: bool = False) -> str:
    """The format a command prints in: `--json` wins over `--format`."""
    return "json" if as_json else format.value if isinstance(format, Enum) else format
