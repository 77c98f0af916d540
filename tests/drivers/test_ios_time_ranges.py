"""IOS device-timed cuts: how the driver reads and removes time-ranged ACLs (on text alone),
and the trap in the twin: an entry naming a time-range that does not exist is always active."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, ip_network

import pytest

from drivers.base import Batch, Credentials, LineState, LineTarget
from drivers.cisco_ios import (
    CiscoIosDriver,
    absolute_statement,
    acl_sections,
    parse_running_config,
    parse_time_ranges,
)
from drivers.timing import TimedAclLine
from lab.cisco_ios import IosRouter

DRIVER = CiscoIosDriver("R1", Credentials("192.0.2.1", 22, "curfew", "unused"))
TARGET = LineTarget(42, "GigabitEthernet0/1", (ip_network("198.18.1.0/24"),))
ABSOLUTE = "absolute start 00:00 25 November 2026 end 08:00 25 November 2026"

ARMED_42 = """\
interface GigabitEthernet0/1
 ip address 198.18.1.1 255.255.255.0
 ip access-group CURFEW-L42 in
 ip access-group CURFEW-L42 out
!
ip access-list extended CURFEW-L42
 deny   ip 198.18.1.0 0.0.0.255 any time-range CURFEW-TR-42
 deny   ip any 198.18.1.0 0.0.0.255 time-range CURFEW-TR-42
 permit ip any any
!
"""


def time_range(state: str) -> str:
    return f"time-range entry: CURFEW-TR-42 ({state})\n   {ABSOLUTE}\n   used in: IP ACL entry\n"


def read(config: str = ARMED_42, ranges: str = "") -> TimedAclLine:
    found = parse_running_config(config, parse_time_ranges(ranges))[42]
    assert isinstance(found, TimedAclLine)
    return found


def test_an_armed_cut_is_open_until_the_device_says_its_time_range_is_active():
    waiting = read(ranges=time_range("inactive"))
    assert waiting.state_for(TARGET) is LineState.OPEN
    assert waiting.armed_for(TARGET, [ABSOLUTE]) and waiting.dormant
    assert read(ranges=time_range("active")).state_for(TARGET) is LineState.CUT


def test_an_armed_cut_whose_time_range_is_gone_reads_cut_as_the_device_enforces_it():
    gone = read(ranges="")
    assert gone.state_for(TARGET) is LineState.CUT
    assert not gone.time_range_defined and not gone.armed_for(TARGET, [ABSOLUTE])


def test_entries_naming_another_time_range_or_only_some_of_them_are_no_cut_of_ours():
    foreign = ARMED_42.replace("any time-range CURFEW-TR-42", "any time-range WORKHOURS")
    assert read(foreign, time_range("active")).state_for(TARGET) is LineState.UNKNOWN
    half = ARMED_42.replace("any time-range CURFEW-TR-42", "any")
    assert read(half, time_range("active")).state_for(TARGET) is LineState.UNKNOWN


def test_a_restore_deletes_the_acl_before_its_time_range():
    found = parse_running_config(ARMED_42, parse_time_ranges(time_range("active")))
    commands = DRIVER.render(Batch(restores=(TARGET,)), found)
    assert commands == [
        "interface GigabitEthernet0/1",
        "no ip access-group CURFEW-L42 in",
        "no ip access-group CURFEW-L42 out",
        "exit",
        "no ip access-list extended CURFEW-L42",
        "no time-range CURFEW-TR-42",
    ]


def test_a_time_range_left_alone_is_removed_by_a_restore():
    found = parse_running_config("", parse_time_ranges(time_range("inactive")))
    assert found[42].state_for(TARGET) is LineState.OPEN
    assert DRIVER.render(Batch(restores=(TARGET,)), found) == ["no time-range CURFEW-TR-42"]


def test_a_cut_of_an_armed_line_that_did_not_cut_pushes_a_plain_cut_after_removing_it():
    """The safety net: at the instant a dormant armed line (its clock wrong after all) gets a
    controller-timed cut, its time-range deleted after its ACL and before the new ACL."""
    found = parse_running_config(ARMED_42, parse_time_ranges(time_range("inactive")))
    commands = DRIVER.render(Batch(cuts=(TARGET,)), found)
    assert commands.index("no ip access-list extended CURFEW-L42") < commands.index(
        "no time-range CURFEW-TR-42"
    )
    after = commands[commands.index("no time-range CURFEW-TR-42") + 1 :]
    assert after[:2] == ["ip access-list extended CURFEW-L42", "deny ip 198.18.1.0 0.0.0.255 any"]
    assert not any("time-range" in c for c in after)


def test_arming_creates_the_time_range_before_the_acl_that_names_it():
    commands = DRIVER._armed_objects(TARGET, [ABSOLUTE])
    assert commands[:3] == ["time-range CURFEW-TR-42", ABSOLUTE, "exit"]
    assert "deny ip 198.18.1.0 0.0.0.255 any time-range CURFEW-TR-42" in commands
    assert commands.index("ip access-list extended CURFEW-L42") > 2
    assert commands[-3:-1] == ["ip access-group CURFEW-L42 in", "ip access-group CURFEW-L42 out"]


def test_the_device_s_absolute_line_compares_equal_with_the_render_it_came_from():
    """The twin (like IOS) prints a day below 10 with its leading zero; the render does not."""
    printed = "absolute start 22:00 01 December 2026   end 06:00 02 dec 2026"
    rendered = "absolute start 22:00 1 December 2026 end 06:00 2 December 2026"
    assert absolute_statement(printed) == rendered
    ranges = f"time-range entry: CURFEW-TR-42 (inactive)\n   {printed}\n"
    assert read(ranges=ranges).armed_for(TARGET, [rendered])
    assert absolute_statement("absolute end 06:00 02 December 2026") == (
        "absolute end 06:00 02 December 2026"
    )  # a shape no render has: kept, so it matches none


def test_lines_on_different_interfaces_are_armed_together_and_one_interface_holds_one():
    """The filter slots are claimed per interface: three venues of one router are armed in
    one batch; a second line on an interface a line of the batch takes is refused."""
    targets = [
        LineTarget(n, f"GigabitEthernet0/{n}", (ip_network(f"198.18.{n}.0/24"),)) for n in (1, 2, 3)
    ]
    plans = DRIVER._arm_plans(targets, [ABSOLUTE], parse_running_config(""))
    assert [p.refusal for p in plans] == [None, None, None]
    for n, plan in enumerate(plans, start=1):
        assert f"ip access-group CURFEW-L{n} in" in plan.commands
        assert f"deny ip 198.18.{n}.0 0.0.0.255 any time-range CURFEW-TR-{n}" in plan.commands
    crowded = [*targets, LineTarget(4, "GigabitEthernet0/2", (ip_network("198.18.4.0/24"),))]
    refused = DRIVER._arm_plans(crowded, [ABSOLUTE], parse_running_config(""))[3]
    assert refused.commands == () and "CURFEW-L2 (line 2, cut in this batch)" in str(
        refused.refusal
    )


# -- the twin -------------------------------------------------------------------------------

EVENING = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 23:00 in CST
VENUE, OUTSIDE = IPv4Address("198.18.1.5"), IPv4Address("203.0.113.9")


def armed_twin() -> IosRouter:
    router = IosRouter("R1", "s", ("GigabitEthernet0/0", "GigabitEthernet0/1"))
    router.clock = lambda: EVENING
    router.configure(
        [
            "clock timezone CST 8 0",
            "time-range CURFEW-TR-42",
            f" {ABSOLUTE}",
            "ip access-list extended CURFEW-L42",
            " deny ip 198.18.1.0 0.0.0.255 any time-range CURFEW-TR-42",
            " permit ip any any",
            "interface GigabitEthernet0/1",
            " ip access-group CURFEW-L42 in",
        ]
    )
    return router


def test_the_acl_listing_is_split_into_each_acl_as_its_own_show_would_print_it():
    listing = (
        "show access-lists | section access list CURFEW-L|access list CURFEW6-L\n"
        "Extended IP access list CURFEW-L42\n"
        "    10 deny ip 198.18.1.0 0.0.0.255 any time-range CURFEW-TR-42 (active) (3 matches)\n"
        "    20 permit ip any any\n"
        "IPv6 access list CURFEW6-L42\n"
        "    deny ipv6 2001:DB8::/64 any time-range CURFEW-TR-42 (active) sequence 10\n"
        "Extended IP access list CURFEW-L7\n"
        "    10 deny ip 198.18.2.0 0.0.0.255 any\n"
        "R1#"
    )
    sections = acl_sections(listing)
    assert list(sections) == ["CURFEW-L42", "CURFEW6-L42", "CURFEW-L7"]
    assert sections["CURFEW-L42"] == (
        "Extended IP access list CURFEW-L42\n"
        "    10 deny ip 198.18.1.0 0.0.0.255 any time-range CURFEW-TR-42 (active) (3 matches)\n"
        "    20 permit ip any any"
    )
    assert sections["CURFEW-L7"].endswith("10 deny ip 198.18.2.0 0.0.0.255 any")
    assert acl_sections("R1#") == {}


def test_the_twin_lets_an_armed_line_through_until_its_window():
    router = armed_twin()
    assert router.permits("GigabitEthernet0/1", "in", VENUE, OUTSIDE)
    router.clock_offset = timedelta(hours=1)  # 00:00 CST on the router's clock
    assert not router.permits("GigabitEthernet0/1", "in", VENUE, OUTSIDE)


def test_in_the_twin_deleting_the_time_range_first_leaves_the_line_cut():
    router = armed_twin()
    router.configure(["no time-range CURFEW-TR-42"])  # allowed while entries name it
    assert not router.permits("GigabitEthernet0/1", "in", VENUE, OUTSIDE)  # the trap
    assert "time-range CURFEW-TR-42 (active)" in router.show_access_lists(4, "CURFEW-L42")
    router.configure(["interface GigabitEthernet0/1", " no ip access-group CURFEW-L42 in"])
    router.configure(["no ip access-list extended CURFEW-L42"])
    assert router.permits("GigabitEthernet0/1", "in", VENUE, OUTSIDE)


def test_in_the_twin_the_right_order_never_cuts():
    router = armed_twin()
    for step in (
        ["interface GigabitEthernet0/1", " no ip access-group CURFEW-L42 in"],
        ["no ip access-list extended CURFEW-L42"],
        ["no time-range CURFEW-TR-42"],
    ):
        router.configure(step)
        assert router.permits("GigabitEthernet0/1", "in", VENUE, OUTSIDE)


def test_arming_again_sends_nothing_and_another_night_is_replaced_whole():
    armed = parse_running_config(ARMED_42, parse_time_ranges(time_range("inactive")))
    (again,) = DRIVER._arm_plans([TARGET], [ABSOLUTE], armed)
    assert again.commands == () and again.refusal is None
    tomorrow = ABSOLUTE.replace("25 November", "26 November")
    (replaced,) = DRIVER._arm_plans([TARGET], [tomorrow], armed)
    commands = list(replaced.commands)
    # last night's objects go first, the ACL before its time-range, then tonight's, whole
    assert commands.index("no ip access-list extended CURFEW-L42") < commands.index(
        "no time-range CURFEW-TR-42"
    )
    assert commands.index("no time-range CURFEW-TR-42") < commands.index("time-range CURFEW-TR-42")
    assert tomorrow in commands


def test_a_line_cut_by_the_controller_is_not_armed_over():
    plain = ARMED_42.replace(" time-range CURFEW-TR-42", "")
    (plan,) = DRIVER._arm_plans([TARGET], [ABSOLUTE], parse_running_config(plain))
    assert plan.commands == () and "cut already" in str(plan.refusal)


def test_the_twin_s_clock_shows_its_zone_and_marks_an_unsynchronised_clock():
    router = IosRouter("R1", "s", ("GigabitEthernet0/0",))
    router.clock = lambda: datetime(2026, 3, 29, 6, 0, 30, tzinfo=UTC)
    router.configure(
        [
            "clock timezone CET 1 0",
            "clock summer-time CEST recurring last Sun Mar 2:00 last Sun Oct 3:00",
        ]
    )
    assert router.show_clock() == "*08:00:30.000 CEST Sun Mar 29 2026\n"  # no NTP server
    assert router.show_ntp_status().startswith("Clock is unsynchronized")
    router.configure(["ntp server 192.0.2.123"])
    assert router.show_clock().startswith("08:00:30.000 CEST")
    assert "clock offset is 0.2500 msec" in router.show_ntp_status()
    router.ntp_lost = True
    assert router.show_clock().startswith("*")


def test_the_twin_takes_ios_s_default_summer_time_and_refuses_what_ios_refuses():
    router = IosRouter("R1", "s", ("GigabitEthernet0/0",))
    router.clock = lambda: datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    router.configure(["clock timezone PST -8 0", "clock summer-time PDT recurring"])
    assert router.show_clock().startswith("*05:00:00.000 PDT")
    for line in ("clock timezone PST 24 0", "clock summer-time X recurring 9 Sun Mar 2:00"):
        with pytest.raises(ValueError, match="rejected"):
            router.configure([line])
    with pytest.raises(ValueError, match="end time"):
        router.configure(
            ["time-range T", " absolute start 08:00 25 November 2026 end 00:00 25 November 2026"]
        )
