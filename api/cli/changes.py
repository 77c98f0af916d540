"""`curfew changes`: the change log in the terminal, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Annotated

import typer

from api.cli.common import DatabaseOpt, Format, JsonOpt, chosen, fail, open_store, table
from api.schemas import ChangePublic
from controller.clock import parse_instant
from controller.store import ChangeFilter


def changes(
    order: Annotated[int | None, typer.Option(help="only changes citing this order id")] = None,
    venue: Annotated[
        str | None, typer.Option(help="only changes of this venue (name or id)")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="from this instant (ISO 8601 with offset)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="before this instant")] = None,
    format: Annotated[Format, typer.Option("--format", help="how to print")] = Format.table,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """The change log: order events, intents and verified outcomes."""
    format = chosen(format, as_json)  # type: ignore[assignment]
    if format not in ("table", "json", "csv"):
        raise fail("--format must be table, json or csv")
    _, store = open_store(database_url)
    try:
        venue_id = store.find_venue(venue).id if venue else None
        where = ChangeFilter(
            order_id=order,
            venue_id=venue_id,
            since=parse_instant(since) if since else None,
            until=parse_instant(until) if until else None,
        )
    except ValueError as exc:  # an instant without offset (an unknown venue: a refusal)
        raise fail(str(exc)) from None
    records = [ChangePublic.of(c) for c in store.changes(where)]
    if format == "json":
        typer.echo(
            json.dumps([r.model_dump(mode="json") for r in records], ensure_ascii=False, indent=2)
        )
    elif format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(ChangePublic.model_fields))
        writer.writeheader()
        for record in records:
            row = record.model_dump(mode="json")
            row["order_ids"] = " ".join(map(str, row["order_ids"]))
            row["commands"] = "\n".join(row["commands"])
            writer.writerow(row)
        sys.stdout.write(buffer.getvalue())
    else:
        typer.echo(
            table(
                (
                    "seq",
                    "at (UTC)",
                    "kind",
                    "action",
                    "orders",
                    "line",
                    "state",
                    "verified",
                    "error",
                ),
                [
                    (
                        r.seq,
                        r.at.strftime("%Y-%m-%d %H:%M:%S"),
                        r.kind,
                        r.action,
                        ",".join(map(str, r.order_ids)) or "-",
                        r.line_id,
                        r.state_after,
                        r.verified,
                        r.error,
                    )
                    for r in records
                ],
            )
        )
