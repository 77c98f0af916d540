"""`curfew pass`: the passes whose cuts the blast-radius guard held, and the NOC's decision."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.cli.common import DatabaseOpt, fail, group, open_store, operator, table
from controller.holds import HoldDecided, decide, holds

app = group("Held cuts: a pass that would cut far more lines than usual waits for the NOC.")

NoteOpt = Annotated[
    str, typer.Option(help="why, up to 500 characters (recorded in the change log)")
]


@app.command("holds")
def pass_holds(
    status: Annotated[
        str | None, typer.Option(help="only holds in this state: pending, approved, rejected")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """List the holds, newest first: figures, reason, decision."""
    if status not in (None, "pending", "approved", "rejected"):
        raise fail("--status must be pending, approved or rejected")
    _, store = open_store(database_url)
    found = holds(store, status)
    if as_json:
        typer.echo(json.dumps([h.model_dump(mode="json") for h in found], indent=2))
        return
    rows = [
        (h.id, h.created_at.isoformat(timespec="seconds"), h.pass_at.isoformat(timespec="seconds"),
         h.cuts, h.previous, h.status, h.decided_by or "-", h.reason)
        for h in found
    ]  # fmt: skip
    typer.echo(
        table(("hold", "held at", "pass for", "cuts", "night before", "status", "by", "why"), rows)
    )


def _decide(hold_id: int, approve: bool, note: str, database_url: str | None) -> None:
    if len(note) > 500 or any(ord(ch) < 32 or ord(ch) == 127 for ch in note):
        raise fail("--note: up to 500 printable characters on one line")
    _, store = open_store(database_url)
    try:
        hold = decide(store, hold_id, approve, f"cli:{operator()}", note)
    except HoldDecided as exc:  # exit 1, not 2: the hold was decided already
        raise fail(str(exc), 1) from None
    if approve:
        typer.echo(
            f"hold {hold.id} approved: the next pass (within the scheduler's tick) pushes up to "
            f"{hold.cuts} cuts"
        )
    else:
        typer.echo(f"hold {hold.id} rejected: its cuts stay held tonight")


@app.command("approve")
def pass_approve(
    hold_id: Annotated[int, typer.Argument(help="the hold's id (see `curfew pass holds`)")],
    note: NoteOpt = "",
    database_url: DatabaseOpt = None,
) -> None:
    """Let the held cuts go: passes of this night may push as many cuts as the hold counted."""
    _decide(hold_id, True, note, database_url)


@app.command("reject")
def pass_reject(
    hold_id: Annotated[int, typer.Argument(help="the hold's id (see `curfew pass holds`)")],
    note: NoteOpt = "",
    database_url: DatabaseOpt = None,
) -> None:
    """Keep the held cuts from the network tonight (e.g. a feed in error)."""
    _decide(hold_id, False, note, database_url)
