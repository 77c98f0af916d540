"""The controller's health as it stands now, read from the store in one go (devices reachable,
lines off their desired state or cut past their window, the next transition, the log's head and
its checkpoints), whether this process is ready, and how late a pass's changes were.

/metrics, /readyz, the alerts and the console read these; nothing here writes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from controller.audit import load_key
from controller.models import Change, Checkpoint, Line, LineStatus
from controller.planner import HORIZON, LineRef, OrderTerm, plan
from controller.reconciler import PassReport
from controller.scheduler import PassScheduler
from controller.store import Snapshot, Store
from drivers.base import LineState

# The errors that mean a device's session could not be had or used at all (its outcome
# records name them first: `Unreachable: …`). A session failing with any of them makes the
# device unreachable in /metrics and counts towards the device-failing alert.
DEVICE_ERRORS = frozenset(
    {
        "Unreachable",
        "Timeout",
        "AuthFailed",
        "CredentialMissing",
        "HostKeyMismatch",
        "HostKeyUnknown",
        "OutsideManagementNetworks",
    }
)

# How far back a change's due instant is looked for; a line whose desired state has not moved
# in that long has no due instant (a new line, a cut ordered days ago and never pushed).
LOOKBACK = HORIZON
_SEARCH = (timedelta(hours=1), timedelta(days=1))  # nearer windows first: most edges are recent


def error_class(error: str | None) -> str | None:
    """The class an outcome's error names first (`Unreachable: …` → `Unreachable`)."""
    if not error:
        return None
    head = error.split(":", 1)[0].strip()
    return head if head.isidentifier() else "Error"


def device_error(error: str | None) -> str | None:
    """The error's class if it is one of DEVICE_ERRORS, else None."""
    found = error_class(error)
    return found if found in DEVICE_ERRORS else None


# -- when a change was due ---------------------------------------------------------------------


def due_instant(
    orders: Sequence[OrderTerm], line: LineRef, at: datetime, lookback: timedelta = LOOKBACK
) -> datetime | None:
    """The last instant at or before `at` at which the planner changes the line's desired
    state: the window edge, term, suspension or revocation a change made at `at` executes.

    `orders` are its venue's (any others are ignored). A pass at the transition instant T has
    T as its due instant; a pass catching up later (after downtime, a failure, a retry) still
    has T. None when the desired state has not changed within `lookback`.
    """
    probe = [line]
    for window in (*[w for w in _SEARCH if w < lookback], lookback):
        since, found = at - window, None
        while since < at:
            flip = plan(orders, probe, since, at - since).next_change
            if flip is None or flip > at:
                break
            found, since = flip, flip
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Lateness:
    """One verified change of a pass: how long after its due instant it was verified."""

    line_id: int
    action: str  # cut | restore
    device: str
    due: datetime
    seconds: float


def lateness(report: PassReport, snap: Snapshot) -> list[Lateness]:
    """The lateness of each change of the pass that verified: its outcome's instant minus its
    due instant (`due_instant` at the pass's instant). Left out, as having no due instant of
    their own: a new line's first look, a line converged after drift (its desired state did
    not move), a line whose cut the planner refuses (blocked), and a line whose desired state
    has not moved within LOOKBACK."""
    refs = {line.line_id: line for line in snap.lines}
    orders: dict[int, list[OrderTerm]] = defaultdict(list)
    for term in snap.orders:
        orders[term.venue_id].append(term)
    drifted = set(report.drifted)
    due_by_venue: dict[int, datetime | None] = {}
    found = []
    for result in report.results:
        change = result.change
        line_plan = report.plan.lines.get(change.line_id)
        ref = refs.get(change.line_id)
        if (
            not result.verified
            or result.at is None
            or change.first_look
            or change.line_id in drifted
            or ref is None
            or (line_plan is not None and line_plan.blocked)
        ):
            continue
        if ref.venue_id not in due_by_venue:
            due_by_venue[ref.venue_id] = due_instant(orders[ref.venue_id], ref, report.at)
        due = due_by_venue[ref.venue_id]
        if due is None:
            continue
        seconds = max(0.0, (result.at - due).total_seconds())
        found.append(Lateness(change.line_id, change.action.value, result.device, due, seconds))
    return found


# -- the state now -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceHealth:
    """One device now. Its last session is the newest outcome record on any of its lines'
    recorded states; `reachable` is None when no session of it is on record."""

    device_id: int
    name: str
    platform: str
    frozen: bool
    lines: int
    not_desired: int  # lines whose recorded state is not what the planner wants now
    cut_past_window: int  # of which cut (or perhaps cut) while the planner says open
    last_session_at: datetime | None
    last_error: str | None  # the error of its last session's outcome, if any

    @property
    def reachable(self) -> bool | None:
        if self.last_session_at is None:
            return None
        return device_error(self.last_error) is None


@dataclass(frozen=True)
class LineHealth:
    """A line whose recorded state is not its desired state now.

    `recorded` is None for a line never seen. `past_window`: the planner says open while the
    line is recorded cut, or unknown after a change that cites orders (an interrupted or failed
    push on a cut line: perhaps still cut); a line whose cut is refused (blocked) is not "past
    its window". `due` is when the desired state last changed (None: not within LOOKBACK)."""

    line_id: int
    name: str
    device: str
    desired: str
    recorded: str | None
    past_window: bool
    due: datetime | None

    def overdue(self, now: datetime) -> timedelta | None:
        return None if self.due is None else now - self.due


@dataclass(frozen=True)
class UnverifiedCut:
    """A line whose recorded state rests on a cut that did not verify, for another reason than
    the device's session (a rejected command, a read-back that does not show the cut)."""

    line_id: int
    name: str
    device: str
    seq: int
    at: datetime
    error: str


@dataclass(frozen=True)
class CheckpointSeen:
    seq: int
    at: datetime
    source: str  # "store", or the file outside


@dataclass(frozen=True)
class Health:
    at: datetime
    devices: tuple[DeviceHealth, ...]
    off_desired: tuple[LineHealth, ...]
    unverified_cuts: tuple[UnverifiedCut, ...]
    next_transition: datetime | None
    log_head_seq: int
    checkpoint: CheckpointSeen | None  # the newest signed checkpoint in the store
    outside: CheckpointSeen | None  # the newest in the checkpoint directory, if configured
    outside_problem: str | None = None  # why the directory could not be read

    @property
    def past_window(self) -> list[LineHealth]:
        return [line for line in self.off_desired if line.past_window]


_CHANGES = Change.__table__  # type: ignore[attr-defined]
_STATUS = LineStatus.__table__  # type: ignore[attr-defined]
_LINES = Line.__table__  # type: ignore[attr-defined]
_CHECKPOINTS = Checkpoint.__table__  # type: ignore[attr-defined]


def health_now(
    store: Store, snap: Snapshot | None = None, checkpoint_dir: Path | None = None
) -> Health:
    """The health at the store's now: one snapshot (or the one given) and three small reads
    (line names, the record each line's state rests on, the log's head and newest checkpoint),
    plus the newest file of `checkpoint_dir`."""
    now = store.clock.now()
    snap = snap or store.snapshot()
    with store.engine.connect() as connection:
        names = dict(connection.execute(sa.select(_LINES.c.id, _LINES.c.name)).all())
        resting = {
            row.line_id: row
            for row in connection.execute(
                sa.select(
                    _STATUS.c.line_id, _CHANGES.c.seq, _CHANGES.c.at, _CHANGES.c.kind,
                    _CHANGES.c.action, _CHANGES.c.verified, _CHANGES.c.error,
                ).join(_CHANGES, _CHANGES.c.seq == _STATUS.c.change_seq)
            )
        }  # fmt: skip
        head = connection.execute(sa.select(sa.func.max(_CHANGES.c.seq))).scalar() or 0
        newest = connection.execute(
            sa.select(_CHECKPOINTS.c.seq, _CHECKPOINTS.c.at)
            .order_by(_CHECKPOINTS.c.seq.desc())
            .limit(1)
        ).first()
    desired = plan(snap.orders, snap.lines, now)
    orders: dict[int, list[OrderTerm]] = defaultdict(list)
    for term in snap.orders:
        orders[term.venue_id].append(term)

    off: list[LineHealth] = []
    unverified: list[UnverifiedCut] = []
    per_device: dict[int, list[int]] = defaultdict(list)
    due_by_venue: dict[int, datetime | None] = {}
    for ref in snap.lines:
        per_device[ref.device_id].append(ref.line_id)
        device = snap.devices[ref.device_id].name
        name = names.get(ref.line_id, str(ref.line_id))
        record = resting.get(ref.line_id)
        if (
            record is not None
            and record.kind == "outcome"
            and record.action == "cut"
            and not record.verified
            and device_error(record.error) is None
        ):
            unverified.append(
                UnverifiedCut(
                    ref.line_id, name, device, record.seq, record.at, record.error or "not verified"
                )
            )
        line_plan = desired.lines[ref.line_id]
        status = snap.states.get(ref.line_id)
        recorded = status.state if status is not None else None
        if recorded == line_plan.desired.value:
            continue
        past = (
            line_plan.desired is LineState.OPEN
            and not line_plan.blocked
            and status is not None
            and (
                recorded == LineState.CUT.value
                or (recorded == LineState.UNKNOWN.value and bool(status.order_ids))
            )
        )
        due = None
        if past:
            if ref.venue_id not in due_by_venue:
                due_by_venue[ref.venue_id] = due_instant(orders[ref.venue_id], ref, now)
            due = due_by_venue[ref.venue_id]
        off.append(
            LineHealth(ref.line_id, name, device, line_plan.desired.value, recorded, past, due)
        )

    devices = []
    by_line = {line.line_id: line for line in off}
    for device_id, device in sorted(snap.devices.items(), key=lambda item: item[1].name):
        line_ids = per_device.get(device_id, [])
        sessions = [
            resting[line_id]
            for line_id in line_ids
            if line_id in resting and resting[line_id].kind == "outcome"
        ]
        last = max(sessions, key=lambda row: row.seq, default=None)
        devices.append(
            DeviceHealth(
                device_id=device_id,
                name=device.name,
                platform=device.platform,
                frozen=bool(device.frozen),
                lines=len(line_ids),
                not_desired=sum(1 for line_id in line_ids if line_id in by_line),
                cut_past_window=sum(
                    1 for line_id in line_ids if line_id in by_line and by_line[line_id].past_window
                ),
                last_session_at=last.at if last is not None else None,
                last_error=last.error if last is not None else None,
            )
        )
    outside, problem = (None, None)
    if checkpoint_dir is not None:
        outside, problem = newest_outside(checkpoint_dir)
    return Health(
        at=now,
        devices=tuple(devices),
        off_desired=tuple(off),
        unverified_cuts=tuple(unverified),
        next_transition=desired.next_change,
        log_head_seq=int(head),
        checkpoint=CheckpointSeen(newest.seq, newest.at, "store") if newest is not None else None,
        outside=outside,
        outside_problem=problem,
    )


def newest_outside(directory: Path) -> tuple[CheckpointSeen | None, str | None]:
    """The newest checkpoint file in `directory` (names carry the zero-padded seq), or why
    there is none to be read."""
    try:
        newest = max(directory.glob("checkpoint-*.json"), default=None)
        if newest is None:
            return None, f"no checkpoint in {directory}"
        document = json.loads(newest.read_text(encoding="utf-8"))
        return CheckpointSeen(int(document["seq"]), _instant(document["at"]), str(newest)), None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"{directory}: {exc}"


def _instant(text: str) -> datetime:
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"checkpoint instant {text!r} has no UTC offset")
    return instant


# -- ready to serve ----------------------------------------------------------------------------

STALE_TICKS = 3  # a scheduler whose last pass is older than this many ticks is not ready


@dataclass(frozen=True)
class Readiness:
    """Ready, or the reasons it is not; `notes` say what is off by choice."""

    ready: bool
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()


def readiness(
    store: Store,
    scheduler: PassScheduler | None,
    signing_key_file: Path | None,
    checkpoints_disabled: bool = False,
) -> Readiness:
    """Whether this process can do its job: the database answers; the scheduler runs and its
    last pass (or its start, before the first) is no older than STALE_TICKS ticks; checkpoints
    are signed with a readable key, unless they were turned off (`--no-checkpoints`).

    Without a scheduler (`curfew serve --no-scheduler`) the process serves the API only and is
    ready: passes run in another instance, which is what the choice says; a note tells."""
    reasons, notes = [], []
    try:
        with store.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # whatever the driver raises: the reason is what it says
        reasons.append(f"the database does not answer: {_first_line(exc)}")
    if scheduler is None:
        notes.append("no scheduler in this process (--no-scheduler): it runs no passes")
    elif not scheduler.running:
        reasons.append("the scheduler is not running")
    else:
        now, limit = store.clock.now(), scheduler.tick * STALE_TICKS
        last = scheduler.last_report.at if scheduler.last_report is not None else None
        since = scheduler.started_at
        ticks = f"{STALE_TICKS} ticks ({limit.total_seconds():g} s)"
        if last is not None and now - last > limit:
            reasons.append(f"the last pass, at {last.isoformat()}, is older than {ticks}")
        elif last is None and since is not None and now - since > limit:
            reasons.append(
                f"no pass has completed in the {ticks} since the scheduler started at "
                f"{since.isoformat()}"
            )
        running = scheduler.pass_running_since
        if running is not None:
            notes.append(f"a pass for {running.isoformat()} is in progress")
    if checkpoints_disabled:
        notes.append("checkpoints are off (--no-checkpoints)")
    elif signing_key_file is not None:
        try:
            load_key(signing_key_file)
        except ValueError as exc:
            reasons.append(f"the signing key (CURFEW_SIGNING_KEY_FILE) is unusable: {exc}")
        else:
            if store.checkpointer is None:
                reasons.append("a signing key is configured but this store signs no checkpoints")
    elif store.checkpointer is None:
        reasons.append(
            "no signing key (CURFEW_SIGNING_KEY_FILE) and checkpoints not turned off "
            "(--no-checkpoints)"
        )
    if store.checkpointer is not None and store.checkpointer.publish_error:
        notes.append(f"a checkpoint copy outside failed: {store.checkpointer.publish_error}")
    return Readiness(not reasons, tuple(reasons), tuple(notes))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


__all__ = [
    "DEVICE_ERRORS",
    "CheckpointSeen",
    "DeviceHealth",
    "Health",
    "Lateness",
    "LineHealth",
    "Readiness",
    "UnverifiedCut",
    "device_error",
    "due_instant",
    "error_class",
    "health_now",
    "lateness",
    "newest_outside",
    "readiness",
]
