"""`curfew inventory …`: import routers, venues and lines from a file (all or nothing), and
check every line against its router."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import DatabaseOpt, group, open_store, operator, table
from controller.inventory import import_file

app = group("Routers, venues and lines the controller knows.")


@app.command("import")
def inventory_import(
    file: Annotated[Path, typer.Argument(help="inventory YAML: devices, venues, lines")],
    trust_new_host_keys: Annotated[
        bool,
        typer.Option(
            "--trust-new-host-keys",
            help="let this file's SSH devices whose host key is neither given nor pinned learn "
            "it once, at their next session (trust on first use)",
        ),
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Validate and import an inventory file, all or nothing."""
    _, store = open_store(database_url, create=True)
    report = import_file(store, file, f"cli:{operator()}", trust_new_host_keys)
    created = ", ".join(f"{n} {k}" for k, n in report.created.items()) or "nothing new"
    updated = ", ".join(f"{n} {k}" for k, n in report.updated.items())
    typer.echo(f"imported {file}: created {created}" + (f"; updated {updated}" if updated else ""))


@app.command("verify")
def inventory_verify(
    device: Annotated[
        list[str] | None, typer.Option(help="only this device (repeatable); default: all")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Check every line against its device; a mismatch blocks cuts on that line until fixed."""
    from controller.reconciler import connect_driver
    from controller.verification import verify_inventory

    settings, store = open_store(database_url)
    checks = verify_inventory(
        store, connect_driver, device, settings.device_timeout, settings.device_workers
    )
    rows = [
        (c.device, c.line, c.interface,
         "ok" if c.ok else "unchecked" if c.ok is None else "BLOCKED", "; ".join(c.problems))
        for c in checks
    ]  # fmt: skip
    typer.echo(table(("device", "line", "interface", "result", "problems"), rows))
    blocked = sum(1 for c in checks if c.ok is False)
    unchecked = sum(1 for c in checks if c.ok is None)
    typer.echo(f"{len(checks)} lines: {blocked} blocked, {unchecked} not checked")
    if blocked or unchecked:
        raise typer.Exit(1)
