"""Escalation: violations the bureau records against a venue, and the orders they propose.

A proposal is never an order: it waits until a bureau user whose jurisdiction holds the venue
(or an admin) confirms it with a legal basis, and only then is an order issued through
`issue_order` with all of its checks. Every step is on the change log.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import col, select

from controller.access import Actor, as_actor
from controller.bounds import ONE_LINE, Instant, one_line
from controller.clock import as_utc
from controller.errors import Conflict, Invalid
from controller.models import Authority, Order, Proposal, Venue, Violation
from controller.orders import InvalidTransition, LegalBasis, OrderCreate, issue_order
from controller.store import NotFound, Store, Transaction
from policies.escalation import (
    DEFAULT_RULES,
    VIOLATION_KINDS,
    RecordedViolation,
    Rules,
    due_proposals,
)

__all__ = [
    "VIOLATION_KINDS",
    "ProposalConfirm",
    "ProposalReject",
    "ViolationCreate",
    "confirm_proposal",
    "governing_authority",
    "list_proposals",
    "list_violations",
    "proposal",
    "record_violation",
    "reject_proposal",
    "violation_ids",
]


class ViolationCreate(BaseModel):
    """What a bureau sends to record a violation it observed at a venue."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        description=f"one of {', '.join(VIOLATION_KINDS)}",
        json_schema_extra={"enum": list(VIOLATION_KINDS)},
    )
    observed_at: Instant = Field(description="when the violation was observed")
    note: str = Field(
        default="", max_length=500, pattern=f"^$|{ONE_LINE}",
        description="what was observed (recorded): one line, or nothing",
    )  # fmt: skip

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in VIOLATION_KINDS:
            raise ValueError(f"must be one of {', '.join(VIOLATION_KINDS)}")
        return value


class ProposalConfirm(BaseModel):
    """A bureau user's confirmation: the decision's document number makes it an order."""

    model_config = ConfigDict(extra="forbid")

    legal_basis: LegalBasis
    legal_basis_date: date | None = None


class ProposalReject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    why: str = one_line(200, "why no order follows (recorded)")


def governing_authority(store: Store, venue: Venue) -> Authority | None:
    """The authority whose jurisdiction holds the venue's region (the first, if several)."""
    if venue.region is None:
        return None
    return next((a for a in store.authorities() if venue.region in a.regions), None)


def _detail(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False, default=str)


def record_violation(
    store: Store,
    venue: str | int,
    kind: str,
    observed_at: datetime,
    note: str,
    actor: Actor | str,
    rules: Rules = DEFAULT_RULES,
) -> tuple[Violation, list[Proposal]]:
    """Record a violation and create the proposals it makes due; never an order.

    Raises NotFound (venue), Forbidden (outside the actor's jurisdiction), Invalid (an instant
    in the future), ValueError (kind, an instant without offset).
    """
    who = as_actor(actor)
    request = ViolationCreate(kind=kind, observed_at=observed_at, note=note)
    found = store.find_venue(venue)
    who.check_venue(found.name, found.region)
    now = store.clock.now()
    observed = as_utc(request.observed_at)
    if observed > now:
        raise Invalid(f"observed_at {observed.isoformat()} is in the future", "observed_at")
    authority_id = who.authority_id
    if authority_id is None:
        governing = governing_authority(store, found)
        authority_id = governing.id if governing else None
    assert found.id is not None
    # One serialized transaction counts the violations and the steps proposed, so two
    # recordings cannot both propose the same step; their records are appended in it.
    with store.transaction() as tx:
        s = tx.session
        violation = Violation(
            venue_id=found.id, kind=request.kind, observed_at=observed, recorded_at=now,
            recorded_by=who.name, authority_id=authority_id, note=request.note,
        )  # fmt: skip
        s.add(violation)
        s.flush()
        recorded = [
            RecordedViolation(v.id or 0, v.kind, v.observed_at)
            for v in s.exec(select(Violation).where(Violation.venue_id == found.id))
        ]
        proposed = [p.step for p in s.exec(select(Proposal).where(Proposal.venue_id == found.id))]
        created = [
            Proposal(
                venue_id=found.id,
                authority_id=authority_id,
                step=due.step,
                order_kind=due.order_kind,
                term_days=due.term_days,
                reason=due.step,
                violation_ids_json=json.dumps(list(due.violation_ids)),
                created_at=now,
            )
            for due in due_proposals(recorded, proposed, rules)
        ]
        s.add_all(created)
        s.flush()
        tx.log_admin(
            "violation_recorded", who.name, venue_id=found.id,
            detail=_detail(violation=violation.id, kind=violation.kind,
                           observed_at=violation.observed_at, note=violation.note),
        )  # fmt: skip
        for made in created:
            tx.log_admin(
                "proposal_created", who.name, venue_id=found.id,
                detail=_detail(proposal=made.id, step=made.step, kind=made.order_kind,
                               term_days=made.term_days, violations=violation_ids(made)),
            )  # fmt: skip
    return violation, created


def violation_ids(found: Proposal) -> list[int]:
    """The violations that made the proposal due, in the order observed."""
    return [int(i) for i in json.loads(found.violation_ids_json)]


def list_violations(store: Store, venue_id: int | None = None) -> list[Violation]:
    with store.session() as s:
        query = select(Violation).order_by(col(Violation.observed_at), col(Violation.id))
        if venue_id is not None:
            query = query.where(Violation.venue_id == venue_id)
        return list(s.exec(query))


def list_proposals(
    store: Store,
    actor: Actor | str = "admin",
    status: str | None = None,
    venue_id: int | None = None,
) -> list[Proposal]:
    """Proposals, oldest first; a bureau sees those of venues in its jurisdiction only."""
    who = as_actor(actor)
    with store.session() as s:
        query = select(Proposal, Venue).join(Venue).order_by(col(Proposal.id))
        if status is not None:
            query = query.where(Proposal.status == status)
        if venue_id is not None:
            query = query.where(Proposal.venue_id == venue_id)
        rows = list(s.exec(query))
    return [p for p, v in rows if not who.is_bureau or v.region in who.regions]


def proposal(store: Store, proposal_id: int) -> Proposal:
    with store.session() as s:
        found = s.get(Proposal, proposal_id)
        if found is None:
            raise NotFound(f"no proposal {proposal_id}")
        return found


def _pending(store: Store, proposal_id: int, actor: Actor) -> tuple[Proposal, Venue]:
    found = proposal(store, proposal_id)
    venue = store.find_venue(found.venue_id)
    actor.check_venue(venue.name, venue.region)
    if found.status != "pending":
        raise InvalidTransition(
            f"proposal {proposal_id} is already {found.status}; only a pending one is decided"
        )
    return found, venue


def _claim(tx: Transaction, found: Proposal, actor: Actor, status: str) -> Proposal:
    """Decide a pending proposal, checked again inside the serialized transaction: of two
    concurrent decisions the second is a conflict."""
    row = tx.session.get(Proposal, found.id)
    assert row is not None
    if row.status != "pending":
        raise InvalidTransition(f"proposal {found.id} was decided meanwhile")
    row.status, row.decided_at, row.decided_by = status, tx.clock.now(), actor.name
    tx.session.add(row)
    return row


def confirm_proposal(
    store: Store,
    proposal_id: int,
    actor: Actor | str,
    legal_basis: str,
    legal_basis_date: date | None = None,
) -> Order:
    """Confirm a pending proposal: issue its order (effective now, for the proposal's term).

    Raises NotFound, Forbidden (outside the actor's jurisdiction), InvalidTransition (not
    pending), Conflict (no authority to issue it), ValueError (a legal basis that is no
    document number), DuplicateOrder.
    """
    who = as_actor(actor)
    request = ProposalConfirm(legal_basis=legal_basis, legal_basis_date=legal_basis_date)
    found, venue = _pending(store, proposal_id, who)
    authority: str | None = None
    if not who.is_bureau:  # a bureau issues as itself; an admin as the venue's authority
        chosen = (
            store.authority(found.authority_id)
            if found.authority_id is not None
            else governing_authority(store, venue)
        )
        if chosen is None:
            raise Conflict(
                f"no authority's jurisdiction holds venue {venue.name!r}; "
                "register one in the inventory before confirming"
            )
        authority = chosen.name
    now = store.clock.now()
    request_order = OrderCreate(
        venue=venue.id or 0,
        kind=found.order_kind,  # type: ignore[arg-type]
        reason=found.reason,  # type: ignore[arg-type]
        legal_basis=request.legal_basis,
        legal_basis_date=request.legal_basis_date,
        effective_from=now,
        effective_until=now + timedelta(days=found.term_days) if found.term_days else None,
        authority=authority,
    )
    # The proposal's decision, its order and the confirmation's record are one transaction:
    # two confirmations cannot both pass the pending check, and a refused order (a conflict, a
    # jurisdiction) leaves the proposal pending.
    with store.transaction() as tx:
        claimed = _claim(tx, found, who, "confirmed")
        order = issue_order(store, request_order, who, tx=tx)
        claimed.order_id = order.id
        tx.session.add(claimed)
        tx.log_admin(
            "proposal_confirmed", who.name, venue_id=venue.id, order_ids=[order.id or 0],
            detail=_detail(proposal=found.id, step=found.step, order=order.id,
                           legal_basis=order.legal_basis),
        )  # fmt: skip
    return order


def reject_proposal(store: Store, proposal_id: int, actor: Actor | str, why: str) -> Proposal:
    """Reject a pending proposal: no order follows, and the step is not proposed again."""
    who = as_actor(actor)
    request = ProposalReject(why=why)
    found, venue = _pending(store, proposal_id, who)
    with store.transaction() as tx:  # the decision and its record, together
        decided = _claim(tx, found, who, "rejected")
        tx.log_admin(
            "proposal_rejected", who.name, venue_id=venue.id,
            detail=_detail(proposal=found.id, step=found.step, why=request.why),
        )  # fmt: skip
    return decided
