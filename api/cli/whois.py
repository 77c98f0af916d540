"""`curfew whois IP [--at ISO]`: who served this café? The router port or subscriber session that
held an address at an instant, the venue its line is registered to, its licence and the orders
in force on it; the lookup is recorded in the change log, as every investigation act."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from api.cli.common import DatabaseOpt, JsonOpt, echo_json, open_store, operator, table
from controller.access import Actor
from controller.whois import Holder, WhoisAnswer, whois


def _when(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def _rows(holder: Holder) -> list[tuple[str, str]]:
    """One holder as field/value rows: what an investigator reads down, not across."""
    rows = [("carrier", holder.carrier)]
    session = holder.session
    if session is not None:
        rows += [
            ("NAS", f"{holder.device or '(not in the inventory)'} ({session.nas_ip})"),
            ("line", holder.line or "(no line of the inventory has this username)"),
            ("username", session.username),
            ("session", f"Acct-Session-Id {session.session_id} (unique id {session.unique_id})"),
            ("framed IP", session.framed_ip),
            ("from", _when(session.started)),
            ("until", _when(session.stopped) or "(no Stop: active)"),
            ("last update", _when(session.updated)),
        ]
    else:
        rows += [
            ("router", holder.device or ""),
            ("line", holder.line or ""),
            ("interface", holder.interface or ""),
            ("prefix", holder.prefix or ""),
        ]
    if holder.venue is not None:
        rows.append(("venue", f"{holder.venue} (region {holder.region or 'none'})"))
        verdict = "licensed" if holder.licensed else "UNLICENSED"
        rows.append(("licence", f"{verdict}: {holder.licence}" if holder.licence else verdict))
    rows += [
        ("order", f"{o.order_id} {o.kind} of {o.authority} ({o.policy}), "
                  f"{'cutting' if o.cutting else 'not cutting'} at that instant")
        for o in holder.orders
    ] or [("orders", "none in force then")]  # fmt: skip
    return rows


def _print(answer: WhoisAnswer) -> None:
    typer.echo(
        f"{answer.ip} at {answer.at.isoformat(timespec='seconds')}: "
        f"{len(answer.holders)} holder(s); lookup recorded as change {answer.record}"
    )
    for number, holder in enumerate(answer.holders, start=1):
        assert isinstance(holder, Holder), "the CLI acts as admin: it sees the network"
        how = "RADIUS accounting" if holder.via == "accounting" else "inventory prefix"
        typer.echo(table(("", f"holder {number}: {how}"), _rows(holder)))
    for note in answer.notes:
        typer.secho(f"note: {note}", fg=None if answer.complete else typer.colors.YELLOW, err=True)


def whois_command(
    ip: Annotated[str, typer.Argument(help="the address seen at the café (IPv4 or IPv6)")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="when it was seen, ISO 8601 with offset (default: now)",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Who held this address then: the router port (inventory prefixes) or the subscriber
    session (RADIUS accounting), its venue, licence and orders in force. Recorded in the log."""
    _, store = open_store(database_url)
    try:
        answer = whois(store, ip, at, Actor(name=f"cli:{operator()}", role="admin"))
    finally:
        store.close()
    if as_json:
        echo_json(answer)
    else:
        _print(answer)
