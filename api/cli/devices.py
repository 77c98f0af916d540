"""`curfew devices …`: a router's SSH host key, accepted by the NOC after it changed (the key
exchange only: no log-in, no secret sent)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import select

from api.cli.common import DatabaseOpt, fail, group, open_store, operator
from controller.host_keys import FingerprintMismatch, accept_host_key, offered_key
from controller.models import Device
from drivers.host_keys import check_fingerprint

app = group("Routers: accept a router's new SSH host key.")


@app.command("accept-host-key")
def accept_host_key_command(
    device: Annotated[str, typer.Argument(help="the device's name (or id)")],
    fingerprint: Annotated[
        str | None,
        typer.Option(
            help="pin the key only if it has this fingerprint (SHA256:…, as `ssh-keygen -l` "
            "prints it on the router's console)"
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="accept without asking (when no --fingerprint)")
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Fetch the SSH host key the device offers now (key exchange only: no log-in, no secret
    sent), show its fingerprint, and pin it, with a `host_key_accepted` record."""
    if fingerprint is not None:
        try:
            check_fingerprint(fingerprint)
        except ValueError as exc:
            raise fail(f"--fingerprint: {exc}") from None
    settings, store = open_store(database_url)
    with store.session() as session:
        found = session.exec(select(Device).where(Device.name == device)).first()
        if found is None and device.isascii() and device.isdigit() and len(device) < 10:
            found = session.get(Device, int(device))
    if found is None:
        raise fail(f"no device {device!r}")
    offered = offered_key(store, found, settings.device_timeout)
    typer.echo(f"{found.name} offers {offered.key.split()[0]} {offered.fingerprint}")
    typer.echo(f"pinned now:  {offered.pinned_fingerprint or 'no key'}")
    if not offered.changed:
        typer.echo("the device offers the pinned key: nothing to accept")
        return
    if fingerprint is None and not yes:
        typer.confirm(f"pin {offered.fingerprint} for {found.name}?", abort=True)
    try:
        accept_host_key(store, offered, f"cli:{operator()}", expected=fingerprint)
    except FingerprintMismatch as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"pinned {offered.fingerprint} for {found.name}")
