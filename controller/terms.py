"""An order's term as the planner sees it, from the order's row and its events."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from controller.models import OrderEvent
from controller.planner import OrderTerm
from policies import Policy


class OrderFields(Protocol):
    """What a term is made of: an `Order`, or a row of its columns (`Store.snapshot`)."""

    @property
    def id(self) -> int | None: ...
    @property
    def venue_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def effective_from(self) -> datetime: ...
    @property
    def effective_until(self) -> datetime | None: ...
    @property
    def ended_at(self) -> datetime | None: ...


def order_term(
    order: OrderFields, events: list[OrderEvent] | None = None, policy: Policy | None = None
) -> OrderTerm:
    """An order's term as the planner sees it: ended by revocation or amendment, with gaps
    for every suspension (from its event to the matching resumption, open while suspended)."""
    assert order.id is not None
    until = order.effective_until
    if order.ended_at is not None:
        until = order.ended_at if until is None else min(until, order.ended_at)
    gaps: list[tuple[datetime, datetime | None]] = []
    suspended_at: datetime | None = None
    for event in sorted(events or (), key=lambda e: (e.at, e.id or 0)):
        if event.action == "suspend" and suspended_at is None:
            suspended_at = event.at
        elif event.action == "resume" and suspended_at is not None:
            gaps.append((suspended_at, event.at))
            suspended_at = None
    if suspended_at is not None:
        gaps.append((suspended_at, None))
    return OrderTerm(
        order.id, order.venue_id, order.kind, order.effective_from, until, tuple(gaps), policy
    )
