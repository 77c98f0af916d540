"""Device-timed windows, supervised: in the evening, the lines of routers that opted in
(`options: {timing: device}`) are armed to cut at the window's start by the router's own clock.

`arm` runs a lead before a transition: for each opted-in router with a cut starting then, it
reads the router's clock and trusts it only when NTP-synchronised, within a tolerance of the
controller's clock and in the venue's UTC offset at both ends of the window; it then writes the
time-bound cut (drivers.timing.DeviceTimed), written ahead like any change, and keeps a row per
armed line (`ArmedWindow`). Anything else falls back to controller timing, logged with the
reason. The passes stay the safety net: at the instant the ordinary pass finds the line cut
(and records the evidence) or cuts it itself. `disarm_revoked` removes armed cuts that no order
justifies any more, before (or within) their window.

A platform whose arming holds only the window's start (Junos: one scheduled commit at a time,
drivers.timing.RestoreTimed) has the window's end armed apart, a lead before it, once the cut
is in force (`arm(..., kind=RESTORE)`: a row of kind `restore`). An order that keeps the line
cut past that end (amended, a suspension issued since) has the armed restore cancelled before
it runs (`disarm_revoked`), and the pass at the end restores whatever was not armed.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from controller.changelog import NewChange
from controller.claims import Claims, claims_for
from controller.clock import as_utc
from controller.db import IMMEDIATE
from controller.models import ArmedWindow, Change, Device, LineStatus
from controller.planner import LineRef, OrderTerm, plan
from controller.reconciler import PassReport, Reconciler
from controller.store import Snapshot, Store
from drivers.base import Driver, DriverError, LineState, LineTarget, StagedLine, StageResult
from drivers.registry import DRIVERS, driver_for
from drivers.timing import (
    MAX_CLOCK_TOLERANCE,
    DeviceClock,
    DeviceTimed,
    RestoreTimed,
    time_range_name,
    untrusted,
    utc_offset_text,
)
from policies import zone

DriverFactory = Callable[[Device, float], Driver]

log = logging.getLogger("curfew.device_timing")

# a device's option that opts it in, and its value
TIMING_OPTION, DEVICE_TIMING = "timing", "device"
# how long before a transition the scheduler arms it (a deployment may choose another)
LEAD = timedelta(seconds=120)
# how far the device clock may be off the controller's by default (bounded: drivers.timing)
DEFAULT_TOLERANCE = 1.0
# the planner's windows are half-open: "just before" an edge, to see what changes there
EPSILON = timedelta(seconds=1)
# a cut longer than this is no night's window (a disconnect): it stays with the controller
LONGEST_WINDOW = timedelta(hours=24)
# row states: written ahead, armed on the device, armed objects gone again (fallback),
# removed because no order cuts any more, window over
ARMING, ARMED, FAILED, DISARMED, ENDED = "arming", "armed", "failed", "disarmed", "ended"
WATCHED = (ARMING, ARMED)
# what a row arms: a window's cut at its start, or (RestoreTimed platforms) its restore at its end
CUT, RESTORE = "cut", "restore"
# how long after an armed window's end the router has surely acted on it (its clock is trusted
# within MAX_CLOCK_TOLERANCE, and a commit takes seconds): only then is the row settled (an
# armed restore has run; a cut whose arming holds its end has stopped filtering)
RESTORE_SETTLE = timedelta(seconds=30)


def restores_apart(platform: str) -> bool:
    """Whether the platform arms a window's end apart from its cut (`arms_restores`, Junos):
    its armed cut ends on no clock. An unknown platform arms nothing."""
    return bool(getattr(DRIVERS.get(platform), "arms_restores", False))


def device_timed(device: Device) -> bool:
    """Whether the carrier let this device enforce windows on its own clock."""
    return device.options.get(TIMING_OPTION) == DEVICE_TIMING


@dataclass(frozen=True)
class NightWindow:
    """One line's cut starting at a transition: its window in UTC and the orders behind it."""

    line: LineRef
    target: LineTarget
    start: datetime
    end: datetime
    order_ids: tuple[int, ...]

    @property
    def line_id(self) -> int:
        return self.line.line_id


@dataclass
class ArmReport:
    """What an `arm` did: lines armed, lines left to controller timing and why. `kind`: cuts
    starting at `window_start`, or restores there (CUT, RESTORE)."""

    pass_id: str
    window_start: datetime
    armed: list[int] = field(default_factory=list)
    fallbacks: dict[int, str] = field(default_factory=dict)
    kind: str = CUT


@dataclass
class DisarmReport:
    disarmed: list[int] = field(default_factory=list)
    rearmed: list[int] = field(default_factory=list)  # armed again after their router's disarm
    failed: dict[int, str] = field(default_factory=dict)
    ended: int = 0


def windows_starting(snap: Snapshot, start: datetime) -> tuple[list[NightWindow], dict[int, str]]:
    """The opted-in lines whose cut starts at `start` (OPEN just before, CUT at it), with the
    end of that cut (the planner's next change for the line, CUT just before it); and the
    lines whose cut starts then but is no night's window, with why."""
    windows: list[NightWindow] = []
    refused: dict[int, str] = {}
    by_venue = _orders_by_venue(snap)
    for ref in snap.lines:
        device = snap.devices[ref.device_id]
        if not device_timed(device) or ref.line_id not in snap.targets:
            continue
        orders = by_venue.get(ref.venue_id, [])
        at_start = plan(orders, [ref], start)
        line_plan = at_start.lines[ref.line_id]
        if line_plan.desired is not LineState.CUT:
            continue
        if plan(orders, [ref], start - EPSILON).lines[ref.line_id].desired is LineState.CUT:
            continue  # cut already: nothing starts here
        end = at_start.next_change
        if end is None or end - start > LONGEST_WINDOW:
            refused[ref.line_id] = "the cut has no end within 24 h: not a night's window"
            continue
        if plan(orders, [ref], end - EPSILON).lines[ref.line_id].desired is not LineState.CUT:
            refused[ref.line_id] = "the cut is not in force until its end"
            continue
        windows.append(NightWindow(ref, snap.targets[ref.line_id], start, end, line_plan.order_ids))
    return windows, refused


def windows_ending(snap: Snapshot, end: datetime) -> list[NightWindow]:
    """The opted-in lines, on routers whose platform arms a window's end apart, whose cut ends
    at `end` (CUT just before, OPEN at it) and that are recorded cut: their restores, each a
    window [end, end) citing the orders of the cut that ends."""
    windows: list[NightWindow] = []
    by_venue = _orders_by_venue(snap)
    for ref in snap.lines:
        device = snap.devices[ref.device_id]
        if not device_timed(device) or ref.line_id not in snap.targets:
            continue
        if not restores_apart(device.platform):
            continue
        state = snap.states.get(ref.line_id)
        if state is None or state.state != LineState.CUT.value:
            continue  # not cut (yet): nothing to restore on the router's clock
        orders = by_venue.get(ref.venue_id, [])
        if plan(orders, [ref], end).lines[ref.line_id].desired is not LineState.OPEN:
            continue
        before = plan(orders, [ref], end - EPSILON).lines[ref.line_id]
        if before.desired is not LineState.CUT:
            continue
        windows.append(NightWindow(ref, snap.targets[ref.line_id], end, end, before.order_ids))
    return windows


def _orders_by_venue(snap: Snapshot) -> dict[int, list[OrderTerm]]:
    """Each venue's orders: a line is planned against its venue's orders only."""
    found: dict[int, list[OrderTerm]] = defaultdict(list)
    for order in snap.orders:
        found[order.venue_id].append(order)
    return found


def arm(
    store: Store,
    driver_factory: DriverFactory,
    window_start: datetime,
    actor: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    timeout: float = 20.0,
    workers: int = 16,
    stop: threading.Event | None = None,
    devices: set[int] | None = None,
    kind: str = CUT,
) -> ArmReport:
    """Arm every opted-in line whose cut starts at `window_start` on its router's own clock,
    where that clock is trusted; log every other one as left to controller timing. With `stop`
    set, routers not yet started are left to controller timing (the instant has come); with
    `devices`, only those routers' lines are considered. With `kind=RESTORE`, the restores at
    `window_start` of the lines whose cut ends then, on routers that arm a window's end apart
    (`windows_ending`); a router with cuts starting at that instant too is left to the pass
    (its one scheduled commit arms the cuts)."""
    if not 0 < tolerance <= MAX_CLOCK_TOLERANCE:
        raise ValueError(f"the clock tolerance must be in (0, {MAX_CLOCK_TOLERANCE:g}] s")
    if kind not in (CUT, RESTORE):
        raise ValueError(f"nothing arms a {kind!r}")
    start = as_utc(window_start)
    snap = store.snapshot()
    if kind == RESTORE:
        windows, refused = windows_ending(snap, start), {}
        starting = {w.line.device_id for w in windows_starting(snap, start)[0]}
        for window in [w for w in windows if w.line.device_id in starting]:
            windows.remove(window)
            refused[window.line_id] = (
                "cuts start on its router at the same instant, armed in its one scheduled "
                "commit: the restore is the pass's"
            )
    else:
        windows, refused = windows_starting(snap, start)
    if devices is not None:
        windows = [w for w in windows if w.line.device_id in devices]
        device_of = {ref.line_id: ref.device_id for ref in snap.lines}
        refused = {i: why for i, why in refused.items() if device_of.get(i) in devices}
    report = ArmReport(uuid.uuid4().hex[:16], start, kind=kind)
    by_device: dict[int, list[NightWindow]] = defaultdict(list)
    for window in windows:
        by_device[window.line.device_id].append(window)
    if refused:
        lines = {ref.line_id: ref for ref in snap.lines}
        _fall_back(
            store, actor, report,
            [(lines[line_id], snap.line_venue[line_id], (), reason)
             for line_id, reason in refused.items()],
            start,
        )  # fmt: skip
    if not by_device:
        return report
    arming = _Arming(store, driver_factory, actor, tolerance, timeout, report, snap, stop)

    def one(device_id: int, windows: list[NightWindow]) -> None:
        try:
            arming.device(snap.devices[device_id], windows, claims)
        except Exception as exc:  # noqa: BLE001 - one router's failure must not stop the rest
            # (a store that timed out, a bug): its lines not armed are cut by the pass at the
            # instant, as every line the arming left to controller timing
            name = snap.devices[device_id].name
            log.exception("arming %s failed; its lines are left to controller timing", name)
            for window in windows:
                if window.line_id not in report.armed:
                    report.fallbacks.setdefault(
                        window.line_id, f"arming failed: {type(exc).__name__}: {exc}"
                    )

    with claims_for(store.engine) as claims:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(by_device)))) as pool:
            for done in pool.map(lambda item: one(*item), by_device.items()):
                del done
    return report


class _Arming:
    """One `arm` run's shared context; `device` works one router (in a worker thread)."""

    def __init__(
        self,
        store: Store,
        driver_factory: DriverFactory,
        actor: str,
        tolerance: float,
        timeout: float,
        report: ArmReport,
        snap: Snapshot,
        stop: threading.Event | None = None,
    ) -> None:
        self.store, self.driver_factory, self.actor = store, driver_factory, actor
        self.tolerance, self.timeout, self.report, self.snap = tolerance, timeout, report, snap
        self.stop = stop
        self.kind = report.kind
        # the workers' writes, one at a time: queued here, not on SQLite's lock, whose busy
        # wait polls and let some of 256 routers wait past its 30 s
        self.writes = threading.Lock()

    @property
    def restores(self) -> bool:
        return self.kind == RESTORE

    def fall_back(self, windows: list[NightWindow], reason: str, evidence: str = "") -> None:
        with self.writes:
            _fall_back(
                self.store, self.actor, self.report,
                [(w.line, self.snap.line_venue[w.line_id], w.order_ids, reason) for w in windows],
                self.report.window_start, evidence,
            )  # fmt: skip

    def device(self, device: Device, windows: list[NightWindow], claims: Claims) -> None:
        device_id = device.id or 0
        if self.stop is not None and self.stop.is_set():
            self.fall_back(windows, "the instant came before its router's arming began")
            return
        if device.frozen:
            self.fall_back(windows, "device frozen by the NOC")
            return
        if not claims.try_claim(device_id):
            self.fall_back(
                windows, "device claimed by a push or read under way (this instance or another)"
            )
            return
        try:
            try:
                driver = self.driver_factory(device, self.timeout)
            except DriverError as exc:
                self.fall_back(windows, f"{type(exc).__name__}: {exc}")
                return
            if not isinstance(driver, RestoreTimed if self.restores else DeviceTimed):
                what = "of a window's end " if self.restores else ""
                self.fall_back(windows, f"device timing {what}is not built for {device.platform}")
                return
            with driver:
                self._arm(device, driver, windows)
        except DriverError as exc:
            left = [w for w in windows if w.line_id not in self.report.armed]
            left = [w for w in left if w.line_id not in self.report.fallbacks]
            self.fall_back(left, f"{type(exc).__name__}: {exc}")
        finally:
            claims.release(device_id)

    def _arm(
        self, device: Device, driver: DeviceTimed | RestoreTimed, windows: list[NightWindow]
    ) -> None:
        clock = self.store.clock
        before = clock.now()
        reading = driver.read_clock()
        after = clock.now()
        controller_time = before + (after - before) / 2
        uncertainty = (after - before).total_seconds() / 2
        trusted: dict[tuple[datetime, datetime], list[NightWindow]] = defaultdict(list)
        # a router armed as a whole (Junos: one scheduled commit) takes every line starting at
        # an instant in one arming, whatever their ends (the controller restores there)
        whole = bool(getattr(driver, "arms_whole_router", False))
        ends: dict[datetime, datetime] = {}
        for window in windows:
            reason = untrusted(
                reading, controller_time, window.start, window.end, zone(window.line.zone),
                self.tolerance, uncertainty,
            )  # fmt: skip
            if reason is None:
                end = ends.setdefault(window.start, window.end) if whole else window.end
                trusted[(window.start, end)].append(window)
            else:
                self.fall_back([window], reason, reading.text)
        for (start, end), group in trusted.items():
            self._arm_group(device, driver, reading, start, end, group, controller_time)

    def _arm_group(
        self,
        device: Device,
        driver: DeviceTimed | RestoreTimed,
        reading: DeviceClock,
        start: datetime,
        end: datetime,
        windows: list[NightWindow],
        controller_time: datetime,
    ) -> None:
        store, actor, pass_id = self.store, self.actor, self.report.pass_id
        venue = self.snap.line_venue
        now = store.clock.now()
        restores = self.restores
        # each line's own window (a router armed as a whole may group lines of several ends)
        spans = {w.line_id: _span(w.start, w.end, w.line.zone) for w in windows}
        what = "restore" if restores else "cut"
        action = "arm_restore" if restores else "arm"
        # written ahead: the rows (watched by `disarm_revoked` from now on) and the intents
        with self.writes:
            _upsert_rows(store, [(w, device.id or 0) for w in windows], ARMING, now, self.kind)
            intents = store.append(
                [
                    NewChange(
                        at=now, kind="intent", action=action, actor=actor, pass_id=pass_id,
                        order_ids=w.order_ids, line_id=w.line_id, venue_id=venue[w.line_id],
                        device_id=device.id,
                        detail=f"arm the {what} {spans[w.line_id]} on the device's own clock",
                    )
                    for w in windows
                ]
            )  # fmt: skip
        targets = [w.target for w in windows]
        if restores:
            assert isinstance(driver, RestoreTimed)
            result = driver.arm_restore(targets, end, reading.zone)
        else:
            assert isinstance(driver, DeviceTimed)
            result = driver.arm(targets, start, end, reading.zone)
        by_line = {line.line_id: line for line in result.lines}
        offset = (reading.time - controller_time).total_seconds() if reading.time else 0.0
        trust = (
            f"device clock {offset:+.3f} s off the controller's, NTP-synchronised, zone "
            f"{utc_offset_text(reading.zone.offset_at(start))} at the start and "
            f"{utc_offset_text(reading.zone.offset_at(end))} at the end"
        )
        if reading.utc_bounds:  # the window goes to the device in UTC: its zone is not used
            trust = (
                f"device clock {offset:+.3f} s off the controller's, NTP-synchronised; the "
                f"window in UTC (the device's zone not used)"
            )
        failed = [w for w in windows if not _done(by_line.get(w.line_id))]
        cleanup: StageResult | None = None
        if failed:
            # a line half armed could still change on its own: its armed objects go again
            failed_ids = [w.line_id for w in failed]
            if isinstance(driver, RestoreTimed) and restores:
                cleanup = driver.disarm_restore(failed_ids)
            elif isinstance(driver, DeviceTimed):
                cleanup = driver.disarm(failed_ids)
        cleaned = {line.line_id for line in cleanup.lines if line.done} if cleanup else set()
        when = store.clock.now()
        # how the platform arms, when not with a time-range (Junos: a scheduled commit)
        words = getattr(driver, "restore_armed_as" if restores else "armed_as", None)
        platform_words = (
            words(end if restores else start, reading.zone) if callable(words) else None
        )
        entries = []
        for window, intent in zip(windows, intents, strict=True):
            line = by_line.get(window.line_id)
            armed = _done(line)
            name = time_range_name(window.line_id)
            armed_as = "rules bounded in UTC" if reading.utc_bounds else f"time-range {name}"
            armed_as = platform_words or armed_as
            span = spans[window.line_id]
            if restores:
                detail = (
                    f"the restore {span} armed: {armed_as}, the device restores by its own "
                    f"clock; {trust}"
                )
            else:
                detail = (
                    f"armed for {span}: {armed_as}, the device cuts at the start by its own "
                    f"clock; {trust}"
                )
            if not armed:
                detail = f"arming failed, controller timing for the {what} {span}" + (
                    "" if window.line_id in cleaned else "; its armed objects may remain"
                )
            # until the instant the line is as it was: open before a cut, cut before a restore
            until = LineState.CUT if restores else LineState.OPEN
            done = "armed_restore" if restores else "armed"
            entries.append(
                NewChange(
                    at=when, kind="outcome", action=done if armed else action, actor=actor,
                    pass_id=pass_id, order_ids=window.order_ids, line_id=window.line_id,
                    venue_id=venue[window.line_id], device_id=device.id, intent_seq=intent.seq,
                    commands=line.commands if line else (), device_output=result.device_output,
                    state_after=until.value, verified=armed,
                    error=None if armed else _error(line, result), detail=detail,
                )
            )  # fmt: skip
        with self.writes:
            written = store.append(entries)
            self._settle_rows(windows, written, cleaned)

    def _settle_rows(
        self, windows: list[NightWindow], written: list[Change], cleaned: set[int]
    ) -> None:
        """Each window's row after its outcome: armed, or still watched while its armed
        objects may remain on the device."""
        with _row_writes(self.store) as s:
            for window, record in zip(windows, written, strict=True):
                row = s.exec(
                    select(ArmedWindow).where(
                        ArmedWindow.line_id == window.line_id,
                        ArmedWindow.window_start == window.start,
                    )
                ).one()
                if record.verified:
                    row.status, row.change_seq = ARMED, record.seq
                    self.report.armed.append(window.line_id)
                else:
                    row.status = FAILED if window.line_id in cleaned else ARMING
                    row.change_seq = record.seq
                    self.report.fallbacks[window.line_id] = record.error or "arming failed"
                s.add(row)
            s.commit()


def _done(line: StagedLine | None) -> bool:
    return line is not None and line.done


def _error(line: StagedLine | None, result: StageResult) -> str:
    if line is not None and line.error:
        return line.error
    if result.error is not None:
        return f"{type(result.error).__name__}: {result.error}"
    return "no answer for the line"


def _span(start: datetime, end: datetime, venue_zone: str) -> str:
    tz = zone(venue_zone)
    if start == end:  # a restore's instant
        return f"at {end.isoformat()} ({end.astimezone(tz):%Y-%m-%d %H:%M} {venue_zone})"
    return (
        f"[{start.isoformat()}, {end.isoformat()}) "
        f"({start.astimezone(tz):%Y-%m-%d %H:%M}–{end.astimezone(tz):%H:%M} {venue_zone})"
    )


def _fall_back(
    store: Store,
    actor: str,
    report: ArmReport,
    lines: list[tuple[LineRef, int, tuple[int, ...], str]],
    start: datetime,
    evidence: str = "",
) -> None:
    """Log each line as left to controller timing for the cut due at `start`, and why."""
    if not lines:
        return
    now = store.clock.now()
    store.append(
        [
            NewChange(
                at=now, kind="admin", action="timing_fallback", actor=actor,
                pass_id=report.pass_id, order_ids=order_ids, line_id=ref.line_id,
                venue_id=venue_id, device_id=ref.device_id, device_output=evidence,
                detail=f"controller timing for the {report.kind} due at {start.isoformat()}: "
                f"{reason}",
            )
            for ref, venue_id, order_ids, reason in lines
        ]
    )  # fmt: skip
    for ref, _venue, _orders, reason in lines:
        report.fallbacks[ref.line_id] = reason
        log.info("line %s: controller timing: %s", ref.line_id, reason)


@contextmanager
def _row_writes(store: Store) -> Iterator[Session]:
    """A session for armed_windows rows, which it reads before it writes: begun IMMEDIATE on
    SQLite, so devices armed in parallel wait for each other's writes (a deferred read turned
    write cannot wait: it failed with 'database is locked' from four routers up)."""
    with store.engine.execution_options(**IMMEDIATE).begin() as connection:
        with Session(bind=connection, expire_on_commit=False) as session:
            yield session


def _upsert_rows(
    store: Store,
    windows: list[tuple[NightWindow, int]],
    status: str,
    now: datetime,
    kind: str = CUT,
) -> None:
    with _row_writes(store) as s:
        for window, device_id in windows:
            row = s.exec(
                select(ArmedWindow).where(
                    ArmedWindow.line_id == window.line_id,
                    ArmedWindow.window_start == window.start,
                )
            ).first() or ArmedWindow(
                line_id=window.line_id,
                device_id=device_id,
                window_start=window.start,
                window_end=window.end,
                armed_at=now,
            )
            row.device_id, row.window_end, row.status = device_id, window.end, status
            row.kind = kind
            row.order_ids_json = json.dumps(list(window.order_ids))
            row.armed_at, row.settled_at = now, None
            s.add(row)
        s.commit()


def armed_windows(store: Store, statuses: tuple[str, ...] = WATCHED) -> list[ArmedWindow]:
    """The rows in these states, oldest window first."""
    with store.session() as s:
        query = (
            select(ArmedWindow)
            .where(col(ArmedWindow.status).in_(statuses))
            .order_by(col(ArmedWindow.window_start), col(ArmedWindow.line_id))
        )
        return list(s.exec(query))


def armed_after(store: Store, instant: datetime) -> list[ArmedWindow]:
    """The armed rows whose instant (a cut's start, a restore's) is still to come after
    `instant`, soonest first: what the routers will do on their own clocks."""
    with store.session() as s:
        query = (
            select(ArmedWindow)
            .where(ArmedWindow.status == ARMED, ArmedWindow.window_start > as_utc(instant))
            .order_by(col(ArmedWindow.window_start), col(ArmedWindow.line_id))
        )
        return list(s.exec(query))


def armed_for(store: Store, window_start: datetime) -> set[int]:
    """The lines armed on their routers' clocks to cut at `window_start` (row `armed`)."""
    with store.session() as s:
        query = select(ArmedWindow.line_id).where(
            ArmedWindow.window_start == as_utc(window_start),
            ArmedWindow.status == ARMED,
            ArmedWindow.kind == CUT,
        )
        return set(s.exec(query))


def disarm_revoked(
    store: Store,
    driver_factory: DriverFactory,
    now: datetime,
    actor: str,
    *,
    timeout: float = 20.0,
) -> DisarmReport:
    """Remove the armed cuts no order justifies any more (revoked, suspended, amended, the
    line blocked or gone): the plan at the window's start, or now if the window has begun,
    does not cut the line. Bindings go first, the time-range last. Cancel the armed restores
    an order keeps from their instant: the plan then cuts the line (a suspension issued since,
    an order amended to run on). Rows whose window is over are marked ended (the ordinary
    restore removes what is left), once the router has surely acted on their end: where an
    order keeps the line cut past it, the router opened the line on its own clock and the line
    is recorded unknown, for the next pass to cut it again."""
    now = as_utc(now)
    report = DisarmReport()
    rows = armed_windows(store)
    # a row the router acts on at its end (an armed restore, a cut whose arming holds its end)
    # is settled once the router has surely done so; until then it is neither cancelled (too
    # late) nor ended. A cut that ends on no clock (Junos: its restore is armed apart) is over
    # at its end.
    ending = {row.device_id for row in rows if row.kind == CUT and row.window_end <= now}
    opens_apart = _arms_restores(store, ending) if ending else set()
    over = [
        row
        for row in rows
        if row.window_end <= now
        and (
            (row.kind == CUT and row.device_id in opens_apart)
            or row.window_end + RESTORE_SETTLE <= now
        )
    ]
    live = [row for row in rows if row.window_end > now]
    # the settled rows whose end the router acted on by its own clock: their lines are planned
    acted = [row for row in over if row.kind == RESTORE or row.device_id not in opens_apart]
    # one snapshot for both: read only when some row needs its line planned
    snap = store.snapshot() if live or acted else None
    if over:
        if acted and snap is not None:
            _opened_against_orders(store, snap, acted, now, actor)
        with _row_writes(store) as s:
            for row in over:
                row.status, row.settled_at = ENDED, now
                s.add(row)
            s.commit()
        report.ended = len(over)
    if not live or snap is None:
        return report
    refs = {ref.line_id: ref for ref in snap.lines}
    by_venue = _orders_by_venue(snap)
    stale: dict[int, list[ArmedWindow]] = defaultdict(list)
    keeping: dict[int, tuple[int, ...]] = {}  # a restore's line: the orders keeping it cut
    for row in live:
        ref = refs.get(row.line_id)
        instant = max(now, row.window_start)
        if row.kind == RESTORE:
            keeps = _kept_cut(row, refs, by_venue, instant)
            if keeps is not None:
                keeping[row.line_id] = keeps
                stale[row.device_id].append(row)
            continue
        if ref is not None and ref.device_id == row.device_id:
            orders = by_venue.get(ref.venue_id, [])
            if plan(orders, [ref], instant).lines[ref.line_id].desired is LineState.CUT:
                continue
        stale[row.device_id].append(row)
    if not stale:
        return report
    pass_id = uuid.uuid4().hex[:16]
    rearm: dict[int, set[tuple[datetime, str]]] = {}
    with claims_for(store.engine) as claims:
        for device_id, device_rows in stale.items():
            device = snap.devices.get(device_id)
            if device is None or not claims.try_claim(device_id):
                for row in device_rows:
                    report.failed[row.line_id] = "device not available (claimed or gone)"
                continue
            whole = False
            try:
                for kind in (CUT, RESTORE):
                    rows_of_kind = [row for row in device_rows if row.kind == kind]
                    if rows_of_kind:
                        whole |= _disarm_device(
                            store, driver_factory, device, rows_of_kind, actor, pass_id,
                            timeout, report, snap.line_venue, keeping,
                        )  # fmt: skip
            finally:
                claims.release(device_id)
            if whole:
                rearm[device_id] = {
                    (row.window_start, row.kind)
                    for row in live
                    if row.device_id == device_id
                    and row.status == ARMED
                    and row.window_start > now
                    and row.line_id not in {r.line_id for r in device_rows}
                }
    # a router armed as a whole (one scheduled commit) lost its other lines' arming with the
    # disarm: they are armed again, or logged as left to controller timing
    for device_id, starts in rearm.items():
        for start, kind in sorted(starts):
            again = arm(
                store, driver_factory, start, actor, timeout=timeout, devices={device_id},
                kind=kind,
            )  # fmt: skip
            report.rearmed.extend(again.armed)
    return report


def _arms_restores(store: Store, device_ids: set[int]) -> set[int]:
    """Of these devices, those whose platform arms a window's end apart (`arms_restores`: its
    armed cut ends on no clock) or is no platform's any more (nothing of it ends by itself)."""
    with Session(store.engine) as s:
        found = s.exec(
            select(Device.id, Device.platform).where(col(Device.id).in_(sorted(device_ids)))
        ).all()
    platforms = {device_id: platform for device_id, platform in found}
    return {
        device_id
        for device_id in device_ids
        if (platform := platforms.get(device_id)) is None
        or platform not in DRIVERS
        or restores_apart(platform)
    }


def _kept_cut(
    row: ArmedWindow,
    refs: dict[int, LineRef],
    by_venue: dict[int, list[OrderTerm]],
    instant: datetime,
) -> tuple[int, ...] | None:
    """The orders that keep an armed restore's line cut at `instant`, None if none does. A
    line gone or moved is no order's: its restore stands, as the pass's would."""
    ref = refs.get(row.line_id)
    if ref is None or ref.device_id != row.device_id:
        return None
    keeps = plan(by_venue.get(ref.venue_id, []), [ref], instant).lines[ref.line_id]
    return keeps.order_ids if keeps.desired is LineState.CUT else None


def _opened_against_orders(
    store: Store, snap: Snapshot, rows: list[ArmedWindow], now: datetime, actor: str
) -> list[int]:
    """Of these settled rows, whose window's end the router acted on by its own clock (an
    armed restore run; a cut whose arming holds its end, on every platform that does not arm
    restores apart), those an order keeps cut past it: the order came too late to cancel the
    restore, or the cancel failed; a suspension or an amendment came after the cut was armed
    with its end. The router may have opened the line. Each is recorded in an unknown state,
    citing the orders, so that the next pass reads its router and cuts it again. The lines
    so recorded."""
    refs = {ref.line_id: ref for ref in snap.lines}
    by_venue = _orders_by_venue(snap)
    entries = []
    for row in rows:
        keeps = _kept_cut(row, refs, by_venue, now)
        if keeps is None:
            continue
        if row.kind == RESTORE:
            what = (
                f"the restore armed for {row.window_start.isoformat()} was not cancelled, "
                "though an order keeps the line cut"
            )
        else:
            what = (
                f"the cut armed for {row.window_start.isoformat()} ended at "
                f"{row.window_end.isoformat()} on the router's clock, though an order keeps the "
                "line cut past it"
            )
        entries.append(
            NewChange(
                at=now, kind="admin", action="restore_ran", actor=actor,
                order_ids=keeps, line_id=row.line_id,
                venue_id=snap.line_venue.get(row.line_id), device_id=row.device_id,
                state_after=LineState.UNKNOWN.value,
                detail=f"{what}: the router may have opened it on its own clock; unknown until "
                "a pass reads it",
            )
        )  # fmt: skip
    if not entries:
        return []

    def states(written: list[Change]) -> list[LineStatus]:
        return [
            LineStatus(
                line_id=record.line_id or 0, state=LineState.UNKNOWN.value, checked_at=now,
                change_seq=record.seq, order_ids_json=json.dumps(record.order_ids),
            )
            for record in written
        ]  # fmt: skip

    written = store.append(entries, states=states)
    for record in written:
        log.warning("line %s: %s", record.line_id, record.detail)
    return [record.line_id or 0 for record in written]


def _disarm_device(
    store: Store,
    driver_factory: DriverFactory,
    device: Device,
    rows: list[ArmedWindow],
    actor: str,
    pass_id: str,
    timeout: float,
    report: DisarmReport,
    venue: dict[int, int],
    keeping: dict[int, tuple[int, ...]],
) -> bool:
    """Disarm these rows' lines (of one kind) on their router; whether its driver arms a
    router as a whole (its other armed lines need arming again). A cut disarmed leaves the
    line open; a restore disarmed leaves it cut, citing the orders that keep it so
    (`keeping`)."""
    now = store.clock.now()
    whole = False
    restores = rows[0].kind == RESTORE

    def cited(row: ArmedWindow) -> tuple[int, ...]:
        return keeping.get(row.line_id, ()) if restores else tuple(row.order_ids)

    def why(row: ArmedWindow) -> str:
        if restores:
            return (
                f"an order keeps the line cut at {row.window_start.isoformat()}: cancel its "
                f"armed restore"
            )
        return (
            f"no order cuts the line in its armed window [{row.window_start.isoformat()}, "
            f"{row.window_end.isoformat()}) any more: remove its time-bound cut"
        )

    action, done_action = (
        ("disarm_restore", "disarmed_restore") if restores else ("disarm", "disarmed")
    )
    intents = store.append(
        [
            NewChange(
                at=now, kind="intent", action=action, actor=actor, pass_id=pass_id,
                order_ids=cited(row), line_id=row.line_id, venue_id=venue.get(row.line_id),
                device_id=device.id, detail=why(row),
            )
            for row in rows
        ]
    )  # fmt: skip
    line_ids = [row.line_id for row in rows]
    try:
        driver = driver_factory(device, timeout)
        whole = bool(getattr(driver, "arms_whole_router", False))
        if restores:
            if not isinstance(driver, RestoreTimed):
                raise DriverError(
                    f"device timing of a window's end is not built for {device.platform}"
                )
            with driver:
                result = driver.disarm_restore(line_ids)
        else:
            if not isinstance(driver, DeviceTimed):
                raise DriverError(f"device timing is not built for {device.platform}")
            with driver:
                result = driver.disarm(line_ids)
    except DriverError as exc:
        lines = tuple(StagedLine(row.line_id, (), False, str(exc)) for row in rows)
        result = StageResult(device.name, lines, error=exc, device_output=exc.output)
    by_line = {line.line_id: line for line in result.lines}
    when = store.clock.now()
    entries = []
    for row, intent in zip(rows, intents, strict=True):
        line = by_line.get(row.line_id)
        done = _done(line)
        if restores:  # the line is cut still, whether or not the restore was cancelled
            after = LineState.CUT
        else:  # open on the device now, or unknown if the removal failed
            after = LineState.OPEN if done else LineState.UNKNOWN
        entries.append(
            NewChange(
                at=when, kind="outcome", action=done_action if done else action, actor=actor,
                pass_id=pass_id, order_ids=cited(row), line_id=row.line_id,
                venue_id=venue.get(row.line_id), device_id=device.id, intent_seq=intent.seq,
                commands=line.commands if line else (), device_output=result.device_output,
                state_after=after.value, verified=done,
                error=None if done else _error(line, result),
            )
        )  # fmt: skip

    def states(written: list[Change]) -> list[LineStatus]:
        return [
            LineStatus(
                line_id=record.line_id or 0, state=record.state_after or "unknown",
                checked_at=when, change_seq=record.seq,
                order_ids_json="[]" if record.verified else json.dumps(record.order_ids),
            )
            for record in written
            if record.line_id is not None and record.line_id in venue
        ]  # fmt: skip

    # a cut disarmed moves the line's state; a restore cancelled leaves it as recorded: cut
    store.append(entries, states=None if restores else states)
    with _row_writes(store) as s:
        for row in rows:
            fresh = s.get(ArmedWindow, row.id)
            if fresh is None:
                continue
            if _done(by_line.get(row.line_id)):
                fresh.status, fresh.settled_at = DISARMED, when
                report.disarmed.append(row.line_id)
            else:
                report.failed[row.line_id] = _error(by_line.get(row.line_id), result)
            s.add(fresh)
        s.commit()
    return whole


# -- the scheduler's calls ----------------------------------------------------------------------


def arm_before(
    reconciler: Reconciler, instant: datetime, stop: threading.Event | None = None
) -> list[ArmReport]:
    """What the scheduler calls a lead before a transition (with its prepare): arm the cuts
    starting at `instant` on the routers that opted in, then the restores there on the routers
    that arm a window's end apart. Never raises: a failure leaves those cuts and restores to
    controller timing, as any fallback does. The reports of the armings that ran."""
    reports = []
    for kind in (CUT, RESTORE):
        try:
            reports.append(
                arm(
                    reconciler.store, reconciler.driver_factory, instant, reconciler.actor,
                    timeout=reconciler.device_timeout, workers=reconciler.workers, stop=stop,
                    kind=kind,
                )
            )  # fmt: skip
        except Exception:
            log.exception("arming the %ss due at %s failed: controller timing", kind, instant)
    return reports


def rearm_after_pass(reconciler: Reconciler, report: PassReport, now: datetime) -> list[ArmReport]:
    """Arm again what a pass may have unarmed: on a router armed as a whole (Junos: one
    scheduled commit), any change the pass pushed before the instant cancelled the schedule,
    and the lines it armed would wait for the pass at the instant. Their cuts are armed again
    (nothing is sent where the schedule stands); a router the pass did not touch is not read.
    Never raises: a failure leaves those cuts to controller timing."""
    touched = {result.device for result in report.results}
    if not touched:
        return []
    try:
        store = reconciler.store
        rows = armed_after(store, now)
        if not rows:  # one query, on every pass but those before an armed instant
            return []
        with store.session() as s:
            devices = s.exec(select(Device).where(col(Device.name).in_(touched))).all()
        whole = {
            device.id
            for device in devices
            if getattr(driver_for(device.platform), "arms_whole_router", False)
        }
        rows = [row for row in rows if row.device_id in whole]
        reports = []
        armings = sorted({(row.device_id, row.window_start, row.kind) for row in rows})
        for device_id, start, kind in armings:
            again = arm(
                store, reconciler.driver_factory, start, reconciler.actor,
                timeout=reconciler.device_timeout, devices={device_id}, kind=kind,
            )  # fmt: skip
            reports.append(again)
        return reports
    except Exception:
        log.exception("arming again after pass %s failed: controller timing", report.pass_id)
        return []


def disarm_before_pass(reconciler: Reconciler, now: datetime) -> DisarmReport | None:
    """What the scheduler calls before every pass: remove the armed cuts no order justifies
    any more (one query when nothing is armed). Never raises; the pass itself, and the drift
    reads, remain the safety net."""
    try:
        return disarm_revoked(
            reconciler.store, reconciler.driver_factory, now, reconciler.actor,
            timeout=reconciler.device_timeout,
        )  # fmt: skip
    except Exception:
        log.exception("disarming revoked device-timed cuts failed; the next pass tries again")
        return None
