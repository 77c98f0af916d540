"""When to reconcile: at start-up (catch-up), on a periodic tick, and at each planned transition.

The scheduler holds no truth: every pass plans from scratch, so a missed trigger heals on the
next one. `simulate` runs the same wake-up rule on a simulated clock (demo, tests). With a
prepare lead, a transition is prepared that long before it (`controller.prepare`) and its pass
binds over the sessions the prepare left open. With an arm lead, the cuts of routers opted in
to device timing are armed on their own clocks that long before it (`controller.device_timing`),
in a job of its own; without one they are armed with the prepare, first.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from controller.clock import Clock, SimulatedClock
from controller.device_timing import arm_before, disarm_before_pass, rearm_after_pass
from controller.prepare import PreparedPass, Preparer
from controller.reconciler import PassReport, Reconciler

log = logging.getLogger("curfew.scheduler")
pass_log = logging.getLogger("curfew.pass")  # one line per pass, and one per failed change


@dataclass(frozen=True)
class Stopped:
    """How the scheduler stopped: cleanly, or leaving a pass still running after the grace
    period (`abandoned_at`: the instant that pass began; `record_seq`: its `pass_abandoned`
    record, None if even that could not be written)."""

    abandoned_at: datetime | None = None
    record_seq: int | None = None

    @property
    def clean(self) -> bool:
        return self.abandoned_at is None


def next_wake(now: datetime, tick: timedelta, next_change: datetime | None) -> datetime:
    """The next pass is at the next tick or the next planned transition, whichever is first."""
    wake = now + tick
    return min(wake, next_change) if next_change and next_change > now else wake


class PassScheduler:
    def __init__(
        self,
        reconciler: Reconciler,
        clock: Clock,
        tick: timedelta = timedelta(seconds=60),
        on_pass: Callable[[PassReport], None] | None = None,
        feeds: Callable[[], bool] | None = None,
        drift_every: timedelta | None = None,
        stop_grace: float = 20.0,
        prepare_lead: timedelta | None = None,
        arm_lead: timedelta | None = None,
    ) -> None:
        self.reconciler = reconciler
        # how long before a transition device-timed cuts are armed (None or zero: with the
        # prepare, and never when there is none); never after the prepare
        self.arm_lead = max(arm_lead, prepare_lead or arm_lead) if arm_lead else None
        self.arm_at: datetime | None = None  # when, on the clock, the next arm job runs
        self._arm_for: datetime | None = None  # the transition the arm job is for
        self._armed_for: datetime | None = None  # the transition last armed
        self._arm_lock = threading.Lock()  # one arming at a time; held while it runs
        self._arm_stop = threading.Event()  # set: the arming in progress starts no router
        # how long before a transition its pass is prepared (None or zero: never)
        self.prepare_lead = prepare_lead if prepare_lead else None
        self.prepared: PreparedPass | None = None  # ready for the pass at `prepared.instant`
        self.prepare_at: datetime | None = None  # when, on the clock, the next prepare runs
        self._prepare_for: datetime | None = None  # the transition the prepare job is for
        self._prepare_guard = threading.Lock()
        self._prepare_stop = threading.Event()  # set: the prepare in progress starts no router
        self._prepare_done = threading.Event()
        self._prepare_done.set()
        self.stop_grace = stop_grace  # seconds `shutdown` waits for a pass in progress
        self.drift_every = drift_every  # how often a pass reads every device first
        self.feeds = feeds  # pulls the order feeds that are due; True if an order changed
        self.clock = clock
        self.tick = tick
        self.on_pass = on_pass
        self._lock = threading.Lock()
        # a requested pass waiting for the one running now serves every request made meanwhile
        self._request_guard = threading.Lock()
        self._request_queued = False
        self._request_ids = itertools.count(1)
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.next_transition: datetime | None = None
        self.last_report: PassReport | None = None
        self.stopped: Stopped | None = None
        self._stopping = threading.Event()
        self._running_since: datetime | None = None  # the instant of the pass in progress
        self.started_at: datetime | None = None  # the clock's reading when it started

    @property
    def running(self) -> bool:
        """Started, and not stopped or stopping."""
        return self._scheduler.running and not self._stopping.is_set()

    @property
    def pass_running_since(self) -> datetime | None:
        """The instant of the pass in progress, if one is."""
        return self._running_since

    def start(self) -> None:
        self.started_at = self.clock.now()
        self._scheduler.add_job(self._pass, id="startup", name="catch-up pass at start-up")
        self._scheduler.add_job(
            self._pass,
            IntervalTrigger(seconds=self.tick.total_seconds(), timezone=UTC),
            id="tick",
            name="periodic pass (drift, retries)",
        )
        if self.feeds is not None:
            self._scheduler.add_job(
                self._pull_feeds,
                IntervalTrigger(seconds=self.tick.total_seconds(), timezone=UTC),
                id="feeds",
                name="pull the order feeds that are due",
            )
        if self.drift_every is not None:
            self._scheduler.add_job(
                self._pass,
                IntervalTrigger(seconds=self.drift_every.total_seconds(), timezone=UTC),
                kwargs={"read_devices": True},
                id="drift",
                name="pass that reads every device first (drift)",
            )
        self._scheduler.start()

    def shutdown(self, grace: float | None = None) -> Stopped:
        """Stop waking passes and wait up to `grace` seconds (default `stop_grace`) for a pass
        in progress. A pass still running then is abandoned, in a recorded way: a
        `pass_abandoned` admin record names it; its intents stay in the log without outcomes,
        so the next pass reads those lines first. The caller decides how to end the process
        (a pass's device sessions cannot be interrupted from here)."""
        if self.stopped is not None:
            return self.stopped
        self._stopping.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)  # queued passes see `_stopping` and return
        wait = self.stop_grace if grace is None else grace
        self._prepare_stop.set()
        self._arm_stop.set()
        if self._lock.acquire(timeout=max(wait, 0.0)):
            self._lock.release()
            self._close_prepared()
            self.stopped = Stopped()
            return self.stopped
        self._close_prepared()
        at = self._running_since
        stopped = Stopped(abandoned_at=at)
        try:
            record = self.reconciler.store.log_admin(
                "pass_abandoned",
                self.reconciler.actor,
                detail=json.dumps(
                    {
                        "pass_at": at.isoformat() if at else None,
                        "grace_seconds": wait,
                        "why": "the controller was stopped while the pass was still pushing; "
                        "its intents without outcomes are resolved by the next pass, which "
                        "reads those lines first",
                    }
                ),
            )
            stopped = Stopped(abandoned_at=at, record_seq=record.seq)
        except Exception:
            log.exception("the abandoned pass could not be recorded in the change log")
        log.warning("stopping with the pass of %s in progress: abandoned after %s s", at, wait)
        self.stopped = stopped
        return stopped

    def _close_prepared(self) -> None:
        """Close the sessions of a prepared pass no pass will use now (staged bodies stay,
        bound nowhere: the next prepare or pass works from what it reads)."""
        with self._prepare_guard:
            prepared, self.prepared = self.prepared, None
        if prepared is not None:
            prepared.close()

    @property
    def prepare_wakes_at(self) -> datetime | None:
        """The real instant the scheduled prepare will run at, if one is scheduled."""
        job = self._scheduler.get_job("prepare")
        return None if job is None else job.next_run_time

    @property
    def arm_wakes_at(self) -> datetime | None:
        """The real instant the scheduled arm job will run at, if one is scheduled."""
        job = self._scheduler.get_job("arm")
        return None if job is None else job.next_run_time

    @property
    def transition_wakes_at(self) -> datetime | None:
        """The real instant the scheduled transition pass will run at, if one is scheduled."""
        job = self._scheduler.get_job("transition")
        return None if job is None else job.next_run_time

    def request_pass(self) -> None:
        """Reconcile now (e.g. an order was revoked: its line must not wait for 08:00)."""
        if not self._scheduler.running:
            return
        with self._request_guard:
            if self._request_queued:
                return  # a pass already waits to start: it will see this change too
            self._request_queued = True
        # a job of its own: one named like a pass still running would be skipped, and the
        # request lost until the next tick
        self._scheduler.add_job(self._pass, id=f"requested-{next(self._request_ids)}")

    def _pull_feeds(self) -> None:
        """A feed that changed an order is followed by a pass at once, as an API call is."""
        assert self.feeds is not None
        try:
            changed = self.feeds()
        except Exception:
            log.exception("pulling order feeds failed; the next tick tries again")
            return
        if changed:
            self.request_pass()

    def _pass(self, read_devices: bool = False, transition: datetime | None = None) -> None:
        if self._stopping.is_set():
            return
        with self._lock:  # passes never overlap, whichever job woke them
            # any pass plans from scratch now, so it serves the requests made before; one made
            # from here on needs another pass (and a request job lost somehow blocks nothing)
            with self._request_guard:
                self._request_queued = False
            if self._stopping.is_set():  # woken before the shutdown, waited for the lock
                return
            try:
                now = self.clock.now()
                self._running_since = now
                disarm_before_pass(self.reconciler, now)  # device-timed cuts no order wants
                prepared = self._take_prepared(now, transition)
                if prepared is not None:
                    report = self.reconciler.run_pass(
                        now, read_devices=read_devices, prepared=prepared
                    )
                elif read_devices:
                    report = self.reconciler.run_pass(now, read_devices=True)
                else:
                    report = self.reconciler.run_pass(now)
            except Exception:
                log.exception("reconcile pass failed; the next tick retries from scratch")
                return
            finally:
                self._running_since = None
            rearm_after_pass(self.reconciler, report, now)  # a Junos schedule the pass cancelled
            self.last_report = report
            self._plan_transition(report.plan.next_change)
        log_pass(report)
        if self.on_pass:
            try:
                self.on_pass(report)
            except Exception:  # metrics and alerts never fail a pass, nor stop the next
                log.exception("the pass hook failed after pass %s", report.pass_id)

    def _plan_transition(self, instant: datetime | None) -> None:
        self.next_transition = instant
        if self._stopping.is_set():
            return
        if instant is None:
            if self._scheduler.get_job("transition"):
                self._scheduler.remove_job("transition")
            self._plan_prepare(None)
            self._plan_arm(None)
            return
        self._scheduler.add_job(
            self._pass,
            DateTrigger(run_date=self.clock.wall_time_of(instant), timezone=UTC),
            kwargs={"transition": instant},
            id="transition",
            name=f"transition at {instant.isoformat()}",
            replace_existing=True,
        )
        self._plan_prepare(instant)
        self._plan_arm(instant)

    # -- arm device-timed cuts before the instant ----------------------------------------------

    def _plan_arm(self, instant: datetime | None) -> None:
        """Schedule the arming of the cuts starting at `instant`, `arm_lead` before it (at once
        if that is past), unless it is scheduled or done for that instant."""
        if self.arm_lead is None:
            return
        with self._prepare_guard:
            if instant == self._arm_for:
                return
            self._arm_for = instant
        self.arm_at = self._schedule_before(
            "arm", self._arm, instant, self.arm_lead, "arm the device-timed cuts at"
        )

    def _schedule_before(
        self,
        job: str,
        work: Callable[[datetime], None],
        instant: datetime | None,
        lead: timedelta,
        what: str,
    ) -> datetime | None:
        """Schedule `work(instant)` as the job `job`, `lead` before `instant` on the clock (at
        once if that is past), replacing the job's earlier schedule; with no instant, remove
        it. When it runs, on the clock, if at all."""
        if instant is None:
            if self._scheduler.get_job(job):
                self._scheduler.remove_job(job)
            return None
        at = instant - lead
        self._scheduler.add_job(
            work,
            DateTrigger(run_date=self.clock.wall_time_of(at), timezone=UTC),
            kwargs={"instant": instant},
            id=job,
            name=f"{what} {instant.isoformat()}",
            replace_existing=True,
        )
        return at

    def _arm(self, instant: datetime) -> None:
        """Arm the device-timed cuts starting at `instant`, once: the arm job and the prepare
        both call it, and whichever comes second waits for the first (the prepare then finds
        the armed lines with nothing to stage). Not once the instant has come: its pass cuts."""
        with self._arm_lock:
            if self._stopping.is_set() or instant == self._armed_for or instant <= self.clock.now():
                return
            with self._prepare_guard:
                stop = self._arm_stop = threading.Event()
            try:
                arm_before(self.reconciler, instant, stop)  # routers opted in to device timing
            finally:
                self._armed_for = instant

    # -- prepare before the instant ----------------------------------------------------------

    def _plan_prepare(self, instant: datetime | None) -> None:
        """Schedule the prepare of the transition at `instant`, `prepare_lead` before it (at
        once if that is past), unless it is scheduled, running or done for that instant."""
        if self.prepare_lead is None:
            return
        with self._prepare_guard:
            if instant == self._prepare_for:
                return
            self._prepare_for = instant
        self.prepare_at = self._schedule_before(
            "prepare", self._prepare, instant, self.prepare_lead, "prepare the transition at"
        )

    def _prepare(self, instant: datetime) -> None:
        """Outside the pass lock: a pass meanwhile waits only for the routers being prepared
        (`Reconciler.preparing`), never for the whole prepare."""
        with self._prepare_guard:
            if (
                self._stopping.is_set()
                or instant != self._prepare_for
                or instant <= self.clock.now()
            ):
                return  # stopping, another transition planned since, or this one has come
            stale, self.prepared = self.prepared, None
            stop = self._prepare_stop = threading.Event()
            self._prepare_done.clear()
        prepared = None
        try:
            if stale is not None:  # prepared for another instant: keep what this one cuts
                self._abandon(stale, instant)
            self._arm(instant)  # done already, or under way (waited for), or done now
            prepared = Preparer(self.reconciler).prepare(instant, stop)
        except Exception:
            log.exception("preparing the transition at %s failed: its pass pushes cold", instant)
        finally:
            with self._prepare_guard:
                if prepared is not None and self._stopping.is_set():
                    prepared.close()
                elif prepared is not None:
                    self.prepared = prepared
                self._prepare_done.set()
        if prepared is not None:
            log.info("%s", prepared.summary())
            for device, why in sorted(prepared.failed.items()):
                log.warning("prepare: %s pushed cold at the instant: %s", device, why)

    def _take_prepared(self, now: datetime, transition: datetime | None) -> PreparedPass | None:
        """The prepared pass this pass binds over: the transition pass of its instant takes it
        (a prepare still running is told to start no more routers and waited for, bounded),
        and so does any pass once its instant has come (a tick or a request may get the pass
        lock first). Every pass plans again at its own instant: it binds what still holds and
        discards the rest. One prepared for a later instant is kept for it; one made stale by
        a transition planned earlier is abandoned by the next prepare (`_prepare`)."""
        if transition is not None and transition in (self._arm_for, self._prepare_for):
            self._arm_stop.set()  # routers not yet armed are the pass's to cut
            if self._arm_lock.acquire(timeout=3 * self.reconciler.device_timeout + 5):
                self._arm_lock.release()
        if self.prepare_lead is None:
            return None
        if transition is not None and transition == self._prepare_for:
            self._prepare_stop.set()
            self._prepare_done.wait(timeout=3 * self.reconciler.device_timeout + 5)
        with self._prepare_guard:
            prepared = self.prepared
            if prepared is None or (prepared.instant > now and prepared.instant != transition):
                return None
            self.prepared = None
            return prepared

    def _abandon(self, prepared: PreparedPass, at: datetime) -> None:
        try:
            discarded = prepared.abandon(at)
            log.info(
                "the pass prepared for %s was not used: %d staged lines discarded",
                prepared.instant.isoformat(),
                discarded,
            )
        except Exception:
            log.exception("discarding what was staged for %s failed", prepared.instant)
        finally:
            prepared.close()


def log_pass(report: PassReport) -> None:
    """One line for the pass (what it changed, verified, failed, skipped, held; how long it
    took), and a warning for every change that failed: device, line, error."""
    failed = report.failures
    changes = len(report.results)
    held = report.held.cuts if report.held is not None else 0
    duration = report.duration_seconds or 0.0
    # a prepared pass: routers pushed over the prepare's sessions or cold, and whether it
    # followed the plan made ahead (if not, something changed since the prepare)
    over_prepared, cold = len(report.bound_prepared), len(report.pushed_cold)
    prepared = ""
    if report.sessions:
        prepared = f"; {over_prepared} routers over prepared sessions, {cold} cold, " + (
            "the plan made ahead" if report.planned_ahead else "planned at the instant"
        )
    pass_log.info(
        "pass %s at %s: %d changes, %d verified, %d failed, %d devices skipped, %d cuts held "
        "(%.2f s)%s",
        report.pass_id, report.at.isoformat(), changes, changes - len(failed), len(failed),
        len(report.skipped), held, duration, prepared,
        extra={
            "event": "pass", "pass_id": report.pass_id, "at": report.at.isoformat(),
            "changes": changes, "verified": changes - len(failed), "failed": len(failed),
            "skipped": len(report.skipped), "held": held, "duration_seconds": round(duration, 3),
            "prepared_routers": over_prepared, "cold_routers": cold,
            "planned_ahead": report.planned_ahead,
        },
    )  # fmt: skip
    for result in failed:
        change = result.change
        pass_log.warning(
            "pass %s: %s of line %d (%s) on %s failed: %s",
            report.pass_id, change.intent_action, change.line_id, change.target.interface,
            result.device, result.error or "not verified",
            extra={
                "event": "change_failed", "pass_id": report.pass_id, "device": result.device,
                "line_id": change.line_id, "interface": change.target.interface,
                "action": change.intent_action, "error": result.error or "not verified",
                "retryable": result.retryable,
            },
        )  # fmt: skip
    for skipped in report.skipped:  # frozen, or another instance's: not a failure
        pass_log.info(
            "pass %s: device %s", report.pass_id, skipped,
            extra={"event": "device_skipped", "pass_id": report.pass_id, "why": skipped},
        )  # fmt: skip


def simulate(
    reconciler: Reconciler,
    clock: SimulatedClock,
    start: datetime,
    end: datetime,
    tick: timedelta,
    events: Iterable[tuple[datetime, Callable[[], None]]] = (),
    on_pass: Callable[[PassReport], None] | None = None,
) -> list[PassReport]:
    """Run passes from `start` to `end` on a simulated clock, waking as the scheduler would.

    `events` are things that happen at given instants (an order revoked at 02:00); a pass
    follows each at once, as the API's revocation triggers one in the real service.
    """
    pending = sorted(events, key=lambda e: e[0])
    reports: list[PassReport] = []
    at = start
    limit = int((end - start) / tick) + 2 * len(pending) + 1000
    for _ in range(limit):
        if at > end:
            break
        clock.set(at)
        while pending and pending[0][0] <= at:
            pending.pop(0)[1]()
        report = reconciler.run_pass(at)
        reports.append(report)
        if on_pass:
            on_pass(report)
        wake = next_wake(at, tick, report.plan.next_change)
        if pending:
            wake = min(wake, pending[0][0])
        at = wake
    return reports
