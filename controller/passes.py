"""What the NOC watches between passes, read from the store and the change log: the recent
passes, the lines not in their desired state with their last failure, each router's health, and
freezing a router (with the reason, in the log).

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
from controller.reconciler import Reconciler
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


# -- lines not in their desired state ----------------------------------------------------------


@dataclass(frozen=True)
class Trouble:
    """A line whose recorded state is not the one the plan wants now, and its last failure."""

    line_id: int
    device_id: int
    recorded: str  # cut | open | unknown | never read
    desired: str  # cut | open
    order_ids: tuple[int, ...]
    why: str  # the reconciler's reason for the change a pass would make
    blocked: str | None  # inventory verification refuses cuts on the line
    last_error: str | None  # the last failed outcome's error
    last_error_at: datetime | None
    failing_since: datetime | None  # the first failure after the last verified outcome
    failed_attempts: int  # failures since the last verified outcome


def troubles(store: Store, at: datetime) -> list[Trouble]:
    """Every line not in its desired state at `at` (the pass's own diff), with its failures."""
    snap = store.snapshot()
    desired, batches = Reconciler(store).diff(at, snap)
    changes = [change for batch in batches for change in batch.changes]
    if not changes:
        return []
    line_ids = [c.line_id for c in changes]
    with store.session() as s:
        outcomes = list(
            s.exec(
                select(Change)
                .where(Change.kind == "outcome", col(Change.line_id).in_(line_ids))
                .order_by(col(Change.seq))
            )
        )
    history: dict[int, list[Change]] = {}
    for outcome in outcomes:
        history.setdefault(outcome.line_id or 0, []).append(outcome)
    found = []
    for change in changes:
        failed: list[Change] = []
        for outcome in history.get(change.line_id, []):
            if outcome.verified:
                failed = []
            else:
                failed.append(outcome)
        status = snap.states.get(change.line_id)
        line_plan = desired.lines[change.line_id]
        found.append(
            Trouble(
                line_id=change.line_id,
                device_id=line_plan.device_id,
                recorded=status.state if status else "never read",
                desired=line_plan.desired.value,
                order_ids=change.order_ids or line_plan.order_ids,
                why=change.why,
                blocked=line_plan.blocked,
                last_error=failed[-1].error if failed else None,
                last_error_at=failed[-1].at if failed else None,
                failing_since=failed[0].at if failed else None,
                failed_attempts=len(failed),
            )
        )
    return found


# -- each router's health -----------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceHealth:
    """What the log says of a router: its last outcome (reachable or not, and the error), and
    its last verified read-back."""

    device_id: int
    last_outcome_at: datetime | None
    last_error: str | None  # None: the last outcome verified
    last_verified_at: datetime | None

    @property
    def reachable(self) -> bool | None:
        """None: never worked; False: its last session failed."""
        if self.last_outcome_at is None:
            return None
        return self.last_error is None


def device_health(store: Store) -> dict[int, DeviceHealth]:
    """Every router's health, by device id (a router never worked has no last outcome)."""
    last = (
        select(sa.func.max(Change.seq))
        .where(Change.kind == "outcome", col(Change.device_id).is_not(None))
        .group_by(col(Change.device_id))
    )
    verified = (
        select(col(Change.device_id), sa.func.max(Change.seq))
        .where(
            Change.kind == "outcome",
            col(Change.device_id).is_not(None),
            col(Change.verified).is_(True),
        )
        .group_by(col(Change.device_id))
    )
    with store.session() as s:
        latest = {c.device_id: c for c in s.exec(select(Change).where(col(Change.seq).in_(last)))}
        verified_seq = dict(s.exec(verified).all())
        verified_at = {
            c.device_id: c.at
            for c in s.exec(select(Change).where(col(Change.seq).in_(list(verified_seq.values()))))
        }
    health = {}
    for device in store.devices():
        assert device.id is not None
        outcome = latest.get(device.id)
        error = None
        if outcome is not None and not outcome.verified:
            error = outcome.error or "not verified"
        health[device.id] = DeviceHealth(
            device_id=device.id,
            last_outcome_at=outcome.at if outcome else None,
            last_error=error,
            last_verified_at=verified_at.get(device.id),
        )
    return health
