"""`curfew devices …` and `curfew secrets …`: a router's SSH host key accepted by the NOC after
it changed, and the key that keeps inline device secrets encrypted at rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import select

from api.cli_common import DatabaseOpt, fail, open_store, operator
from controller.credentials import generate_key
from controller.host_keys import (
    FingerprintMismatch,
    KeyNotOffered,
    NoHostKey,
    accept_host_key,
    offered_key,
)
from controller.models import Device
from drivers.host_keys import check_fingerprint

devices_app = typer.Typer(
    help="Routers: accept a router's new SSH host key.", no_args_is_help=True
)
secrets_app = typer.Typer(
    help="Device secrets: the key that encrypts inline passwords at rest.", no_args_is_help=True
)


@devices_app.command("accept-host-key")
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
    try:
        offered = offered_key(store, found, settings.device_timeout)
    except (NoHostKey, KeyNotOffered) as exc:  # KeyNotOffered names the driver's error
        raise fail(str(exc)) from None
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


@secrets_app.command("keygen")
def secrets_keygen(
    out: Annotated[
        Path, typer.Option(help="where to write the key (mode 0600; never overwritten)")
    ],
) -> None:
    """Create the key that encrypts inline device passwords and secrets in the database."""
    try:
        generate_key(out)
    except OSError as exc:
        raise fail(f"{out}: {exc.strerror or exc}") from None
    typer.echo(f"key written to {out} (mode 0600); keep it outside the database and its backups")
    typer.echo(f"set CURFEW_SECRETS_KEY_FILE={out} for every curfew process of this store")
