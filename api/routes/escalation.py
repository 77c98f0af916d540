"""Escalation over HTTP: a bureau records violations against a venue, sees the proposals they
make due, and confirms (an order is issued) or rejects each; nothing is cut before that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from api.deps import ActorDep, SchedulerDep, SettingsDep, StoreDep, reconcile_soon
from api.errors import CONFLICT
from api.schemas import OrderPublic
from controller.errors import NotFound
from controller.escalation import (
    ProposalConfirm,
    ProposalReject,
    ViolationCreate,
    confirm_proposal,
    list_proposals,
    proposal,
    record_violation,
    reject_proposal,
    violation_ids,
)
from controller.models import MAX_ROW_ID, Proposal, Venue, Violation
from controller.orders import state_of
from controller.store import Store
from policies.escalation import Rules, escalation_rules

router = APIRouter(prefix="/api/v1", tags=["escalation"])


class ViolationPublic(BaseModel):
    id: int
    venue_id: int
    venue: str
    kind: str
    observed_at: datetime
    recorded_at: datetime
    recorded_by: str
    authority_id: int | None
    note: str

    @classmethod
    def of(cls, violation: Violation, venue: Venue) -> ViolationPublic:
        return cls.model_validate({**violation.model_dump(), "venue": venue.name})


class ProposalPublic(BaseModel):
    id: int
    venue_id: int
    venue: str
    authority_id: int | None
    step: str  # suspension | revocation
    order_kind: str
    term_days: int | None  # None: open-ended
    reason: str  # the reason of the order a confirmation issues
    violation_ids: list[int]
    status: str  # pending | confirmed | rejected
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    order_id: int | None

    @classmethod
    def of(cls, proposal: Proposal, venue: Venue) -> ProposalPublic:
        fields = proposal.model_dump(exclude={"violation_ids_json"})
        return cls(**fields, venue=venue.name, violation_ids=violation_ids(proposal))


class ViolationRecorded(BaseModel):
    violation: ViolationPublic
    proposals: list[ProposalPublic]  # the proposals this violation made due (often none)


class ProposalConfirmed(BaseModel):
    proposal: ProposalPublic
    order: OrderPublic


def escalation_rules_of(settings: SettingsDep) -> Rules:
    return escalation_rules(suspension_days=settings.suspension_days)


RulesDep = Annotated[Rules, Depends(escalation_rules_of)]
# Ids the database can hold (SQLite INTEGER): a larger one is a 422, not an overflow.
VenueId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
ProposalId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def _venue_id(store: Store, key: str) -> int | None:
    try:
        return store.find_venue(key).id
    except (OverflowError, ValueError):  # digits beyond an id, or digits int() refuses ("²")
        raise NotFound(f"no venue {key!r}") from None


def _proposal(store: Store, proposal: Proposal) -> ProposalPublic:
    return ProposalPublic.of(proposal, store.find_venue(proposal.venue_id))


@router.post("/venues/{venue_id}/violations", status_code=201, response_model=ViolationRecorded)
def record(
    venue_id: VenueId, body: ViolationCreate, actor: ActorDep, store: StoreDep, rules: RulesDep
) -> ViolationRecorded:
    """Record a violation observed at a venue of your jurisdiction. It may make a proposal due
    (a suspension at the 2nd minors violation, a revocation at the 3rd); it never cuts."""
    violation, proposals = record_violation(
        store, venue_id, body.kind, body.observed_at, body.note, actor, rules
    )
    venue = store.find_venue(venue_id)
    return ViolationRecorded(
        violation=ViolationPublic.of(violation, venue),
        proposals=[ProposalPublic.of(p, venue) for p in proposals],
    )


@router.get("/proposals", response_model=list[ProposalPublic])
def proposals(
    actor: ActorDep,
    store: StoreDep,
    status: Annotated[Literal["pending", "confirmed", "rejected"] | None, Query()] = None,
    venue: Annotated[str | None, Query(max_length=200, description="venue name or id")] = None,
) -> list[ProposalPublic]:
    """Proposals, oldest first; a bureau sees those of its jurisdiction's venues."""
    venue_id = _venue_id(store, venue) if venue is not None else None
    venues = {v.id: v for v in store.venues()}
    return [
        ProposalPublic.of(p, venues[p.venue_id])
        for p in list_proposals(store, actor, status=status, venue_id=venue_id)
    ]


@router.post(
    "/proposals/{proposal_id}/confirm", status_code=201, response_model=ProposalConfirmed,
    responses=CONFLICT,
)  # fmt: skip
def confirm(
    proposal_id: ProposalId,
    body: ProposalConfirm,
    actor: ActorDep,
    store: StoreDep,
    scheduler: SchedulerDep,
) -> ProposalConfirmed:
    """Confirm a pending proposal with the decision's document number: its disconnect order is
    issued, in force from now for the proposal's term (a revocation: open-ended)."""
    order = confirm_proposal(store, proposal_id, actor, body.legal_basis, body.legal_basis_date)
    reconcile_soon(scheduler)  # the disconnect is in force now, not at the next tick
    venue = store.find_venue(order.venue_id)
    return ProposalConfirmed(
        proposal=ProposalPublic.of(proposal(store, proposal_id), venue),
        order=OrderPublic.of(order, venue, store, state_of(order, store.clock.now())),
    )


@router.post("/proposals/{proposal_id}/reject", response_model=ProposalPublic, responses=CONFLICT)
def reject(
    proposal_id: ProposalId, body: ProposalReject, actor: ActorDep, store: StoreDep
) -> ProposalPublic:
    """Reject a pending proposal, saying why: no order follows, the step is not proposed again."""
    return _proposal(store, reject_proposal(store, proposal_id, actor, body.why))
