"""Cisco IOS parse and render on text alone: what a cut, a restore and a repair send."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from drivers.base import (
    Action,
    Batch,
    Credentials,
    InvalidIdentifier,
    LineState,
    LineTarget,
    OwnedLine,
)
from drivers.cisco_ios import (
    NOT_ECHOED,
    CiscoIosDriver,
    IosOwnedLine,
    find_rejections,
    parse_running_config,
)


def target(line_id: int = 42, interface: str = "GigabitEthernet0/1", *prefixes: str) -> LineTarget:
    chosen = prefixes or ("198.18.1.0/24", "2001:db8:1::/48")
    return LineTarget(line_id, interface, tuple(ip_network(p) for p in chosen))


# render is pure: a driver that never opens a session is enough.
DRIVER = CiscoIosDriver("R1", Credentials("192.0.2.1", 22, "curfew", "unused"))


def render(batch: Batch, config: str = "") -> list[str]:
    return DRIVER.render(batch, parse_running_config(config))


CUT_42 = """\
Building configuration...

Current configuration : 1234 bytes
!
hostname R1
!
interface GigabitEthernet0/0
 description uplink
 ip address 192.0.2.1 255.255.255.252
!
interface GigabitEthernet0/1
 description venue access
 ip address 198.18.1.1 255.255.255.0
 ip access-group CURFEW-L42 in
 ip access-group CURFEW-L42 out
 ipv6 address 2001:DB8:1::1/48
 ipv6 traffic-filter CURFEW6-L42 in
 ipv6 traffic-filter CURFEW6-L42 out
!
ip access-list extended CURFEW-L42
 deny   ip 198.18.1.0 0.0.0.255 any
 deny   ip any 198.18.1.0 0.0.0.255
 permit ip any any
!
ipv6 access-list CURFEW6-L42
 deny ipv6 2001:DB8:1::/48 any
 deny ipv6 any 2001:DB8:1::/48
 permit ipv6 any any
!
end
"""

DUAL_STACK_CUT = [
    "ip access-list extended CURFEW-L42",
    "deny ip 198.18.1.0 0.0.0.255 any",
    "deny ip any 198.18.1.0 0.0.0.255",
    "permit ip any any",
    "exit",
    "ipv6 access-list CURFEW6-L42",
    "deny ipv6 2001:db8:1::/48 any",
    "deny ipv6 any 2001:db8:1::/48",
    "permit ipv6 any any",
    "exit",
    "interface GigabitEthernet0/1",
    "ip access-group CURFEW-L42 in",
    "ip access-group CURFEW-L42 out",
    "ipv6 traffic-filter CURFEW6-L42 in",
    "ipv6 traffic-filter CURFEW6-L42 out",
    "exit",
]

RESTORE_42 = [
    "interface GigabitEthernet0/1",
    "no ip access-group CURFEW-L42 in",
    "no ip access-group CURFEW-L42 out",
    "no ipv6 traffic-filter CURFEW6-L42 in",
    "no ipv6 traffic-filter CURFEW6-L42 out",
    "exit",
    "no ip access-list extended CURFEW-L42",
    "no ipv6 access-list CURFEW6-L42",
]


# ------------------------------------------------------------------------------ cut


def test_dual_stack_cut_is_the_vendor_block() -> None:
    assert render(Batch(cuts=(target(),))) == DUAL_STACK_CUT


def test_ipv4_only_cut_creates_no_ipv6_objects() -> None:
    commands = render(Batch(cuts=(target(7, "GigabitEthernet0/2", "192.0.2.0/24"),)))
    assert commands == [
        "ip access-list extended CURFEW-L7",
        "deny ip 192.0.2.0 0.0.0.255 any",
        "deny ip any 192.0.2.0 0.0.0.255",
        "permit ip any any",
        "exit",
        "interface GigabitEthernet0/2",
        "ip access-group CURFEW-L7 in",
        "ip access-group CURFEW-L7 out",
        "exit",
    ]


def test_ipv6_only_cut_creates_no_ipv4_objects() -> None:
    commands = render(Batch(cuts=(target(7, "GigabitEthernet0/2", "2001:db8:10::/48"),)))
    assert commands == [
        "ipv6 access-list CURFEW6-L7",
        "deny ipv6 2001:db8:10::/48 any",
        "deny ipv6 any 2001:db8:10::/48",
        "permit ipv6 any any",
        "exit",
        "interface GigabitEthernet0/2",
        "ipv6 traffic-filter CURFEW6-L7 in",
        "ipv6 traffic-filter CURFEW6-L7 out",
        "exit",
    ]


def test_single_addresses_use_the_host_form() -> None:
    commands = render(Batch(cuts=(target(9, "Vlan100", "203.0.113.7/32", "2001:db8::7/128"),)))
    assert "deny ip host 203.0.113.7 any" in commands
    assert "deny ip any host 203.0.113.7" in commands
    assert "deny ipv6 host 2001:db8::7 any" in commands
    assert "deny ipv6 any host 2001:db8::7" in commands


def test_several_prefixes_each_get_both_denies_before_one_permit() -> None:
    commands = render(Batch(cuts=(target(3, "GigabitEthernet0/3", "10.1.0.0/16", "10.2.0.0/22"),)))
    assert commands[:6] == [
        "ip access-list extended CURFEW-L3",
        "deny ip 10.1.0.0 0.0.255.255 any",
        "deny ip any 10.1.0.0 0.0.255.255",
        "deny ip 10.2.0.0 0.0.3.255 any",
        "deny ip any 10.2.0.0 0.0.3.255",
        "permit ip any any",
    ]


def test_cut_already_in_place_renders_nothing() -> None:
    assert render(Batch(cuts=(target(),)), CUT_42) == []


def test_partial_cut_is_removed_then_cut_again() -> None:
    partial = CUT_42.replace(" ipv6 traffic-filter CURFEW6-L42 out\n", "")
    commands = render(Batch(cuts=(target(),)), partial)
    assert commands == [
        "interface GigabitEthernet0/1",
        "no ip access-group CURFEW-L42 in",
        "no ip access-group CURFEW-L42 out",
        "no ipv6 traffic-filter CURFEW6-L42 in",
        "exit",
        "no ip access-list extended CURFEW-L42",
        "no ipv6 access-list CURFEW6-L42",
        *DUAL_STACK_CUT,
    ]


def test_cut_with_other_prefixes_is_replaced() -> None:
    moved = target(42, "GigabitEthernet0/1", "198.18.2.0/24", "2001:db8:1::/48")
    commands = render(Batch(cuts=(moved,)), CUT_42)
    assert commands[: len(RESTORE_42)] == RESTORE_42
    assert "deny ip 198.18.2.0 0.0.0.255 any" in commands
    assert "deny ip 198.18.1.0 0.0.0.255 any" not in commands


def test_cut_on_another_interface_unbinds_the_old_one() -> None:
    moved = target(42, "GigabitEthernet0/0")
    commands = render(Batch(cuts=(moved,)), CUT_42)
    assert commands[:6] == RESTORE_42[:6]
    assert commands[-6] == "interface GigabitEthernet0/0"


def test_cut_where_only_the_acl_was_left_recreates_it() -> None:
    orphan = "ip access-list extended CURFEW-L5\n permit ip any any\n!\nend\n"
    commands = render(Batch(cuts=(target(5, "GigabitEthernet0/1", "192.0.2.0/24"),)), orphan)
    assert commands[0] == "no ip access-list extended CURFEW-L5"
    assert commands[1] == "ip access-list extended CURFEW-L5"


# ------------------------------------------------------------------------------ restore


def test_restore_removes_bindings_then_acls() -> None:
    assert render(Batch(restores=(target(),)), CUT_42) == RESTORE_42


def test_restore_of_a_line_not_on_the_device_renders_nothing() -> None:
    assert render(Batch(restores=(target(),)), "hostname R1\nend\n") == []
    assert DRIVER.render_line(Action.RESTORE, target(), None) == []


def test_restore_never_unbinds_a_direction_it_does_not_hold() -> None:
    # IOS's `no ip access-group X out` removes whatever is bound outbound, whatever its name.
    mixed = CUT_42.replace("ip access-group CURFEW-L42 out", "ip access-group MGMT-ACCESS out")
    commands = render(Batch(restores=(target(),)), mixed)
    assert "no ip access-group CURFEW-L42 out" not in commands
    assert not any("MGMT-ACCESS" in c for c in commands)
    assert "no ip access-group CURFEW-L42 in" in commands


def test_restores_are_rendered_before_cuts() -> None:
    batch = Batch(cuts=(target(43, "GigabitEthernet0/0", "192.0.2.0/24"),), restores=(target(),))
    commands = render(batch, CUT_42)
    assert commands[: len(RESTORE_42)] == RESTORE_42
    assert commands[len(RESTORE_42)] == "ip access-list extended CURFEW-L43"


def test_restore_from_a_bare_complete_owned_line() -> None:
    found = OwnedLine(
        42,
        frozenset({ip_network("198.18.1.0/24"), ip_network("2001:db8:1::/48")}),
        frozenset({"GigabitEthernet0/1"}),
        complete=True,
    )
    assert DRIVER.render_line(Action.RESTORE, target(), found) == RESTORE_42


def test_restore_from_a_bare_incomplete_owned_line_is_refused() -> None:
    found = OwnedLine(42, bindings=frozenset({"GigabitEthernet0/1"}))
    with pytest.raises(ValueError, match="read()"):
        DRIVER.render_line(Action.RESTORE, target(), found)


# ------------------------------------------------------------------------------ refusals

FOREIGN = """\
interface GigabitEthernet0/1
 ip access-group MGMT-ACCESS in
!
interface GigabitEthernet0/2
 ipv6 traffic-filter V6-EDGE out
!
ip access-list extended MGMT-ACCESS
 permit tcp 192.0.2.0 0.0.0.255 any eq 22
!
end
"""


def test_foreign_acl_refuses_that_line_only() -> None:
    batch = Batch(cuts=(target(), target(43, "GigabitEthernet0/3", "192.0.2.0/24")))
    plans = DRIVER.plan(batch, parse_running_config(FOREIGN))
    refused, other = plans
    assert refused.commands == ()
    assert str(refused.refusal) == (
        "GigabitEthernet0/1 already filters inbound with MGMT-ACCESS; not replacing a foreign ACL"
    )
    assert type(refused.refusal).__name__ == "Rejected"
    assert other.refusal is None and other.commands[0] == "ip access-list extended CURFEW-L43"
    assert not any("MGMT-ACCESS" in c for c in render(batch, FOREIGN))


def test_foreign_ipv6_filter_blocks_a_dual_stack_line_not_an_ipv4_only_one() -> None:
    config = parse_running_config(FOREIGN)
    dual = DRIVER.plan(Batch(cuts=(target(1, "GigabitEthernet0/2"),)), config)[0]
    v4_only = DRIVER.plan(Batch(cuts=(target(2, "GigabitEthernet0/2", "192.0.2.0/24"),)), config)[0]
    assert "IPv6 outbound with V6-EDGE" in str(dual.refusal)
    assert v4_only.refusal is None and v4_only.commands


def test_another_lines_binding_is_not_replaced() -> None:
    plans = DRIVER.plan(Batch(cuts=(target(43),)), parse_running_config(CUT_42))
    assert plans[0].commands == ()
    assert "CURFEW-L42 (line 42)" in str(plans[0].refusal)


def test_another_lines_binding_restored_in_the_same_batch_frees_the_interface() -> None:
    batch = Batch(cuts=(target(43),), restores=(target(),))
    restore, cut = DRIVER.plan(batch, parse_running_config(CUT_42))
    assert restore.commands == tuple(RESTORE_42)
    assert cut.refusal is None and "ip access-group CURFEW-L43 in" in cut.commands


def test_two_cuts_on_one_interface_refuse_the_second() -> None:
    first, second = DRIVER.plan(Batch(cuts=(target(1), target(2))), parse_running_config(""))
    assert first.commands and first.refusal is None
    assert second.commands == () and "cut in this batch" in str(second.refusal)


@pytest.mark.parametrize(
    "interface",
    [
        "GigabitEthernet0/1\nreload",
        "GigabitEthernet0/1; reload",
        "GigabitEthernet0/1 ; reload",
        "Gigabit Ethernet0/1",
        "GigabitEthernet0/1\r",
        "gi0/1",
        "",
    ],
)
def test_unsafe_interface_names_render_nothing(interface: str) -> None:
    bad = target(42, interface)
    good = target(43, "GigabitEthernet0/3")
    with pytest.raises(InvalidIdentifier):
        render(Batch(cuts=(good, bad)))
    with pytest.raises(InvalidIdentifier):
        render(Batch(restores=(bad,)), CUT_42)
    with pytest.raises(InvalidIdentifier):
        DRIVER.render_line(Action.CUT, bad, None)
    refused, accepted = DRIVER.plan(Batch(cuts=(bad, good)), parse_running_config(""))
    assert refused.commands == () and isinstance(refused.refusal, InvalidIdentifier)
    assert all(interface not in c for c in accepted.commands if interface)


def test_a_default_route_prefix_is_never_cut() -> None:
    with pytest.raises(InvalidIdentifier):
        render(Batch(cuts=(target(42, "GigabitEthernet0/1", "0.0.0.0/0"),)))


def test_owned_binding_on_an_unrenderable_interface_refuses_the_restore() -> None:
    odd = "interface Tunnel7\n ip access-group CURFEW-L42 in\n!\nend\n"
    plans = DRIVER.plan(Batch(restores=(target(),)), parse_running_config(odd))
    assert plans[0].commands == () and isinstance(plans[0].refusal, InvalidIdentifier)


# ------------------------------------------------------------------------------ parse


def test_parse_finds_a_complete_dual_stack_cut() -> None:
    config = parse_running_config(CUT_42)
    found = config[42]
    assert isinstance(found, IosOwnedLine)
    assert found.complete
    assert found.bindings == {"GigabitEthernet0/1"}
    assert found.prefixes == {ip_network("198.18.1.0/24"), ip_network("2001:db8:1::/48")}
    assert found.state_for(target()) is LineState.CUT
    assert list(config) == [42]


def test_parse_tolerates_whitespace_case_host_forms_and_sequence_numbers() -> None:
    text = (
        "interface  Vlan100\n"
        "  ip access-group CURFEW-L9 in \n"
        "  ip access-group CURFEW-L9 out\n"
        "\tipv6 traffic-filter CURFEW6-L9 in\n"
        " ipv6 traffic-filter CURFEW6-L9 out\n"
        "!\n"
        "ip access-list extended CURFEW-L9\n"
        " 10 deny   ip   host 203.0.113.7 any\n"
        " 20 DENY   IP any HOST 203.0.113.7\n"
        " 30 permit ip any any\n"
        "ipv6 access-list CURFEW6-L9\n"
        " sequence 10 deny ipv6 HOST 2001:DB8::7 any\n"
        " sequence 20 deny ipv6 any host 2001:db8::7\n"
        " sequence 30 permit ipv6 any any\n"
        "end\n"
    )
    wanted = target(9, "Vlan100", "203.0.113.7/32", "2001:db8::7/128")
    assert parse_running_config(text)[9].state_for(wanted) is LineState.CUT


@pytest.mark.parametrize(
    ("change", "old", "new"),
    [
        ("no trailing permit", " permit ip any any\n", ""),
        (
            "extra entry",
            " permit ip any any\n",
            " deny ip host 192.0.2.9 any\n permit ip any any\n",
        ),
        ("one deny missing", " deny   ip any 198.18.1.0 0.0.0.255\n", ""),
        ("logging entry", "ip any 198.18.1.0 0.0.0.255\n", "ip any 198.18.1.0 0.0.0.255 log\n"),
        ("v6 binding missing", " ipv6 traffic-filter CURFEW6-L42 in\n", ""),
        ("v6 acl missing", "ipv6 access-list CURFEW6-L42\n", "ipv6 access-list OTHER\n"),
        ("remark", " permit ipv6 any any\n", " remark venue\n permit ipv6 any any\n"),
    ],
)
def test_parse_marks_a_damaged_cut_incomplete(change: str, old: str, new: str) -> None:
    assert old in CUT_42, change
    found = parse_running_config(CUT_42.replace(old, new))[42]
    assert not found.complete
    assert found.state_for(target()) is LineState.UNKNOWN


def test_parse_a_binding_without_its_acl_is_owned_but_incomplete() -> None:
    text = "interface GigabitEthernet0/1\n ip access-group CURFEW-L42 in\n!\nend\n"
    found = parse_running_config(text)[42]
    assert found.bindings == {"GigabitEthernet0/1"} and not found.complete
    assert found.prefixes == frozenset()


def test_parse_a_line_bound_on_two_interfaces_is_not_cut_for_either() -> None:
    binds = (" ip access-group", " ipv6 traffic-filter")
    bindings = "".join(line + "\n" for line in CUT_42.splitlines() if line.startswith(binds))
    text = CUT_42.replace(
        "interface GigabitEthernet0/0\n", "interface GigabitEthernet0/0\n" + bindings
    )
    found = parse_running_config(text)[42]
    assert found.complete and found.bindings == {"GigabitEthernet0/0", "GigabitEthernet0/1"}
    assert found.state_for(target()) is LineState.UNKNOWN


def test_parse_records_foreign_filters_and_owns_only_canonical_names() -> None:
    text = FOREIGN + (
        "interface GigabitEthernet0/4\n ip access-group CURFEW-L042 in\n"
        " ip access-group 101 out\n ipv6 traffic-filter CURFEW-L5 in\n!\n"
        "ip access-list extended CURFEW-L042\n permit ip any any\n!\n"
    )
    config = parse_running_config(text)
    assert dict(config) == {}
    assert config.filters["GigabitEthernet0/1"] == {("ip", "in"): "MGMT-ACCESS"}
    assert config.holder("GigabitEthernet0/4", "ip", "in") == "CURFEW-L042"
    assert config.holder("GigabitEthernet0/4", "ip", "out") == "101"
    assert config.holder("GigabitEthernet0/4", "ipv6", "in") == "CURFEW-L5"


def test_parse_reads_back_what_render_writes() -> None:
    # The running config IOS prints for DUAL_STACK_CUT on a bare GigabitEthernet0/1.
    wanted = target()
    printed = (
        "interface GigabitEthernet0/1\n no ip address\n ip access-group CURFEW-L42 in\n"
        " ip access-group CURFEW-L42 out\n ipv6 traffic-filter CURFEW6-L42 in\n"
        " ipv6 traffic-filter CURFEW6-L42 out\n!\n"
        "ip access-list extended CURFEW-L42\n deny   ip 198.18.1.0 0.0.0.255 any\n"
        " deny   ip any 198.18.1.0 0.0.0.255\n permit ip any any\n!\n"
        "ipv6 access-list CURFEW6-L42\n deny ipv6 2001:DB8:1::/48 any\n"
        " deny ipv6 any 2001:DB8:1::/48\n permit ipv6 any any\n!\nend\n"
    )
    assert render(Batch(cuts=(wanted,))) == DUAL_STACK_CUT
    assert parse_running_config(printed)[42].state_for(wanted) is LineState.CUT
    assert render(Batch(cuts=(wanted,)), printed) == []


def test_render_parse_round_trip_through_the_lab_router_model() -> None:
    twin = pytest.importorskip("lab.cisco_ios")
    router = twin.IosRouter(
        "R1", interfaces=["GigabitEthernet0/0", "GigabitEthernet0/1", "Vlan100"]
    )
    before = router.running_config()
    lines = [target(), target(9, "Vlan100", "203.0.113.7/32", "2001:db8::7/128")]
    router.configure(render(Batch(cuts=tuple(lines))))
    after = router.running_config()
    assert all(parse_running_config(after)[t.line_id].state_for(t) is LineState.CUT for t in lines)
    assert render(Batch(cuts=tuple(lines)), after) == []
    router.configure(render(Batch(restores=tuple(lines)), after))
    assert router.running_config() == before


# ------------------------------------------------------------------------------ device answers


def test_errors_are_mapped_to_the_command_the_device_answered() -> None:
    sent = ["configure terminal", "ip access-list extended CURFEW-L1", "deny ip bogus any", "exit"]
    output = (
        "configure terminal\nEnter configuration commands, one per line.  End with CNTL/Z.\n"
        "R1(config)#ip access-list extended CURFEW-L1\n"
        "R1(config-ext-nacl)#deny ip bogus any\n"
        "                             ^\n% Invalid input detected at '^' marker.\n\n"
        "R1(config-ext-nacl)#exit\n"
        "*Mar  1 00:00:01: %SYS-5-CONFIG_I: Configured from console by vty0\n"
        "R1(config)#"
    )
    assert find_rejections(sent, output) == [(2, "% Invalid input detected at '^' marker.")]
    assert find_rejections(sent, output.replace("% Invalid", "x")) == []


def test_a_command_the_device_never_echoed_is_reported() -> None:
    sent = ["configure terminal", "interface GigabitEthernet0/1", "exit", "end"]
    output = (
        "configure terminal\nEnter configuration commands, one per line.  End with CNTL/Z.\n"
        "R1(config)#interface GigabitEthernet0/1\nR1(config-if)#"
    )
    assert find_rejections(sent, output) == [(2, NOT_ECHOED)]


def test_a_refused_restore_does_not_free_its_interface_for_a_cut() -> None:
    # line 42 is also bound on an interface this driver refuses to render, so its restore fails
    config = parse_running_config(CUT_42 + "interface Tunnel7\n ip access-group CURFEW-L42 in\n")
    restore, cut = DRIVER.plan(Batch(cuts=(target(43),), restores=(target(),)), config)
    assert isinstance(restore.refusal, InvalidIdentifier)
    assert cut.commands == () and "CURFEW-L42 (line 42)" in str(cut.refusal)
