"""The `curfew` command, assembled: one module per command or group in this package, each with
its options and help; here they are only put in the order `curfew --help` lists them.

A new group is a module with `app = group("…")` (`api.cli.common`) and its commands, added
below with `add_typer`; a new top-level command is a function registered with `app.command()`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli import (
    audit,
    changes,
    demo,
    devices,
    feeds,
    holds,
    inventory,
    lab,
    orders,
    plan,
    reports,
    secrets,
    serve,
    store,
    tokens,
    venues,
    whois,
)
from api.cli.common import Refusals

app = typer.Typer(
    cls=Refusals,
    help="curfew: cut and restore venues' lines on the orders of a cultural-market bureau.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"curfew {version('curfew')}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """curfew: cut and restore venues' lines on the orders of a cultural-market bureau."""


app.command()(serve.serve)
app.command()(plan.plan)
app.command()(plan.reconcile)
app.command()(changes.changes)
app.command("whois")(whois.whois_command)
app.command()(demo.demo)
app.add_typer(lab.app, name="lab")
app.add_typer(inventory.app, name="inventory")
app.add_typer(audit.app, name="audit")
app.add_typer(tokens.app, name="token")
app.add_typer(feeds.authority_app, name="authority")
app.add_typer(feeds.feed_app, name="feed")
app.add_typer(
    reports.app, name="report", help="Auditors' reports: timelines, violations, compliance."
)
app.add_typer(orders.app, name="orders")
app.add_typer(venues.app, name="venues")
app.add_typer(devices.app, name="devices")
app.add_typer(secrets.app, name="secrets")
app.add_typer(store.app, name="store")
app.add_typer(holds.app, name="pass")


def main() -> None:
    app()
