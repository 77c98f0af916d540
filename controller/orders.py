"""Orders with due process: the request schemas, their checks, and every transition.

Life of an order: issued (before its term) → in force → (suspended ⇄ in force) → revoked or
expired. Amending creates a new version that supersedes the old one from that instant; every
transition is an event recorded with who and why, and a change-log record.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import select

from controller import errors
from controller.access import Actor, Forbidden, as_actor
from controller.bounds import LEGAL_BASIS, Instant, Name, inconsistent, one_line
from controller.clock import as_utc
from controller.errors import NOT_FOUND, Invalid
from controller.models import MAX_ROW_ID, Authority, Order, OrderEvent, Venue
from controller.store import NotFound, Store, Transaction
from controller.terms import order_term

REASONS = ("unlicensed", "after_hours", "minors_admitted", "suspension", "revocation", "other")
Reason = Literal[
    "unlicensed", "after_hours", "minors_admitted", "suspension", "revocation", "other"
]
Kind = Literal["curfew", "disconnect"]


# each transition's change-log action
LOGGED_AS = {
    "issue": "order_issued",
    "amend": "order_amended",
    "supersede": "order_superseded",
    "suspend": "order_suspended",
    "resume": "order_resumed",
    "revoke": "order_revoked",
}


class DuplicateOrder(errors.Conflict):
    """An active order of the same kind on the same legal basis holds the venue already."""

    def __init__(self, message: str, existing_id: int) -> None:
        super().__init__(message)
        self.existing_id = existing_id

    @property
    def detail(self) -> object:
        return {"message": str(self), "existing_id": self.existing_id}


Conflict = DuplicateOrder  # its former name


class InvalidTransition(errors.Conflict):
    """The order's state (or a proposal's) does not allow this transition."""


LegalBasis = Annotated[
    str,
    Field(
        min_length=1, max_length=100, pattern=LEGAL_BASIS, examples=["临兰文执发〔2018〕3号"],
        description="document number of the decision ordering the cut",
    ),
]  # fmt: skip
RowNumber = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


class OrderCreate(BaseModel):
    """What a bureau sends to order a cut."""

    model_config = ConfigDict(extra="forbid")

    venue: Name | RowNumber = Field(description="venue name or id")
    kind: Kind = Field(
        description="curfew: cut nightly in the governing window; disconnect: around the clock"
    )
    reason: Reason = Field(description=f"one of {', '.join(REASONS)}")
    legal_basis: LegalBasis
    legal_basis_date: date | None = Field(default=None, description="date of that document")
    effective_from: Instant
    effective_until: Instant | None = None
    authority: Name | None = Field(default=None, description="issuing authority (admins only)")
    issued_by: str | None = one_line(100, "issuing official", default=None)

    @model_validator(mode="after")
    def _term(self) -> OrderCreate:
        if self.effective_until is not None and self.effective_until <= self.effective_from:
            raise inconsistent("effective_until must be after effective_from")
        return self


class OrderAmend(BaseModel):
    """A new version of an order: the fields given replace the old version's."""

    model_config = ConfigDict(extra="forbid")

    why: str = one_line(200, "why the order is amended")
    effective_from: Instant | None = None
    effective_until: Instant | None = None
    open_ended: bool = Field(default=False, description="remove the end of the term")
    reason: Reason | None = None
    legal_basis: LegalBasis | None = None
    legal_basis_date: date | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OrderAmend:
        if self.open_ended and self.effective_until is not None:
            raise inconsistent("give effective_until or open_ended, not both")
        return self


class OrderTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = one_line(200, "why (recorded)")


OrderRevoke = OrderTransition


# -- state and terms -------------------------------------------------------------------------


def state_of(order: Order, at: datetime) -> str:
    """issued | in_force | suspended | expired | revoked | superseded, at instant `at`."""
    if order.status in ("revoked", "superseded", "suspended"):
        return order.status
    if at < order.effective_from:
        return "issued"
    if order.effective_until is not None and at >= order.effective_until:
        return "expired"
    return "in_force"


# -- transitions -----------------------------------------------------------------------------


def _record(
    tx: Transaction, order: Order, action: str, actor: Actor, reason: str = "", **detail
) -> None:  # noqa: ANN003
    """The order's event and its change-log record, in the transaction that changes it."""
    assert order.id is not None
    tx.session.add(
        OrderEvent(order_id=order.id, at=tx.clock.now(), action=action, actor=actor.name,
                   reason=reason, detail=json.dumps(detail, ensure_ascii=False, default=str))
    )  # fmt: skip
    tx.log_admin(
        LOGGED_AS[action],
        actor.name,
        order_ids=[order.id],
        venue_id=order.venue_id,
        detail=json.dumps({"reason": reason, **detail}, ensure_ascii=False, default=str),
    )


def _venue_for(store: Store, key: str | int, actor: Actor) -> Venue:
    venue = store.find_venue(key)
    actor.check_venue(venue.name, venue.region)
    return venue


def governing_notices(store: Store, order: Order) -> list[str]:
    """What else acts on the venue: e.g. a disconnect order that governs over a curfew."""
    now = store.clock.now()
    notices = []
    for other in store.orders(venue_id=order.venue_id):
        if other.id == order.id or state_of(other, now) not in ("in_force", "issued"):
            continue
        if other.kind == "disconnect" and order.kind == "curfew":
            notices.append(
                f"disconnect order {other.id} on this venue governs while it is in force: "
                "the line stays cut around the clock, this curfew adds nothing until it ends"
            )
        elif other.kind == "curfew" and order.kind == "disconnect":
            notices.append(
                f"this disconnect order governs over curfew order {other.id} while in force"
            )
    return notices


def issue_order(
    store: Store,
    request: OrderCreate,
    actor: Actor | str,
    external_id: str | None = None,
    tx: Transaction | None = None,
) -> Order:
    """Validate against the store and record the order. Raises Invalid (a venue or an authority
    that does not exist), Forbidden, DuplicateOrder.

    With `tx`, the order is written in that transaction (with whatever else the caller writes
    there, e.g. the proposal it confirms); otherwise in its own."""
    who = as_actor(actor)
    try:
        venue = _venue_for(store, request.venue, who)
    except NotFound as exc:
        raise Invalid(str(exc), "venue", NOT_FOUND) from None
    if who.is_bureau:
        authority = store.authority(who.authority_id)  # type: ignore[arg-type]
        if request.authority is not None and request.authority != authority.name:
            raise Forbidden(f"a bureau token issues orders only as {authority.name!r}")
    else:
        try:
            authority = store.find_authority(request.authority)
        except NotFound as exc:
            raise Invalid(str(exc), "authority", NOT_FOUND) from None
    assert venue.id is not None and authority.id is not None
    if tx is None:
        with store.transaction() as own:
            return _issue(own, venue, authority, request, who, external_id)
    return _issue(tx, venue, authority, request, who, external_id)


def _issue(
    tx: Transaction,
    venue: Venue,
    authority: Authority,
    request: OrderCreate,
    who: Actor,
    external_id: str | None,
) -> Order:
    """The order, its event and its record, written in `tx`."""
    # checked inside the serialized transaction: two requests cannot both pass it
    for existing in tx.session.exec(select(Order).where(Order.venue_id == venue.id)):
        if existing.status in ("revoked", "superseded"):
            continue
        if (existing.kind, existing.legal_basis) == (request.kind, request.legal_basis):
            assert existing.id is not None
            raise DuplicateOrder(
                f"order {existing.id} already orders a {request.kind} of {venue.name!r} "
                f"on {request.legal_basis!r}",
                existing.id,
            )
    order = Order(
        authority_id=authority.id,
        venue_id=venue.id,
        kind=request.kind,
        reason=request.reason,
        legal_basis=request.legal_basis,
        legal_basis_date=request.legal_basis_date,
        effective_from=as_utc(request.effective_from),
        effective_until=as_utc(request.effective_until) if request.effective_until else None,
        issued_by=request.issued_by or who.name,
        issued_at=tx.clock.now(),
        external_id=external_id,
    )
    tx.session.add(order)
    tx.session.flush()
    _record(tx, order, "issue", who, request.reason, kind=order.kind,
            legal_basis=order.legal_basis, effective_from=order.effective_from,
            effective_until=order.effective_until)  # fmt: skip
    return order


def _owned(tx: Transaction, order_id: int, actor: Actor) -> Order:
    """The order as it stands inside the transaction that will change it."""
    order = tx.session.get(Order, order_id) if 0 < order_id <= MAX_ROW_ID else None
    if order is None:
        raise NotFound(f"no order {order_id}")
    actor.check_order(order_id, order.authority_id)
    return order


def _set(tx: Transaction, order: Order, **fields: object) -> None:
    for key, value in fields.items():
        setattr(order, key, value)
    tx.session.add(order)


def revoke_order(store: Store, order_id: int, reason: str, actor: Actor | str) -> Order:
    who = as_actor(actor)
    with store.transaction() as tx:
        order = _owned(tx, order_id, who)
        if order.status == "revoked":
            raise InvalidTransition(
                f"order {order_id} is already revoked (by {order.revoked_by}); nothing changes"
            )
        if order.status == "superseded":
            raise InvalidTransition(f"order {order_id} was superseded by an amendment; revoke that")
        now = store.clock.now()
        _set(tx, order, status="revoked", revoked_at=now, revoked_by=who.name,
             revoke_reason=reason, ended_at=now)  # fmt: skip
        _record(tx, order, "revoke", who, reason)
    return order


def suspend_order(store: Store, order_id: int, reason: str, actor: Actor | str) -> Order:
    who = as_actor(actor)
    with store.transaction() as tx:
        order = _owned(tx, order_id, who)
        if order.status != "active":
            raise InvalidTransition(
                f"order {order_id} is {order.status}; only an active order is suspended"
            )
        if state_of(order, tx.clock.now()) == "expired":
            raise InvalidTransition(f"order {order_id} has expired; there is nothing to suspend")
        _set(tx, order, status="suspended")
        _record(tx, order, "suspend", who, reason)
    return order


def resume_order(store: Store, order_id: int, reason: str, actor: Actor | str) -> Order:
    who = as_actor(actor)
    with store.transaction() as tx:
        order = _owned(tx, order_id, who)
        if order.status != "suspended":
            raise InvalidTransition(
                f"order {order_id} is {order.status}; only a suspended order resumes"
            )
        _set(tx, order, status="active")
        _record(tx, order, "resume", who, reason)
    return order


def amend_order(store: Store, order_id: int, change: OrderAmend, actor: Actor | str) -> Order:
    """A new version from now on; the old one is superseded at this instant. Both, their
    events and their log records are one transaction: never two versions in force."""
    who = as_actor(actor)
    with store.transaction() as tx:
        old = _owned(tx, order_id, who)
        if old.status not in ("active", "suspended"):
            raise InvalidTransition(f"order {order_id} is {old.status}; it cannot be amended")
        effective_from = (
            as_utc(change.effective_from) if change.effective_from else old.effective_from
        )
        effective_until = (
            None
            if change.open_ended
            else as_utc(change.effective_until)
            if change.effective_until
            else old.effective_until
        )
        if effective_until is not None and effective_until <= effective_from:
            raise Invalid("effective_until must be after effective_from", "effective_until")
        now = store.clock.now()
        new = Order(
            authority_id=old.authority_id,
            venue_id=old.venue_id,
            kind=old.kind,
            reason=change.reason or old.reason,
            legal_basis=change.legal_basis or old.legal_basis,
            legal_basis_date=change.legal_basis_date or old.legal_basis_date,
            effective_from=effective_from,
            effective_until=effective_until,
            issued_by=old.issued_by,
            issued_at=now,
            status=old.status,
            version=old.version + 1,
            supersedes_id=old.id,
            external_id=old.external_id,
        )
        tx.session.add(new)
        tx.session.flush()
        if new.status == "suspended":  # the new version carries the suspension on
            carried = "suspension carried over from the amended version"
            tx.session.add(OrderEvent(order_id=new.id, at=now, action="suspend", actor=who.name,
                                      reason=carried))  # fmt: skip
        _set(tx, old, status="superseded", ended_at=now)
        _record(tx, old, "supersede", who, change.why, superseded_by=new.id)
        _record(tx, new, "amend", who, change.why, supersedes=old.id,
                effective_from=new.effective_from, effective_until=new.effective_until)  # fmt: skip
    return new


def history(store: Store, order_id: int) -> tuple[list[Order], list[OrderEvent]]:
    """Every version of the order (oldest first) and every event of each."""
    versions = [store.order(order_id)]
    while versions[0].supersedes_id is not None:
        versions.insert(0, store.order(versions[0].supersedes_id))
    with store.session() as s:
        while True:
            newer = s.exec(select(Order).where(Order.supersedes_id == versions[-1].id)).first()
            if newer is None:
                break
            versions.append(newer)
        ids = [v.id for v in versions]
        events = list(
            s.exec(select(OrderEvent).where(OrderEvent.order_id.in_(ids)).order_by(OrderEvent.id))  # type: ignore[union-attr]
        )
    return versions, events


__all__ = [
    "Conflict",
    "DuplicateOrder",
    "Forbidden",
    "InvalidTransition",
    "NotFound",
    "OrderAmend",
    "OrderCreate",
    "OrderRevoke",
    "OrderTransition",
    "amend_order",
    "governing_notices",
    "history",
    "issue_order",
    "order_term",
    "resume_order",
    "revoke_order",
    "state_of",
    "suspend_order",
]
