"""`curfew venues …`: the bureau's licence register in the terminal — import it, and list the
venues without a valid licence with the line, device and interface that serve each."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import DatabaseOpt, Format, JsonOpt, chosen, fail, group, open_store, table
from controller.licences import VenueLicence, import_register, licence_standings

app = group("Venues and the bureau's licence register: who is connecting an unlicensed café.")

OnOpt = Annotated[
    str | None,
    typer.Option(
        "--on",
        help="the day to judge, YYYY-MM-DD (default: today, venue-local)",
        show_default=False,
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", help="how to print")]
COLUMNS = ("venue", "region", "why", "licence", "valid_until", "line", "device", "carrier",
           "interface", "prefixes", "subscriber")  # fmt: skip


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"--on: {text!r} is not a date YYYY-MM-DD") from None


def _rows(standings: list[VenueLicence]) -> list[tuple[object, ...]]:
    """One row per serving line; a venue no line serves still has its row."""
    rows: list[tuple[object, ...]] = []
    for v in standings:
        head = (v.venue, v.region or "", v.why or "licensed", v.licence or "", v.valid_until or "")
        for line in v.lines:
            # a subscriber line: its NAS devices where a port line names its router
            device = " ".join(line.nas) if line.kind == "subscriber" else line.device
            rows.append((*head, line.line, device, line.carrier, line.interface,
                         " ".join(line.prefixes), line.username or ""))  # fmt: skip
        if not v.lines:
            rows.append((*head, "", "", "", "", "", ""))
    return rows


def _emit(standings: list[VenueLicence], format: str) -> None:
    if format == "json":
        dumped = [v.model_dump(mode="json") for v in standings]
        typer.echo(json.dumps(dumped, ensure_ascii=False, indent=2))
    elif format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        writer.writerows(_rows(standings))
        sys.stdout.write(buffer.getvalue())
    else:
        typer.echo(table(COLUMNS, _rows(standings)))


@app.command("unlicensed")
def venues_unlicensed(
    on: OnOpt = None,
    format: FormatOpt = Format.table,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Venues whose licence is missing, expired, revoked or suspended, with their lines."""
    format = chosen(format, as_json)  # type: ignore[assignment]
    if format not in ("table", "json", "csv"):
        raise fail("--format must be table, json or csv")
    day = _day(on)
    _, store = open_store(database_url)
    try:
        found = [v for v in licence_standings(store, day) if not v.licensed]
    finally:
        store.close()
    _emit(found, format)
    if format == "table":
        typer.echo(f"{len(found)} venue(s) without a valid licence", err=True)


@app.command("list")
def venues_list(
    on: OnOpt = None,
    format: FormatOpt = Format.table,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Every venue with its standing in the licence register and the lines serving it."""
    format = chosen(format, as_json)  # type: ignore[assignment]
    if format not in ("table", "json", "csv"):
        raise fail("--format must be table, json or csv")
    day = _day(on)
    _, store = open_store(database_url)
    try:
        standings = licence_standings(store, day)
    finally:
        store.close()
    _emit(standings, format)


@app.command("import-licences")
def venues_import_licences(
    file: Annotated[Path, typer.Argument(help="CSV with header licence,venue,valid_until,status")],
    database_url: DatabaseOpt = None,
) -> None:
    """Replace the licence register with the bureau's CSV, all or nothing."""
    _, store = open_store(database_url, create=True)
    try:
        report = import_register(store, file, actor="cli")
    finally:
        store.close()
    typer.echo(
        f"imported {report.imported} licence(s) from {file} (replacing {report.replaced}); "
        f"{report.matched_venues} name a venue of the inventory"
    )
    if report.unknown_venues:
        shown = ", ".join(report.unknown_venues[:10])
        more = (
            f" and {len(report.unknown_venues) - 10} more"
            if len(report.unknown_venues) > 10
            else ""
        )
        typer.echo(f"not in the inventory: {shown}{more}")
