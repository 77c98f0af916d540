"""The blast-radius guard: a pass that would cut far more lines than usual holds its cuts until
the NOC approves them. Restores never wait.

A bug in a feed, a mistyped jurisdiction or a stolen bureau token could order thousands of
cuts at once. A pass is held when its cuts exceed an absolute bound (`CURFEW_CUT_LIMIT`), or a
multiple (`CURFEW_CUT_GROWTH`) of the cuts verified around the same instant the night before.
The hold, its figures and the NOC's decision are in the change log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from controller.errors import Conflict
from controller.models import MAX_ROW_ID, Change, CutHold
from controller.settings import Settings
from controller.store import NotFound, Store

# "around the same instant the night before": within this of the instant 24 hours earlier
SAME_INSTANT = timedelta(hours=1)
# how long a hold (and an approval) stands for the passes that follow: one night
HOLD_LASTS = timedelta(hours=12)


@dataclass(frozen=True)
class CutBounds:
    limit: int = 1000  # cuts a pass may push without approval
    growth: float = 5.0  # ... or this multiple of last night's cuts at the same instant

    def exceeded(self, cuts: int, previous: int) -> str | None:
        """Why `cuts` needs the NOC's approval, or None."""
        reasons = []
        if cuts > self.limit:
            reasons.append(
                f"{cuts} cuts exceed the limit of {self.limit} a pass (CURFEW_CUT_LIMIT)"
            )
        if previous and cuts > self.growth * previous:
            reasons.append(
                f"{cuts} cuts are {cuts / previous:.1f} times the {previous} verified around the "
                f"same instant the night before (limit {self.growth:g} times, CURFEW_CUT_GROWTH)"
            )
        return "; ".join(reasons) or None

    @classmethod
    def from_settings(cls, settings: Settings) -> CutBounds:
        return cls(limit=settings.cut_limit, growth=settings.cut_growth)


class HoldDecided(Conflict):
    """The hold was already approved or rejected."""


def previous_cuts(store: Store, at: datetime) -> int:
    """Cuts verified around the same instant the night before."""
    before = at - timedelta(days=1)
    with store.session() as s:
        return s.exec(
            select(sa.func.count())
            .select_from(Change)
            .where(
                Change.kind == "outcome",
                Change.action == "cut",
                col(Change.verified).is_(True),
                col(Change.at) >= before - SAME_INSTANT,
                col(Change.at) < before + SAME_INSTANT,
            )
        ).one()


def guard_cuts(
    store: Store, bounds: CutBounds, at: datetime, cuts: int, actor: str
) -> CutHold | None:
    """None if a pass at `at` may push `cuts` cuts; else the hold its cuts wait on (made, with
    its record, the first time; a pending or rejected hold of this night covering as many cuts
    stands; an approval of this night covering as many cuts lets them go)."""
    if cuts == 0:
        return None
    previous = previous_cuts(store, at)
    reason = bounds.exceeded(cuts, previous)
    if reason is None:
        return None
    with store.transaction() as tx:
        now = tx.clock.now()
        tonight = tx.session.exec(
            select(CutHold)
            .where(col(CutHold.created_at) >= now - HOLD_LASTS, col(CutHold.cuts) >= cuts)
            .order_by(col(CutHold.id).desc())
        ).all()
        if any(h.status == "approved" for h in tonight):
            return None
        standing = next((h for h in tonight if h.status in ("pending", "rejected")), None)
        if standing is not None:
            return standing
        hold = CutHold(
            created_at=now, pass_at=at, cuts=cuts, previous=previous, reason=reason
        )
        tx.session.add(hold)
        tx.session.flush()
        tx.log_admin(
            "cuts_held", actor,
            detail=f"hold {hold.id}: a pass at {at.isoformat()} would cut {cuts} lines "
            f"({previous} the night before): {reason}. Restores go ahead; the cuts wait for "
            f"the NOC (`curfew pass approve {hold.id}`)",
        )  # fmt: skip
    return hold


def holds(store: Store, status: str | None = None) -> list[CutHold]:
    with store.session() as s:
        query = select(CutHold).order_by(col(CutHold.id).desc())
        if status is not None:
            query = query.where(CutHold.status == status)
        return list(s.exec(query))


def decide(store: Store, hold_id: int, approve: bool, actor: str, note: str = "") -> CutHold:
    """The NOC's decision on a pending hold, with its record, in one transaction."""
    with store.transaction() as tx:
        hold = tx.session.get(CutHold, hold_id) if 0 < hold_id <= MAX_ROW_ID else None
        if hold is None:
            raise NotFound(f"no hold {hold_id}")
        if hold.status != "pending":
            raise HoldDecided(f"hold {hold_id} was already {hold.status} by {hold.decided_by}")
        hold.status = "approved" if approve else "rejected"
        hold.decided_at, hold.decided_by = tx.clock.now(), actor
        tx.session.add(hold)
        verdict = (
            f"approved: passes of this night may push up to {hold.cuts} cuts"
            if approve
            else "rejected: the cuts stay held tonight"
        )
        tx.log_admin(
            "cuts_approved" if approve else "cuts_rejected", actor,
            detail=f"hold {hold.id} ({hold.cuts} cuts, {hold.previous} the night before) "
            f"{verdict}" + (f"; {note}" if note else ""),
        )  # fmt: skip
    return hold
