"""Device timing on Junos, the pure part: the router's clock as `show ntp status` and its
`system time-zone` say it, the trust decision on it, the scheduled commit `show system commit`
reports, and the wall-clock time a window's start is scheduled at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from drivers.base import Rejected
from drivers.juniper_junos import (
    NTP_ERA,
    parse_commit_status,
    parse_junos_ntp,
    parse_time_zone,
    read_junos_clock,
    scheduled_wall,
)
from drivers.timing import DeviceZone, NamedZone, untrusted

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 25, tzinfo=SHANGHAI).astimezone(UTC)
END = START + timedelta(hours=8)


def ntp_timestamp(instant: datetime) -> str:
    seconds = (instant - NTP_ERA).total_seconds()
    whole = int(seconds)
    return f"{whole:08x}.{int((seconds - whole) * 2**32):08x}"


def ntp_status(instant: datetime, synchronised: bool = True, offset: float = 0.25) -> str:
    head = (
        "status=0644 leap_none, sync_ntp, 4 events, event_peer/strat_chg,"
        if synchronised
        else "status=c011 leap_alarm, sync_unspec, 1 event, event_restart,"
    )
    return (
        f"{head}\n"
        'version="ntpd 4.2.0-a Mon Sep 25 10:00:00 UTC 2023 (1)",\n'
        f'processor="amd64", system="FreeBSD/JNPR-12.1", leap={"00" if synchronised else "11"}, '
        f"stratum={3 if synchronised else 16},\n"
        "precision=-23, rootdelay=1.000, rootdispersion=10.000, peer=29916,\n"
        f"refid={'192.0.2.123' if synchronised else 'INIT'},\n"
        f"clock={ntp_timestamp(instant)}  Tue, Nov 24 2026 23:58:00.123, state=4,\n"
        f"offset={offset if synchronised else 0.0:.3f}, frequency=0.000, jitter=0.100\n"
    )


ZONE_LINE = "set system time-zone Asia/Shanghai\n"


def test_ntp_status_gives_the_state_the_offset_and_the_clock_to_the_millisecond():
    instant = datetime(2026, 11, 24, 15, 58, 0, 123000, tzinfo=UTC)
    synchronised, offset, clock = parse_junos_ntp(ntp_status(instant))
    assert synchronised and offset == 0.25
    assert clock is not None and abs((clock - instant).total_seconds()) < 0.001
    assert parse_junos_ntp(ntp_status(instant, synchronised=False))[0] is False
    # a stratum of 16 is not synchronised, whatever the status word
    assert not parse_junos_ntp(ntp_status(instant).replace("stratum=3", "stratum=16"))[0]
    assert parse_junos_ntp("ntpq: read: Connection refused") == (False, None, None)


def test_the_zone_is_the_tz_database_s_and_utc_when_none_is_set():
    zone = parse_time_zone(ZONE_LINE)
    assert zone == NamedZone("Asia/Shanghai")
    assert zone.offset_at(START) == timedelta(hours=8)
    assert zone.local(START) == datetime(2026, 11, 25)  # noqa: DTZ001 - a wall clock
    assert parse_time_zone("") == NamedZone("UTC")
    with pytest.raises(ValueError, match="not in the tz database"):
        parse_time_zone("set system time-zone Mars/Olympus_Mons\n")
    with pytest.raises(ValueError, match="not understood"):
        parse_time_zone("set system time-zone ../../etc/passwd\n")


def test_a_clock_in_time_synchronised_and_in_the_venue_s_zone_is_trusted():
    now = START - timedelta(minutes=10)
    clock = read_junos_clock(ntp_status(now), ZONE_LINE)
    assert clock.problem is None and clock.synchronised
    assert untrusted(clock, now, START, END, SHANGHAI) is None


@pytest.mark.parametrize(
    ("status", "zone", "reason"),
    [
        (lambda now: ntp_status(now + timedelta(seconds=5)), ZONE_LINE, "device clock 5.0 s off"),
        (lambda now: ntp_status(now, synchronised=False), ZONE_LINE, "not NTP-synchronised"),
        (lambda now: ntp_status(now), "", "device zone UTC+0 at 00:00, venue Asia/Shanghai"),
        (lambda now: "ntpq: read: Connection refused", ZONE_LINE, "no clock in the answer"),
    ],
)
def test_a_clock_off_unsynchronised_or_in_another_zone_is_not_trusted(status, zone, reason):
    now = START - timedelta(minutes=10)
    clock = read_junos_clock(status(now), zone)
    assert reason in (untrusted(clock, now, START, END, SHANGHAI) or "")


def test_berlin_s_spring_night_is_trusted_on_a_router_in_berlin_and_not_on_one_in_cet():
    start = datetime(2026, 3, 29, tzinfo=BERLIN).astimezone(UTC)
    end = datetime(2026, 3, 29, 8, tzinfo=BERLIN).astimezone(UTC)
    now = start - timedelta(minutes=10)
    berlin = read_junos_clock(ntp_status(now), "set system time-zone Europe/Berlin\n")
    assert untrusted(berlin, now, start, end, BERLIN) is None
    fixed = read_junos_clock(ntp_status(now), "set system time-zone Etc/GMT-1\n")
    assert "at 08:00" in (untrusted(fixed, now, start, end, BERLIN) or "")


def test_show_system_commit_reports_the_scheduled_commit_and_who_asked():
    text = (
        "commit requested by curfew via cli at Wed Nov 25 00:00:00 2026\n"
        "0   2026-11-24 15:50:00 UTC by curfew via cli\n"
        "    curfew\n"
    )
    status = parse_commit_status(text)
    assert status.scheduled == datetime(2026, 11, 25)  # noqa: DTZ001 - a wall clock
    assert status.scheduled_by == "curfew" and not status.pending
    assert parse_commit_status("0   2026-11-24 15:50:00 UTC by curfew via cli\n").scheduled is None
    with pytest.raises(Rejected, match="not understood"):
        parse_commit_status("commit requested by curfew via cli at tomorrow\n")


def test_a_window_is_scheduled_on_the_router_s_wall_clock_and_never_at_an_ambiguous_time():
    assert scheduled_wall(START, NamedZone("Asia/Shanghai")) == datetime(2026, 11, 25)  # noqa: DTZ001
    assert scheduled_wall(START, DeviceZone("CST", timedelta(hours=8))) == datetime(2026, 11, 25)  # noqa: DTZ001
    # 02:30 on the autumn night in Berlin happens twice: the router could take either
    repeated = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    with pytest.raises(ValueError, match="skipped or repeated"):
        scheduled_wall(repeated, NamedZone("Europe/Berlin"))
    with pytest.raises(ValueError, match="whole second"):
        scheduled_wall(START + timedelta(milliseconds=5), NamedZone("Asia/Shanghai"))
