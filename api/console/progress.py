"""The pass running now, in memory: fed by the reconciler as it works (a `PassObserver`), read
by the console's Passes page, which polls it. Only this process's passes: another instance's
show up in the change log's recent passes, not here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controller.reconciler import LineResult, PassReport


@dataclass
class Failed:
    device: str
    line_id: int
    action: str
    error: str


@dataclass
class PassRun:
    pass_id: str
    at: datetime  # the instant the pass planned for
    actor: str
    devices: list[str]  # the routers it works
    lines: int  # the lines it changes on them
    started: float = field(default_factory=time.monotonic)
    done: list[str] = field(default_factory=list)
    verified: int = 0
    failures: list[Failed] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    held: bool = False
    finished: bool = False
    seconds: float | None = None  # how long it took, once finished


class PassProgress:
    """The current (or last finished) pass of this process, and the few before it."""

    def __init__(self, actor: str = "", keep: int = 5) -> None:
        self._lock = threading.Lock()
        self._runs: list[PassRun] = []
        self._keep = keep
        self.actor = actor

    # -- fed by the reconciler (controller.reconciler.PassObserver) ----------------------------

    def pass_started(self, report: PassReport, devices: list[str]) -> None:
        lines = sum(len(b.changes) for b in report.batches if b.device.name in set(devices))
        run = PassRun(report.pass_id, report.at, self.actor, list(devices), lines)
        run.held = report.held is not None
        with self._lock:
            self._runs = [run, *self._runs][: self._keep]

    def device_done(
        self, report: PassReport, device: str, results: list[LineResult], skipped: str | None
    ) -> None:
        with self._lock:
            run = self._run(report.pass_id)
            if run is None:
                return
            run.done.append(device)
            run.verified += sum(1 for r in results if r.verified)
            run.failures += [
                Failed(device, r.change.line_id, r.change.action.value, r.error or "not verified")
                for r in results
                if not r.verified
            ]
            if skipped:
                run.skipped.append(f"{device}: {skipped}")

    def pass_ended(self, report: PassReport) -> None:
        with self._lock:
            run = self._run(report.pass_id)
            if run is not None:
                run.finished = True
                run.seconds = time.monotonic() - run.started

    def _run(self, pass_id: str) -> PassRun | None:
        return next((r for r in self._runs if r.pass_id == pass_id), None)

    # -- read by the console -------------------------------------------------------------------

    def latest(self) -> PassRun | None:
        with self._lock:
            return self._runs[0] if self._runs else None

    def as_json(
        self, line_names: dict[int, str], shown: Callable[[datetime], str] = datetime.isoformat
    ) -> dict[str, Any]:
        """The latest pass for the page's poller (lines by name, its instant as `shown`)."""
        with self._lock:
            run = self._runs[0] if self._runs else None
            if run is None:
                return {"pass": None}
            return {
                "pass": {
                    "pass_id": run.pass_id,
                    "at": shown(run.at),
                    "running": not run.finished,
                    "devices_done": len(run.done),
                    "devices": len(run.devices),
                    "lines": run.lines,
                    "verified": run.verified,
                    "failed": len(run.failures),
                    "failures": [
                        {
                            "device": f.device,
                            "line": line_names.get(f.line_id, f"line {f.line_id}"),
                            "action": f.action,
                            "error": f.error,
                        }
                        for f in run.failures
                    ],
                    "skipped": list(run.skipped),
                    "held": run.held,
                    "seconds": round(
                        run.seconds if run.seconds is not None
                        else time.monotonic() - run.started, 1
                    ),
                }
            }  # fmt: skip
