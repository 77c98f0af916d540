"""Device-timed windows, the pure parts: a device's zone and clock as read, the trust decision,
a night's window as an IOS time-range, and which lines' cuts start at a transition."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from zoneinfo import ZoneInfo

import pytest

from controller.device_timing import windows_starting
from controller.models import Device
from controller.planner import LineRef, OrderTerm
from controller.store import Snapshot
from drivers.base import LineTarget
from drivers.cisco_ios import absolute_end, absolute_statement
from drivers.timing import (
    DeviceClock,
    DeviceZone,
    absolute_range,
    parse_clock_config,
    parse_ntp_status,
    parse_show_clock,
    read_device_clock,
    same_absolute,
    show_clock_wall,
    untrusted,
)

SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")
CST = parse_clock_config(["clock timezone CST 8 0"])
CET = parse_clock_config(
    [
        "clock timezone CET 1 0",
        "clock summer-time CEST recurring last Sun Mar 2:00 last Sun Oct 3:00",
    ]
)
NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI).astimezone(UTC)
SPRING = datetime(2026, 3, 29, tzinfo=BERLIN).astimezone(UTC)  # 02:00 -> 03:00
AUTUMN = datetime(2026, 10, 25, tzinfo=BERLIN).astimezone(UTC)  # 03:00 -> 02:00
SYNCED = (
    "Clock is synchronized, stratum 3, reference is 192.0.2.123\n"
    "clock offset is 0.2500 msec, root delay is 1.00 msec\n"
)


def test_a_night_renders_in_device_local_time():
    end = NIGHT + timedelta(hours=8)
    assert absolute_range(NIGHT, end, CST) == (
        "absolute start 00:00 25 November 2026 end 08:00 25 November 2026"
    )


@pytest.mark.parametrize(("night", "hours"), [(SPRING, 7), (AUTUMN, 9)], ids=["spring", "autumn"])
def test_a_dst_night_renders_00_to_08_local_over_its_real_length(night, hours):
    end = night + timedelta(hours=hours)
    assert end.astimezone(BERLIN).hour == 8
    day = night.astimezone(BERLIN)
    month = "March" if day.month == 3 else "October"
    assert absolute_range(night, end, CET) == (
        f"absolute start 00:00 {day.day} {month} 2026 end 08:00 {day.day} {month} 2026"
    )
    # and the device's rule gives it the venue's offset at both ends
    for instant in (night, end):
        assert CET.offset_at(instant) == instant.astimezone(BERLIN).utcoffset()


def test_a_window_edge_off_a_whole_minute_is_refused():
    with pytest.raises(ValueError, match="whole minute"):
        absolute_range(NIGHT + timedelta(seconds=30), NIGHT + timedelta(hours=8), CST)
    with pytest.raises(ValueError, match="start before end"):
        absolute_range(NIGHT, NIGHT, CST)


def test_same_absolute_ignores_a_day_s_leading_zero_and_spacing():
    assert same_absolute(
        "absolute start 00:00 01 March 2026 end 08:00 01 March 2026",
        "absolute  start 00:00 1 march 2026 end 08:00 1 March 2026",
    )
    assert not same_absolute(
        "absolute start 00:00 1 March 2026 end 08:00 1 March 2026",
        "absolute start 00:00 2 March 2026 end 08:00 2 March 2026",
    )


def test_show_clock_is_read_in_the_zone_it_names():
    assert parse_show_clock("*00:00:01.250 CST Wed Nov 25 2026\n", CST) == NIGHT + timedelta(
        seconds=1.25
    )
    summer = parse_show_clock("08:00:00.000 CEST Sun Mar 29 2026", CET)
    assert summer == SPRING + timedelta(hours=7)
    with pytest.raises(ValueError, match="zone UTC"):
        parse_show_clock("00:00:00.000 UTC Wed Nov 25 2026", CST)


def test_show_clock_gives_the_device_s_wall_clock_and_an_absolute_line_its_end():
    """What a prepared restore compares: the device's wall clock against its time-range's
    end, both in the device's local time."""
    wall, shown = show_clock_wall("*08:00:00.500 CST Wed Nov 25 2026\n")
    assert (wall, shown) == (datetime(2026, 11, 25, 8, 0, 0, 500000), "CST")  # noqa: DTZ001
    line = absolute_range(NIGHT, NIGHT + timedelta(hours=8), CST)
    end = absolute_end(absolute_statement(line))
    assert end == datetime(2026, 11, 25, 8, 0)  # noqa: DTZ001
    assert wall >= end > show_clock_wall("07:59:59.999 CST Wed Nov 25 2026")[0]
    assert absolute_end("periodic daily 00:00 to 08:00") is None
    assert absolute_end("absolute start 00:00 25 Nov 2026 end 08:00 31 February 2026") is None
    with pytest.raises(ValueError, match="no time"):
        show_clock_wall("% Invalid input detected")


def test_ntp_status_says_synchronised_and_the_offset():
    assert parse_ntp_status(SYNCED) == (True, 0.25)
    assert parse_ntp_status("Clock is unsynchronized, stratum 16, no reference clock\n")[0] is False
    assert parse_ntp_status("% Invalid input detected") == (False, None)


def test_a_summer_time_rule_without_dates_leaves_the_clock_unread():
    clock = read_device_clock(
        "00:00:00.000 CST Wed Nov 25 2026", SYNCED, "clock summer-time CDT recurring\n"
    )
    assert clock.time is None and "without its dates" in (clock.problem or "")


def clock_at(instant: datetime, zone: DeviceZone = CST, synced: bool = True) -> DeviceClock:
    return DeviceClock(instant, synced, zone)


def test_a_synchronised_clock_in_the_venue_s_offset_is_trusted():
    end = NIGHT + timedelta(hours=8)
    reading = clock_at(NIGHT - timedelta(seconds=119.5))
    assert untrusted(reading, NIGHT - timedelta(seconds=120), NIGHT, end, SHANGHAI) is None


def test_a_clock_five_seconds_off_is_not_trusted():
    end, now = NIGHT + timedelta(hours=8), NIGHT - timedelta(seconds=120)
    reason = untrusted(clock_at(now + timedelta(seconds=5)), now, NIGHT, end, SHANGHAI)
    assert reason == "device clock 5.0 s off (limit 1 s)"
    # a slow read counts against the tolerance too
    reading = clock_at(now + timedelta(seconds=0.8))
    assert untrusted(reading, now, NIGHT, end, SHANGHAI, uncertainty=0.3) == (
        "device clock 0.8 s off (limit 1 s, read ±0.3 s)"
    )


def test_an_unsynchronised_clock_is_not_trusted():
    now = NIGHT - timedelta(seconds=120)
    reading = clock_at(now, synced=False)
    reason = untrusted(reading, now, NIGHT, NIGHT + timedelta(hours=8), SHANGHAI)
    assert reason == "device not NTP-synchronised"


def test_a_clock_in_another_zone_is_not_trusted():
    now = NIGHT - timedelta(seconds=120)
    reason = untrusted(
        clock_at(now, DeviceZone()), now, NIGHT, NIGHT + timedelta(hours=8), SHANGHAI
    )
    assert reason == "device zone UTC+0 at 00:00, venue Asia/Shanghai is UTC+8"


def test_a_zone_without_the_venue_s_summer_time_fails_at_the_night_s_end():
    """CET without its summer-time rule is right at 00:00 on the spring night, wrong at 08:00."""
    standard = parse_clock_config(["clock timezone CET 1 0"])
    now = SPRING - timedelta(seconds=120)
    reason = untrusted(clock_at(now, standard), now, SPRING, SPRING + timedelta(hours=7), BERLIN)
    assert reason == "device zone UTC+1 at 08:00, venue Europe/Berlin is UTC+2"


def test_the_tolerance_is_bounded():
    now = NIGHT - timedelta(seconds=120)
    with pytest.raises(ValueError, match="tolerance"):
        untrusted(clock_at(now), now, NIGHT, NIGHT + timedelta(hours=8), SHANGHAI, tolerance=60)


# -- which lines' cuts start at a transition ----------------------------------------------------


def snapshot(orders: list[OrderTerm], opted_in: bool = True) -> Snapshot:
    device = Device(
        id=1, name="R1", platform="cisco_ios", host="127.0.0.1", port=22, username="u",
        options_json=json.dumps({"timing": "device"} if opted_in else {}),
    )  # fmt: skip
    ref = LineRef(1, 1, 1, "Asia/Shanghai")
    target = LineTarget(1, "GigabitEthernet0/1", (ip_network("198.18.1.0/24"),))
    return Snapshot(tuple(orders), (ref,), {1: target}, {1: 1}, {1: device}, {})


def term(kind: str = "curfew", **fields: datetime) -> OrderTerm:
    return OrderTerm(7, 1, kind, fields.pop("effective_from", NIGHT - timedelta(days=3)), **fields)


def test_a_curfew_starting_at_midnight_is_a_window_until_eight():
    (window,), refused = windows_starting(snapshot([term()]), NIGHT)
    assert (window.start, window.end, window.order_ids, refused) == (
        NIGHT, NIGHT + timedelta(hours=8), (7,), {},
    )  # fmt: skip


def test_lines_not_opted_in_or_not_starting_a_cut_are_not_windows():
    assert windows_starting(snapshot([term()], opted_in=False), NIGHT) == ([], {})
    assert windows_starting(snapshot([term()]), NIGHT + timedelta(hours=1)) == ([], {})
    assert windows_starting(snapshot([]), NIGHT) == ([], {})


def test_a_disconnect_or_an_order_ending_mid_window_stays_with_the_controller():
    _, refused = windows_starting(snapshot([term("disconnect", effective_from=NIGHT)]), NIGHT)
    assert refused == {1: "the cut has no end within 24 h: not a night's window"}
    ending = term(effective_until=NIGHT + timedelta(hours=3))
    windows, refused = windows_starting(snapshot([ending]), NIGHT)
    # the planner's next change is the order's end: the device's window ends there too
    assert [(w.start, w.end) for w in windows] == [(NIGHT, NIGHT + timedelta(hours=3))]
