"""Alerts to a webhook in Alertmanager's JSON (a list of alerts with labels, annotations,
startsAt and, once resolved, endsAt), fired from the pass hook: once per incident, resolved when
it clears. Posting runs in a worker thread with a bounded queue: it never delays or fails a pass.

The open incidents live in the memory of the serving process. At start-up each device's run of
failed passes is read back from the change log; the other incidents are conditions of the store
(a line cut past its window, a cut not verified, a changed host key) or of this process (a
checkpoint copy that failed), found again by the first pass after a restart and announced again
then: a restart may repeat an alert, never lose one.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from controller.health import Health, device_error, error_class
from controller.models import Change, Device
from controller.reconciler import PassReport
from controller.settings import Settings
from controller.store import Store

log = logging.getLogger("curfew.alerts")

Alert = dict[str, Any]  # one alert as Alertmanager's API takes it

DEVICE_FAILING = "CurfewDeviceFailing"
HOST_KEY_CHANGED = "CurfewHostKeyChanged"
LINE_CUT_PAST_WINDOW = "CurfewLineCutPastWindow"
CUT_NOT_VERIFIED = "CurfewCutNotVerified"
CHECKPOINT_NOT_PUBLISHED = "CurfewCheckpointNotPublished"
ALERT_NAMES = (
    DEVICE_FAILING,
    HOST_KEY_CHANGED,
    LINE_CUT_PAST_WINDOW,
    CUT_NOT_VERIFIED,
    CHECKPOINT_NOT_PUBLISHED,
)


@dataclass(frozen=True)
class Condition:
    """Something wrong now, as one pass's evaluation finds it."""

    alertname: str
    severity: str  # critical | warning
    subject: tuple[tuple[str, str], ...]  # the labels that say what it is about (device, line)
    summary: str
    description: str
    since: datetime | None = None  # when it began, where known

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.alertname, self.subject


@dataclass
class Incident:
    condition: Condition
    starts_at: datetime
    sent_at: datetime  # the last time it was posted as firing

    def alert(self, ends_at: datetime | None = None) -> Alert:
        labels = {
            "alertname": self.condition.alertname,
            "severity": self.condition.severity,
            "service": "curfew",
            **dict(self.condition.subject),
        }
        alert: Alert = {
            "labels": labels,
            "annotations": {
                "summary": self.condition.summary,
                "description": self.condition.description,
            },
            "startsAt": self.starts_at.isoformat(),
        }
        if ends_at is not None:
            alert["endsAt"] = ends_at.isoformat()
        return alert


@dataclass(frozen=True)
class AlertRules:
    failed_passes: int = 3  # failed passes in a row before a device alerts
    late: timedelta = timedelta(seconds=300)  # a line cut this long past its window alerts
    repeat: timedelta | None = None  # re-send an open alert this often (None: once)

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertRules:
        return cls(
            failed_passes=settings.alert_failed_passes,
            late=timedelta(seconds=settings.alert_late_seconds),
            repeat=timedelta(seconds=settings.alert_repeat_seconds)
            if settings.alert_repeat_seconds
            else None,
        )


class WebhookSender:
    """Posts batches of alerts from one worker thread, started at the first batch. The queue
    is bounded: a batch that finds it full is dropped and logged. A post that fails (refused,
    timed out, a non-2xx answer) is logged; nothing is retried but by `AlertRules.repeat`."""

    def __init__(self, url: str, timeout: float = 5.0, capacity: int = 100) -> None:
        self.url, self.timeout = url, timeout
        self._queue: queue.Queue[list[Alert] | None] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.posted = 0  # batches the webhook accepted
        self.failed = 0  # batches it did not (or that were dropped)

    def send(self, alerts: list[Alert]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="curfew-alerts", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait(alerts)
        except queue.Full:
            self.failed += 1
            log.warning("alert queue full: %d alerts not posted to %s", len(alerts), self.url)

    def close(self, timeout: float = 5.0) -> None:
        """Post what is queued, within `timeout` seconds, and stop the worker."""
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("alert queue still full at stop: its alerts are not posted")
            return
        thread.join(timeout)

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                alerts = self._queue.get()
                if alerts is None:
                    return
                try:
                    client.post(self.url, json=alerts).raise_for_status()
                    self.posted += 1
                except httpx.HTTPError as exc:
                    self.failed += 1
                    log.warning("%d alerts not posted to %s: %s", len(alerts), self.url, exc)
                except Exception:  # never let the worker die: later alerts still go
                    self.failed += 1
                    log.exception("alerts not posted to %s", self.url)


class Alerts:
    """The incidents of this process, evaluated after each pass (`after_pass`), with the
    alerts they fire and resolve handed to `send` (a `WebhookSender`'s, in service)."""

    def __init__(
        self,
        store: Store,
        send: Callable[[list[Alert]], None],
        rules: AlertRules = AlertRules(),
    ) -> None:
        self.store, self.send, self.rules = store, send, rules
        self.open: dict[tuple[str, tuple[tuple[str, str], ...]], Incident] = {}
        self.failed_passes: dict[str, int] = {}  # device name -> failed passes in a row
        self._lock = threading.Lock()

    # -- start-up ------------------------------------------------------------------------

    def rebuild(self, limit: int = 500) -> None:
        """Read each device's run of failed passes back from its newest outcome records
        (at most `limit` a device): a device that was failing before a restart still alerts at
        its next failed pass, not N passes later."""
        changes = Change.__table__  # type: ignore[attr-defined]
        devices = Device.__table__  # type: ignore[attr-defined]
        with self.store.engine.connect() as connection:
            named = connection.execute(sa.select(devices.c.id, devices.c.name)).all()
            for device_id, name in named:
                rows = connection.execute(
                    sa.select(changes.c.pass_id, changes.c.error)
                    .where(changes.c.device_id == device_id, changes.c.kind == "outcome")
                    .order_by(changes.c.seq.desc())
                    .limit(limit)
                )
                streak = failed_run((pass_id, error) for pass_id, error in rows if pass_id)
                if streak:
                    self.failed_passes[name] = streak

    # -- after each pass -----------------------------------------------------------------

    def after_pass(self, report: PassReport, health: Health) -> list[Alert]:
        """Count the pass's failed devices, find what is wrong now, and fire what is new and
        resolve what has cleared. Returns the alerts handed to `send`."""
        with self._lock:
            self._count(report)
            conditions = self._conditions(health)
            alerts = self._transition(conditions, health.at)
        if alerts:
            self.send(alerts)
        return alerts

    def _count(self, report: PassReport) -> None:
        by_device: dict[str, list[str | None]] = {}
        for result in report.results:
            by_device.setdefault(result.device, []).append(result.error)
        for device, errors in by_device.items():
            if all(device_error(error) for error in errors):
                self.failed_passes[device] = self.failed_passes.get(device, 0) + 1
            else:
                self.failed_passes.pop(device, None)

    def _conditions(self, health: Health) -> list[Condition]:
        found = []
        now = health.at
        known = {device.name for device in health.devices}
        for name in list(self.failed_passes):
            if name not in known:  # removed from the inventory
                del self.failed_passes[name]
        for device in health.devices:
            subject = (("device", device.name),)
            kind = error_class(device.last_error)
            if kind == "HostKeyMismatch":
                found.append(
                    Condition(
                        HOST_KEY_CHANGED, "critical", subject,
                        f"{device.name} offers another SSH host key than the one pinned",
                        f"{device.last_error}. Its lines are neither cut nor restored until the "
                        "NOC checks the key and accepts it (curfew devices accept-host-key).",
                        device.last_session_at,
                    )
                )  # fmt: skip
                continue  # the key is the incident; the failed passes follow from it
            failed = self.failed_passes.get(device.name, 0)
            if failed >= self.rules.failed_passes and not device.frozen:
                found.append(
                    Condition(
                        DEVICE_FAILING, "critical", subject,
                        f"{device.name} failed {failed} passes in a row",
                        f"Its last session failed: {device.last_error or 'unknown error'}. "
                        f"{device.not_desired} of its {device.lines} lines are not in their "
                        f"desired state ({device.cut_past_window} perhaps cut past their "
                        "window).",
                    )
                )  # fmt: skip
        for line in health.past_window:
            overdue = line.overdue(now)
            if overdue is not None and overdue <= self.rules.late:
                continue
            late = "more than 3 days" if overdue is None else _duration(overdue)
            found.append(
                Condition(
                    LINE_CUT_PAST_WINDOW, "critical",
                    (("device", line.device), ("line", line.name)),
                    f"line {line.name} on {line.device} is {line.recorded} {late} past its window",
                    f"No order in force cuts line {line.name} now; it is recorded "
                    f"{line.recorded} and was due to be open at "
                    f"{line.due.isoformat() if line.due else 'an instant over 3 days ago'}.",
                    line.due,
                )
            )  # fmt: skip
        for cut in health.unverified_cuts:
            found.append(
                Condition(
                    CUT_NOT_VERIFIED, "warning", (("device", cut.device), ("line", cut.name)),
                    f"the cut of line {cut.name} on {cut.device} could not be verified",
                    f"Change record {cut.seq} at {cut.at.isoformat()}: {cut.error}. The next "
                    "pass reads the device and tries again.",
                    cut.at,
                )
            )  # fmt: skip
        checkpointer = self.store.checkpointer
        if checkpointer is not None and checkpointer.publish_error:
            found.append(
                Condition(
                    CHECKPOINT_NOT_PUBLISHED, "warning", (),
                    "a signed checkpoint could not be copied outside the database",
                    f"{checkpointer.publish_error}. Without copies held outside, a truncated or "
                    "rewritten log cannot be proven.",
                )
            )  # fmt: skip
        return found

    def _transition(self, conditions: Iterable[Condition], now: datetime) -> list[Alert]:
        wanted = {condition.key: condition for condition in conditions}
        alerts = []
        for key in [key for key in self.open if key not in wanted]:
            alerts.append(self.open.pop(key).alert(ends_at=now))
        for key, condition in wanted.items():
            incident = self.open.get(key)
            if incident is None:
                incident = Incident(condition, condition.since or now, now)
                self.open[key] = incident
                alerts.append(incident.alert())
                continue
            incident.condition = condition  # its words follow what is seen now
            if self.rules.repeat is not None and now - incident.sent_at >= self.rules.repeat:
                incident.sent_at = now
                alerts.append(incident.alert())
        return alerts

    def open_counts(self) -> Mapping[str, int]:
        """Open incidents by alert name (every name present, 0 when none)."""
        with self._lock:
            counts = dict.fromkeys(ALERT_NAMES, 0)
            for name, _ in self.open:
                counts[name] = counts.get(name, 0) + 1
            return counts


def failed_run(records: Iterable[tuple[str, str | None]]) -> int:
    """How many passes in a row, newest first, failed with a device error on every record."""
    run, current, failed = 0, None, True
    for pass_id, error in records:
        if pass_id != current:
            if current is not None:
                if not failed:
                    return run
                run += 1
            current, failed = pass_id, True
        failed = failed and device_error(error) is not None
    if current is not None and failed:
        run += 1
    return run


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"


def alerts_from_settings(store: Store, settings: Settings) -> tuple[Alerts, WebhookSender] | None:
    """The service's alerts, posting to CURFEW_ALERT_WEBHOOK; None when it is not set."""
    if not settings.alert_webhook:
        return None
    sender = WebhookSender(settings.alert_webhook)
    return Alerts(store, sender.send, AlertRules.from_settings(settings)), sender
