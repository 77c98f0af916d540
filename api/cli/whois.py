"""`curfew whois IP [--at ISO]`: who served this café? The router port or subscriber session that
held an address at an instant, the venue its line is registered to, its licence and the orders
in force on it; the lookup is recorded in the change log, as every investigation act."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import DatabaseOpt, JsonOpt, echo_json, open_store, operator, table
from controller.access import Actor
from controller.whois import BureauHolder, Holder, WhoisAnswer, whois

COLUMNS = ("carrier", "via", "device", "line", "held by", "from", "until", "venue", "licence",
           "orders")  # fmt: skip


def _when(value: object) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")  # type: ignore[attr-defined]


def _row(holder: Holder | BureauHolder) -> tuple[object, ...]:
    assert isinstance(holder, Holder), "the CLI acts as admin: it sees the network"
    session = holder.session
    if session is not None:
        held_by = f"{session.username} session {session.session_id} ({session.framed_ip})"
        started, stopped = _when(session.started), _when(session.stopped) or "(active)"
    else:
        held_by = f"{holder.interface or ''} {holder.prefix or ''}".strip()
        started = stopped = ""
    licence = "" if holder.licensed is None else ("licensed" if holder.licensed else "UNLICENSED")
    orders = " ".join(
        f"{o.order_id}:{o.kind}{'(cutting)' if o.cutting else ''}" for o in holder.orders
    )
    return (holder.carrier, holder.via, holder.device or "", holder.line or "(no line)", held_by,
            started, stopped, holder.venue or "", licence, orders)  # fmt: skip


def _print(answer: WhoisAnswer) -> None:
    typer.echo(
        f"{answer.ip} at {answer.at.isoformat(timespec='seconds')}: "
        f"{len(answer.holders)} holder(s) (lookup recorded as change {answer.record})"
    )
    if answer.holders:
        typer.echo(table(COLUMNS, [_row(h) for h in answer.holders]))
    for holder in answer.holders:
        if isinstance(holder, Holder) and holder.licence:
            typer.echo(f"{holder.venue}: {holder.licence}")
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
