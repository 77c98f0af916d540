"""`curfew inventory …`: import routers, venues and lines from a file (all or nothing), list
them, export them as the file the import accepts (references only, never a secret), and check
every line against its router."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from api.cli.common import (
    DatabaseOpt,
    JsonOpt,
    echo_json,
    group,
    open_store,
    operator,
    progress_bar,
    table,
)
from api.schemas import DevicePublic, LinePublic, VenuePublic
from controller.inventory import import_file
from controller.models import Device
from controller.store import Store
from drivers.base import Driver

app = group("Routers, venues and lines the controller knows.")


@app.command("import")
def inventory_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="inventory YAML: devices, venues, lines (a port line: device, interface, "
            "prefixes; a subscriber line: kind: subscriber, username, nas: its radius_nas devices)"
        ),
    ],
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
    with progress_bar(f"importing {file}"):  # one transaction: a spinner, no steps
        report = import_file(store, file, f"cli:{operator()}", trust_new_host_keys)
    created = ", ".join(f"{n} {k}" for k, n in report.created.items()) or "nothing new"
    updated = ", ".join(f"{n} {k}" for k, n in report.updated.items())
    typer.echo(f"imported {file}: created {created}" + (f"; updated {updated}" if updated else ""))


@app.command("verify")
def inventory_verify(
    device: Annotated[
        list[str] | None, typer.Option(help="only this device (repeatable); default: all")
    ] = None,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Check every line against its device; a mismatch blocks cuts on that line until fixed."""
    from controller.reconciler import connect_driver
    from controller.verification import verify_inventory

    settings, store = open_store(database_url)
    chosen = [d for d in store.devices() if device is None or d.name in set(device)]
    with progress_bar("verify: routers reached", len(chosen)) as advance:

        def connect(target: Device, timeout: float) -> Driver:
            if advance is not None:
                advance(description=f"verify: {target.name}")
            return connect_driver(target, timeout)

        checks = verify_inventory(
            store, connect, device, settings.device_timeout, settings.device_workers
        )
    rows = [
        (c.device, c.line, c.interface,
         "ok" if c.ok else "unchecked" if c.ok is None else "BLOCKED", "; ".join(c.problems))
        for c in checks
    ]  # fmt: skip
    blocked = sum(1 for c in checks if c.ok is False)
    unchecked = sum(1 for c in checks if c.ok is None)
    if as_json:
        echo_json(
            [{"device": c.device, "line": c.line, "interface": c.interface, "ok": c.ok,
              "problems": list(c.problems)} for c in checks]
        )  # fmt: skip
    else:
        typer.echo(table(("device", "line", "interface", "result", "problems"), rows))
        typer.echo(f"{len(checks)} lines: {blocked} blocked, {unchecked} not checked")
    if blocked or unchecked:
        raise typer.Exit(1)


def listing(store: Store) -> dict[str, list[Any]]:
    """Devices, venues and lines as the API lists them (no secret, no reference)."""
    statuses = store.line_statuses()
    return {
        "devices": [DevicePublic.of(d) for d in store.devices()],
        "venues": [
            VenuePublic(id=v.id or 0, name=v.name, licence=v.licence, zone=v.zone,
                        region=v.region, address=v.address)
            for v in store.venues()
        ],
        "lines": [LinePublic.of(ln, statuses.get(ln.id or 0)) for ln in store.lines()],
    }  # fmt: skip


@app.command("list")
def inventory_list(as_json: JsonOpt = False, database_url: DatabaseOpt = None) -> None:
    """The devices, venues and lines the controller knows."""
    _, store = open_store(database_url)
    found = listing(store)
    if as_json:
        echo_json(found)
        return
    devices: list[DevicePublic] = found["devices"]
    venues: list[VenuePublic] = found["venues"]
    lines: list[LinePublic] = found["lines"]
    device_names = {d.id: d.name for d in devices}
    venue_names = {v.id: v.name for v in venues}
    typer.echo(
        table(("device", "platform", "host", "port", "carrier", "frozen"),
              [(d.name, d.platform, d.host, d.port, d.carrier, "yes" if d.frozen else "no")
               for d in devices])
    )  # fmt: skip
    typer.echo("")
    typer.echo(
        table(("venue", "licence", "zone", "region", "address"),
              [(v.name, v.licence, v.zone, v.region or "", v.address or "") for v in venues])
    )  # fmt: skip
    typer.echo("")
    typer.echo(
        table(("line", "venue", "device", "interface", "prefixes", "subscriber", "state"),
              [(ln.name, venue_names.get(ln.venue_id, ln.venue_id),
                " ".join(ln.nas) if ln.kind == "subscriber"
                else device_names.get(ln.device_id, ln.device_id), ln.interface,
                " ".join(ln.prefixes), ln.username or "", ln.state) for ln in lines])
    )  # fmt: skip


def export_document(store: Store) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """The inventory as the file `inventory import` accepts, and what it could not carry.

    Never a secret: a device's password and enable secret are exported only as the references
    they were imported with (`password_ref`, `secret_ref`); one stored inline (encrypted) is
    left out, and named in the second value, to be given again before an import."""
    devices_by_id = {d.id: d for d in store.devices()}
    venues_by_id = {v.id: v for v in store.venues()}
    left_out: list[str] = []
    devices = []
    for d in devices_by_id.values():
        row: dict[str, Any] = {"name": d.name, "platform": d.platform, "host": d.host,
                               "port": d.port, "username": d.username}  # fmt: skip
        for name in ("password", "secret"):
            ref = getattr(d, f"{name}_ref")
            if ref:
                row[f"{name}_ref"] = ref
            elif getattr(d, name):
                left_out.append(f"device {d.name}: its {name} is stored inline (encrypted)")
        if d.host_key:
            row["host_key"] = d.host_key
        row["carrier"] = d.carrier
        if d.options:
            row["options"] = d.options
        devices.append(row)
    venues = []
    for v in venues_by_id.values():
        venue: dict[str, Any] = {"name": v.name, "licence": v.licence, "zone": v.zone}
        if v.region is not None:
            venue["region"] = v.region
        if v.address is not None:
            venue["address"] = v.address
        venues.append(venue)
    document = {
        "authorities": [{"name": a.name, "regions": a.regions} for a in store.authorities()],
        "devices": devices,
        "venues": venues,
        "lines": [
            {
                "name": ln.name,
                "venue": venues_by_id[ln.venue_id].name,
                "kind": "subscriber",
                "username": ln.username,
                "nas": list(ln.nas),
            }
            if ln.kind == "subscriber"
            else {
                "name": ln.name,
                "venue": venues_by_id[ln.venue_id].name,
                "device": devices_by_id[ln.device_id].name,
                "interface": ln.interface,
                "prefixes": [str(p) for p in ln.prefixes],
            }
            for ln in store.lines()
        ],  # fmt: skip
    }
    return document, left_out


@app.command("export")
def inventory_export(
    out: Annotated[
        Path | None, typer.Option("--out", help="write to this file (default: stdout)")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """The inventory as YAML that `curfew inventory import` accepts: references only, never a
    secret (a password stored inline is left out, and said so on stderr)."""
    _, store = open_store(database_url)
    document, left_out = export_document(store)
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
    for what in left_out:
        typer.echo(
            f"not exported: {what}; give password_ref/secret_ref (or the value) before importing",
            err=True,
        )
