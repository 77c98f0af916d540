"""`curfew store`: create a store and say what it is for (production, or a lab whose passes
may run at simulated instants)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import (
    DatabaseOpt,
    fail,
    group,
    missing_sqlite_file,
    open_store,
    operator,
    settings_with,
    shown,
)

app = group("The store: create it as a production or a lab store, and show which it is.")


@app.command("init")
def store_init(
    lab: Annotated[
        bool,
        typer.Option(
            "--lab",
            help="a lab store: passes may run at simulated instants (`reconcile --at`, "
            "`serve --at`); never for a production network",
        ),
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Create the store (or open an existing one) and fix its kind, once."""
    missing = missing_sqlite_file(settings_with(database_url).database_url)
    settings, store = open_store(database_url, create=True, announce=False)
    kind = "lab" if lab else "production"
    try:
        created = store.declare_kind(kind, f"cli:{operator()}")
    except ValueError as exc:
        raise fail(str(exc)) from None
    where = shown(settings.database_url)
    if missing is not None:
        typer.echo(f"{where}: created, a {kind} store")
    else:
        typer.echo(f"{where}: {'is now' if created else 'already is'} a {kind} store")


@app.command("info")
def store_info(database_url: DatabaseOpt = None) -> None:
    """Which kind of store this is, and what that allows."""
    settings, store = open_store(database_url)
    kind = store.kind
    allows = (
        "passes may run at simulated instants (reconcile --at, serve --at)"
        if kind == "lab"
        else "passes act only at the real time; `plan --at` shows any other instant"
    )
    typer.echo(f"{shown(settings.database_url)}: {kind} store: {allows}")
