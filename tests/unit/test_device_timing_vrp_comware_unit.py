"""The pieces of device timing VRP and Comware share (drivers.timing): a window on the device's
wall clock cut at its midnights, `display ntp-service status`, what time-ranged rules read as,
and the trust decision on a zone read from each platform's clock lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from zoneinfo import ZoneInfo

import pytest

from drivers import h3c_comware as comware
from drivers import huawei_vrp as vrp
from drivers.acl import AclOwnedLine, Family
from drivers.base import Credentials, LineState, LineTarget
from drivers.timing import (
    DeviceClock,
    DeviceZone,
    TimedAclLine,
    parse_ntp_service_status,
    untrusted,
    wall_parts,
    with_time_ranges,
)

CST = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = datetime(2026, 11, 25, tzinfo=CST)
TARGET = LineTarget(42, "GigabitEthernet0/0/1", (ip_network("198.18.1.0/24"),))
CHINA = DeviceZone("CST", timedelta(hours=8))


def test_wall_parts_cut_a_window_at_each_local_midnight():
    assert wall_parts(NIGHT, NIGHT + timedelta(hours=8), CHINA) == [
        (datetime(2026, 11, 25, 0, 0), datetime(2026, 11, 25, 8, 0))
    ]
    parts = wall_parts(NIGHT - timedelta(hours=2), NIGHT + timedelta(hours=6), CHINA)
    assert parts == [
        (datetime(2026, 11, 24, 22, 0), datetime(2026, 11, 25, 0, 0)),
        (datetime(2026, 11, 25, 0, 0), datetime(2026, 11, 25, 6, 0)),
    ]
    with pytest.raises(ValueError, match="whole minute"):
        wall_parts(NIGHT + timedelta(seconds=1), NIGHT + timedelta(hours=8), CHINA)
    with pytest.raises(ValueError, match="start before end"):
        wall_parts(NIGHT, NIGHT, CHINA)


def test_ntp_service_status_is_read_in_either_vendor_s_casing():
    assert parse_ntp_service_status(" clock status: synchronized\n clock offset: -0.5 ms\n") == (
        True,
        -0.5,
    )
    assert parse_ntp_service_status("Clock status: synchronized\nClock offset: 0.2500 ms") == (
        True,
        0.25,
    )
    assert parse_ntp_service_status(" Clock status: unsynchronized\n")[0] is False
    assert parse_ntp_service_status("% Unrecognized command") == (False, None)


def _cut(**changes: object) -> AclOwnedLine:
    fields = {
        "line_id": 42,
        "prefixes": frozenset(TARGET.prefixes),
        "bindings": frozenset({TARGET.interface}),
        "complete": True,
        "exact": True,
        "acls": frozenset({Family.IPV4}),
    }
    fields.update(changes)
    return AclOwnedLine(**fields)  # type: ignore[arg-type]


def test_with_time_ranges_dormant_in_force_unknown_or_not_ours():
    own = {"CURFEW-TR-42"}
    statements = ("from 00:00 2026/11/25 to 08:00 2026/11/25",)
    inactive = with_time_ranges({42: _cut()}, {42: own}, {"CURFEW-TR-42": (False, statements)})
    line = inactive[42]
    assert isinstance(line, TimedAclLine) and line.dormant and not line.exact
    assert line.state_for(TARGET) is LineState.OPEN
    active = with_time_ranges({42: _cut()}, {42: own}, {"CURFEW-TR-42": (True, statements)})
    assert active[42].state_for(TARGET) is LineState.CUT
    # the time-range gone: not trusted to be idle, nor to cut
    assert with_time_ranges({42: _cut()}, {42: own}, {})[42].state_for(TARGET) is LineState.UNKNOWN
    # some denies timed, or by another range: not a cut this controller wrote
    mixed = with_time_ranges({42: _cut()}, {42: {"CURFEW-TR-42", None}}, {})
    assert mixed[42].state_for(TARGET) is LineState.UNKNOWN
    # a time-range of ours left alone is a line of its own, open, to be removed
    alone = with_time_ranges({}, {}, {"CURFEW-TR-42": (False, statements)})[42]
    assert isinstance(alone, TimedAclLine) and alone.time_range_defined
    assert alone.state_for(TARGET) is LineState.OPEN


def test_a_vrp_router_in_cet_without_summer_time_is_not_trusted_on_the_spring_night():
    # in UTC, so that adding hours adds real time: 08:00 CEST
    spring = datetime(2026, 3, 29, tzinfo=BERLIN).astimezone(UTC)
    end = spring + timedelta(hours=7)
    reading = DeviceClock(
        spring.astimezone(UTC) - timedelta(minutes=2),
        True,
        vrp.parse_clock_config(["clock timezone CET add 01:00:00"]),
    )
    reason = untrusted(reading, reading.time, spring, end, BERLIN)  # type: ignore[arg-type]
    assert reason == "device zone UTC+1 at 08:00, venue Europe/Berlin is UTC+2"
    summer = vrp.parse_clock_config(
        [
            "clock timezone CET add 01:00:00",
            "clock daylight-saving-time CEST repeating 02:00 last Sun Mar 03:00 last Sun Oct 01:00",
        ]
    )
    trusted = DeviceClock(reading.time, True, summer)
    assert untrusted(trusted, reading.time, spring, end, BERLIN) is None  # type: ignore[arg-type]


def test_a_comware_router_with_the_summer_rule_is_trusted_on_the_autumn_night():
    autumn = datetime(2026, 10, 25, tzinfo=BERLIN)
    end = datetime(2026, 10, 25, 8, 0, tzinfo=BERLIN)  # a 9-hour night
    zone = comware.parse_clock_config(
        [
            "clock timezone CET add 01:00:00",
            "clock summer-time CEST 02:00:00 March last Sunday 03:00:00 October last Sunday "
            "01:00:00",
        ]
    )
    clock = DeviceClock(autumn.astimezone(UTC), True, zone)
    assert untrusted(clock, autumn.astimezone(UTC), autumn, end, BERLIN) is None
    assert zone.offset_at(autumn) == timedelta(hours=2) and zone.offset_at(end) == timedelta(
        hours=1
    )


def test_disarm_refuses_a_line_cut_without_a_time_range():
    driver = vrp.HuaweiVrpDriver("R1", Credentials("192.0.2.1", 22, "curfew", "unused"))
    plain = with_time_ranges({42: _cut()}, {42: {None}}, {})
    (plan,) = driver._disarm_plans([42], plain)
    assert plan.commands == () and "without a time-range" in str(plan.refusal)
    timed = with_time_ranges(
        {42: _cut()}, {42: {"CURFEW-TR-42"}}, {"CURFEW-TR-42": (False, ("x",))}
    )
    (plan,) = driver._disarm_plans([42], timed)
    assert plan.refusal is None and plan.commands[-1] == "undo time-range CURFEW-TR-42"


def test_two_lines_on_two_interfaces_of_one_router_are_armed_together():
    """Each interface's filter slots are its own: a batch arming two venues of one router
    renders both (and two lines on one interface still refuse each other)."""
    driver = comware.H3cComwareDriver("R1", Credentials("192.0.2.1", 22, "curfew", "unused"))
    first = LineTarget(1, "GigabitEthernet1/0/1", (ip_network("198.18.1.0/24"),))
    second = LineTarget(2, "GigabitEthernet1/0/2", (ip_network("198.18.2.0/24"),))
    found = comware.ParsedConfig(
        interfaces=frozenset({"GigabitEthernet1/0/1", "GigabitEthernet1/0/2"})
    )
    statements = ["from 00:00 11/25/2026 to 08:00 11/25/2026"]
    plans = driver._arm_plans([first, second], statements, found)
    assert [p.refusal for p in plans] == [None, None]
    assert "packet-filter name CURFEW-L2 inbound" in plans[1].commands
    same = LineTarget(2, "GigabitEthernet1/0/1", (ip_network("198.18.2.0/24"),))
    (_, refused) = driver._arm_plans([first, same], statements, found)
    assert "line 1, cut in this batch" in str(refused.refusal)


def test_each_vendor_s_wall_clock_and_statement_end_as_a_prepared_restore_compares_them():
    """A prepared 08:00 restore sends nothing only where the router's wall clock is at or
    past its time-range's end: both read in the router's own words, on its wall clock."""
    assert vrp.display_clock_wall("2026-11-25 08:00:01\nSaturday\n") == (
        datetime(2026, 11, 25, 8, 0, 1),  # noqa: DTZ001
        False,
    )
    assert vrp.statement_end("from 00:00 2026/11/25 to 08:00 2026/11/25") == datetime(  # noqa: DTZ001
        2026, 11, 25, 8, 0
    )
    assert comware.display_clock_wall("08:00:00.250 CST Wed 11/25/2026")[0] == datetime(  # noqa: DTZ001
        2026, 11, 25, 8, 0, 0, 250000
    )
    # a window split at the router's midnight: its first part ends at the next midnight
    assert comware.statement_end("from 22:00 11/24/2026 to 24:00 11/24/2026") == datetime(  # noqa: DTZ001
        2026, 11, 25
    )
    assert comware.statement_end("from 00:00 11/25/2026 to 06:00 11/25/2026") == datetime(  # noqa: DTZ001
        2026, 11, 25, 6, 0
    )
    for statement in ("periodic 00:00 to 08:00 daily", "from 00:00 2026/2/31 to 08:00 2026/2/31"):
        assert vrp.statement_end(statement) is None
    assert comware.statement_end("from 00:00 13/1/2026 to 08:00 13/1/2026") is None
    with pytest.raises(ValueError, match="no time"):
        vrp.display_clock_wall("Error: Unrecognized command")
