"""The bureau's licence register, and the venues that have no valid licence in it.

The register is imported from the bureau's CSV, all or nothing, and replaces the previous one.
A venue is unlicensed when the register holds no licence for it (missing) or only one that is
expired, revoked or suspended; the answer names the lines that serve it, with device and
interface, so a carrier can say who is connecting a black café.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from sqlmodel import col, delete, select

from controller.inventory import InventoryError, plain_text
from controller.models import Device, Licence, Line, Venue
from controller.store import Store
from policies import zone

HEADER = ("licence", "venue", "valid_until", "status")
STATUSES = ("valid", "expired", "revoked", "suspended")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Of a venue's entries, the one that explains why it is unlicensed: the gravest.
_GRAVITY = {"revoked": 0, "suspended": 1, "expired": 2}

Why = Literal["missing", "expired", "revoked", "suspended"]


class RegisterError(InventoryError):
    """A register that is not imported: every problem, with its row number and reason."""


@dataclass
class RegisterReport:
    source: str
    imported: int = 0
    replaced: int = 0  # entries of the previous register
    matched_venues: int = 0  # entries that name a venue of the inventory
    unknown_venues: list[str] = field(default_factory=list)  # named venues not in inventory


@dataclass(frozen=True)
class _Entry:
    number: str
    venue: str
    valid_until: date | None
    status: str


def _parse_row(cells: list[str]) -> _Entry:
    if len(cells) != len(HEADER):
        raise ValueError(f"expected {len(HEADER)} fields ({','.join(HEADER)}), got {len(cells)}")
    number, venue, until, status = cells
    problems = []
    for value, what, limit in ((number, "licence", 64), (venue, "venue", 200)):
        try:
            plain_text(value, what, limit)
        except ValueError as exc:
            problems.append(str(exc))
    valid_until = None
    if until:
        try:
            if not _DATE.fullmatch(until):
                raise ValueError
            valid_until = date.fromisoformat(until)
        except ValueError:
            problems.append(f"valid_until {until!r} is not a date YYYY-MM-DD (or empty)")
    if status not in STATUSES:
        problems.append(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if problems:
        raise ValueError("; ".join(problems))
    return _Entry(number, venue, valid_until, status)


def parse_register(text: str, source: str) -> list[_Entry]:
    """Every row validated; raises RegisterError naming each bad row (the header is row 1)."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or [c.strip() for c in rows[0]] != list(HEADER):
        found = ",".join(rows[0]) if rows else "an empty file"
        raise RegisterError(source, [f"row 1: the header must be {','.join(HEADER)}, not {found}"])
    problems: list[str] = []
    entries: list[_Entry] = []
    first_row: dict[str, int] = {}
    for number, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue  # a blank line
        try:
            entry = _parse_row(cells)
        except ValueError as exc:
            problems.append(f"row {number}: {exc}")
            continue
        seen = first_row.setdefault(entry.number, number)
        if seen != number:
            problems.append(f"row {number}: licence {entry.number!r} is already on row {seen}")
        entries.append(entry)
    if problems:
        raise RegisterError(source, problems)
    return entries


def import_register(store: Store, path: Path, actor: str = "cli") -> RegisterReport:
    """Replace the licence register with the CSV at `path` (licence,venue,valid_until,status),
    all or nothing. Raises RegisterError with every bad row's number and reason."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM, as spreadsheets write, is fine
    except (OSError, UnicodeDecodeError) as exc:
        raise RegisterError(str(path), [f"cannot read (UTF-8 CSV expected): {exc}"]) from None
    return import_entries(store, parse_register(text, str(path)), str(path), actor)


def import_entries(
    store: Store, entries: Sequence[_Entry], source: str, actor: str = "cli"
) -> RegisterReport:
    report = RegisterReport(source)
    now = store.clock.now()
    # The old register goes, the new one comes and the record says so, in one transaction.
    with store.transaction() as tx:
        s = tx.session
        venues = list(s.exec(select(Venue)))
        by_name = {v.name: v.id for v in venues}
        by_number = {v.licence: v.id for v in venues if v.licence}
        report.replaced = len(list(s.exec(select(Licence.id))))
        s.exec(delete(Licence))
        for entry in entries:
            venue_id = by_name.get(entry.venue, by_number.get(entry.number))
            if venue_id is None:
                report.unknown_venues.append(entry.venue)
            else:
                report.matched_venues += 1
            s.add(
                Licence(
                    number=entry.number, venue_name=entry.venue, venue_id=venue_id,
                    valid_until=entry.valid_until, status=entry.status, imported_at=now,
                )
            )  # fmt: skip
        report.imported = len(entries)
        tx.log_admin(
            "licences_imported",
            actor,
            detail=json.dumps(
                {"source": source, "imported": report.imported, "replaced": report.replaced,
                 "matched": report.matched_venues, "unknown_venues": len(report.unknown_venues)},
                ensure_ascii=False,
            ),
        )  # fmt: skip
    return report


def register(store: Store) -> list[Licence]:
    with store.session() as s:
        return list(s.exec(select(Licence).order_by(col(Licence.number))))


# -- which venues are unlicensed -----------------------------------------------------------


class ServingLine(BaseModel):
    """A line that serves a venue: a router port (interface and prefixes), or a subscriber of a
    carrier's NAS devices (username and the NAS names; `device` is the first of them)."""

    line_id: int
    line: str
    device: str
    carrier: str
    interface: str
    prefixes: list[str]
    kind: Literal["port", "subscriber"] = "port"
    username: str | None = None
    nas: list[str] = []


class VenueLicence(BaseModel):
    """A venue's standing in the register on a day, and the lines that serve it."""

    venue_id: int
    venue: str
    region: str | None
    address: str | None
    on: date  # the venue-local day the standing holds for
    licensed: bool
    why: Why | None  # None when licensed
    licence: str | None  # the register entry the verdict rests on, if any
    valid_until: date | None
    detail: str
    lines: list[ServingLine]


def _standing(
    venue: Venue, entries: list[Licence], on: date
) -> tuple[Why | None, Licence | None, str]:
    """(why unlicensed or None, the entry the verdict rests on, a sentence for people)."""

    def lapsed(entry: Licence) -> bool:
        return entry.valid_until is not None and entry.valid_until < on

    def state(entry: Licence) -> str:
        return "expired" if entry.status == "valid" and lapsed(entry) else entry.status

    for entry in entries:
        if state(entry) == "valid":
            return (
                None,
                entry,
                f"licence {entry.number} is valid"
                + (f" until {entry.valid_until}" if entry.valid_until else ""),
            )
    if entries:
        worst = min(entries, key=lambda e: (_GRAVITY[state(e)], e.number))
        why: Why = state(worst)  # type: ignore[assignment]
        until = f" (valid until {worst.valid_until})" if worst.valid_until else ""
        return why, worst, f"licence {worst.number} is {why}{until}"
    if venue.licence:
        return "missing", None, f"the inventory names licence {venue.licence}, not in the register"
    return "missing", None, "no licence in the register"


def verdict(
    venue: Venue, entries: Sequence[Licence], on: date
) -> tuple[Why | None, Licence | None, str]:
    """A venue's standing on `on` by the register's `entries` (the venue's own among them: those
    naming it, or carrying the licence number the inventory records for it): why it is
    unlicensed (None: licensed), the entry the verdict rests on, and a sentence for people."""
    own = [
        e
        for e in entries
        if e.venue_name == venue.name or (venue.licence and e.number == venue.licence)
    ]
    why, entry, detail = _standing(venue, own, on)
    if entry is not None and entry.venue_name != venue.name:
        detail += f"; the register names it for {entry.venue_name!r}"
    return why, entry, detail


def licence_standings(store: Store, on: date | None = None) -> list[VenueLicence]:
    """Every venue's standing in the register on `on` (default: today in the venue's zone).

    A register entry is the venue's when it names the venue, or carries the licence number the
    inventory records for it; an entry for another venue name with the same number is noted.
    """
    with store.session() as s:
        venues = list(s.exec(select(Venue).order_by(col(Venue.name))))
        entries = list(s.exec(select(Licence)))
        lines = list(s.exec(select(Line).order_by(col(Line.name))))
        devices = {d.id: d for d in s.exec(select(Device))}
    now = store.clock.now()
    by_venue: dict[int, list[ServingLine]] = {}
    for line in lines:
        assert line.id is not None
        device = devices[line.device_id]
        by_venue.setdefault(line.venue_id, []).append(
            ServingLine(
                line_id=line.id, line=line.name, device=device.name, carrier=device.carrier,
                interface=line.interface, prefixes=[str(p) for p in line.prefixes],
                kind="subscriber" if line.kind == "subscriber" else "port",
                username=line.username, nas=list(line.nas),
            )
        )  # fmt: skip
    standings = []
    for venue in venues:
        assert venue.id is not None
        day = on or now.astimezone(zone(venue.zone)).date()
        why, entry, detail = verdict(venue, entries, day)
        standings.append(
            VenueLicence(
                venue_id=venue.id, venue=venue.name, region=venue.region, address=venue.address,
                on=day, licensed=why is None, why=why, licence=entry.number if entry else None,
                valid_until=entry.valid_until if entry else None, detail=detail,
                lines=by_venue.get(venue.id, []),
            )
        )  # fmt: skip
    return standings


def unlicensed(store: Store, on: date | None = None) -> list[VenueLicence]:
    """The venues without a valid licence on `on`, each with the lines that serve it."""
    return [v for v in licence_standings(store, on) if not v.licensed]
