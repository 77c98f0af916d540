"""H3C Comware 7 parse and render on text alone: what a cut, a restore and a repair send."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv6Interface, ip_network

import pytest

from drivers.base import (
    Action,
    Batch,
    Credentials,
    Inspects,
    InvalidIdentifier,
    LineState,
    LineTarget,
    OwnedLine,
    Rejected,
)
from drivers.h3c_comware import (
    NOT_ECHOED,
    ComwareOwnedLine,
    Family,
    H3cComwareDriver,
    find_rejections,
    parse_current_configuration,
    parse_facts,
    parse_rule,
)
from drivers.identifiers import IdentifierError, check_interface


def target(
    line_id: int = 42, interface: str = "GigabitEthernet1/0/1", *prefixes: str
) -> LineTarget:
    chosen = prefixes or ("198.18.1.0/24", "2001:db8:1::/48")
    return LineTarget(line_id, interface, tuple(ip_network(p) for p in chosen))


# render is pure: a driver that never opens a session is enough.
DRIVER = H3cComwareDriver("R1", Credentials("192.0.2.1", 22, "curfew", "unused"))

INTERFACES = """\
#
 sysname R1
#
interface Ten-GigabitEthernet1/0/49
 description uplink
 ip address 100.64.0.1 255.255.255.252
#
interface GigabitEthernet1/0/1
 description venue access
 ip address 198.18.1.1 255.255.255.0
 ipv6 address 2001:DB8:1::1/48
#
interface GigabitEthernet1/0/2
#
interface GigabitEthernet1/0/3
#
"""

CUT_42 = (
    INTERFACES.replace(
        " ipv6 address 2001:DB8:1::1/48\n",
        " ipv6 address 2001:DB8:1::1/48\n"
        " packet-filter name CURFEW-L42 inbound\n"
        " packet-filter name CURFEW-L42 outbound\n"
        " packet-filter ipv6 name CURFEW6-L42 inbound\n"
        " packet-filter ipv6 name CURFEW6-L42 outbound\n",
    )
    + """\
acl advanced name CURFEW-L42
 rule 5 deny ip source 198.18.1.0 0.0.0.255
 rule 10 deny ip destination 198.18.1.0 0.0.0.255
 rule 15 permit ip
#
acl ipv6 advanced name CURFEW6-L42
 rule 5 deny ipv6 source 2001:DB8:1::/48
 rule 10 deny ipv6 destination 2001:DB8:1::/48
 rule 15 permit ipv6
#
return
"""
)

DUAL_STACK_CUT = [
    "acl advanced name CURFEW-L42",
    "rule 5 deny ip source 198.18.1.0 0.0.0.255",
    "rule 10 deny ip destination 198.18.1.0 0.0.0.255",
    "rule 15 permit ip",
    "quit",
    "acl ipv6 advanced name CURFEW6-L42",
    "rule 5 deny ipv6 source 2001:db8:1::/48",
    "rule 10 deny ipv6 destination 2001:db8:1::/48",
    "rule 15 permit ipv6",
    "quit",
    "interface GigabitEthernet1/0/1",
    "packet-filter name CURFEW-L42 inbound",
    "packet-filter name CURFEW-L42 outbound",
    "packet-filter ipv6 name CURFEW6-L42 inbound",
    "packet-filter ipv6 name CURFEW6-L42 outbound",
    "quit",
]

DUAL_STACK_RESTORE = [
    "interface GigabitEthernet1/0/1",
    "undo packet-filter name CURFEW-L42 inbound",
    "undo packet-filter name CURFEW-L42 outbound",
    "undo packet-filter ipv6 name CURFEW6-L42 inbound",
    "undo packet-filter ipv6 name CURFEW6-L42 outbound",
    "quit",
    "undo acl advanced name CURFEW-L42",
    "undo acl ipv6 advanced name CURFEW6-L42",
]


def render(batch: Batch, config: str = INTERFACES) -> list[str]:
    return DRIVER.render(batch, parse_current_configuration(config))


def plans(batch: Batch, config: str = INTERFACES):
    return DRIVER.plan(batch, parse_current_configuration(config))


# ------------------------------------------------------------------------------ render


def test_cut_renders_named_advanced_acls_ending_in_permit_and_four_packet_filters() -> None:
    assert render(Batch(cuts=(target(),))) == DUAL_STACK_CUT


def test_restore_removes_the_packet_filters_before_the_acls() -> None:
    assert render(Batch(restores=(target(),)), CUT_42) == DUAL_STACK_RESTORE


def test_a_host_route_is_wildcard_zero_and_a_v6_host_is_slash_128() -> None:
    commands = render(
        Batch(cuts=(target(43, "GigabitEthernet1/0/2", "198.18.2.5/32", "2001:db8:4::7/128"),))
    )
    assert "rule 5 deny ip source 198.18.2.5 0" in commands
    assert "rule 10 deny ip destination 198.18.2.5 0" in commands
    assert "rule 5 deny ipv6 source 2001:db8:4::7/128" in commands


def test_a_single_family_line_gets_only_that_family() -> None:
    commands = render(Batch(cuts=(target(43, "GigabitEthernet1/0/2", "198.18.2.0/24"),)))
    assert not any("ipv6" in c for c in commands)
    assert commands[-3:] == [
        "packet-filter name CURFEW-L43 inbound",
        "packet-filter name CURFEW-L43 outbound",
        "quit",
    ]


def test_several_prefixes_get_consecutive_rule_ids_and_one_trailing_permit() -> None:
    line = target(43, "GigabitEthernet1/0/2", "198.18.2.0/24", "198.18.3.0/25")
    commands = render(Batch(cuts=(line,)))
    assert commands[:6] == [
        "acl advanced name CURFEW-L43",
        "rule 5 deny ip source 198.18.2.0 0.0.0.255",
        "rule 10 deny ip destination 198.18.2.0 0.0.0.255",
        "rule 15 deny ip source 198.18.3.0 0.0.0.127",
        "rule 20 deny ip destination 198.18.3.0 0.0.0.127",
        "rule 25 permit ip",
    ]


def test_a_cut_line_renders_nothing_again() -> None:
    assert render(Batch(cuts=(target(),)), CUT_42) == []
    owned = parse_current_configuration(CUT_42)
    assert owned[42].state_for(target()) is LineState.CUT


def test_restore_of_a_line_never_cut_renders_nothing() -> None:
    assert render(Batch(restores=(target(),))) == []


def test_a_cut_with_other_prefixes_is_rewritten_from_scratch() -> None:
    moved = target(42, "GigabitEthernet1/0/1", "198.18.9.0/24", "2001:db8:1::/48")
    commands = render(Batch(cuts=(moved,)), CUT_42)
    assert commands[: len(DUAL_STACK_RESTORE)] == DUAL_STACK_RESTORE
    assert "rule 5 deny ip source 198.18.9.0 0.0.0.255" in commands


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (
            (" rule 15 permit ip\n", " rule 12 permit ip source 10.0.0.0 0.255.255.255\n"),
            "a rule of someone else's",
        ),
        ((" rule 15 permit ip\n", ""), "no trailing permit"),
        (
            ("acl advanced name CURFEW-L42\n", "acl advanced name CURFEW-L42\n description x\n"),
            "a description",
        ),
        (
            ("acl advanced name CURFEW-L42\n", "acl advanced name CURFEW-L42 match-order auto\n"),
            "a match order of its own",
        ),
        ((" packet-filter name CURFEW-L42 outbound\n", ""), "one binding missing"),
        (
            (" rule 10 deny ip destination", " rule 10 deny tcp destination"),
            "a rule for one protocol only",
        ),
    ],
)
def test_anything_but_the_exact_objects_is_drift_and_is_rewritten(
    change: tuple[str, str], why: str
) -> None:
    drifted = CUT_42.replace(*change)
    assert drifted != CUT_42, why
    owned = parse_current_configuration(drifted)
    assert owned[42].state_for(target()) is LineState.UNKNOWN, why
    commands = render(Batch(cuts=(target(),)), drifted)
    assert commands[-len(DUAL_STACK_CUT) :] == DUAL_STACK_CUT, why
    assert "undo acl advanced name CURFEW-L42" in commands, why


def test_restore_removes_only_the_objects_that_exist() -> None:
    half = CUT_42.replace(" packet-filter ipv6 name CURFEW6-L42 outbound\n", "").replace(
        "acl advanced name CURFEW-L42\n", "acl advanced name OTHER\n"
    )
    commands = render(Batch(restores=(target(),)), half)
    assert commands == [
        "interface GigabitEthernet1/0/1",
        "undo packet-filter name CURFEW-L42 inbound",
        "undo packet-filter name CURFEW-L42 outbound",
        "undo packet-filter ipv6 name CURFEW6-L42 inbound",
        "quit",
        "undo acl ipv6 advanced name CURFEW6-L42",
    ]


def test_render_against_a_bare_incomplete_owned_line_is_refused() -> None:
    bare = {42: OwnedLine(42, frozenset(target().prefixes), frozenset(), complete=False)}
    with pytest.raises(ValueError, match="incomplete"):
        DRIVER.render_line(Action.RESTORE, target(), bare[42])


def test_render_against_a_bare_complete_owned_line_removes_every_binding() -> None:
    line = target()
    bare = OwnedLine(42, frozenset(line.prefixes), frozenset({line.interface}), complete=True)
    assert DRIVER.render_line(Action.RESTORE, line, bare) == DUAL_STACK_RESTORE


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("binding", "named"),
    [
        (" packet-filter name MGMT-ACCESS inbound\n", "MGMT-ACCESS"),
        (" packet-filter 3001 outbound hardware-count\n", "ACL 3001"),
        (" packet-filter ipv6 name V6-EDGE inbound\n", "V6-EDGE"),
    ],
)
def test_a_foreign_packet_filter_refuses_the_line_and_nothing_is_sent_for_it(
    binding: str, named: str
) -> None:
    config = INTERFACES.replace(
        " ipv6 address 2001:DB8:1::1/48\n", " ipv6 address 2001:DB8:1::1/48\n" + binding
    )
    batch = Batch(cuts=(target(), target(43, "GigabitEthernet1/0/2", "198.18.2.0/24")))
    refused, cut = plans(batch, config)
    assert refused.commands == () and isinstance(refused.refusal, Rejected)
    assert "GigabitEthernet1/0/1" in str(refused.refusal) and named in str(refused.refusal)
    assert cut.refusal is None and cut.commands


def test_a_mac_packet_filter_does_not_occupy_an_ip_slot() -> None:
    config = INTERFACES.replace(
        " ipv6 address 2001:DB8:1::1/48\n",
        " ipv6 address 2001:DB8:1::1/48\n packet-filter mac 4000 inbound\n",
    )
    assert render(Batch(cuts=(target(),)), config) == DUAL_STACK_CUT


def test_another_lines_acl_on_the_interface_is_not_replaced() -> None:
    other = CUT_42.replace("CURFEW-L42", "CURFEW-L7").replace("CURFEW6-L42", "CURFEW6-L7")
    (refused,) = plans(Batch(cuts=(target(),)), other)
    assert isinstance(refused.refusal, Rejected)
    assert "CURFEW-L7 (line 7)" in str(refused.refusal)


def test_a_restore_in_the_same_batch_frees_the_interface_for_a_cut() -> None:
    other = target(7, "GigabitEthernet1/0/1", "198.18.1.0/24", "2001:db8:1::/48")
    config = CUT_42.replace("CURFEW-L42", "CURFEW-L7").replace("CURFEW6-L42", "CURFEW6-L7")
    restore, cut = plans(Batch(cuts=(target(),), restores=(other,)), config)
    assert restore.refusal is None and cut.refusal is None
    assert cut.commands == tuple(DUAL_STACK_CUT)


def test_two_cuts_on_one_interface_in_one_batch_refuse_the_second() -> None:
    second = target(43, "GigabitEthernet1/0/1", "198.18.2.0/24")
    first, refused = plans(Batch(cuts=(target(), second)))
    assert first.refusal is None
    assert "CURFEW-L42 (line 42, cut in this batch)" in str(refused.refusal)


@pytest.mark.parametrize(
    "header",
    [
        "acl advanced name curfew-l42",  # Comware names are case-insensitive
        "acl advanced 3001 name CURFEW-L42",  # a numbered ACL carrying our name
        "acl basic name CURFEW-L42",  # basic and advanced IPv4 ACLs share one name space
        "acl number 3001 name CURFEW-L42",  # the spelling of early Comware 7 releases
    ],
)
def test_an_acl_answering_to_our_name_is_never_edited(header: str) -> None:
    config = INTERFACES + f"{header}\n rule 0 permit ip\n#\nreturn\n"
    owned = parse_current_configuration(config)
    assert 42 not in owned, "not ours: a restore must not delete it"
    (refused,) = plans(Batch(cuts=(target(),)), config)
    assert isinstance(refused.refusal, Rejected) and header in str(refused.refusal)
    assert render(Batch(restores=(target(),)), config) == []


def test_an_ipv6_acl_named_like_our_ipv4_one_is_no_clash() -> None:
    config = INTERFACES + "acl ipv6 advanced name CURFEW-L42\n rule 0 permit ipv6\n#\n"
    assert render(Batch(cuts=(target(),)), config) == DUAL_STACK_CUT


def test_an_interface_the_device_does_not_have_is_refused() -> None:
    (refused,) = plans(Batch(cuts=(target(42, "GigabitEthernet1/0/9"),)))
    assert isinstance(refused.refusal, Rejected)
    assert "GigabitEthernet1/0/9 does not exist" in str(refused.refusal)


def test_invalid_identifiers_refuse_the_line_before_anything_is_rendered() -> None:
    bad = target(45, "GigabitEthernet1/0/3 ; reboot", "198.18.5.0/24")
    with pytest.raises(InvalidIdentifier):
        render(Batch(cuts=(bad, target())))
    refused, cut = plans(Batch(cuts=(bad, target())))
    assert isinstance(refused.refusal, InvalidIdentifier) and refused.commands == ()
    assert cut.commands == tuple(DUAL_STACK_CUT)


@pytest.mark.parametrize(
    "name",
    [
        "GigabitEthernet1/0/1",
        "Ten-GigabitEthernet1/0/25",
        "Bridge-Aggregation1",
        "Vlan-interface10",
        "Vlan-interface4094",
        "GigabitEthernet1/0/1.100",
        "HundredGigE1/0/1",
    ],
)
def test_comware_interface_names_are_accepted(name: str) -> None:
    assert check_interface("h3c_comware", name) == name


@pytest.mark.parametrize(
    "name",
    [
        "GE1/0/1",
        "gigabitethernet1/0/1",
        "GigabitEthernet 1/0/1",
        "GigabitEthernet1",
        "TenGigabitEthernet1/0/25",
        "Vlan10",
        "Vlan-interface10\n",
        "Bridge-Aggregation1/0",
    ],
)
def test_other_spellings_are_refused(name: str) -> None:
    with pytest.raises(IdentifierError):
        check_interface("h3c_comware", name)


# ------------------------------------------------------------------------------ parse


def test_read_finds_owned_lines_with_their_objects() -> None:
    owned = parse_current_configuration(CUT_42)
    line = owned[42]
    assert isinstance(line, ComwareOwnedLine)
    assert line.complete and line.acls == {Family.IPV4, Family.IPV6}
    assert line.bindings == {"GigabitEthernet1/0/1"}
    assert line.prefixes == {ip_network("198.18.1.0/24"), ip_network("2001:db8:1::/48")}
    assert owned.interfaces == {
        "Ten-GigabitEthernet1/0/49",
        "GigabitEthernet1/0/1",
        "GigabitEthernet1/0/2",
        "GigabitEthernet1/0/3",
    }


def test_only_canonical_names_are_owned() -> None:
    config = CUT_42.replace("CURFEW-L42", "CURFEW-L042").replace("CURFEW6-L42", "CURFEW6-L042")
    assert parse_current_configuration(config) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rule 5 deny ip source 198.18.1.0 0.0.0.255", (5, "deny", "198.18.1.0/24", None)),
        ("rule 0 deny ip destination 198.18.1.7 0", (0, "deny", None, "198.18.1.7/32")),
        ("rule 15 permit ip", (15, "permit", None, None)),
        (
            "rule 20 deny ip source 10.0.0.0 0.255.255.255 destination 10.1.0.0 0.0.255.255",
            (20, "deny", "10.0.0.0/8", "10.1.0.0/16"),
        ),
    ],
)
def test_ipv4_rules_parse(text: str, expected: tuple) -> None:
    rule_id, entry = parse_rule(Family.IPV4, text)
    source = str(entry.source) if entry.source else None
    destination = str(entry.destination) if entry.destination else None
    assert (rule_id, entry.action, source, destination) == expected


@pytest.mark.parametrize(
    "text",
    [
        "rule 5 deny tcp source 198.18.1.0 0.0.0.255",
        "rule 5 deny ip source 198.18.1.0 0.0.0.255 counting",
        "rule 5 deny ip source 198.18.1.0 0.0.255.0",  # not a prefix
        "rule 5 deny ip source 198.18.1.1 0.0.0.255",  # host bits under the wildcard
        "rule 5 deny ip source 0.0.0.0 255.255.255.255",
        "rule 5 comment cut by order 7",
        "rule deny ip",
    ],
)
def test_anything_else_is_not_a_plain_rule(text: str) -> None:
    assert parse_rule(Family.IPV4, text) is None


def test_ipv6_rules_parse_upper_case_addresses() -> None:
    rule_id, entry = parse_rule(Family.IPV6, "rule 10 deny ipv6 destination 2001:DB8:4::7/128")
    assert (rule_id, entry.destination) == (10, ip_network("2001:db8:4::7/128"))
    assert parse_rule(Family.IPV6, "rule 10 deny ip destination 2001:DB8::/32") is None


# ------------------------------------------------------------------------------ rejections


def test_rejections_belong_to_the_command_echoed_before_them() -> None:
    sent = ["system-view", "acl advanced name CURFEW-L42", "rule 5 deny ip sauce", "quit"]
    output = (
        "system-view\n"
        "System View: return to User View with Ctrl+Z.\n"
        "[R1]acl advanced name CURFEW-L42\n"
        "[R1-acl-ipv4-adv-CURFEW-L42]rule 5 deny ip sauce\n"
        "                                             ^\n"
        " % Unrecognized command found at '^' position.\n"
        "%Nov 24 00:00:01:123 2026 R1 SHELL/5/SHELL_CMD: -Line=vty0; Command is quit\n"
        "[R1-acl-ipv4-adv-CURFEW-L42]quit\n"
        "[R1]"
    )
    assert find_rejections(sent, output) == [(2, "% Unrecognized command found at '^' position.")]


def test_a_command_never_echoed_is_reported_as_lost_input() -> None:
    sent = ["system-view", "interface GigabitEthernet1/0/1", "quit", "return"]
    output = "system-view\n[R1]interface GigabitEthernet1/0/1\n[R1-GigabitEthernet1/0/1]"
    assert find_rejections(sent, output) == [(2, NOT_ECHOED)]


# ------------------------------------------------------------------------------ facts

FACTS_CONFIG = (
    INTERFACES.replace(
        " ip address 100.64.0.1 255.255.255.252\n",
        " ip address 100.64.0.1 255.255.255.252\n ip address 100.64.9.1 255.255.255.0 sub\n",
    )
    + """\
 ip route-static 0.0.0.0 0 100.64.0.2
 ip route-static 198.51.100.0 24 GigabitEthernet1/0/1 198.18.1.2 preference 70
 ip route-static 203.0.113.0 24 192.0.2.99
 ip route-static vpn-instance MGMT 10.0.0.0 8 100.64.0.2
 ipv6 route-static 2001:DB8:99:: 48 GigabitEthernet1/0/1 FE80::2
 ipv6 route-static 2001:DB8:98:: 48 2001:DB8:1::9
#
return
"""
)


def test_facts_read_interfaces_addresses_and_static_routes() -> None:
    facts = parse_facts(FACTS_CONFIG)
    assert facts.interfaces == {
        "Ten-GigabitEthernet1/0/49": (
            IPv4Interface("100.64.0.1/30"),
            IPv4Interface("100.64.9.1/24"),
        ),
        "GigabitEthernet1/0/1": (
            IPv4Interface("198.18.1.1/24"),
            IPv6Interface("2001:db8:1::1/48"),
        ),
        "GigabitEthernet1/0/2": (),
        "GigabitEthernet1/0/3": (),
    }
    assert facts.routes == {
        ip_network("0.0.0.0/0"): "Ten-GigabitEthernet1/0/49",
        ip_network("198.51.100.0/24"): "GigabitEthernet1/0/1",
        ip_network("2001:db8:99::/48"): "GigabitEthernet1/0/1",
        ip_network("2001:db8:98::/48"): "GigabitEthernet1/0/1",
    }, "the VPN route and the one whose next hop is on no interface are left out"
    assert facts.routed_via(ip_network("198.51.100.0/25")) >= {"GigabitEthernet1/0/1"}


def test_the_driver_has_the_inspects_ability() -> None:
    assert isinstance(DRIVER, Inspects)
