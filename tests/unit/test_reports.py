"""Auditors' reports over hand-built rows: timelines, violations, compliance, CSV and HTML."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.pages import compliance_html
from controller.models import Change, Device, Line, Order, Venue
from controller.planner import OrderTerm
from controller.reports import (
    Evidence,
    compliance,
    compliance_csv,
    find_violations,
    order_spans,
    order_timeline,
    timelines,
    violations_csv,
)
from controller.store import NotFound
from policies import Policy, Window

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)  # the midnight the test night turns on
WEEK_AGO = NIGHT - timedelta(days=7)
SINCE, UNTIL = NIGHT - timedelta(hours=12), NIGHT + timedelta(hours=12)


def at(hours: float, seconds: float = 0) -> datetime:
    return NIGHT + timedelta(hours=hours, seconds=seconds)


class City:
    """Two carriers: R1 (north) serves venues 1 and 2, R2 (east) serves venue 3."""

    def __init__(self) -> None:
        self.venues = [
            Venue(id=1, name="网吧 One", zone="Asia/Shanghai"),
            Venue(id=2, name="<b>Two</b> & Co", zone="Asia/Shanghai"),
            Venue(id=3, name="Three", zone="Asia/Shanghai"),
        ]
        self.devices = [
            Device(id=1, name="R1", platform="cisco_ios", host="h", port=1, username="u",
                   carrier="north"),
            Device(id=2, name="R2", platform="cisco_ios", host="h", port=1, username="u",
                   carrier="east"),
        ]  # fmt: skip
        self.lines = [
            Line(id=11, name="R1-L1", venue_id=1, device_id=1, interface="Gi0/1"),
            Line(id=12, name="R1-L2", venue_id=2, device_id=1, interface="Gi0/2"),
            Line(id=21, name="R2-L1", venue_id=3, device_id=2, interface="Gi0/1"),
        ]
        self.orders: list[Order] = []
        self.changes: list[Change] = []
        self.terms: dict[int, OrderTerm] = {}  # terms the store would give beyond term()

    def order(
        self,
        venue_id: int,
        kind: str = "curfew",
        effective_from: datetime = WEEK_AGO,
        issued_at: datetime | None = None,
        until: datetime | None = None,
        revoked_at: datetime | None = None,
    ) -> int:
        order_id = len(self.orders) + 1
        self.orders.append(
            Order(
                id=order_id,
                authority_id=1,
                venue_id=venue_id,
                kind=kind,
                reason="after_hours",
                legal_basis=f"basis {order_id}",
                effective_from=effective_from,
                effective_until=until,
                issued_by="bureau",
                issued_at=issued_at or effective_from,
                status="revoked" if revoked_at else "issued",
                revoked_at=revoked_at,
            )
        )
        return order_id

    def outcome(
        self,
        when: datetime,
        line_id: int,
        action: str,
        orders: tuple[int, ...] = (),
        verified: bool = True,
        error: str | None = None,
    ) -> int:
        device = next(ln.device_id for ln in self.lines if ln.id == line_id)
        state = {"cut": "cut", "restore": "open", "verify": "open"}[action]
        intent = self._append(when, "intent", action, line_id, device, orders)
        return self._append(
            when, "outcome", action, line_id, device, orders,
            intent_seq=intent, state_after=state if verified else "unknown",
            verified=verified, error=error,
        )  # fmt: skip

    def _append(self, when, kind, action, line_id, device_id, orders, **fields) -> int:
        seq = len(self.changes) + 1
        self.changes.append(
            Change(
                seq=seq,
                at=when,
                kind=kind,
                action=action,
                order_ids_json=json.dumps(orders),
                line_id=line_id,
                device_id=device_id,
                actor="reconciler",
                prev_hash=f"p{seq}",
                hash=f"h{seq}",
                **fields,
            )  # fmt: skip
        )
        return seq

    def evidence(self) -> Evidence:
        return Evidence(
            orders=tuple(self.orders),
            terms=tuple(self.terms.get(o.id or 0) or term(o) for o in self.orders),
            lines=tuple(self.lines),
            venues=tuple(self.venues),
            devices=tuple(self.devices),
            changes=tuple(c for c in self.changes if c.kind != "intent"),
            head_seq=len(self.changes),
            head_hash=self.changes[-1].hash if self.changes else "0" * 64,
        )


def term(order: Order) -> OrderTerm:
    """As the store hands it to the planner: revocation ends the term."""
    ends = [t for t in (order.effective_until, order.revoked_at) if t is not None]
    assert order.id is not None
    return OrderTerm(
        order.id, order.venue_id, order.kind, order.effective_from, min(ends, default=None)
    )


@pytest.fixture
def city() -> City:
    return City()


# -- timelines --------------------------------------------------------------------------------


def test_a_night_has_its_window_cut_and_restore_with_their_lateness(city: City):
    order = city.order(1)
    cut = city.outcome(at(0, 5), 11, "cut", (order,))
    restore = city.outcome(at(8, 10), 11, "restore", (order,))
    timeline = order_timeline(city.evidence(), order, SINCE, UNTIL)
    [window] = timeline.windows
    assert (window.start, window.end) == (at(0), at(8))
    assert (window.cut_status, window.cut_at, window.cut_seq) == ("verified", at(0, 5), cut)
    assert (window.restore_status, window.restore_at, window.restore_seq) == (
        "verified",
        at(8, 10),
        restore,
    )
    assert window.cut_lateness_seconds == 5 and window.restore_lateness_seconds == 10
    assert window.cut_on_time(timedelta(seconds=60))
    assert not window.cut_on_time(timedelta(seconds=4))


def test_a_cut_that_never_verified_is_missing_not_zero(city: City):
    order = city.order(1)
    city.outcome(at(0), 11, "cut", (order,), verified=False, error="Unreachable: refused")
    [window] = timelines(city.evidence(), SINCE, UNTIL)
    assert window.cut_status == "missing"
    assert window.cut_at is None and window.cut_lateness_seconds is None
    assert not window.cut_on_time(timedelta(hours=24))
    assert window.restore_status == "missing" and window.restore_lateness_seconds is None


def test_a_cut_verified_only_after_the_window_is_not_the_windows_cut(city: City):
    order = city.order(1)
    city.outcome(at(9), 11, "cut", (order,))
    [window] = timelines(city.evidence(), SINCE, UNTIL)
    assert window.cut_status == "missing"


def test_a_line_already_cut_by_another_order_counts_as_cut_at_the_windows_start(city: City):
    disconnect = city.order(1, "disconnect", effective_from=at(-1))
    curfew = city.order(1)
    cut = city.outcome(at(-1, 2), 11, "cut", (disconnect,))
    evidence = city.evidence()
    [window] = timelines(evidence, SINCE, UNTIL, order_ids=[curfew])
    assert window.cut_status == "already cut"
    assert (window.cut_at, window.cut_seq, window.cut_lateness_seconds) == (at(0), cut, 0)
    # The disconnect order keeps the line cut past 08:00: no restore is due in the period.
    assert window.held_by == (disconnect,)
    assert window.restore_due is None and window.restore_status == "not due"
    [disconnect_window] = timelines(evidence, SINCE, UNTIL, order_ids=[disconnect])
    assert disconnect_window.cut_lateness_seconds == 2
    assert disconnect_window.ends_after_period and disconnect_window.end == UNTIL


def test_a_restore_is_due_when_the_last_order_holding_the_line_ends(city: City):
    disconnect = city.order(1, "disconnect", effective_from=at(-1), until=at(10))
    curfew = city.order(1)
    city.outcome(at(-1), 11, "cut", (disconnect,))
    restore = city.outcome(at(10, 30), 11, "restore", (disconnect,))
    [window] = timelines(city.evidence(), SINCE, UNTIL, order_ids=[curfew])
    assert window.end == at(8) and window.held_by == (disconnect,)
    assert window.restore_due == at(10)
    assert (window.restore_at, window.restore_seq, window.restore_lateness_seconds) == (
        at(10, 30),
        restore,
        30,
    )


def test_a_hold_longer_than_the_planners_horizon_still_finds_the_restore(city: City):
    disconnect = city.order(1, "disconnect", effective_from=at(-1), until=at(24 * 5 + 10))
    curfew = city.order(1)
    city.outcome(at(-1), 11, "cut", (disconnect,))
    city.outcome(at(24 * 5 + 10), 11, "restore", (disconnect,))
    windows = timelines(city.evidence(), SINCE, at(24 * 6), order_ids=[curfew])
    assert len(windows) == 6
    assert {w.restore_due for w in windows} == {at(24 * 5 + 10)}
    assert {w.restore_lateness_seconds for w in windows} == {0}
    assert {w.cut_status for w in windows} == {"already cut"}


def test_revocation_ends_the_window_and_the_restore_is_due_then(city: City):
    order = city.order(1, revoked_at=at(2))
    city.outcome(at(0), 11, "cut", (order,))
    city.outcome(at(2, 3), 11, "restore", (order,))
    [window] = timelines(city.evidence(), SINCE, UNTIL)
    assert window.end == at(2) and window.ended_by_revocation
    assert window.restore_due == at(2) and window.restore_lateness_seconds == 3


def test_an_order_issued_mid_window_is_due_from_its_issue_not_from_midnight(city: City):
    order = city.order(1, issued_at=at(3))
    city.outcome(at(3, 20), 11, "cut", (order,))
    [window] = timelines(city.evidence(), SINCE, UNTIL)
    assert window.start == at(3) and window.cut_lateness_seconds == 20


def test_a_suspension_splits_the_night_into_two_windows(city: City):
    order = city.order(1)
    city.terms[order] = OrderTerm(order, 1, "curfew", WEEK_AGO, gaps=((at(2), at(3)),))
    city.outcome(at(0), 11, "cut", (order,))
    city.outcome(at(2, 4), 11, "restore", (order,))
    city.outcome(at(3, 9), 11, "cut", (order,))
    city.outcome(at(8), 11, "restore", (order,))
    windows = timelines(city.evidence(), SINCE, UNTIL)
    assert [(w.start, w.end) for w in windows] == [(at(0), at(2)), (at(3), at(8))]
    assert [w.cut_lateness_seconds for w in windows] == [0, 9]
    assert [w.restore_lateness_seconds for w in windows] == [4, 0]


def test_a_cut_while_the_order_is_suspended_had_no_order_in_force(city: City):
    order = city.order(1)
    city.terms[order] = OrderTerm(order, 1, "curfew", WEEK_AGO, gaps=((at(2), None),))
    city.outcome(at(0), 11, "cut", (order,))
    city.outcome(at(2), 11, "restore", (order,))
    wrong = city.outcome(at(4), 11, "cut", (order,))
    kinds = [(v.kind, v.seqs[-1]) for v in find_violations(city.evidence(), SINCE, UNTIL)]
    assert kinds[0] == ("cut_without_order", wrong)


def test_a_jurisdictions_own_window_governs_the_timeline(city: City):
    late_evening = Policy("curfew-620100", "curfew", Window(time(22), time(6)), "regional")
    order = city.order(1)
    city.terms[order] = OrderTerm(order, 1, "curfew", WEEK_AGO, policy=late_evening)
    city.outcome(at(-2), 11, "cut", (order,))
    city.outcome(at(6), 11, "restore", (order,))
    [window] = timelines(city.evidence(), SINCE, UNTIL)
    assert (window.start, window.end) == (at(-2), at(6))
    assert window.cut_lateness_seconds == 0 and window.restore_lateness_seconds == 0


def test_a_week_of_curfew_has_one_window_a_night_per_line(city: City):
    order = city.order(1)
    windows = timelines(city.evidence(), at(-72), at(72), order_ids=[order])
    assert [w.start for w in windows] == [at(-72), at(-48), at(-24), at(0), at(24), at(48)]
    assert all(w.end - w.start == timedelta(hours=8) for w in windows)


def test_the_night_clocks_go_back_lasts_nine_hours():
    curfew = OrderTerm(1, 1, "curfew", datetime(2026, 10, 1, tzinfo=BERLIN))
    night = datetime(2026, 10, 25, tzinfo=BERLIN)
    [span] = order_spans(
        curfew, "Europe/Berlin", night - timedelta(hours=1), night + timedelta(days=1)
    )
    assert span.start == night and span.end - span.start == timedelta(hours=9)
    assert not span.starts_before_period and not span.ends_after_period


def test_a_disconnect_window_is_its_term_clipped_to_the_period(city: City):
    order = city.order(1, "disconnect")
    city.outcome(WEEK_AGO, 11, "cut", (order,))
    [window] = timelines(city.evidence(), SINCE, UNTIL)
    assert (window.start, window.end) == (SINCE, UNTIL)
    assert window.starts_before_period and window.ends_after_period
    assert window.cut_status == "already cut" and window.restore_status == "not due"


def test_a_period_must_carry_offsets_and_run_forwards(city: City):
    order = city.order(1)
    with pytest.raises(ValueError, match="offset"):
        order_timeline(city.evidence(), order, datetime(2026, 11, 24), UNTIL)
    with pytest.raises(ValueError, match="after"):
        order_timeline(city.evidence(), order, UNTIL, SINCE)
    with pytest.raises(NotFound):
        order_timeline(city.evidence(), 99, SINCE, UNTIL)


# -- nothing after now is judged ---------------------------------------------------------------


def test_a_timeline_asked_before_the_restore_says_not_yet_due_not_missing(city: City):
    order = city.order(1)
    cut = city.outcome(at(0, 5), 11, "cut", (order,))
    timeline = order_timeline(city.evidence(), order, SINCE, UNTIL, now=at(3))
    assert timeline.clamped_to_now and timeline.requested_until == UNTIL
    assert timeline.until == at(3)
    [window] = timeline.windows
    assert (window.start, window.end, window.ends_after_period) == (at(0), at(3), True)
    assert (window.cut_status, window.cut_seq, window.cut_lateness_seconds) == ("verified", cut, 5)
    assert window.restore_status == "not yet due" and window.restore_due is None
    assert window.restore_lateness_seconds is None


def test_a_period_ending_before_now_is_not_clamped(city: City):
    order = city.order(1)
    city.outcome(at(0), 11, "cut", (order,))
    timeline = order_timeline(city.evidence(), order, SINCE, UNTIL, now=at(13))
    assert not timeline.clamped_to_now and timeline.requested_until is None
    [window] = timeline.windows
    assert window.restore_status == "missing" and window.restore_due == at(8)


def test_a_restore_held_past_now_by_another_order_is_not_yet_due(city: City):
    disconnect = city.order(1, "disconnect", effective_from=at(-1), until=at(10))
    curfew = city.order(1)
    city.outcome(at(-1), 11, "cut", (disconnect,))
    [window] = timelines(city.evidence(), SINCE, UNTIL, order_ids=[curfew], now=at(9))
    assert window.end == at(8) and window.held_by == (disconnect,)
    assert window.restore_status == "not yet due" and window.restore_due is None


def test_compliance_before_midnight_counts_no_window_due(city: City):
    city.order(1)
    report = compliance(city.evidence(), "north", SINCE, UNTIL, generated_at=at(-1))
    assert report.windows_due == 0 and report.on_time_share is None and report.late == ()
    assert report.until == at(-1) and report.requested_until == UNTIL and report.clamped_to_now


def test_compliance_during_the_night_judges_the_cut_and_waits_for_the_restore(city: City):
    on_time, never_cut = city.order(1), city.order(2)
    city.outcome(at(0), 11, "cut", (on_time,))
    report = compliance(city.evidence(), "north", SINCE, UNTIL, generated_at=at(3))
    assert report.windows_due == 2 and report.on_time == 1
    assert [w.order_id for w in report.late] == [never_cut]
    assert {w.restore_status for w in report.windows} == {"not yet due"}
    [summary] = list(csv.DictReader(io.StringIO(compliance_csv(report, "summary"))))
    assert datetime.fromisoformat(summary["until"]) == at(3)
    assert datetime.fromisoformat(summary["requested_until"]) == UNTIL
    windows = list(csv.DictReader(io.StringIO(compliance_csv(report, "windows"))))
    assert {w["restore_status"] for w in windows} == {"not yet due"}
    page = compliance_html(report)
    assert "Clamped to now" in page and "2026-11-25T04:00:00+00:00" in page  # UNTIL, in UTC


def test_compliance_of_a_period_that_has_not_begun_is_empty(city: City):
    city.order(1)
    report = compliance(city.evidence(), "north", at(24), at(48), generated_at=at(3))
    assert report.windows_due == 0 and report.windows == () and report.until == at(24)


# -- violations -------------------------------------------------------------------------------


def test_a_cut_outside_every_window_is_a_cut_without_order(city: City):
    order = city.order(1)
    city.outcome(at(0), 11, "cut", (order,))
    city.outcome(at(8), 11, "restore", (order,))
    wrong = city.outcome(at(9), 11, "cut", (order,))
    [violation] = find_violations(city.evidence(), SINCE, UNTIL)
    assert violation.kind == "cut_without_order"
    assert (violation.line.line, violation.line.venue, violation.line.device) == (
        "R1-L1",
        "网吧 One",
        "R1",
    )
    assert violation.line.carrier == "north" and violation.order_ids == (order,)
    assert violation.at == at(9) and violation.seqs == (wrong - 1, wrong)


def test_a_cut_before_the_order_was_issued_had_no_order_in_force(city: City):
    order = city.order(1, issued_at=at(1))  # backdated a week, issued at 01:00
    early = city.outcome(at(0, 30), 11, "cut", (order,))
    city.outcome(at(1, 5), 11, "cut", (order,))
    city.outcome(at(8), 11, "restore", (order,))
    violations = find_violations(city.evidence(), SINCE, UNTIL)
    assert [(v.kind, v.seqs[-1]) for v in violations] == [("cut_without_order", early)]


def test_a_revoked_order_no_longer_justifies_a_cut(city: City):
    order = city.order(1, revoked_at=at(2))
    city.outcome(at(0), 11, "cut", (order,))
    city.outcome(at(2), 11, "restore", (order,))
    late = city.outcome(at(3), 11, "cut", (order,))
    kinds = [(v.kind, v.at) for v in find_violations(city.evidence(), SINCE, UNTIL)]
    assert kinds == [("cut_without_order", at(3))]
    assert late


def test_a_late_restore_is_listed_with_the_failed_attempts_that_prove_it(city: City):
    order = city.order(2)
    cut = city.outcome(at(0), 12, "cut", (order,))
    failed = [
        city.outcome(at(8, s), 12, "restore", (order,), verified=False, error="Unreachable")
        for s in (0, 60)
    ]
    restore = city.outcome(at(8, 300), 12, "restore", (order,))
    violations = find_violations(city.evidence(), SINCE, UNTIL, threshold=timedelta(seconds=60))
    assert [v.kind for v in violations] == ["late_restore", "left_cut"]
    for violation in violations:
        assert violation.line.line == "R1-L2" and violation.order_ids == (order,)
        assert violation.at == at(8) and violation.verified_at == at(8, 300)
        assert violation.lateness_seconds == 300
        assert violation.seqs == (cut, *failed, restore)
    assert find_violations(city.evidence(), SINCE, UNTIL, threshold=timedelta(seconds=300)) == []


def test_a_missing_restore_is_a_line_left_cut_once_its_grace_has_passed(city: City):
    order = city.order(1)
    cut = city.outcome(at(0), 11, "cut", (order,))
    evidence = city.evidence()
    assert find_violations(evidence, SINCE, UNTIL, now=at(8, 30)) == []
    [violation] = find_violations(evidence, SINCE, UNTIL, now=at(8, 61))
    assert violation.kind == "left_cut" and violation.verified_at is None
    assert violation.lateness_seconds is None and violation.seqs == (cut,)
    assert "no verified restore" in violation.detail


def test_orders_ending_together_on_a_line_give_one_violation_citing_both(city: City):
    first, second = city.order(1), city.order(1, kind="curfew")
    city.outcome(at(0), 11, "cut", (first, second))
    city.outcome(at(9), 11, "restore", (first, second))
    [late, left] = find_violations(city.evidence(), SINCE, UNTIL)
    assert late.order_ids == left.order_ids == (first, second)


def test_a_window_never_cut_is_not_a_line_left_cut(city: City):
    order = city.order(1)
    city.outcome(at(0), 11, "cut", (order,), verified=False, error="Unreachable")
    assert find_violations(city.evidence(), SINCE, UNTIL, now=at(12)) == []


def test_violations_as_csv_name_the_line_and_the_proof(city: City):
    order = city.order(1)
    city.outcome(at(0), 11, "cut", (order,))
    city.outcome(at(8, 120), 11, "restore", (order,))
    rows = list(csv.DictReader(io.StringIO(violations_csv(find_violations(
        city.evidence(), SINCE, UNTIL)))))  # fmt: skip
    assert [r["kind"] for r in rows] == ["late_restore", "left_cut"]
    assert rows[0]["at"] == "2026-11-25T08:00:00+08:00" and rows[0]["lateness_s"] == "120.0"
    assert rows[0]["seqs"] == "2 4" and rows[0]["venue"] == "网吧 One"


# -- compliance -------------------------------------------------------------------------------


@pytest.fixture
def night(city: City) -> City:
    """North: venue 1 cut on time, venue 2 cut late after failures, one failure unresolved."""
    on_time = city.order(1)
    late = city.order(2, issued_at=at(-3))
    city.order(3)  # east's order: never in north's report
    city.outcome(at(0), 11, "cut", (on_time,))
    for minutes in (0, 15):
        city.outcome(at(0, minutes * 60), 12, "cut", (late,), verified=False, error="Unreachable")
    city.outcome(at(0, 1800), 12, "cut", (late,))
    city.outcome(at(0), 21, "cut", (3,))
    city.outcome(at(8), 11, "restore", (on_time,))
    city.outcome(at(8), 12, "restore", (late,), verified=False, error="AuthFailed: denied")
    city.outcome(at(8), 21, "restore", (3,))
    return city


def test_compliance_counts_windows_on_time_and_lists_the_late_ones(night: City):
    report = compliance(night.evidence(), "north", SINCE, UNTIL, generated_at=at(12))
    assert (report.windows_due, report.on_time, report.on_time_share) == (2, 1, 0.5)
    assert [(w.line.venue, w.order_id, w.cut_lateness_seconds) for w in report.late] == [
        ("<b>Two</b> & Co", 2, 1800)
    ]
    assert report.orders_received == (2,) and report.orders_executed == (1, 2)
    assert report.head_seq == len(night.changes) and report.head_hash == night.changes[-1].hash


def test_compliance_lists_each_failure_and_how_it_was_resolved(night: City):
    report = compliance(night.evidence(), "north", SINCE, UNTIL, generated_at=at(12))
    summary = [(f.line.line, f.action, f.order_ids, f.resolution) for f in report.failures]
    assert summary == [
        ("R1-L2", "cut", (2,), "resolved"),
        ("R1-L2", "cut", (2,), "resolved"),
        ("R1-L2", "restore", (2,), "unresolved"),
    ]
    assert {f.resolved_at for f in report.failures[:2]} == {at(0, 1800)}
    assert report.failures[2].error == "AuthFailed: denied" and report.unresolved == 1


def test_a_failed_cut_followed_by_a_restore_is_superseded_not_resolved(city: City):
    order = city.order(1)
    city.outcome(at(7.5), 11, "cut", (order,), verified=False, error="Timeout")
    city.outcome(at(8), 11, "verify", ())
    [failure] = compliance(city.evidence(), "north", SINCE, UNTIL, at(12)).failures
    assert (failure.resolution, failure.resolved_action) == ("superseded", "verify")


def test_compliance_of_an_unknown_carrier_is_not_found(night: City):
    with pytest.raises(NotFound, match="east, north"):
        compliance(night.evidence(), "west", SINCE, UNTIL, at(12))


def test_compliance_with_nothing_due_has_no_share(city: City):
    report = compliance(city.evidence(), "east", SINCE, UNTIL, at(12))
    assert report.windows_due == 0 and report.on_time_share is None


def test_compliance_csv_has_a_row_per_window_and_a_one_row_summary(night: City):
    report = compliance(night.evidence(), "north", SINCE, UNTIL, generated_at=at(12))
    windows = list(csv.DictReader(io.StringIO(compliance_csv(report, "windows"))))
    assert [(w["venue"], w["cut_on_time"]) for w in windows] == [
        ("<b>Two</b> & Co", "False"),
        ("网吧 One", "True"),
    ]
    assert windows[0]["window_start"] == "2026-11-25T00:00:00+08:00"
    assert windows[0]["restore_status"] == "missing" and windows[0]["restore_lateness_s"] == ""
    [summary] = list(csv.DictReader(io.StringIO(compliance_csv(report, "summary"))))
    assert summary["windows_due"] == "2" and summary["on_time_share"] == "0.5000"
    assert summary["log_head_hash"] == report.head_hash
    failures = list(csv.DictReader(io.StringIO(compliance_csv(report, "failures"))))
    assert [f["resolution"] for f in failures] == ["resolved", "resolved", "unresolved"]


def test_compliance_html_is_printable_escaped_and_signed(night: City):
    page = compliance_html(compliance(night.evidence(), "north", SINCE, UNTIL, at(12)))
    assert page.startswith("<!DOCTYPE html>") and "@media print" in page
    assert "<link" not in page and "<script" not in page  # self-contained
    assert "&lt;b&gt;Two&lt;/b&gt; &amp; Co" in page and "<b>Two</b>" not in page
    for label in ("Auditor", "Date", "Signature", night.changes[-1].hash, "50.0%"):
        assert label in page
    assert f"seq {len(night.changes)}" in page
