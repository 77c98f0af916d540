"""The planner on window edges, zones, DST days, terms and revocations (pure, no lab)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from controller.planner import LineRef, OrderTerm, plan, quiet_until
from drivers.base import LineState
from policies import first_instant_at

SHANGHAI = ZoneInfo("Asia/Shanghai")
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def line(zone: str = "Asia/Shanghai", line_id: int = 1, venue_id: int = 1) -> LineRef:
    return LineRef(line_id=line_id, venue_id=venue_id, device_id=1, zone=zone)


def curfew(order_id: int = 1, venue_id: int = 1, start=EPOCH, until=None) -> OrderTerm:
    return OrderTerm(order_id, venue_id, "curfew", start, until)


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def desired(orders, at, lines=None) -> LineState:
    return plan(orders, lines or [line()], at).lines[1].desired


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (datetime(2026, 11, 24, 23, 59, 59, 999000), LineState.OPEN),
        (datetime(2026, 11, 25, 0, 0), LineState.CUT),
        (datetime(2026, 11, 25, 7, 59, 59, 999000), LineState.CUT),
        (datetime(2026, 11, 25, 8, 0), LineState.OPEN),
    ],
)
def test_curfew_window_is_half_open_at_midnight_and_eight(wall, expected):
    at = wall.replace(tzinfo=SHANGHAI)
    assert desired([curfew()], at) is expected


def test_a_cut_cites_the_orders_that_justify_it():
    at = datetime(2026, 11, 25, 1, 0, tzinfo=SHANGHAI)
    result = plan([curfew(7), curfew(3)], [line()], at).lines[1]
    assert result.desired is LineState.CUT
    assert result.order_ids == (3, 7)
    assert plan([curfew(7)], [line()], at.replace(hour=9)).lines[1].order_ids == ()


@pytest.mark.parametrize(
    "zone", ["Europe/London", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
)
def test_window_follows_the_venue_zone_not_the_controllers(zone):
    midnight = local(zone, 2026, 11, 25, 0, 0)
    assert desired([curfew()], midnight - timedelta(microseconds=1), [line(zone)]) is LineState.OPEN
    assert desired([curfew()], midnight, [line(zone)]) is LineState.CUT
    assert desired([curfew()], local(zone, 2026, 11, 25, 8, 0), [line(zone)]) is LineState.OPEN
    # at Shanghai's midnight, a venue in another zone is judged by its own clock
    shanghai_midnight = datetime(2026, 11, 25, 0, 0, tzinfo=SHANGHAI)
    own_hour = shanghai_midnight.astimezone(ZoneInfo(zone)).hour
    expected = LineState.CUT if own_hour < 8 else LineState.OPEN
    assert desired([curfew()], shanghai_midnight, [line(zone)]) is expected


def test_santiago_day_without_midnight_cuts_at_the_jump():
    # 2024-09-08: clocks in America/Santiago jump from 00:00 straight to 01:00 (04:00 UTC).
    zone = "America/Santiago"
    jump = datetime(2024, 9, 8, 4, 0, tzinfo=UTC)
    assert first_instant_at(date(2024, 9, 8), time(0, 0), ZoneInfo(zone)) == jump
    lines = [line(zone)]
    assert desired([curfew()], jump - timedelta(microseconds=1), lines) is LineState.OPEN
    assert desired([curfew()], jump, lines) is LineState.CUT
    before = jump - timedelta(hours=1)
    assert plan([curfew()], lines, before).next_change == jump
    # 08:00 that morning is at -03:00: 11:00 UTC; the night lasted 7 hours
    end = plan([curfew()], lines, jump).next_change
    assert end == datetime(2024, 9, 8, 11, 0, tzinfo=UTC)
    assert end - jump == timedelta(hours=7)


def test_berlin_night_when_clocks_go_back_lasts_nine_hours():
    zone = "Europe/Berlin"
    lines = [line(zone)]
    start = local(zone, 2024, 10, 27, 0, 0)
    assert start == datetime(2024, 10, 26, 22, 0, tzinfo=UTC)
    end = plan([curfew()], lines, start).next_change
    assert end == datetime(2024, 10, 27, 7, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=9)
    # both readings of 02:30 are inside the window
    assert desired([curfew()], local(zone, 2024, 10, 27, 2, 30, fold=0), lines) is LineState.CUT
    assert desired([curfew()], local(zone, 2024, 10, 27, 2, 30, fold=1), lines) is LineState.CUT


def test_order_starting_mid_window_cuts_from_its_start():
    start = datetime(2026, 11, 25, 3, 0, tzinfo=SHANGHAI)
    order = curfew(start=start)
    assert desired([order], start - timedelta(microseconds=1)) is LineState.OPEN
    assert desired([order], start) is LineState.CUT
    assert (
        plan([order], [line()], datetime(2026, 11, 25, 1, 0, tzinfo=SHANGHAI)).next_change == start
    )


def test_order_ending_mid_window_restores_at_its_end():
    until = datetime(2026, 11, 25, 5, 0, tzinfo=SHANGHAI)
    order = curfew(until=until)
    assert desired([order], until - timedelta(microseconds=1)) is LineState.CUT
    assert desired([order], until) is LineState.OPEN
    assert plan([order], [line()], datetime(2026, 11, 25, 1, tzinfo=SHANGHAI)).next_change == until
    # and it never cuts again
    assert plan([order], [line()], until).next_change is None


def test_overlapping_orders_keep_the_line_cut_until_the_last_one_ends():
    night = datetime(2026, 11, 25, 0, 0, tzinfo=SHANGHAI)
    first = curfew(1, until=night + timedelta(hours=3))
    second = OrderTerm(2, 1, "disconnect", night + timedelta(hours=2), night + timedelta(hours=12))
    orders = [first, second]
    assert plan(orders, [line()], night + timedelta(hours=1)).lines[1].order_ids == (1,)
    assert plan(orders, [line()], night + timedelta(hours=2, minutes=30)).lines[1].order_ids == (
        1,
        2,
    )
    # the curfew ends at 03:00 but the disconnect still holds: nothing changes until 14:00
    assert plan(orders, [line()], night + timedelta(hours=1)).next_change == night + timedelta(
        hours=12
    )
    assert desired(orders, night + timedelta(hours=12)) is LineState.OPEN


def test_revocation_mid_window_ends_the_cut_at_the_revocation():
    # a revoked order reaches the planner as a term clipped at the revocation instant
    revoked_at = datetime(2026, 11, 25, 2, 0, tzinfo=SHANGHAI)
    order = curfew(until=revoked_at)
    assert desired([order], revoked_at - timedelta(seconds=1)) is LineState.CUT
    assert desired([order], revoked_at) is LineState.OPEN
    assert desired([order], datetime(2026, 11, 26, 1, 0, tzinfo=SHANGHAI)) is LineState.OPEN


def test_disconnect_cuts_around_the_clock_within_its_term():
    start = datetime(2026, 11, 24, 15, 0, tzinfo=SHANGHAI)
    order = OrderTerm(1, 1, "disconnect", start, None)
    for hours in (0, 5, 11, 17, 23, 48):
        assert desired([order], start + timedelta(hours=hours)) is LineState.CUT
    assert desired([order], start - timedelta(seconds=1)) is LineState.OPEN
    assert plan([order], [line()], start).next_change is None


def test_next_change_is_midnight_then_eight_in_venue_zone():
    evening = datetime(2026, 11, 24, 21, 0, tzinfo=SHANGHAI)
    first = plan([curfew()], [line()], evening).next_change
    assert first == datetime(2026, 11, 25, 0, 0, tzinfo=SHANGHAI)
    assert plan([curfew()], [line()], first).next_change == datetime(
        2026, 11, 25, 8, 0, tzinfo=SHANGHAI
    )


def test_lines_of_other_venues_are_not_cut():
    lines = [line(line_id=1, venue_id=1), line(line_id=2, venue_id=2)]
    result = plan([curfew(venue_id=1)], lines, datetime(2026, 11, 25, 1, tzinfo=SHANGHAI))
    assert result.lines[1].desired is LineState.CUT
    assert result.lines[2].desired is LineState.OPEN


def test_a_blocked_line_is_never_cut_and_says_why():
    blocked = LineRef(1, 1, 1, "Asia/Shanghai", blocked="interface not found on device")
    result = plan([curfew()], [blocked], datetime(2026, 11, 25, 1, tzinfo=SHANGHAI)).lines[1]
    assert result.desired is LineState.OPEN
    assert result.blocked == "interface not found on device"


def test_planner_refuses_naive_instants():
    with pytest.raises(ValueError):
        plan([curfew()], [line()], datetime(2026, 11, 25, 1))


def test_a_jurisdictions_window_governs_cuts_and_transitions():
    from datetime import time as wall

    from policies import Policy, Window

    late = Policy("curfew-test", "curfew", Window(wall(22), wall(6)), "regional window")
    order = OrderTerm(1, 1, "curfew", EPOCH, None, policy=late)
    evening = datetime(2026, 11, 24, 21, 0, tzinfo=SHANGHAI)
    assert desired([order], evening) is LineState.OPEN
    assert desired([order], evening.replace(hour=23)) is LineState.CUT
    assert desired([order], datetime(2026, 11, 25, 7, 0, tzinfo=SHANGHAI)) is LineState.OPEN
    assert plan([order], [line()], evening).next_change == evening.replace(hour=22)


def test_a_plan_made_at_midnight_holds_until_the_next_edge_of_any_order_or_window():
    """What a pass made ahead of the instant may follow a few milliseconds after it: the plan is
    the same until the first edge of any order's term or any venue's window, even one that
    changes no line's state (it changes the orders a cut cites)."""
    midnight = datetime(2026, 11, 25, tzinfo=SHANGHAI)
    lines = [line(), line("Asia/Kathmandu", 2, 2)]  # Kathmandu's midnight: 02:15 in Shanghai
    orders = [curfew(1), curfew(2, venue_id=2)]
    assert quiet_until(orders, lines, midnight) == midnight + timedelta(hours=1)  # the horizon
    kathmandu = datetime(2026, 11, 25, 2, 15, tzinfo=SHANGHAI)
    assert quiet_until(orders, lines, midnight, timedelta(hours=3)) == kathmandu
    # an order of venue 1 that ends five seconds in: venue 1 stays cut (order 1), but the cut
    # cites order 1 only from then on
    ending = OrderTerm(3, 1, "curfew", EPOCH, midnight + timedelta(seconds=5))
    until = quiet_until([*orders, ending], lines, midnight)
    assert until == midnight + timedelta(seconds=5)
    made = plan([*orders, ending], lines, midnight)
    for later in (timedelta(0), timedelta(milliseconds=3), timedelta(seconds=4.999)):
        again = plan([*orders, ending], lines, midnight + later)
        assert (again.lines, again.next_change) == (made.lines, made.next_change)
    after = plan([*orders, ending], lines, until)
    assert after.lines[1].order_ids == (1,) != made.lines[1].order_ids
    # a venue without lines is planned for no line: its orders do not bound the plan
    elsewhere = OrderTerm(4, 9, "curfew", EPOCH, midnight + timedelta(seconds=1))
    assert quiet_until([*orders, elsewhere], lines, midnight) == midnight + timedelta(hours=1)
