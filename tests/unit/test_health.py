"""When a change was due (the lateness of /metrics), and how an outcome's error is read: pure,
on the planner's terms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controller.alerts import failed_run
from controller.health import device_error, due_instant, error_class
from controller.planner import LineRef, OrderTerm

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
LINE = LineRef(line_id=1, venue_id=1, device_id=1, zone="Asia/Shanghai")
CURFEW = OrderTerm(1, 1, "curfew", NIGHT - timedelta(days=30))


@pytest.mark.parametrize(
    ("at", "due"),
    [
        (NIGHT, NIGHT),  # a pass at the transition instant is due then
        (NIGHT + timedelta(minutes=40), NIGHT),  # a catch-up pass is due at the edge it follows
        (NIGHT + timedelta(hours=8), NIGHT + timedelta(hours=8)),
        (NIGHT + timedelta(hours=20), NIGHT + timedelta(hours=8)),
        (NIGHT - timedelta(seconds=1), NIGHT - timedelta(hours=16)),  # the day before's 08:00
    ],
)
def test_a_change_is_due_at_the_last_window_edge_before_its_pass(at: datetime, due: datetime):
    assert due_instant([CURFEW], LINE, at) == due.astimezone(UTC)


def test_a_revocation_and_a_disconnect_order_are_their_own_due_instants():
    revoked = OrderTerm(1, 1, "curfew", NIGHT - timedelta(days=30), NIGHT + timedelta(hours=2))
    assert due_instant([revoked], LINE, NIGHT + timedelta(hours=3)) == NIGHT + timedelta(hours=2)
    issued = NIGHT + timedelta(hours=13, minutes=7)
    disconnect = OrderTerm(2, 1, "disconnect", issued)
    assert due_instant([disconnect], LINE, issued + timedelta(seconds=30)) == issued


def test_no_due_instant_when_the_desired_state_has_not_moved_within_the_lookback():
    assert due_instant([], LINE, NIGHT) is None
    old = OrderTerm(3, 1, "disconnect", NIGHT - timedelta(days=10))
    assert due_instant([old], LINE, NIGHT) is None


def test_the_error_class_is_read_from_the_head_of_an_outcome_error():
    assert error_class("Unreachable: R2: cannot connect: refused") == "Unreachable"
    assert device_error("HostKeyMismatch: pinned SHA256:a, offered SHA256:b") == "HostKeyMismatch"
    assert device_error("VerifyFailed: read-back shows open") is None
    assert error_class("no outcome reported") == "Error" and error_class(None) is None


def test_a_run_of_failed_passes_is_counted_newest_first_until_one_succeeded():
    unreachable = "Unreachable: refused"
    records = [("p4", unreachable), ("p4", unreachable), ("p3", unreachable), ("p2", None)]
    assert failed_run(records) == 2
    assert failed_run([("p2", None), ("p1", unreachable)]) == 0
    assert failed_run([("p1", unreachable), ("p1", "Rejected: bad")]) == 0
    assert failed_run([("p1", unreachable)]) == 1 and failed_run([]) == 0
