"""The reconciler: converge every line's actual state to the planner's desired state.

One pass: plan at instant t, diff against each line's last verified state, group the changes
into one batch per device, push the batches (devices in parallel, one session each, restores
first), each device's intents written before its push and its outcomes and verified states
after. A dry run is the same pass stopped before the intents.

Several instances may run passes on one database at once: each device is claimed
(`controller.claims`) before its batch is worked and released after its outcome is logged; a
device another instance holds is skipped, and a batch planned from states another instance
has changed since is planned again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from controller.changelog import NewChange
from controller.claims import Claims, claims_for
from controller.collector import held_back
from controller.credentials import session_credentials
from controller.group_commit import GroupAppender
from controller.holds import CutBounds, guard_cuts
from controller.models import Change, CutHold, Device, LineStatus
from controller.planner import Plan, plan
from controller.store import Orphan, PushCheck, Snapshot, StateRow, StatesOf, Store
from drivers.base import (
    Action,
    Batch,
    BatchResult,
    Driver,
    DriverError,
    LineOutcome,
    LineState,
    LineTarget,
    OwnedLine,
    announced,
    observed_state,
)
from drivers.registry import driver_for

if TYPE_CHECKING:  # controller.prepare builds on this module
    from controller.prepare import PreparedPass, PreparedSession

DriverFactory = Callable[[Device, float], Driver]
# Store.append, or a pass's group commit of it
Append = Callable[[list[NewChange], StatesOf], list[Change]]

log = logging.getLogger("curfew.reconciler")

# How a router's batch went out: over the session a prepare left open, in a new session, or in
# a new session because the prepared one had died before the instant.
Reached = Literal["prepared", "cold", "cold after the prepared session was lost"]


def connect_driver(device: Device, timeout: float) -> Driver:
    """The driver for a device: its secrets resolved, its address checked against the
    management networks and its SSH host key pinned, by `controller.credentials` (which
    raises a DriverError when any of them is not to be had)."""
    return driver_for(device.platform)(device.name, session_credentials(device, timeout))


@dataclass(frozen=True)
class LineChange:
    line_id: int
    venue_id: int
    action: Action
    order_ids: tuple[int, ...]
    target: LineTarget
    why: str
    # no state was ever recorded for the line: the change is a first read of the device
    first_look: bool = False
    # its recorded state is unknown (an interrupted push, a failed read): it goes first
    unknown: bool = False

    @property
    def intent_action(self) -> str:
        """What the intent record calls this change: a new line's first restore is a read."""
        return "read" if self.first_look and self.action is Action.RESTORE else self.action.value


@dataclass(frozen=True)
class DeviceBatch:
    device: Device
    changes: tuple[LineChange, ...]

    @property
    def batch(self) -> Batch:
        return Batch(
            cuts=tuple(c.target for c in self.changes if c.action is Action.CUT),
            restores=tuple(c.target for c in self.changes if c.action is Action.RESTORE),
        )

    @property
    def restores(self) -> int:
        return sum(1 for c in self.changes if c.action is Action.RESTORE)

    def without_cuts(self) -> DeviceBatch:
        kept = tuple(c for c in self.changes if c.action is not Action.CUT)
        return DeviceBatch(self.device, kept)

    @property
    def unknown(self) -> int:
        """Lines whose recorded state is unknown: perhaps cut past their window."""
        return sum(1 for c in self.changes if c.unknown)


@dataclass(frozen=True)
class LineResult:
    change: LineChange
    device: str
    state_after: LineState
    verified: bool
    error: str | None
    retryable: bool
    at: datetime | None = None  # when its outcome was recorded (the store's clock)


@dataclass
class PassReport:
    pass_id: str
    at: datetime
    plan: Plan
    batches: list[DeviceBatch]
    dry_run: bool
    skipped: list[str] = field(default_factory=list)  # devices not touched, and why
    results: list[LineResult] = field(default_factory=list)
    drifted: list[int] = field(default_factory=list)  # lines found changed behind our back
    held: CutHold | None = None  # the blast-radius hold this pass's cuts wait on, if any
    duration_seconds: float | None = None  # the pass's real elapsed time (not a dry run's)
    # a prepared pass only: how each router pushed was reached, and the lines whose staged
    # bodies were discarded after it (not cut now)
    sessions: dict[str, Reached] = field(default_factory=dict)
    unstaged: list[int] = field(default_factory=list)
    # whether the pass followed the plan its prepare made ahead (nothing changed since)
    planned_ahead: bool = False

    @property
    def bound_prepared(self) -> list[str]:
        """Routers pushed over a session opened by the prepare (bindings only, where staged)."""
        return sorted(d for d, how in self.sessions.items() if how == "prepared")

    @property
    def pushed_cold(self) -> list[str]:
        """Routers pushed in a session opened by the pass (no prepare, or it failed or died)."""
        return sorted(d for d, how in self.sessions.items() if how != "prepared")

    @property
    def failures(self) -> list[LineResult]:
        return [r for r in self.results if not r.verified]

    @property
    def ok(self) -> bool:
        return not self.failures


class PassObserver(Protocol):
    """Told of a pass while it runs (the console's live progress): when it has routers to work,
    as each router is done, and when it ends. Dry runs and passes with nothing to do are not
    told. An observer that raises is logged and the pass goes on."""

    def pass_started(self, report: PassReport, devices: list[str]) -> None: ...

    def device_done(
        self, report: PassReport, device: str, results: list[LineResult], skipped: str | None
    ) -> None: ...

    def pass_ended(self, report: PassReport) -> None: ...


class Reconciler:
    def __init__(
        self,
        store: Store,
        workers: int = 16,
        device_timeout: float = 20.0,
        driver_factory: DriverFactory = connect_driver,
        actor: str = "reconciler",
        progress: Callable[[str, int, int, list[LineResult]], None] | None = None,
        cut_bounds: CutBounds | None = None,
    ) -> None:
        # with bounds, a pass whose cuts exceed them holds its cuts for the NOC (controller.holds)
        self.cut_bounds = cut_bounds
        self.progress = progress  # (device, devices done, devices in the pass, its results)
        self.store = store
        self.workers = workers
        self.device_timeout = device_timeout
        self.driver_factory = driver_factory
        self.actor = actor
        self.observers: list[PassObserver] = []  # see PassObserver
        # routers a prepare of this process is working (controller.prepare): a pass waits for
        # them instead of skipping them as claimed by another instance
        self._preparing: dict[int, threading.Event] = {}
        self._preparing_lock = threading.Lock()

    @contextmanager
    def preparing(self, device_id: int) -> Iterator[None]:
        """Mark a router as being prepared by this process while the block runs."""
        done = threading.Event()
        with self._preparing_lock:
            self._preparing[device_id] = done
        try:
            yield
        finally:
            with self._preparing_lock:
                if self._preparing.get(device_id) is done:
                    del self._preparing[device_id]
            done.set()

    def _await_prepare(self, device_id: int) -> bool:
        """Wait (bounded: one prepare's sessions are bounded by the device timeout) for this
        process's prepare of the router to end; whether one was under way."""
        with self._preparing_lock:
            done = self._preparing.get(device_id)
        if done is None:
            return False
        done.wait(timeout=3 * self.device_timeout + 5)
        return True

    def _tell(self, event: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(*args)
            except Exception:
                log.exception("pass observer %r failed on %s", observer, event)

    # -- deciding ------------------------------------------------------------------------

    def diff(
        self, at: datetime, snapshot: Snapshot | None = None
    ) -> tuple[Plan, list[DeviceBatch]]:
        """What a pass at `at` would change, per device, restores first."""
        snap = snapshot or self.store.snapshot()
        desired = plan(snap.orders, snap.lines, at)
        per_device: dict[int, list[LineChange]] = defaultdict(list)
        for line_plan in desired.lines.values():
            status = snap.states.get(line_plan.line_id)
            known = LineState(status.state) if status else LineState.UNKNOWN
            if known is line_plan.desired:
                continue
            if line_plan.desired is LineState.CUT:
                action, orders, why = Action.CUT, line_plan.order_ids, "order in force"
            else:
                action = Action.RESTORE
                # A restore cites the orders whose cut it ends, as last recorded for the line.
                orders = tuple(status.order_ids) if status else ()
                why = (
                    f"cut refused: {line_plan.blocked}"
                    if line_plan.blocked
                    else "no order in force cuts this line now"
                )
                if status is None:
                    why = "a new line: read the device, remove any owned object found"
                elif known is LineState.UNKNOWN:
                    why += "; the line's state on the device is unknown"
            per_device[line_plan.device_id].append(
                LineChange(
                    line_plan.line_id,
                    snap.line_venue[line_plan.line_id],
                    action,
                    orders,
                    snap.targets[line_plan.line_id],
                    why,
                    first_look=status is None,
                    unknown=status is not None and known is LineState.UNKNOWN,
                )
            )
        batches = [
            DeviceBatch(
                snap.devices[device_id],
                tuple(sorted(changes, key=lambda c: (c.action is Action.CUT, c.line_id))),
            )
            for device_id, changes in per_device.items()
        ]
        # routers with lines in an unknown state first (an interrupted push may have left them
        # cut past their window), then those with restores: restore is the priority
        batches.sort(key=lambda b: (-b.unknown, -b.restores, b.device.name))
        return desired, batches

    # -- doing ---------------------------------------------------------------------------

    def run_pass(
        self,
        at: datetime,
        dry_run: bool = False,
        read_devices: bool = False,
        prepared: PreparedPass | None = None,
    ) -> PassReport:
        """One pass. With `read_devices`, every device is read first and any line whose state
        differs from the last verified one is logged as drift and converged in this pass.

        With `prepared` (`controller.prepare`), the pass is still planned at `at`; a router
        with a session the prepare left open is pushed over it (bindings only where its bodies
        are staged), the others cold; staged lines not cut now are discarded after the
        router's outcomes; every session of the prepared pass is closed when it ends. A dry
        run leaves `prepared` alone."""
        pass_id = uuid.uuid4().hex[:16]
        if dry_run:
            desired, batches = self.diff(at)
            return PassReport(pass_id, at, desired, batches, dry_run)
        self.store.check_pass_instant(at)
        started = time.monotonic()
        try:
            with held_back():  # the collector's walks of the whole heap were a fifth of a pass
                report = self._run_pass(pass_id, at, read_devices, prepared)
        finally:
            if prepared is not None:
                prepared.close()
        report.duration_seconds = time.monotonic() - started
        return report

    def _run_pass(
        self, pass_id: str, at: datetime, read_devices: bool, prepared: PreparedPass | None
    ) -> PassReport:
        with claims_for(self.store.engine) as claims:
            try:
                report = self._plan_and_push(pass_id, at, read_devices, prepared, claims)
            finally:
                if prepared is not None:
                    # routers prepared that this pass had nothing for: their staged bodies
                    unused = self._discard_unused(pass_id, at, prepared, claims)
            if prepared is not None:
                report.unstaged.extend(unused)
        if report.batches or prepared is not None:
            self.store.checkpoint()
        return report

    def _discard_unused(
        self, pass_id: str, at: datetime, prepared: PreparedPass, claims: Claims
    ) -> list[int]:
        """On every prepared session the pass did not use, discard the staged lines not cut
        at `at` (each logged), then close it; a frozen router is left as it is."""
        sessions = prepared.take_all()
        if not sessions:
            return []
        desired = None
        discarded: list[int] = []
        for session in sessions:
            device_id = session.device.id or 0
            try:
                if not session.staged or self.store.is_frozen(device_id):
                    continue
                if not claims.try_claim(device_id):
                    continue  # another instance works it: its own pass decides
                try:
                    if desired is None:
                        desired, _ = self.diff(at)
                    lines = prepared.discard_unused(session, pass_id, desired)
                    discarded.extend(line.line_id for line in lines if line.done)
                finally:
                    claims.release(device_id)
            finally:
                session.close()
        return discarded

    def _plan_and_push(
        self,
        pass_id: str,
        at: datetime,
        read_devices: bool,
        prepared: PreparedPass | None,
        claims: Claims,
    ) -> PassReport:
        dry_run = False
        drifted = self.check_drift(pass_id, claims) if read_devices else []
        # the plan the prepare made ahead, if nothing it read has changed since (a drift just
        # recorded has moved it); else read and planned now, before the first push
        ahead = prepared.take_plan(at) if prepared is not None else None
        if ahead is not None:
            snap, desired, batches, _ = ahead
        else:
            snap = self.store.snapshot()
            desired, batches = self.diff(at, snap)
        held = None
        if self.cut_bounds is not None:
            cuts = sum(len(b.batch.cuts) for b in batches)
            held = guard_cuts(self.store, self.cut_bounds, at, cuts, self.actor)
        if held is not None:  # restores never wait
            batches = [b for b in (b.without_cuts() for b in batches) if b.changes]
        report = PassReport(
            pass_id, at, desired, batches, dry_run, drifted=drifted, held=held,
            planned_ahead=ahead is not None,
        )  # fmt: skip
        if not batches:
            return report
        runnable = []
        for device_batch in batches:
            if device_batch.device.frozen:
                report.skipped.append(f"{device_batch.device.name}: frozen by the NOC")
            else:
                runnable.append(device_batch)
        self._tell("pass_started", report, [b.device.name for b in runnable])
        try:
            self._push_all(pass_id, at, snap, batches, runnable, claims, report, prepared)
        finally:
            self._tell("pass_ended", report)
        return report

    def _push_all(
        self,
        pass_id: str,
        at: datetime,
        snap: Snapshot,
        batches: list[DeviceBatch],
        runnable: list[DeviceBatch],
        claims: Claims,
        report: PassReport,
        prepared: PreparedPass | None = None,
    ) -> None:
        """Work the runnable routers in parallel, adding their results to `report`."""
        plans = _Plans(self, at, snap, batches, report.plan)
        held = report.held is not None
        with ThreadPoolExecutor(max_workers=min(self.workers, len(runnable) or 1)) as pool:
            futures: dict[Future[list[LineResult] | str], DeviceBatch] = {
                pool.submit(
                    self._work, pass_id, at, device_batch, plans, claims, held, prepared, report
                ): device_batch
                for device_batch in runnable
            }
            try:
                for done, future in enumerate(as_completed(futures), start=1):
                    device_batch = futures[future]
                    results = future.result()
                    skipped = None
                    if isinstance(results, str):
                        skipped = results
                        report.skipped.append(f"{device_batch.device.name}: {results}")
                        results = []
                    report.results.extend(results)
                    if self.progress is not None:
                        self.progress(device_batch.device.name, done, len(futures), results)
                    self._tell("device_done", report, device_batch.device.name, results, skipped)
            finally:
                # every router pushed and logged: now the bodies the restores left go, and the
                # prepared sessions log out, together
                for session in prepared.take_retired() if prepared is not None else ():
                    pool.submit(self._retire, pass_id, at, prepared, session, claims, report)

    def _retire(
        self,
        pass_id: str,
        at: datetime,
        prepared: PreparedPass,
        session: PreparedSession,
        claims: Claims,
        report: PassReport,
    ) -> None:
        """After the pass's last router: delete on the session the bodies its restores left
        bound nowhere (under the router's claim; a frozen router, or one another instance
        holds, keeps them: they filter nothing), then log out."""
        device_id = session.device.id or 0
        try:
            if session.released and not self.store.is_frozen(device_id):
                if claims.try_claim(device_id):
                    try:
                        lines = prepared.discard_released(session, pass_id, at)
                        report.unstaged.extend(line.line_id for line in lines if line.done)
                    finally:
                        claims.release(device_id)
        except Exception:  # noqa: BLE001 - a pool task: nothing else would see it
            log.exception("%s: deleting the restored lines' bodies failed", session.device.name)
        finally:
            session.close()

    def _work(
        self,
        pass_id: str,
        at: datetime,
        planned: DeviceBatch,
        plans: _Plans,
        claims: Claims,
        cuts_held: bool = False,
        prepared: PreparedPass | None = None,
        report: PassReport | None = None,
    ) -> list[LineResult] | str:
        """Claim one device, make sure its plan still holds, push it, log it, release it.
        A string says why the device was left alone."""
        device_id = planned.device.id or 0
        session = prepared.take(device_id) if prepared is not None else None
        try:
            return self._work_claimed(
                pass_id, at, planned, plans, claims, cuts_held, prepared, session, report
            )
        finally:
            if session is not None and prepared is not None:
                prepared.retire(session)  # logged out after the pass's last router

    def _work_claimed(
        self,
        pass_id: str,
        at: datetime,
        planned: DeviceBatch,
        plans: _Plans,
        claims: Claims,
        cuts_held: bool,
        prepared: PreparedPass | None,
        session: PreparedSession | None,
        report: PassReport | None,
    ) -> list[LineResult] | str:
        device_id = planned.device.id or 0
        if not claims.try_claim(device_id) and not (
            self._await_prepare(device_id) and claims.try_claim(device_id)
        ):
            return "claimed by another controller instance"
        try:
            # a cut must rest on an order in force at the push, not at the plan: the pass's
            # plan is made again (once for all its devices) if any order changed since
            planned_ids = [change.line_id for change in planned.changes]
            check = self.store.push_check(device_id, planned_ids)
            snap, by_device, desired = plans.current_with_plan(check.order_mark)
            device_batch = by_device.get(device_id)
            if device_batch is not None:
                line_ids = [change.line_id for change in device_batch.changes]
                if line_ids != planned_ids:  # the plan was made again: read these lines
                    check = self.store.push_check(device_id, line_ids)
                if _states_moved(line_ids, snap, check):
                    # another instance worked this device since we planned: plan it again
                    _, fresh = self.diff(at)
                    device_batch = next((b for b in fresh if b.device.id == device_id), None)
                    fresh_ids = [c.line_id for c in device_batch.changes] if device_batch else []
                    check = self.store.push_check(device_id, fresh_ids)
            if device_batch is not None and cuts_held:
                device_batch = device_batch.without_cuts()
            has_work = device_batch is not None and bool(device_batch.changes)
            if not has_work and (session is None or not session.staged):
                return []
            if check.frozen:
                return "frozen by the NOC"
            results: list[LineResult] = []
            if device_batch is not None and has_work:
                ahead = _WriteAhead(
                    lambda batch=device_batch: self._write_intents(
                        pass_id, at, [batch], check.orphans, plans.appender.append
                    )
                )
                if check.orphans:
                    ahead()  # the intents say which interrupted push they resolve: always
                result, how = self._push_over(device_batch, session, ahead)
                intents = ahead.written
                if report is not None:
                    report.sessions[device_batch.device.name] = how
                results = self._write_outcomes(
                    pass_id, device_batch, result, intents, plans.appender.append
                )
                if session is not None and result.released:
                    cited = {c.line_id: (c.order_ids, c.venue_id) for c in device_batch.changes}
                    session.released.update((i, cited[i]) for i in result.released if i in cited)
            if session is not None and prepared is not None and session.staged:
                # what was staged here and is not cut now: discarded on the same session
                lines = prepared.discard_unused(session, pass_id, desired)
                if report is not None:
                    report.unstaged.extend(line.line_id for line in lines if line.done)
            return results
        finally:
            claims.release(device_id)

    def _push_over(
        self,
        device_batch: DeviceBatch,
        session: PreparedSession | None,
        before_send: Callable[[], None] | None = None,
    ) -> tuple[BatchResult, Reached]:
        """Over the prepared session if there is one (falling back to a new session when it
        died before sending anything), else cold. `before_send` (the intents) is called
        before the first command that may change the router: never if nothing is sent."""
        if session is None or not session.open:
            return self._push(device_batch, before_send), "cold"
        from controller.prepare import session_lost

        try:
            result = session.bind(device_batch.batch, before_send)
        except DriverError as exc:  # drivers answer with a result; this is a last resort
            result = failed_result(device_batch.device.name, device_batch.batch, exc)
        if not session_lost(result):
            return result, "prepared"
        log.info(
            "%s: the prepared session was lost (%s); pushing in a new session",
            device_batch.device.name,
            result.error,
        )
        session.close()
        return self._push(device_batch, before_send), "cold after the prepared session was lost"

    def check_drift(self, pass_id: str, claims: Claims | None = None) -> list[int]:
        """Read every device with known lines; log each line found otherwise than recorded
        and forget its recorded state, so the pass converges it again. A device another
        instance holds is not read: its state is moving."""
        if claims is None:
            with claims_for(self.store.engine) as own:
                return self.check_drift(pass_id, own)
        snap = self.store.snapshot()
        known: dict[int, list[int]] = defaultdict(list)
        for line in snap.lines:
            status = snap.states.get(line.line_id)
            if status is not None and status.state != LineState.UNKNOWN.value:
                known[line.device_id].append(line.line_id)
        devices = [snap.devices[d] for d in known if not snap.devices[d].frozen]

        def read(device: Device) -> dict[int, OwnedLine] | None:
            if not claims.try_claim(device.id or 0):
                return None
            try:
                with self.driver_factory(device, self.device_timeout) as driver:
                    driver.learn(snap.targets[line_id] for line_id in known[device.id or 0])
                    return driver.read()
            except DriverError:
                return None  # unreachable now: the push, if any, will say so
            finally:
                claims.release(device.id or 0)

        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(devices)))) as pool:
            found = dict(zip([d.id for d in devices], pool.map(read, devices), strict=True))
        now = self.store.clock.now()
        entries, forget, drifted = [], [], []
        for device in devices:
            owned = found[device.id]
            if owned is None:
                continue
            for line_id in known[device.id or 0]:
                status = snap.states[line_id]
                seen = observed_state(owned, snap.targets[line_id])
                if seen.value == status.state:
                    continue
                drifted.append(line_id)
                entries.append(
                    NewChange(
                        at=now, kind="outcome", action="drift", actor=self.actor,
                        pass_id=pass_id, order_ids=status.order_ids, line_id=line_id,
                        venue_id=snap.line_venue[line_id], device_id=device.id,
                        state_after=seen.value, verified=True,
                        detail=f"recorded {status.state}, the device shows {seen.value}: "
                        "changed outside the controller; converged in this pass",
                    )
                )  # fmt: skip
                forget.append(
                    LineStatus(line_id=line_id, state=seen.value, checked_at=now,
                               order_ids_json=status.order_ids_json)
                )  # fmt: skip
        if entries:
            self.store.append(entries, states=lambda _written: forget)
        return drifted

    def _push(
        self, device_batch: DeviceBatch, before_send: Callable[[], None] | None = None
    ) -> BatchResult:
        """One device, one session. Exceptions become a result here and nowhere else (but
        `before_send`'s: a change whose intents cannot be written sends nothing)."""
        batch = device_batch.batch
        try:
            with self.driver_factory(device_batch.device, self.device_timeout) as driver:
                with announced(driver, before_send):
                    return driver.apply(batch)
        except DriverError as exc:
            return failed_result(device_batch.device.name, batch, exc)

    def _write_intents(
        self,
        pass_id: str,
        at: datetime,
        batches: list[DeviceBatch],
        orphans: Mapping[int, Orphan] | None = None,
        append: Append | None = None,
    ) -> dict[int, int]:
        """Write ahead: the intents, and each line's recorded state made unknown in the same
        transaction. A push killed before its outcomes leaves the lines unknown, so the next
        pass reads the device instead of trusting a state the push may have changed."""
        orphans = orphans or {}
        now = self.store.clock.now()
        changes = [(b, change) for b in batches for change in b.changes]
        entries = [
            NewChange(
                at=now,
                kind="intent",
                action=change.intent_action,
                actor=self.actor,
                pass_id=pass_id,
                order_ids=change.order_ids,
                line_id=change.line_id,
                venue_id=change.venue_id,
                device_id=b.device.id,
                detail=f"{change.why} (planned for {at.isoformat()})"
                + _resolves(orphans.get(change.line_id)),
            )
            for b, change in changes
        ]

        def unknown_states(written: list[Change]) -> list[StateRow]:
            return [
                StateRow(
                    change.line_id,
                    LineState.UNKNOWN.value,
                    now,
                    row.seq,
                    json.dumps(list(change.order_ids)),
                )
                for row, (_, change) in zip(written, changes, strict=True)
            ]

        written = (append or self.store.append)(entries, unknown_states)
        return {row.line_id: row.seq for row in written if row.line_id is not None}

    def _write_outcomes(
        self,
        pass_id: str,
        device_batch: DeviceBatch,
        result: BatchResult,
        intents: dict[int, int],
        append: Append | None = None,
    ) -> list[LineResult]:
        now = self.store.clock.now()
        outcomes = {o.line_id: o for o in result.outcomes}
        entries, results = [], []
        for change in device_batch.changes:
            outcome = outcomes.get(change.line_id) or LineOutcome(
                change.line_id, change.action, (), LineState.UNKNOWN, False, "no outcome reported"
            )
            error = outcome.error or (str(result.error) if result.error else None)
            retryable = (
                bool(result.error and result.error.retryable)
                or outcome.retryable
                or (error is not None and error.startswith("VerifyFailed"))
            )
            # A restore of a line whose state was unknown that found nothing to remove changed
            # nothing: log it as the verification it was, not as a restore.
            action = change.action.value
            if change.action is Action.RESTORE and not outcome.commands and outcome.verified:
                action = "read" if change.first_look else "verify"
            entries.append(
                NewChange(
                    at=now,
                    kind="outcome",
                    action=action,
                    actor=self.actor,
                    pass_id=pass_id,
                    order_ids=change.order_ids,
                    line_id=change.line_id,
                    venue_id=change.venue_id,
                    device_id=device_batch.device.id,
                    intent_seq=intents.get(change.line_id),
                    commands=outcome.commands,
                    device_output=result.device_output,
                    state_after=outcome.state_after.value,
                    verified=outcome.verified,
                    error=error,
                )
            )
            results.append(
                LineResult(
                    change,
                    device_batch.device.name,
                    outcome.state_after,
                    outcome.verified,
                    error,
                    retryable,
                    at=now,
                )
            )

        def verified_states(written: list[Change]) -> list[StateRow]:
            return [
                StateRow(
                    line_result.change.line_id,
                    line_result.state_after.value,
                    now,
                    row.seq,
                    json.dumps(
                        []
                        if line_result.state_after is LineState.OPEN
                        else list(line_result.change.order_ids)
                    ),
                )
                for row, line_result in zip(written, results, strict=True)
            ]

        # the outcomes and the states they prove, in one transaction
        (append or self.store.append)(entries, verified_states)
        return results


class _WriteAhead:
    """A router's intents, written once, when its change is about to send its first command
    (or at once, where the driver cannot say): a change that finds every line as wanted (a
    device-timed cut the router made at 00:00) sends nothing and logs only its outcomes."""

    def __init__(self, write: Callable[[], dict[int, int]]) -> None:
        self._write = write
        self.written: dict[int, int] = {}
        self._done = False

    def __call__(self) -> None:
        if not self._done:
            self.written = self._write()
            self._done = True


class _Plans:
    """A pass's plan, shared by its workers: made again, once, when an order changes while
    the pass runs (the newest order event moves), so every device still to be pushed follows
    the orders in force at its push."""

    def __init__(
        self,
        reconciler: Reconciler,
        at: datetime,
        snap: Snapshot,
        batches: list[DeviceBatch],
        desired: Plan,
    ) -> None:
        self._reconciler, self._at = reconciler, at
        self._lock = threading.Lock()
        self._snap, self._by_device = snap, {b.device.id: b for b in batches}
        self._plan = desired
        # the pass's workers' intents and outcomes, committed in groups (controller.group_commit)
        self.appender = GroupAppender(reconciler.store)

    def current_with_plan(
        self, mark: int | None = None
    ) -> tuple[Snapshot, dict[int | None, DeviceBatch], Plan]:
        """The snapshot, the batches and the plan the pushes follow now (`mark`: the newest
        order event, if the caller has just read it)."""
        store = self._reconciler.store
        if mark is None:
            mark = store.order_mark()
        with self._lock:
            if mark != self._snap.order_mark:
                snap = store.snapshot()
                self._plan, batches = self._reconciler.diff(self._at, snap)
                self._snap, self._by_device = snap, {b.device.id: b for b in batches}
            return self._snap, self._by_device, self._plan


def _states_moved(line_ids: list[int], snap: Snapshot, check: PushCheck) -> bool:
    """Whether any of these lines' recorded states changed since the snapshot was read."""
    for line_id in line_ids:
        before, after = snap.states.get(line_id), check.statuses.get(line_id)
        if (before is None) != (after is None):
            return True
        if before is not None and after is not None and (before.state, before.checked_at) != after:
            return True
    return False


def _resolves(orphan: Orphan | None) -> str:
    if orphan is None:
        return ""
    return (
        f"; resolves intent {orphan.seq} ({orphan.action}, pass {orphan.pass_id}), which has "
        "no outcome: its push was interrupted, so the device is read before anything is decided"
    )


def failed_result(device: str, batch: Batch, error: DriverError) -> BatchResult:
    """Nothing is known of the device: every line's state is unknown until it is read."""
    outcomes = tuple(
        LineOutcome(
            t.line_id, action, (), LineState.UNKNOWN, False, f"{type(error).__name__}: {error}"
        )
        for action, targets in ((Action.RESTORE, batch.restores), (Action.CUT, batch.cuts))
        for t in targets
    )
    return BatchResult(device, outcomes, error=error, device_output=error.output)
