"""`curfew devices …`: the routers, freezing one (passes leave it untouched) and unfreezing it,
and a router's SSH host key, accepted by the NOC after it changed (the key exchange only: no
log-in, no secret sent)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import select

from api.cli.common import DatabaseOpt, JsonOpt, echo_json, fail, group, open_store, operator, table
from api.schemas import DevicePublic
from controller.host_keys import FingerprintMismatch, accept_host_key, offered_key
from controller.models import Device
from controller.store import Store
from drivers.host_keys import check_fingerprint

app = group("Routers: list, freeze, unfreeze; accept a router's new SSH host key.")
DeviceArg = Annotated[str, typer.Argument(help="the device's name (or id)")]


def _find(store: Store, device: str) -> Device:
    with store.session() as session:
        found = session.exec(select(Device).where(Device.name == device)).first()
        if found is None and device.isascii() and device.isdigit() and len(device) < 10:
            found = session.get(Device, int(device))
    if found is None:
        raise fail(f"no device {device!r}")
    return found


@app.command("list")
def devices_list(as_json: JsonOpt = False, database_url: DatabaseOpt = None) -> None:
    """The routers: platform, address, carrier, whether frozen, the pinned host key."""
    _, store = open_store(database_url)
    found = [DevicePublic.of(d) for d in store.devices()]
    if as_json:
        echo_json(found)
        return
    typer.echo(
        table(("id", "name", "platform", "host", "port", "carrier", "frozen", "host key"),
              [(d.id, d.name, d.platform, d.host, d.port, d.carrier,
                "FROZEN" if d.frozen else "no", d.host_key_fingerprint or "-") for d in found])
    )  # fmt: skip


def _set_frozen(device: str, frozen: bool, reason: str, database_url: str | None) -> None:
    from controller.passes import set_frozen  # what the API's freeze and the console call

    _, store = open_store(database_url)
    found = _find(store, device)
    assert found.id is not None
    set_frozen(store, found.id, frozen, f"cli:{operator()}", reason)
    typer.echo(f"{found.name} {'frozen: passes leave it untouched' if frozen else 'unfrozen'}")


@app.command("freeze")
def devices_freeze(
    device: DeviceArg,
    reason: Annotated[str, typer.Option(help="why (recorded with the freeze)")],
    database_url: DatabaseOpt = None,
) -> None:
    """Freeze a router: passes leave it untouched until it is unfrozen."""
    if not reason.strip():
        raise fail("--reason: give why the router is frozen")
    _set_frozen(device, True, reason, database_url)


@app.command("unfreeze")
def devices_unfreeze(
    device: DeviceArg,
    reason: Annotated[str, typer.Option(help="why (recorded)")] = "",
    database_url: DatabaseOpt = None,
) -> None:
    """Unfreeze a router: the next pass acts on it again."""
    _set_frozen(device, False, reason, database_url)


@app.command("accept-host-key")
def accept_host_key_command(
    device: DeviceArg,
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
    found = _find(store, device)
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
