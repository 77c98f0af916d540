"""What the NOC watches between passes, read from the store and the change log: the recent
passes, a line's failures since it last verified, each router's last verified read, and freezing
a router (with the reason, in the log). What is off its plan now is `controller.health`'s.

Read-only except `set_frozen`; the console and the API call these, and nothing here pushes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import col, select

from controller.errors import NotFound
from controller.models import MAX_ROW_ID, Change, Device
from controller.store import Store

# the instant an intent's pass was planned for, as the reconciler writes it in the detail
_PLANNED_FOR = re.compile(r"\(planned for ([0-9T:.+\-]+)\)")


# -- freezing ----------------------------------------------------------------------------------


def set_frozen(store: Store, device_id: int, frozen: bool, actor: str, reason: str = "") -> Device:
    """Freeze (passes leave the router untouched) or unfreeze a router, with its record (the
    reason in its detail) in one transaction."""
    with store.transaction() as tx:
        device = tx.session.get(Device, device_id) if 0 < device_id <= MAX_ROW_ID else None
        if device is None:
            raise NotFound(f"no device {device_id}")
        device.frozen = frozen
        tx.session.add(device)
        tx.log_admin(
            "device_frozen" if frozen else "device_unfrozen",
            actor,
            device_id=device_id,
            detail=reason,
        )
    return device


@dataclass(frozen=True)
class Freeze:
    """Why a frozen router is frozen: its last `device_frozen` record."""

    device_id: int
    at: datetime
    actor: str
    reason: str


def freezes(store: Store) -> dict[int, Freeze]:
    """The last freeze of every router frozen now, by device id."""
    frozen = [d.id for d in store.devices() if d.frozen and d.id is not None]
    if not frozen:
        return {}
    last = (
        select(sa.func.max(Change.seq))
        .where(Change.action == "device_frozen", col(Change.device_id).in_(frozen))
        .group_by(col(Change.device_id))
    )
    with store.session() as s:
        rows = s.exec(select(Change).where(col(Change.seq).in_(last)))
        return {
            c.device_id: Freeze(c.device_id, c.at, c.actor, c.detail)
            for c in rows
            if c.device_id is not None
        }


# -- recent passes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PassSummary:
    """One pass as the log tells it: its records grouped by pass id."""

    pass_id: str
    actor: str
    began: datetime  # its first record
    ended: datetime  # its last record
    planned_for: datetime | None  # the instant it planned for (None: it wrote no intent)
    devices: int
    intents: int
    outcomes: int
    verified: int
    failed: int

    @property
    def lateness_seconds(self) -> float | None:
        """How long after the instant it planned for its last record was written."""
        if self.planned_for is None:
            return None
        return max(0.0, (self.ended - self.planned_for).total_seconds())


def recent_passes(store: Store, limit: int = 20) -> list[PassSummary]:
    """The last `limit` passes that wrote anything, newest first."""
    counted = (
        select(
            col(Change.pass_id),
            sa.func.min(Change.at),
            sa.func.max(Change.at),
            sa.func.min(Change.seq),
            sa.func.max(Change.actor),
            sa.func.count(sa.distinct(Change.device_id)),
            sa.func.sum(sa.case((col(Change.kind) == "intent", 1), else_=0)),
            sa.func.sum(sa.case((col(Change.kind) == "outcome", 1), else_=0)),
            sa.func.sum(
                sa.case(((col(Change.kind) == "outcome") & col(Change.verified).is_(True), 1),
                        else_=0)
            ),
            sa.func.sum(
                sa.case(((col(Change.kind) == "outcome") & col(Change.verified).is_(False), 1),
                        else_=0)
            ),
        )
        .where(col(Change.pass_id).is_not(None))
        .group_by(col(Change.pass_id))
        .order_by(sa.func.min(Change.seq).desc())
        .limit(limit)
    )  # fmt: skip
    with store.session() as s:
        rows = list(s.exec(counted))
        first_intents = (
            select(sa.func.min(Change.seq))
            .where(col(Change.pass_id).in_([r[0] for r in rows]), Change.kind == "intent")
            .group_by(col(Change.pass_id))
        )
        planned = {
            c.pass_id: _planned_for(c.detail)
            for c in s.exec(select(Change).where(col(Change.seq).in_(first_intents)))
        }
    return [
        PassSummary(
            pass_id=pass_id, actor=actor, began=_aware(began), ended=_aware(ended),
            planned_for=planned.get(pass_id), devices=devices, intents=int(intents or 0),
            outcomes=int(outcomes or 0), verified=int(verified or 0), failed=int(failed or 0),
        )
        for pass_id, began, ended, _, actor, devices, intents, outcomes, verified, failed in rows
    ]  # fmt: skip


def _planned_for(detail: str) -> datetime | None:
    found = _PLANNED_FOR.search(detail)
    if found is None:
        return None
    try:
        return datetime.fromisoformat(found.group(1))
    except ValueError:
        return None


def _aware(value: datetime | str) -> datetime:
    """An aggregate of a UTC column may come back without the column's type: naive UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# -- what failed, line by line -----------------------------------------------------------------
# (which lines are off their desired state, and whether each router's last session worked, is
# `controller.health.health_now`; these add the history of failures and the last good read)


@dataclass(frozen=True)
class LineFailures:
    """A line's failed outcomes since its last verified one."""

    line_id: int
    attempts: int  # failed outcomes since the last verified outcome
    since: datetime  # the first of them
    last_at: datetime
    last_error: str


def failures_since_verified(store: Store, line_ids: list[int]) -> dict[int, LineFailures]:
    """For each of these lines that has failed since it last verified: how often, since when
    and the last error (a line whose last outcome verified is left out)."""
    if not line_ids:
        return {}
    with store.session() as s:
        outcomes = s.exec(
            select(Change)
            .where(Change.kind == "outcome", col(Change.line_id).in_(line_ids))
            .order_by(col(Change.seq))
        )
        failed: dict[int, list[Change]] = {}
        for outcome in outcomes:
            streak = failed.setdefault(outcome.line_id or 0, [])
            if outcome.verified:
                streak.clear()
            else:
                streak.append(outcome)
    return {
        line_id: LineFailures(
            line_id, len(streak), streak[0].at, streak[-1].at, streak[-1].error or "not verified"
        )
        for line_id, streak in failed.items()
        if streak
    }


def last_verified_reads(store: Store) -> dict[int, datetime]:
    """When each router last answered with a verified read-back (any verified outcome on it)."""
    newest = (
        select(sa.func.max(Change.seq))
        .where(
            Change.kind == "outcome",
            col(Change.device_id).is_not(None),
            col(Change.verified).is_(True),
        )
        .group_by(col(Change.device_id))
    )
    with store.session() as s:
        return {
            c.device_id: c.at
            for c in s.exec(select(Change).where(col(Change.seq).in_(newest)))
            if c.device_id is not None
        }
