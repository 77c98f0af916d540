"""VRP and Comware device-timed cuts: how each driver renders a night's time-range, reads
time-ranged ACLs and the device's clock (on text alone), removes them in a safe order; and
what each twin does with them on its own clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, ip_network
from zoneinfo import ZoneInfo

import pytest

from drivers import h3c_comware as comware
from drivers import huawei_vrp as vrp
from drivers.base import Batch, Credentials, LineState, LineTarget
from drivers.timing import TimedAclLine, untrusted
from lab.h3c_comware import ComwareRouter
from lab.huawei_vrp import VrpRouter

CST = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 11, 25, tzinfo=CST)
TARGET = LineTarget(42, "GigabitEthernet0/0/1", (ip_network("198.18.1.0/24"),))
VENUE, OUTSIDE = IPv4Address("198.18.1.5"), IPv4Address("203.0.113.9")
CREDENTIALS = Credentials("192.0.2.1", 22, "curfew", "unused")

# -- VRP: the driver on text ----------------------------------------------------------------

VRP_DRIVER = vrp.HuaweiVrpDriver("R1", CREDENTIALS)
VRP_STATEMENT = "from 00:00 2026/11/25 to 08:00 2026/11/25"
VRP_ARMED_42 = """\
acl name CURFEW-L42 3999
 rule 5 deny ip source 198.18.1.0 0.0.0.255 time-range CURFEW-TR-42
 rule 10 deny ip destination 198.18.1.0 0.0.0.255 time-range CURFEW-TR-42
#
interface GigabitEthernet0/0/1
 traffic-filter inbound acl name CURFEW-L42
 traffic-filter outbound acl name CURFEW-L42
#
"""


def vrp_ranges(state: str, statement: str = "from 00:00:00 2026/11/25 to 08:00:00 2026/11/25"):
    text = (
        "Current time is 23:58:00 2026/11/24 Tuesday\n\n"
        f"Time-range : CURFEW-TR-42 ( {state} )\n {statement}\n"
    )
    return vrp.parse_time_ranges(text)


def vrp_read(config: str = VRP_ARMED_42, ranges=None) -> TimedAclLine:
    found = vrp.parse_current_configuration(config, ranges if ranges is not None else {})[42]
    assert isinstance(found, TimedAclLine)
    return found


def test_vrp_a_night_is_one_absolute_statement_in_device_local_time():
    zone = vrp.parse_clock_config(["clock timezone CST add 08:00:00"])
    end = NIGHT + timedelta(hours=8)
    assert VRP_DRIVER._window_statements(NIGHT, end, zone) == [VRP_STATEMENT]
    # across the device's midnight VRP takes one statement over two dates
    late = VRP_DRIVER._window_statements(NIGHT - timedelta(hours=2), end, zone)
    assert late == ["from 22:00 2026/11/24 to 08:00 2026/11/25"]
    with pytest.raises(ValueError, match="whole minute"):
        VRP_DRIVER._window_statements(NIGHT + timedelta(seconds=30), end, zone)


def test_vrp_an_armed_cut_is_open_until_the_device_says_its_time_range_is_active():
    waiting = vrp_read(ranges=vrp_ranges("Inactive"))
    assert waiting.statements == (VRP_STATEMENT,)  # the device's seconds normalised away
    assert waiting.state_for(TARGET) is LineState.OPEN and waiting.dormant
    assert waiting.armed_for(TARGET, [VRP_STATEMENT])
    assert not waiting.armed_for(TARGET, ["from 00:00 2026/11/26 to 08:00 2026/11/26"])
    assert vrp_read(ranges=vrp_ranges("Active")).state_for(TARGET) is LineState.CUT


def test_vrp_rules_naming_a_missing_time_range_are_not_trusted_either_way():
    """Huawei documents such a rule as idle until the range exists: not relied on, the line
    reads unknown, so a pass removes it rather than leaving it bound."""
    gone = vrp_read(ranges={})
    assert gone.state_for(TARGET) is LineState.UNKNOWN and not gone.time_range_defined


def test_vrp_rules_naming_another_time_range_or_only_some_are_no_cut_of_ours():
    foreign = VRP_ARMED_42.replace(
        "0.0.0.255 time-range CURFEW-TR-42\n rule 10", "0.0.0.255 time-range WORK\n rule 10"
    )
    assert vrp_read(foreign, vrp_ranges("Active")).state_for(TARGET) is LineState.UNKNOWN
    half = VRP_ARMED_42.replace(" time-range CURFEW-TR-42\n rule 10", "\n rule 10")
    assert vrp_read(half, vrp_ranges("Active")).state_for(TARGET) is LineState.UNKNOWN


def test_vrp_a_restore_deletes_the_acl_before_its_time_range():
    found = vrp.parse_current_configuration(VRP_ARMED_42, vrp_ranges("Active"))
    assert VRP_DRIVER.render(Batch(restores=(TARGET,)), found) == [
        "interface GigabitEthernet0/0/1",
        "undo traffic-filter inbound acl name CURFEW-L42",
        "undo traffic-filter outbound acl name CURFEW-L42",
        "quit",
        "undo acl name CURFEW-L42",
        "undo time-range CURFEW-TR-42",
    ]


def test_vrp_a_time_range_left_alone_is_removed_by_a_restore():
    found = vrp.parse_current_configuration("", vrp_ranges("Inactive"))
    assert found[42].state_for(TARGET) is LineState.OPEN
    assert VRP_DRIVER.render(Batch(restores=(TARGET,)), found) == ["undo time-range CURFEW-TR-42"]


def test_vrp_a_cut_of_an_armed_line_that_did_not_cut_pushes_a_plain_cut_after_removing_it():
    found = vrp.parse_current_configuration(VRP_ARMED_42, vrp_ranges("Inactive"))
    commands = VRP_DRIVER.render(Batch(cuts=(TARGET,)), found)
    deleted = commands.index("undo time-range CURFEW-TR-42")
    assert commands.index("undo acl name CURFEW-L42") < deleted
    after = commands[deleted + 1 :]
    assert after[:2] == [
        "acl name CURFEW-L42 advance",
        "rule 5 deny ip source 198.18.1.0 0.0.0.255",
    ]
    assert not any("time-range" in c for c in after)


def test_vrp_arming_creates_the_time_range_before_the_acl_that_names_it():
    commands = VRP_DRIVER._armed_objects(TARGET, [VRP_STATEMENT])
    assert commands[:3] == [
        f"time-range CURFEW-TR-42 {VRP_STATEMENT}",
        "acl name CURFEW-L42 advance",
        "rule 5 deny ip source 198.18.1.0 0.0.0.255 time-range CURFEW-TR-42",
    ]
    assert commands[-3:-1] == [
        "traffic-filter inbound acl name CURFEW-L42",
        "traffic-filter outbound acl name CURFEW-L42",
    ]


def test_vrp_arming_again_sends_nothing_and_another_night_is_replaced_whole():
    armed = vrp.parse_current_configuration(VRP_ARMED_42, vrp_ranges("Inactive"))
    (again,) = VRP_DRIVER._arm_plans([TARGET], [VRP_STATEMENT], armed)
    assert again.commands == () and again.refusal is None
    tomorrow = "from 00:00 2026/11/26 to 08:00 2026/11/26"
    (replaced,) = VRP_DRIVER._arm_plans([TARGET], [tomorrow], armed)
    commands = list(replaced.commands)
    assert (
        commands.index("undo acl name CURFEW-L42")
        < commands.index("undo time-range CURFEW-TR-42")
        < commands.index(f"time-range CURFEW-TR-42 {tomorrow}")
    )


def test_vrp_a_line_cut_by_the_controller_is_not_armed_over():
    plain = VRP_ARMED_42.replace(" time-range CURFEW-TR-42", "")
    (plan,) = VRP_DRIVER._arm_plans(
        [TARGET], [VRP_STATEMENT], vrp.parse_current_configuration(plain)
    )
    assert plan.commands == () and "cut already" in str(plan.refusal)


def test_vrp_the_clock_is_read_in_its_zone_and_summer_time():
    berlin = vrp.parse_clock_config(
        [
            "clock timezone CET add 01:00:00",
            "clock daylight-saving-time CEST repeating 02:00 last Sun Mar 03:00 last Sun Oct 01:00",
        ]
    )
    summer = vrp.parse_display_clock("2026-03-29 08:00:30+02:00 DST\nSunday\n", berlin)
    assert summer == datetime(2026, 3, 29, 6, 0, 30, tzinfo=UTC)
    winter = vrp.parse_display_clock("2026-11-25 01:00:00\nWednesday\n", berlin)
    assert winter == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    assert berlin.offset_at(datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == timedelta(hours=2)


def test_vrp_a_clock_line_not_understood_leaves_the_clock_untrusted():
    clock = vrp.read_device_clock(
        "2026-11-24 23:58:00\n",
        " clock status: synchronized\n clock offset: 0.2500 ms\n",
        "clock daylight-saving-time X one-year 02:00 2026-03-29 03:00 2026-10-25 01:00",
    )
    assert clock.time is None and clock.problem is not None
    reason = untrusted(clock, NIGHT - timedelta(minutes=2), NIGHT, NIGHT + timedelta(hours=8), CST)
    assert reason is not None and reason.startswith("device zone:")


def test_vrp_a_synchronised_clock_in_the_venue_zone_is_trusted_and_an_unsynchronised_one_not():
    answer = "2026-11-24 23:58:00\nTuesday\nTime Zone(CST) : UTC+08:00\n"
    zone = "clock timezone CST add 08:00:00"
    good = vrp.read_device_clock(answer, " clock status: synchronized\n clock offset: 0.2 ms", zone)
    assert good.synchronised and good.ntp_offset_ms == 0.2
    now = NIGHT - timedelta(minutes=2)
    assert untrusted(good, now, NIGHT, NIGHT + timedelta(hours=8), CST) is None
    bad = vrp.read_device_clock(answer, " clock status: unsynchronized\n", zone)
    assert untrusted(bad, now, NIGHT, NIGHT + timedelta(hours=8), CST) == (
        "device not NTP-synchronised"
    )


# -- VRP: the twin --------------------------------------------------------------------------

EVENING = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 23:00 in CST


def vrp_twin() -> VrpRouter:
    router = VrpRouter("R1", ("GigabitEthernet0/0/0", "GigabitEthernet0/0/1"))
    router.clock = lambda: EVENING
    assert router.execute("clock timezone CST add 08:00:00").output == ""
    router.configure(
        [
            "ntp-service unicast-server 192.0.2.123",
            f"time-range CURFEW-TR-42 {VRP_STATEMENT}",
            "acl name CURFEW-L42 advance",
            " rule 5 deny ip source 198.18.1.0 0.0.0.255 time-range CURFEW-TR-42",
            " quit",
            "interface GigabitEthernet0/0/1",
            " traffic-filter inbound acl name CURFEW-L42",
            " quit",
        ]
    )
    return router


def test_vrp_twin_lets_an_armed_line_through_until_its_window():
    router = vrp_twin()
    assert router.permits("GigabitEthernet0/0/1", "in", VENUE, OUTSIDE)
    assert "( Inactive )" in router.display_time_range("CURFEW-TR-42")
    router.clock_offset = timedelta(hours=1)  # 00:00 CST on the router's clock
    assert not router.permits("GigabitEthernet0/0/1", "in", VENUE, OUTSIDE)
    assert "time-range CURFEW-TR-42 (Active) (1 matches)" in router.display_acl(4, "CURFEW-L42")
    router.clock_offset = timedelta(hours=9)  # 08:00 CST: over
    assert router.permits("GigabitEthernet0/0/1", "in", VENUE, OUTSIDE)


def test_vrp_twin_the_safe_order_never_cuts():
    router = vrp_twin()
    for step in (
        ["interface GigabitEthernet0/0/1", " undo traffic-filter inbound acl name CURFEW-L42"],
        ["undo acl name CURFEW-L42"],
        ["undo time-range CURFEW-TR-42"],
    ):
        router.configure(step)
        assert router.permits("GigabitEthernet0/0/1", "in", VENUE, OUTSIDE)
    assert "CURFEW" not in router.running_config()


def test_vrp_twin_clock_shows_its_zone_summer_time_and_ntp_state():
    router = VrpRouter("R1", ("GigabitEthernet0/0/0",))
    router.clock = lambda: datetime(2026, 3, 29, 6, 0, 30, tzinfo=UTC)
    for line in (
        "clock timezone CET add 01:00:00",
        "clock daylight-saving-time CEST repeating 02:00 last Sun Mar 03:00 last Sun Oct 01:00",
    ):
        assert router.execute(line).output == ""
    assert router.display_clock().startswith("2026-03-29 08:00:30+02:00 DST\nSunday\n")
    assert "clock status: unsynchronized" in router.display_ntp_status()  # no server
    router.configure(["ntp-service unicast-server 192.0.2.123"])
    assert "clock offset: 0.2500 ms" in router.display_ntp_status()
    assert " clock timezone CET add 01:00:00" in router.running_config()


def test_vrp_twin_refuses_a_range_that_ends_before_it_starts_and_clock_lines_in_system_view():
    router = VrpRouter("R1", ("GigabitEthernet0/0/0",))
    with pytest.raises(ValueError, match="end time must be later"):
        router.configure(["time-range T from 08:00 2026/11/25 to 00:00 2026/11/25"])
    with pytest.raises(ValueError, match="rejected"):
        router.configure(["clock timezone CST add 08:00:00"])  # a user-view command on VRP


# -- Comware: the driver on text ------------------------------------------------------------

CW_DRIVER = comware.H3cComwareDriver("R1", CREDENTIALS)
CW_TARGET = LineTarget(42, "GigabitEthernet1/0/1", (ip_network("198.18.1.0/24"),))
CW_STATEMENT = "from 00:00 11/25/2026 to 08:00 11/25/2026"
CW_ARMED_42 = """\
interface GigabitEthernet1/0/1
 packet-filter name CURFEW-L42 inbound
 packet-filter name CURFEW-L42 outbound
#
acl advanced name CURFEW-L42
 rule 5 deny ip source 198.18.1.0 0.0.0.255 time-range CURFEW-TR-42
 rule 10 deny ip destination 198.18.1.0 0.0.0.255 time-range CURFEW-TR-42
 rule 15 permit ip
#
"""


def cw_ranges(state: str, *statements: str):
    shown = statements or ("from 00:00:00 11/25/2026 to 08:00:00 11/25/2026",)
    text = "Current time is 23:58:00 11/24/2026 Tuesday\n\n"
    text += f"Time-range : CURFEW-TR-42 ({state})\n" + "".join(f" {s}\n" for s in shown)
    return comware.parse_time_ranges(text)


def cw_read(config: str = CW_ARMED_42, ranges=None) -> TimedAclLine:
    found = comware.parse_current_configuration(config, ranges if ranges is not None else {})[42]
    assert isinstance(found, TimedAclLine)
    return found


def test_comware_a_window_across_the_device_midnight_is_split_into_one_statement_a_day():
    """Comware wants a statement's end after its start: 22:00-06:00 is two statements, the
    first ending at 24:00 of its own day."""
    zone = comware.parse_clock_config(["clock timezone CST add 08:00:00"])
    end = NIGHT + timedelta(hours=8)
    assert CW_DRIVER._window_statements(NIGHT, end, zone) == [CW_STATEMENT]
    late = CW_DRIVER._window_statements(
        NIGHT - timedelta(hours=2), NIGHT + timedelta(hours=6), zone
    )
    assert late == [
        "from 22:00 11/24/2026 to 24:00 11/24/2026",
        "from 00:00 11/25/2026 to 06:00 11/25/2026",
    ]
    # two nights' worth is three statements, each within its day
    long = CW_DRIVER._window_statements(NIGHT - timedelta(hours=1), end + timedelta(days=1), zone)
    assert [s.split()[2] for s in long] == ["11/24/2026", "11/25/2026", "11/26/2026"]


def test_comware_an_armed_cut_is_open_until_the_device_says_its_time_range_is_active():
    waiting = cw_read(ranges=cw_ranges("Inactive"))
    assert waiting.statements == (CW_STATEMENT,)  # the device's seconds normalised away
    assert waiting.state_for(CW_TARGET) is LineState.OPEN and waiting.dormant
    assert waiting.armed_for(CW_TARGET, [CW_STATEMENT])
    assert cw_read(ranges=cw_ranges("Active")).state_for(CW_TARGET) is LineState.CUT
    split = cw_ranges(
        "Inactive",
        "from 22:00:00 11/24/2026 to 24:00:00 11/24/2026",
        "from 00:00:00 11/25/2026 to 06:00:00 11/25/2026",
    )
    assert cw_read(ranges=split).statements == (
        "from 22:00 11/24/2026 to 24:00 11/24/2026",
        "from 00:00 11/25/2026 to 06:00 11/25/2026",
    )


def test_comware_rules_naming_a_missing_time_range_or_on_the_permit_are_no_cut_to_trust():
    assert cw_read(ranges={}).state_for(CW_TARGET) is LineState.UNKNOWN
    timed_permit = CW_ARMED_42.replace("rule 15 permit ip", "rule 15 permit ip time-range X")
    assert cw_read(timed_permit, cw_ranges("Active")).state_for(CW_TARGET) is LineState.UNKNOWN


def test_comware_a_restore_deletes_the_acl_before_its_time_range():
    found = comware.parse_current_configuration(CW_ARMED_42, cw_ranges("Active"))
    assert CW_DRIVER.render(Batch(restores=(CW_TARGET,)), found) == [
        "interface GigabitEthernet1/0/1",
        "undo packet-filter name CURFEW-L42 inbound",
        "undo packet-filter name CURFEW-L42 outbound",
        "quit",
        "undo acl advanced name CURFEW-L42",
        "undo time-range CURFEW-TR-42",
    ]


def test_comware_arming_creates_the_time_range_before_the_acl_and_keeps_the_permit_untimed():
    statements = [
        "from 22:00 11/24/2026 to 24:00 11/24/2026",
        "from 00:00 11/25/2026 to 06:00 11/25/2026",
    ]
    commands = CW_DRIVER._armed_objects(CW_TARGET, statements)
    assert commands[:4] == [
        f"time-range CURFEW-TR-42 {statements[0]}",
        f"time-range CURFEW-TR-42 {statements[1]}",
        "acl advanced name CURFEW-L42",
        "rule 5 deny ip source 198.18.1.0 0.0.0.255 time-range CURFEW-TR-42",
    ]
    assert "rule 15 permit ip" in commands
    assert commands[-3:-1] == [
        "packet-filter name CURFEW-L42 inbound",
        "packet-filter name CURFEW-L42 outbound",
    ]


def test_comware_arming_again_sends_nothing_and_another_night_is_replaced_whole():
    armed = comware.parse_current_configuration(CW_ARMED_42, cw_ranges("Inactive"))
    (again,) = CW_DRIVER._arm_plans([CW_TARGET], [CW_STATEMENT], armed)
    assert again.commands == () and again.refusal is None
    tomorrow = "from 00:00 11/26/2026 to 08:00 11/26/2026"
    (replaced,) = CW_DRIVER._arm_plans([CW_TARGET], [tomorrow], armed)
    commands = list(replaced.commands)
    assert (
        commands.index("undo acl advanced name CURFEW-L42")
        < commands.index("undo time-range CURFEW-TR-42")
        < commands.index(f"time-range CURFEW-TR-42 {tomorrow}")
    )


def test_comware_the_clock_is_read_in_the_zone_it_names():
    berlin = comware.parse_clock_config(
        [
            "clock timezone CET add 01:00:00",
            "clock summer-time CEST 02:00:00 March last Sunday 03:00:00 October last Sunday "
            "01:00:00",
        ]
    )
    shown = "08:00:30.000 CEST Sun 03/29/2026\nTime Zone : CET add 01:00:00\n"
    assert comware.parse_display_clock(shown, berlin) == datetime(2026, 3, 29, 6, 0, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="zone"):
        comware.parse_display_clock("08:00:30.000 PDT Sun 03/29/2026\n", berlin)
    by_date = "clock summer-time X 02:00:00 March 29 03:00:00 October 25 01:00:00"
    clock = comware.read_device_clock(shown, " Clock status: synchronized\n", by_date)
    assert clock.time is None and clock.problem is not None


# -- Comware: the twin ----------------------------------------------------------------------


def comware_twin(*statements: str) -> ComwareRouter:
    router = ComwareRouter("R1", ("GigabitEthernet1/0/1", "GigabitEthernet1/0/2"))
    router.clock = lambda: EVENING
    router.configure(
        [
            "clock timezone CST add 08:00:00",
            *(f"time-range CURFEW-TR-42 {s}" for s in statements or (CW_STATEMENT,)),
            "acl advanced name CURFEW-L42",
            " rule 5 deny ip source 198.18.1.0 0.0.0.255 time-range CURFEW-TR-42",
            " rule 15 permit ip",
            "interface GigabitEthernet1/0/1",
            " packet-filter name CURFEW-L42 inbound",
        ]
    )
    return router


def test_comware_twin_lets_an_armed_line_through_until_its_window():
    router = comware_twin()
    assert router.permits("GigabitEthernet1/0/1", "in", VENUE, OUTSIDE)
    router.clock_offset = timedelta(hours=1)  # 00:00 CST on the router's clock
    assert not router.permits("GigabitEthernet1/0/1", "in", VENUE, OUTSIDE)
    shown = router.display_acl(4, "CURFEW-L42")
    assert "time-range CURFEW-TR-42 (Active) (1 times matched)" in shown
    router.clock_offset = timedelta(hours=9)
    assert router.permits("GigabitEthernet1/0/1", "in", VENUE, OUTSIDE)


def test_comware_twin_a_split_window_cuts_across_midnight_without_a_gap():
    router = comware_twin(
        "from 23:30 11/24/2026 to 24:00 11/24/2026", "from 00:00 11/25/2026 to 06:00 11/25/2026"
    )
    for minutes, open_ in ((29, True), (30, False), (60, False), (61, False), (7 * 60 + 30, True)):
        router.clock_offset = timedelta(minutes=minutes)  # from 23:00 CST
        assert router.permits("GigabitEthernet1/0/1", "in", VENUE, OUTSIDE) is open_, minutes


def test_comware_twin_refuses_a_statement_that_ends_before_it_starts():
    router = ComwareRouter("R1")
    with pytest.raises(ValueError, match="greater than the start"):
        router.configure(["time-range T from 22:00 11/24/2026 to 06:00 11/24/2026"])
    with pytest.raises(ValueError, match="rejected"):
        router.configure(["time-range T from 24:00 11/24/2026 to 06:00 11/25/2026"])


def test_comware_twin_clock_shows_its_zone_and_ntp_state():
    router = ComwareRouter("R1")
    router.clock = lambda: datetime(2026, 3, 29, 6, 0, 30, tzinfo=UTC)
    router.configure(
        ["clock timezone CET add 1", "clock summer-time CEST 2 mar last sun 3 oct last sun 1"]
    )
    assert router.display_clock().startswith("08:00:30.000 CEST Sun 03/29/2026\n")
    assert "Clock status: unsynchronized" in router.display_ntp_status()
    router.configure(["ntp-service unicast-server 192.0.2.123"])
    assert "Clock offset: 0.2500 ms" in router.display_ntp_status()
    assert (
        " clock summer-time CEST 02:00:00 March last Sunday 03:00:00 October last Sunday 01:00:00"
        in router.running_config()
    )
