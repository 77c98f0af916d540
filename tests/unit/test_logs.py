"""`curfew serve`'s logs: JSON lines a shipper can parse, and APScheduler's routine chatter kept
below WARNING while real trouble still gets through."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from api.logs import JsonFormatter, SchedulerNoise, configure


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    scheduler_level = logging.getLogger("apscheduler").level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(scheduler_level)


def record(name: str, level: int, message: str, *args: object, **extra: object):
    made = logging.LogRecord(name, level, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_json_line_carries_the_message_the_level_and_the_extra_fields():
    line = JsonFormatter().format(
        record(
            "curfew.pass", logging.INFO, "pass %s: %d changes", "ab12", 3,
            event="pass", changes=3, at="2026-11-25T00:00:05+08:00",
        )
    )  # fmt: skip
    document = json.loads(line)
    assert "\n" not in line
    assert document["message"] == "pass ab12: 3 changes"
    assert document["level"] == "INFO" and document["logger"] == "curfew.pass"
    assert document["event"] == "pass" and document["changes"] == 3
    assert document["time"].endswith("+00:00")
    assert "args" not in document and "msg" not in document and "exception" not in document


def test_a_json_line_carries_the_exception_and_survives_values_json_cannot_hold():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        failed = logging.LogRecord("curfew", logging.ERROR, __file__, 1, "x", (), sys.exc_info())
    failed.device = object()
    document = json.loads(JsonFormatter().format(failed))
    assert "ValueError: boom" in document["exception"] and document["device"].startswith("<")


SKIPPED = 'Execution of job "tick" skipped: maximum number of running instances reached (1)'


@pytest.mark.parametrize(
    ("name", "level", "message"),
    [
        ("apscheduler.executors.default", logging.WARNING, SKIPPED),
        ("apscheduler.executors.default", logging.WARNING,
         'Run time of job "periodic pass" was missed by 0:00:02.5'),
        ("apscheduler.scheduler", logging.INFO, 'Added job "tick" to job store "default"'),
        ("apscheduler.executors.default", logging.INFO, 'Running job "tick" (scheduled)'),
        ("apscheduler.executors.default", logging.INFO, 'Job "tick" executed successfully'),
        ("apscheduler.scheduler", logging.INFO, "Scheduler started"),
        ("alembic.runtime.migration", logging.INFO, "Context impl SQLiteImpl."),
    ],
)  # fmt: skip
def test_routine_messages_are_kept_below_warning(name: str, level: int, message: str):
    noise = record(name, level, message)
    assert SchedulerNoise(logging.INFO).filter(noise) is False
    assert noise.levelno == logging.DEBUG
    assert SchedulerNoise(logging.DEBUG).filter(record(name, level, message)) is True


def test_real_scheduler_trouble_and_our_own_warnings_pass():
    failed = record("apscheduler.executors.default", logging.ERROR, 'Job "x" raised an exception')
    assert SchedulerNoise(logging.INFO).filter(failed) and failed.levelno == logging.ERROR
    ours = record("curfew.pass", logging.WARNING, "was missed by nothing: our own words")
    assert SchedulerNoise(logging.INFO).filter(ours) and ours.levelno == logging.WARNING
    upgrade = record("alembic.runtime.migration", logging.INFO, "Running upgrade 0009 -> 0010")
    assert SchedulerNoise(logging.INFO).filter(upgrade)


def test_configure_sends_json_lines_to_the_stream_without_the_noise(restore_logging):
    stream = io.StringIO()
    configure("json", stream=stream)
    logging.getLogger("curfew.pass").info("pass p1: 0 changes", extra={"changes": 0})
    logging.getLogger("apscheduler.executors.default").warning(SKIPPED)
    logging.getLogger("curfew.pass").warning("line 3 failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("INFO", "pass p1: 0 changes"),
        ("WARNING", "line 3 failed"),
    ]
    assert lines[0]["changes"] == 0
