"""`curfew serve`'s logs: stdlib `logging` to stderr, as text or as JSON lines
(`CURFEW_LOG_FORMAT=json`) for log shippers, with APScheduler's routine chatter kept below
WARNING so that what an operator reads is the passes, their failures and real trouble.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# What every LogRecord carries: anything else on a record came from `extra=` and is a field of
# its JSON line.
_STANDARD = frozenset(
    set(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {"message", "asctime"}
)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: `time` (UTC, ISO 8601), `level`, `logger`, `message`, the
    fields given with `extra=` (e.g. the pass line's counts), and `exception` when there is
    one. Values JSON cannot carry are written as their `str`."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in document:
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False, default=str)


# APScheduler's routine messages: a pass woken while the last still runs is skipped (passes
# never overlap, by design), a tick that came late is coalesced, jobs are added and run.
# None of them needs an operator; real failures (a job that raised) still pass.
SCHEDULER_NOISE = re.compile(
    r"maximum number of running instances reached"
    r"|was missed by"
    r"|^Run time of job"
    r"|^Adding job tentatively"
    r"|^Added job"
    r"|^Removed job"
    r"|^Running job"
    r"|executed successfully$"
    r"|^Scheduler (started|has been shut down)"
    r"|^Looking for jobs to run"
    r"|^Next wakeup is due"
    r"|^No jobs; waiting until"
)
# Alembic's two lines on every start (which dialect; no transactional DDL); the migrations it
# runs are still told.
MIGRATION_NOISE = re.compile(r"^Context impl |^Will assume (non-)?transactional DDL")


class SchedulerNoise(logging.Filter):
    """Demotes APScheduler's routine messages (SCHEDULER_NOISE) and Alembic's start-up lines
    (MIGRATION_NOISE) to DEBUG, and lets them through only when `level` (the handler's) is
    DEBUG. Everything else passes unchanged."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("apscheduler"):
            noise = SCHEDULER_NOISE
        elif record.name.startswith("alembic"):
            noise = MIGRATION_NOISE
        else:
            return True
        if noise.search(record.getMessage()):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.level


def configure(
    log_format: str = "text", level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send every logger's records at `level` and above to `stream` (stderr) in `log_format`
    (`text` or `json`), APScheduler's routine messages filtered out. Replaces the handlers the
    root logger had; returns the one it installs."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setLevel(level)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(SchedulerNoise(level))
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler's loggers log at INFO what the filter demotes: let them reach it
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level <= logging.DEBUG else level)
    return handler
