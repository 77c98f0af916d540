"""Prepare before the instant, act at the instant: ahead of a transition, open a session to every
router with work, read it and stage what has no effect until bound; the pass then binds only.

A prepared pass changes no line's state: staged bodies are bound nowhere. Each staged line is
written ahead like any change (an intent, then an outcome with the device's answer, both action
`staged`, citing the orders of the cut to come); what the pass does not bind is discarded after
it (`unstaged`). A router whose prepare failed is simply not in the pool: the pass pushes it cold.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import NamedTuple

from controller.changelog import NewChange
from controller.claims import Claims, claims_for
from controller.device_timing import armed_for
from controller.group_commit import GroupAppender
from controller.models import Change, Device
from controller.planner import Plan, quiet_until
from controller.reconciler import DeviceBatch, LineChange, Reconciler
from controller.store import Snapshot
from drivers.base import (
    Action,
    Batch,
    BatchResult,
    Driver,
    DriverError,
    LineState,
    StagedLine,
    StageResult,
    Staging,
    Timeout,
    Unreachable,
    announced,
)

log = logging.getLogger("curfew.prepare")


class PlannedAhead(NamedTuple):
    """A pass's plan made before its instant, with the snapshot it was made from."""

    snap: Snapshot
    desired: Plan
    batches: list[DeviceBatch]
    until: datetime  # it is the plan at any instant before this (`planner.quiet_until`)


@dataclass
class PreparedSession:
    """One router's open session, and the lines staged on it (line id → the orders the stage
    cited, and the line's venue, for the records of what becomes of them)."""

    device: Device
    driver: Driver
    staged: dict[int, tuple[tuple[int, ...], int]] = field(default_factory=dict)
    open: bool = True
    # restored lines whose bodies the bind left, bound nowhere, to delete after the pass
    # (line id → the orders the restore cited, and the line's venue)
    released: dict[int, tuple[tuple[int, ...], int]] = field(default_factory=dict)

    @property
    def stages(self) -> bool:
        """Whether the router's driver offers the `Staging` ability (else it applies)."""
        return isinstance(self.driver, Staging)

    def bind(self, batch: Batch, before_send: Callable[[], None] | None = None) -> BatchResult:
        """The batch over this session: only the bindings where the bodies are staged, and
        restores that only unbind (their bodies are deleted after the pass, `released`).
        `before_send` is called before anything is sent (`announced`)."""
        with announced(self.driver, before_send):
            if isinstance(self.driver, Staging):
                return self.driver.bind(batch, keep_bodies=True)
            return self.driver.apply(batch)

    def close(self) -> None:
        if self.open:
            self.open = False
            try:
                self.driver.close()
            except Exception:  # noqa: BLE001 - closing a dead session must not fail a pass
                log.debug("closing the prepared session to %s failed", self.device.name)


def session_lost(result: BatchResult) -> bool:
    """Whether a push over a prepared session failed because the session had died before it
    sent anything (the router reloaded, a firewall dropped the idle connection): nothing
    was changed, so a cold push in a new session is safe and is what the pass does."""
    return isinstance(result.error, Unreachable | Timeout) and not result.commands


class PreparedPass:
    """What a prepare left for the pass at `instant`: open sessions, and what it staged.

    A context manager: closing it closes every session still open (the pass takes the
    sessions it uses and closes them itself). Counters: `prepared_devices` (sessions opened and
    read), `staged_lines` (lines whose bodies the router holds, bound nowhere), `failed` (router
    → why it will be pushed cold) and `skipped` (router → why it was not prepared at all).
    """

    def __init__(self, reconciler: Reconciler, instant: datetime, pass_id: str) -> None:
        self.reconciler = reconciler
        self.instant = instant
        self.pass_id = pass_id  # the prepare's records share it
        self.failed: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.prepared_devices = 0
        self.staged_lines = 0
        # cuts armed on the routers' own clocks for the instant: not staged, only read then
        self.armed: set[int] = set()
        self._sessions: dict[int, PreparedSession] = {}
        # sessions the pass has used, logged out once all its routers are done (`retire`)
        self._retired: list[PreparedSession] = []
        self._lock = threading.Lock()
        # the records of its workers (stages, and discards after the pass), written in shared
        # transactions queued in this process: at 256 routers at once, SQLite's own busy wait
        # (it polls; writers are not queued) let some wait past its 30 s
        self.appender = GroupAppender(reconciler.store)
        # the pass's plan, made once the staging is done (`plan_ahead`)
        self._ahead: PlannedAhead | None = None

    def plan_ahead(self) -> None:
        """Read and plan now what the pass at the instant would: it takes this plan instead of
        its own (0.9 s at 10,000 lines, before its first push) if nothing it read changes."""
        reconciler = self.reconciler
        snap = reconciler.store.snapshot()
        desired, batches = reconciler.diff(self.instant, snap)
        until = quiet_until(snap.orders, snap.lines, self.instant)
        with self._lock:
            self._ahead = PlannedAhead(snap, desired, batches, until)

    def take_plan(self, at: datetime) -> PlannedAhead | None:
        """The plan made ahead, as the plan at `at`, once: only for a pass at its instant or
        after it but before any order's or window's next edge (the scheduler's pass starts a
        few milliseconds after the instant), and only while the store's quiet mark is the one
        its snapshot began with (no order, inventory row or line state changed since).
        Otherwise None: the pass reads and plans afresh."""
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is None or ahead.snap.quiet is None or not self.instant <= at < ahead.until:
            return None
        if self.reconciler.store.quiet_mark() != ahead.snap.quiet:
            log.info("the plan made ahead of %s is stale: planned again", at.isoformat())
            return None
        return ahead._replace(desired=replace(ahead.desired, at=at))

    @property
    def failed_devices(self) -> int:
        return len(self.failed)

    @property
    def open_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def add(self, session: PreparedSession) -> None:
        with self._lock:
            self._sessions[session.device.id or 0] = session
            self.prepared_devices += 1
            self.staged_lines += len(session.staged)

    def take(self, device_id: int) -> PreparedSession | None:
        """The router's open session, out of the pool: the caller uses and closes it."""
        with self._lock:
            return self._sessions.pop(device_id, None)

    def take_all(self) -> list[PreparedSession]:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
            return sessions

    def retire(self, session: PreparedSession) -> None:
        """A session the pass is done with, to be closed by `take_retired`'s caller: logging
        out (a prompt read, then `exit`) waits until every router of the pass is pushed."""
        with self._lock:
            self._retired.append(session)

    def take_retired(self) -> list[PreparedSession]:
        with self._lock:
            sessions, self._retired = self._retired, []
            return sessions

    def discard_unused(
        self, session: PreparedSession, pass_id: str, desired: Plan
    ) -> list[StagedLine]:
        """Discard on the session the staged lines that `desired` does not cut (revoked,
        suspended, moved to another router since the prepare), each logged as `unstaged`
        (an intent, then the outcome), citing the orders its stage cited. The caller holds
        the router's claim."""
        unused = sorted(
            line_id
            for line_id in session.staged
            if (line := desired.lines.get(line_id)) is None or line.desired is not LineState.CUT
        )
        lines = self._discard(
            session,
            pass_id,
            {line_id: session.staged[line_id] for line_id in unused},
            f"bodies staged for {self.instant.isoformat()} (prepare {self.pass_id}) that this "
            f"pass does not bind: no order cuts the line at {desired.at.isoformat()}",
        )
        for line_id in unused:
            session.staged.pop(line_id, None)
        return lines

    def discard_released(
        self, session: PreparedSession, pass_id: str, at: datetime
    ) -> list[StagedLine]:
        """Delete the bodies the pass's restores at `at` left on the session, filtering
        nothing since: bound nowhere, or, where the router's own clock ended the window, still
        bound on a time-range it will never be in again (each logged as `unstaged`, citing the
        orders the restore cited). The instant took only the unbindings, or nothing; this runs
        after every router's. The caller holds the router's claim."""
        released, session.released = session.released, {}
        return self._discard(
            session,
            pass_id,
            released,
            f"objects of the cut restored at {at.isoformat()}, filtering nothing since (unbound "
            "by the pass, or their window over by the router's clock): deleted after the pass "
            "restored every router",
        )

    def _discard(
        self,
        session: PreparedSession,
        pass_id: str,
        cited: dict[int, tuple[tuple[int, ...], int]],
        detail: str,
    ) -> list[StagedLine]:
        """`discard_staged` of these lines on the session, each written ahead as an `unstaged`
        intent and its outcome, citing what `cited` says of it."""
        unused = sorted(cited)
        # a session lost meanwhile is opened again by the driver for the discard
        if not unused or not isinstance(session.driver, Staging):
            return []
        store, actor = self.reconciler.store, self.reconciler.actor
        device = session.device
        now = store.clock.now()
        intents = self.appender.append(
            [
                NewChange(
                    at=now, kind="intent", action="unstaged", actor=actor, pass_id=pass_id,
                    order_ids=cited[line_id][0], line_id=line_id, venue_id=cited[line_id][1],
                    device_id=device.id, detail=detail,
                )
                for line_id in unused
            ]
        )  # fmt: skip
        try:
            result = session.driver.discard_staged(unused)
        except DriverError as exc:  # a driver answers with a result; this is a last resort
            result = StageResult(
                device.name,
                tuple(StagedLine(i, (), False, f"{type(exc).__name__}: {exc}") for i in unused),
                error=exc,
            )
        by_line = {line.line_id: line for line in result.lines}
        self.appender.append(
            [
                _staging_outcome(
                    "unstaged", actor, pass_id, device, line_id, cited[line_id],
                    intent, by_line.get(line_id), result, store.clock.now(),
                )
                for line_id, intent in zip(unused, intents, strict=True)
            ]
        )  # fmt: skip
        if session_lost_stage(result):
            session.close()
        return list(result.lines)

    def abandon(self, at: datetime) -> int:
        """A prepared pass no pass will use (another instant comes first): discard on every
        open session the staged lines a pass at `at` would not cut (now, or the instant
        prepared next), logged, and close every session. Returns how many were discarded."""
        sessions = self.take_all()
        if not sessions:
            return 0
        desired, _ = self.reconciler.diff(at)
        pass_id = uuid.uuid4().hex[:16]
        discarded = 0
        with claims_for(self.reconciler.store.engine) as claims:
            for session in sessions:
                try:
                    if session.staged and _claimed(claims, session.device):
                        try:
                            lines = self.discard_unused(session, pass_id, desired)
                            discarded += sum(1 for line in lines if line.done)
                        finally:
                            claims.release(session.device.id or 0)
                finally:
                    session.close()
        return discarded

    def close(self) -> None:
        for session in [*self.take_all(), *self.take_retired()]:
            session.close()

    def __enter__(self) -> PreparedPass:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def summary(self) -> str:
        return (
            f"prepared {self.prepared_devices} routers for {self.instant.isoformat()}, "
            f"{self.staged_lines} lines staged, {len(self.armed)} armed on the routers' "
            f"clocks (not staged), {self.failed_devices} failed, {len(self.skipped)} skipped"
        )


class Preparer:
    """Prepares a pass at an instant, with a reconciler's store, drivers, timeout and actor.

    Works the routers in a bounded pool (`workers`, default the reconciler's). A router being
    prepared is claimed like a push (`controller.claims`), so no push to it runs meanwhile; a
    pass of this process that wants it waits for its prepare to end (`Reconciler.preparing`).
    """

    def __init__(self, reconciler: Reconciler, workers: int | None = None) -> None:
        self.reconciler = reconciler
        self.workers = workers or reconciler.workers

    def prepare(self, instant: datetime, stop: threading.Event | None = None) -> PreparedPass:
        """Plan what a pass at `instant` would change, open a session to every router with
        work, read it and stage its cuts (on drivers that stage). With `stop` set, routers not
        yet started are left for the cold pass (the instant has come)."""
        reconciler = self.reconciler
        prepared = PreparedPass(reconciler, instant, uuid.uuid4().hex[:16])
        _, batches = reconciler.diff(instant)
        work = []
        for device_batch in batches:
            if device_batch.device.frozen:
                prepared.skipped[device_batch.device.name] = "frozen by the NOC"
            else:
                work.append(device_batch)
        try:
            if work:
                prepared.armed = armed_for(reconciler.store, instant)
                with (
                    claims_for(reconciler.store.engine) as claims,
                    ThreadPoolExecutor(max_workers=min(self.workers, len(work))) as pool,
                ):
                    list(pool.map(lambda b: self._prepare_device(prepared, b, claims, stop), work))
            if stop is None or not stop.is_set():
                prepared.plan_ahead()  # after the staging, whose records move the quiet mark
        except BaseException:
            prepared.close()
            raise
        if work:
            log.info("%s (prepare %s)", prepared.summary(), prepared.pass_id)
        return prepared

    def _prepare_device(
        self,
        prepared: PreparedPass,
        device_batch: DeviceBatch,
        claims: Claims,
        stop: threading.Event | None,
    ) -> None:
        device = device_batch.device
        if stop is not None and stop.is_set():
            prepared.skipped[device.name] = "the instant came before its prepare began"
            return
        reconciler = self.reconciler
        device_id = device.id or 0
        with reconciler.preparing(device_id):
            if not claims.try_claim(device_id):
                prepared.failed[device.name] = (
                    "claimed by a push under way (of this instance or another)"
                )
                return
            driver: Driver | None = None
            try:
                driver = reconciler.driver_factory(device, reconciler.device_timeout)
                driver.open()
                session = PreparedSession(device, driver)
                # a cut armed on the router's clock holds its objects already: nothing to stage
                unarmed = DeviceBatch(
                    device,
                    tuple(
                        c
                        for c in device_batch.changes
                        if c.action is not Action.CUT or c.line_id not in prepared.armed
                    ),
                )
                cuts = tuple(c for c in unarmed.changes if c.action is Action.CUT)
                if cuts and isinstance(driver, Staging):
                    problem = self._stage(prepared, session, cuts, unarmed.batch)
                else:
                    driver.read()  # the session answers, and the router is read
                    problem = None
                if problem is not None:
                    prepared.failed[device.name] = problem
                    return  # its driver is closed below
                prepared.add(session)
                driver = None  # the pool owns it now
            except DriverError as exc:
                prepared.failed[device.name] = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001 - one router's failure must not stop the rest
                # (the store timing out, a bug): the router is pushed cold at the instant
                log.exception("preparing %s failed; it is pushed cold at the instant", device.name)
                prepared.failed[device.name] = f"prepare failed: {type(exc).__name__}: {exc}"
            finally:
                if driver is not None:
                    try:
                        driver.close()
                    except Exception:  # noqa: BLE001 - a dead session's close must not fail
                        pass
                claims.release(device_id)

    def _stage(
        self,
        prepared: PreparedPass,
        session: PreparedSession,
        cuts: tuple[LineChange, ...],
        batch: Batch,
    ) -> str | None:
        """Stage the cuts' bodies, written ahead (the batch's restores only free the slots
        they hold); why the router cannot be used, if so."""
        reconciler = self.reconciler
        store, actor, device = reconciler.store, reconciler.actor, session.device
        assert isinstance(session.driver, Staging)
        now = store.clock.now()
        intents = prepared.appender.append(
            [
                NewChange(
                    at=now, kind="intent", action="staged", actor=actor,
                    pass_id=prepared.pass_id, order_ids=change.order_ids,
                    line_id=change.line_id, venue_id=change.venue_id, device_id=device.id,
                    detail=f"stage the bodies of the cut due at {prepared.instant.isoformat()}: "
                    "no effect until bound",
                )
                for change in cuts
            ]
        )  # fmt: skip
        result = session.driver.stage(batch)
        by_line = {line.line_id: line for line in result.lines}
        when = store.clock.now()
        prepared.appender.append(
            [
                _staging_outcome(
                    "staged", actor, prepared.pass_id, device, change.line_id,
                    (change.order_ids, change.venue_id), intent, by_line.get(change.line_id),
                    result, when,
                )
                for change, intent in zip(cuts, intents, strict=True)
            ]
        )  # fmt: skip
        for change in cuts:
            line = by_line.get(change.line_id)
            if line is not None and line.done:
                session.staged[change.line_id] = (change.order_ids, change.venue_id)
        if session_lost_stage(result):
            return f"{type(result.error).__name__}: {result.error}"
        if result.error is not None and not session.staged:
            # refused outright (e.g. a foreign filter on the interface): push it cold, where
            # the same refusal is logged against the cut itself
            return f"stage refused: {type(result.error).__name__}: {result.error}"
        return None


def session_lost_stage(result: StageResult) -> bool:
    return isinstance(result.error, Unreachable | Timeout)


def _claimed(claims: Claims, device: Device) -> bool:
    return claims.try_claim(device.id or 0)


def _staging_outcome(
    action: str,
    actor: str,
    pass_id: str,
    device: Device,
    line_id: int,
    cited: tuple[tuple[int, ...], int],
    intent: Change,
    line: StagedLine | None,
    result: StageResult,
    at: datetime,
) -> NewChange:
    """The outcome of one line's stage or discard: no state (staging changes none), verified
    when read-back shows what was asked."""
    error = None
    if line is None:
        error = f"{type(result.error).__name__}: {result.error}" if result.error else "no answer"
    elif not line.done:
        error = line.error or "not done"
    return NewChange(
        at=at,
        kind="outcome",
        action=action,
        actor=actor,
        pass_id=pass_id,
        order_ids=cited[0],
        line_id=line_id,
        venue_id=cited[1],
        device_id=device.id,
        intent_seq=intent.seq,
        commands=line.commands if line is not None else (),
        device_output=result.device_output,
        state_after=None,
        verified=bool(line is not None and line.done),
        error=error,
    )
