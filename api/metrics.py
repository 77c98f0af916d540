"""What the serving process watches: a pass hook that feeds the counters and histograms of
/metrics and the alerts, and the gauges of "now" computed from the store at each scrape.

Each app has its own registry (never prometheus-client's global one), so tests and several apps
in one process do not collide. The metric names are listed in `METRICS`, which the example
Prometheus rules and Grafana dashboard (api/deploy/) are checked against.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller.alerts import Alerts
from controller.device_timing import armed_after
from controller.health import error_class, health_now, lateness, readiness
from controller.reconciler import PassReport
from controller.scheduler import PassScheduler
from controller.settings import Settings
from controller.store import Store

log = logging.getLogger("curfew.metrics")

# the text format every Prometheus reads (prometheus-client writes it)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# seconds: a change verified at its instant, a tick late, an hour late, a night late
LATENESS_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 86400)
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)

# every series /metrics can show (counters with their _total, histograms with their parts)
METRICS = {
    # fed by each pass this process runs
    "curfew_outcomes_total": "changes by action, result (verified, or the error's class) "
    "and platform",
    "curfew_change_lateness_seconds": "verified cut or restore minus its due instant",
    "curfew_pass_duration_seconds": "how long each pass took",
    "curfew_passes_total": "passes completed",
    "curfew_last_pass_timestamp_seconds": "the instant of the last completed pass",
    # computed from the store at each scrape
    "curfew_store_up": "1 if the store answered this scrape",
    "curfew_ready": "1 if /readyz answers ready",
    "curfew_scheduler_running": "1 if this process's scheduler runs (absent without one)",
    "curfew_device_reachable": "1 if the device's last session succeeded, 0 if it failed",
    "curfew_device_lines": "lines served by the device",
    "curfew_lines_not_in_desired_state": "lines whose recorded state is not the planned one",
    "curfew_lines_cut_past_window": "lines recorded cut (or perhaps cut) while planned open",
    "curfew_cut_past_window_oldest_seconds": "how long the longest-overdue such line has been",
    "curfew_cuts_unverified": "lines whose last cut did not verify (not a device failure)",
    "curfew_lines_armed": "lines armed on the device's own clock still to come, by kind (cut "
    "or restore)",
    "curfew_next_transition_timestamp_seconds": "the next instant any line's plan changes",
    "curfew_log_head_seq": "the change log's newest seq",
    "curfew_checkpoint_seq": "seq of the newest signed checkpoint",
    "curfew_checkpoint_age_seconds": "age of the newest signed checkpoint",
    "curfew_checkpoint_outside_seq": "seq of the newest checkpoint in CURFEW_CHECKPOINT_DIR",
    "curfew_checkpoint_outside_age_seconds": "age of the newest checkpoint held outside",
    "curfew_checkpoint_publish_ok": "0 while the last copy of a checkpoint outside failed",
    "curfew_alerts_open": "open alert incidents by alert name",
}
HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")


def exposed_names() -> set[str]:
    """Every series name /metrics can carry: METRICS, and each histogram's parts."""
    names = set(METRICS)
    for name in ("curfew_change_lateness_seconds", "curfew_pass_duration_seconds"):
        names |= {name + part for part in HISTOGRAM_PARTS}
    return names


class Monitor:
    """The app's registry, its pass hook (`on_pass`, which the app factory gives the
    scheduler) and its alerts, if any."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        scheduler: PassScheduler | None = None,
        alerts: Alerts | None = None,
        checkpoints_disabled: bool = False,
    ) -> None:
        self.store, self.settings, self.scheduler, self.alerts = store, settings, scheduler, alerts
        self.checkpoints_disabled = checkpoints_disabled
        self.registry = CollectorRegistry()
        self.outcomes = Counter(
            "curfew_outcomes", METRICS["curfew_outcomes_total"],
            ["action", "result", "platform"], registry=self.registry,
        )  # fmt: skip
        self.lateness = Histogram(
            "curfew_change_lateness_seconds", METRICS["curfew_change_lateness_seconds"],
            ["action"], buckets=LATENESS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "curfew_pass_duration_seconds", METRICS["curfew_pass_duration_seconds"],
            buckets=DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.passes = Counter(
            "curfew_passes", METRICS["curfew_passes_total"], registry=self.registry
        )
        self.last_pass_at: datetime | None = None  # the instant of the last completed pass
        self.registry.register(_Now(self))

    @property
    def checkpoint_dir(self) -> Path | None:
        checkpointer = self.store.checkpointer
        if checkpointer is not None and checkpointer.directory is not None:
            return checkpointer.directory
        return self.settings.checkpoint_dir

    def on_pass(self, report: PassReport) -> None:
        """After each pass: count its outcomes, their lateness and its duration, then evaluate
        the alerts on the store's state. Never raises: a failure here is logged."""
        if report.dry_run:
            return
        try:
            snap = self.store.snapshot()
            platforms = {b.device.name: b.device.platform for b in report.batches}
            for result in report.results:
                outcome = "verified" if result.verified else error_class(result.error)
                self.outcomes.labels(
                    result.change.intent_action,
                    outcome or "unverified",
                    platforms.get(result.device, "unknown"),
                ).inc()
            for late in lateness(report, snap):
                self.lateness.labels(late.action).observe(late.seconds)
            if report.duration_seconds is not None:
                self.duration.observe(report.duration_seconds)
            self.passes.inc()
            self.last_pass_at = report.at
            if self.alerts is not None:
                self.alerts.after_pass(report, health_now(self.store, snap, self.checkpoint_dir))
        except Exception:
            log.exception("metrics and alerts of pass %s not recorded", report.pass_id)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Now(Collector):
    """The gauges of "now", read from the store when scraped (one snapshot)."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: collect() reads the store

    def collect(self) -> Iterator[Metric]:
        monitor = self.monitor
        store = monitor.store
        ready = readiness(
            store, monitor.scheduler, monitor.settings.signing_key_file,
            monitor.checkpoints_disabled,
        )  # fmt: skip
        yield _gauge("curfew_ready", 1 if ready.ready else 0)
        if monitor.last_pass_at is not None:  # absent until this process completes a pass
            yield _gauge("curfew_last_pass_timestamp_seconds", monitor.last_pass_at.timestamp())
        if monitor.scheduler is not None:
            yield _gauge("curfew_scheduler_running", 1 if monitor.scheduler.running else 0)
        if monitor.alerts is not None:
            family = _family("curfew_alerts_open", ["alertname"])
            for name, count in monitor.alerts.open_counts().items():
                family.add_metric([name], count)
            yield family
        checkpointer = store.checkpointer
        if checkpointer is not None and (checkpointer.directory or checkpointer.webhook):
            yield _gauge("curfew_checkpoint_publish_ok", 0 if checkpointer.publish_error else 1)
        try:
            health = health_now(store, checkpoint_dir=monitor.checkpoint_dir)
        except Exception as exc:
            log.warning("/metrics: the store did not answer: %s", exc)
            yield _gauge("curfew_store_up", 0)
            return
        yield _gauge("curfew_store_up", 1)
        now = health.at
        reachable = _family("curfew_device_reachable", ["device", "platform"])
        lines = _family("curfew_device_lines", ["device"])
        off = _family("curfew_lines_not_in_desired_state", ["device"])
        past = _family("curfew_lines_cut_past_window", ["device"])
        unverified = _family("curfew_cuts_unverified", ["device"])
        unverified_by_device: dict[str, int] = {}
        for cut in health.unverified_cuts:
            unverified_by_device[cut.device] = unverified_by_device.get(cut.device, 0) + 1
        for device in health.devices:
            if device.reachable is not None:  # no sample for a device never contacted
                reachable.add_metric([device.name, device.platform], 1 if device.reachable else 0)
            lines.add_metric([device.name], device.lines)
            off.add_metric([device.name], device.not_desired)
            past.add_metric([device.name], device.cut_past_window)
            unverified.add_metric([device.name], unverified_by_device.get(device.name, 0))
        yield from (reachable, lines, off, past, unverified)
        yield _armed(store, now)
        overdue = [line.overdue(now) for line in health.past_window]
        oldest = max(
            (o.total_seconds() if o is not None else float("inf") for o in overdue), default=0.0
        )
        yield _gauge("curfew_cut_past_window_oldest_seconds", oldest)
        if health.next_transition is not None:
            yield _gauge(
                "curfew_next_transition_timestamp_seconds", health.next_transition.timestamp()
            )
        yield _gauge("curfew_log_head_seq", health.log_head_seq)
        if health.checkpoint is not None:
            yield _gauge("curfew_checkpoint_seq", health.checkpoint.seq)
            age = (now - health.checkpoint.at).total_seconds()
            yield _gauge("curfew_checkpoint_age_seconds", age)
        if health.outside is not None:
            yield _gauge("curfew_checkpoint_outside_seq", health.outside.seq)
            age = (now - health.outside.at).total_seconds()
            yield _gauge("curfew_checkpoint_outside_age_seconds", age)


def _armed(store: Store, now: datetime) -> GaugeMetricFamily:
    """What the devices will do on their own clocks after `now` (device timing): armed lines
    by device and kind, one query when nothing is armed."""
    family = _family("curfew_lines_armed", ["device", "kind"])
    rows = armed_after(store, now)
    if rows:
        names = {device.id: device.name for device in store.devices()}
        counts = Tally((names.get(row.device_id, str(row.device_id)), row.kind) for row in rows)
        for (device, kind), count in sorted(counts.items()):
            family.add_metric([device, kind], count)
    return family


def _family(name: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, METRICS[name], labels=labels)


def _gauge(name: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, METRICS[name], value=value)
