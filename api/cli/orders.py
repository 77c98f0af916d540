"""`curfew orders …`: the orders a bureau issues, read and changed from the command line through
the same controller functions (and the same request models, so the same validation and
messages) as `/api/v1/orders`."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from api.cli.common import DatabaseOpt, JsonOpt, echo_json, fail, group, open_store, operator
from api.cli.common import table as plain_table
from api.schemas import OrderHistory, OrderPublic
from controller.errors import Invalid
from controller.models import Order
from controller.orders import (
    OrderAmend,
    OrderCreate,
    OrderTransition,
    amend_order,
    governing_notices,
    history,
    issue_order,
    resume_order,
    revoke_order,
    state_of,
    suspend_order,
)
from controller.store import Store

app = group("Orders: issue, amend, suspend, resume, revoke; list and show them.")

ReasonOpt = Annotated[str, typer.Option("--reason", help="why (recorded)")]
M = TypeVar("M", bound=BaseModel)
STATUSES = ("active", "suspended", "revoked", "superseded")


def _public(store: Store, order: Order) -> OrderPublic:
    return OrderPublic.of(
        order, store.find_venue(order.venue_id), store, state_of(order, store.clock.now())
    )


def _request(model: type[M], fields: dict[str, Any]) -> M:
    """The request model the API validates, built from the options given; a refusal exits 2
    naming the field, as the API's 422 does."""
    try:
        return model.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()
        )
        raise fail(problems) from None


def _invalid(exc: Invalid) -> typer.Exit:
    return fail(f"{exc.field}: {exc}" if exc.field else str(exc))


def _rows(orders: list[OrderPublic]) -> list[tuple[object, ...]]:
    return [
        (o.id, o.version, o.venue, o.kind, o.state, o.legal_basis,
         o.effective_from.isoformat(timespec="seconds"),
         o.effective_until.isoformat(timespec="seconds") if o.effective_until else "open")
        for o in orders
    ]  # fmt: skip


HEADERS = ("id", "version", "venue", "kind", "state", "legal basis", "from", "until")


def _print(store: Store, order: Order, as_json: bool, notices: list[str] | None = None) -> None:
    shown = _public(store, order)
    if as_json:
        echo_json(shown if notices is None else {**shown.model_dump(), "notices": notices})
        return
    typer.echo(plain_table(HEADERS, _rows([shown])))
    for notice in notices or []:
        typer.echo(f"notice: {notice}")


@app.command("list")
def orders_list(
    venue: Annotated[str | None, typer.Option(help="only this venue (name or id)")] = None,
    status: Annotated[
        str | None, typer.Option(help="active, suspended, revoked or superseded")
    ] = None,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """List orders, oldest first."""
    if status is not None and status not in STATUSES:
        raise fail(f"--status must be one of {', '.join(STATUSES)}")
    _, store = open_store(database_url)
    venue_id = store.find_venue(venue).id if venue is not None else None
    found = [_public(store, o) for o in store.orders(venue_id=venue_id, status=status)]
    if as_json:
        echo_json(found)
    else:
        typer.echo(plain_table(HEADERS, _rows(found)))


@app.command("show")
def orders_show(
    order_id: Annotated[int, typer.Argument(help="the order's id")],
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """An order with its history: every version and every event."""
    _, store = open_store(database_url)
    order = store.order(order_id)
    versions, events = history(store, order_id)
    shown = OrderHistory.of([_public(store, v) for v in versions], events)
    if as_json:
        echo_json({"order": _public(store, order), **shown.model_dump()})
        return
    typer.echo(plain_table(HEADERS, _rows(shown.versions)))
    typer.echo("")
    typer.echo(
        plain_table(
            ("order", "at", "action", "by", "reason"),
            [(e.order_id, e.at.isoformat(timespec="seconds"), e.action, e.actor, e.reason)
             for e in shown.events],
        )
    )  # fmt: skip


@app.command("issue")
def orders_issue(
    venue: Annotated[str, typer.Option(help="venue name or id")],
    kind: Annotated[str, typer.Option(help="curfew or disconnect")],
    reason: Annotated[str, typer.Option(help="the reason code of the order")],
    legal_basis: Annotated[str, typer.Option(help="document number of the decision")],
    effective_from: Annotated[str, typer.Option(help="ISO 8601 with offset")],
    effective_until: Annotated[
        str | None, typer.Option(help="ISO 8601 with offset (default: open-ended)")
    ] = None,
    legal_basis_date: Annotated[str | None, typer.Option(help="date of that document")] = None,
    authority: Annotated[str | None, typer.Option(help="issuing authority")] = None,
    issued_by: Annotated[str | None, typer.Option(help="issuing official")] = None,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Issue an order (validated as `POST /api/v1/orders` validates it)."""
    venue_key: str | int = int(venue) if venue.isascii() and venue.isdigit() else venue
    request = _request(
        OrderCreate,
        dict(venue=venue_key, kind=kind, reason=reason, legal_basis=legal_basis,
             legal_basis_date=legal_basis_date, effective_from=effective_from,
             effective_until=effective_until, authority=authority, issued_by=issued_by),
    )  # fmt: skip
    _, store = open_store(database_url)
    try:
        order = issue_order(store, request, f"cli:{operator()}")
    except Invalid as exc:
        raise _invalid(exc) from None
    _print(store, order, as_json, governing_notices(store, order))


@app.command("amend")
def orders_amend(
    order_id: Annotated[int, typer.Argument(help="the order's id")],
    why: Annotated[str, typer.Option(help="why the order is amended")],
    effective_from: Annotated[str | None, typer.Option(help="ISO 8601 with offset")] = None,
    effective_until: Annotated[str | None, typer.Option(help="ISO 8601 with offset")] = None,
    open_ended: Annotated[
        bool, typer.Option("--open-ended", help="remove the end of the term")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="the new reason code")] = None,
    legal_basis: Annotated[str | None, typer.Option(help="the new document number")] = None,
    legal_basis_date: Annotated[str | None, typer.Option(help="its date")] = None,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Amend an order: a new version replaces it (validated as the API's amend)."""
    request = _request(
        OrderAmend,
        dict(why=why, effective_from=effective_from, effective_until=effective_until,
             open_ended=open_ended or None, reason=reason, legal_basis=legal_basis,
             legal_basis_date=legal_basis_date),
    )  # fmt: skip
    _, store = open_store(database_url)
    try:
        order = amend_order(store, order_id, request, f"cli:{operator()}")
    except Invalid as exc:
        raise _invalid(exc) from None
    _print(store, order, as_json)


def _transition(action: Any, order_id: int, reason: str, as_json: bool, db: str | None) -> None:
    request = _request(OrderTransition, {"reason": reason})
    _, store = open_store(db)
    _print(store, action(store, order_id, request.reason, f"cli:{operator()}"), as_json)


@app.command("suspend")
def orders_suspend(
    order_id: Annotated[int, typer.Argument(help="the order's id")],
    reason: ReasonOpt,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Suspend an order: its line is restored at the next pass."""
    _transition(suspend_order, order_id, reason, as_json, database_url)


@app.command("resume")
def orders_resume(
    order_id: Annotated[int, typer.Argument(help="the order's id")],
    reason: ReasonOpt,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Resume a suspended order."""
    _transition(resume_order, order_id, reason, as_json, database_url)


@app.command("revoke")
def orders_revoke(
    order_id: Annotated[int, typer.Argument(help="the order's id")],
    reason: ReasonOpt,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Revoke an order: its line is restored at the next pass."""
    _transition(revoke_order, order_id, reason, as_json, database_url)
