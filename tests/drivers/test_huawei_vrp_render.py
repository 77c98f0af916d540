"""Huawei VRP parse and render on text alone: what a cut, a restore and a repair send, and how
the device's answers (prompts, errors, [Y/N] questions) are read."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv6Interface, ip_network

import pytest

from drivers.base import (
    Action,
    Batch,
    Credentials,
    InvalidIdentifier,
    LineState,
    LineTarget,
    OwnedLine,
    Rejected,
)
from drivers.huawei_vrp import (
    Answer,
    Exchange,
    Family,
    HuaweiVrpDriver,
    Kind,
    VrpOwnedLine,
    answer_pattern,
    find_rejections,
    may_ask,
    parse_current_configuration,
    parse_rule,
    split_answers,
)


def target(
    line_id: int = 42, interface: str = "GigabitEthernet0/0/1", *prefixes: str
) -> LineTarget:
    chosen = prefixes or ("198.18.1.0/24", "2001:db8:1::/48")
    return LineTarget(line_id, interface, tuple(ip_network(p) for p in chosen))


# render is pure: a driver that never opens a session is enough.
DRIVER = HuaweiVrpDriver("R1", Credentials("192.0.2.1", 22, "curfew", "unused"))


def render(batch: Batch, config: str = "") -> list[str]:
    return DRIVER.render(batch, parse_current_configuration(config))


HEAD = """\
!Software Version V200R010C00SPC600
#
 sysname R1
#
 info-center loghost 192.0.2.50
#
acl number 3000
 description management access
 rule 5 permit ip source 192.0.2.0 0.0.0.255
#
"""
UPLINK = """\
interface GigabitEthernet0/0/0
 description uplink
 ip address 100.64.0.1 255.255.255.252
 traffic-filter inbound acl 3000
#
"""
TAIL = """\
interface NULL0
#
 ntp-service unicast-server 192.0.2.123
#
ip route-static 0.0.0.0 0.0.0.0 100.64.0.2
ip route-static 198.18.7.0 255.255.255.0 GigabitEthernet0/0/2
ipv6 route-static 2001:DB8:7:: 48 GigabitEthernet0/0/2 FE80::1
ip route-static vpn-instance GUEST 10.0.0.0 255.0.0.0 100.64.0.2
ip route-static 198.18.8.0 24 100.64.0.2 preference 70 description via uplink
ip route-static 192.0.2.0 24 NULL0
#
user-interface vty 0 4
 authentication-mode aaa
#
return
"""
ACLS_42 = """\
acl name CURFEW-L42 3999
 rule 5 deny ip source 198.18.1.0 0.0.0.255
 rule 10 deny ip destination 198.18.1.0 0.0.0.255
#
acl ipv6 name CURFEW6-L42 3999
 rule 5 deny ipv6 source 2001:DB8:1::/48
 rule 10 deny ipv6 destination 2001:DB8:1::/48
#
"""
VENUE_CUT = """\
interface GigabitEthernet0/0/1
 description venue access
 ipv6 enable
 ip address 198.18.1.1 255.255.255.0
 ipv6 address 2001:DB8:1::1/48
 traffic-filter inbound acl name CURFEW-L42
 traffic-filter outbound acl name CURFEW-L42
 traffic-filter inbound acl ipv6 name CURFEW6-L42
 traffic-filter outbound acl ipv6 name CURFEW6-L42
#
"""
CUT_42 = HEAD + ACLS_42 + UPLINK + VENUE_CUT + TAIL

DUAL_STACK_CUT = [
    "acl name CURFEW-L42 advance",
    "rule 5 deny ip source 198.18.1.0 0.0.0.255",
    "rule 10 deny ip destination 198.18.1.0 0.0.0.255",
    "quit",
    "acl ipv6 name CURFEW6-L42 advance",
    "rule 5 deny ipv6 source 2001:db8:1::/48",
    "rule 10 deny ipv6 destination 2001:db8:1::/48",
    "quit",
    "interface GigabitEthernet0/0/1",
    "traffic-filter inbound acl name CURFEW-L42",
    "traffic-filter outbound acl name CURFEW-L42",
    "traffic-filter inbound acl ipv6 name CURFEW6-L42",
    "traffic-filter outbound acl ipv6 name CURFEW6-L42",
    "quit",
]
DUAL_STACK_RESTORE = [
    "interface GigabitEthernet0/0/1",
    "undo traffic-filter inbound acl name CURFEW-L42",
    "undo traffic-filter outbound acl name CURFEW-L42",
    "undo traffic-filter inbound acl ipv6 name CURFEW6-L42",
    "undo traffic-filter outbound acl ipv6 name CURFEW6-L42",
    "quit",
    "undo acl name CURFEW-L42",
    "undo acl ipv6 name CURFEW6-L42",
]


# ------------------------------------------------------------------------------ parse


def test_a_complete_cut_reads_as_cut_with_its_objects() -> None:
    owned = parse_current_configuration(CUT_42)

    assert set(owned) == {42}
    found = owned[42]
    assert isinstance(found, VrpOwnedLine) and found.complete
    assert found.state_for(target()) is LineState.CUT
    assert found.prefixes == {ip_network("198.18.1.0/24"), ip_network("2001:db8:1::/48")}
    assert found.bindings == {"GigabitEthernet0/0/1"}
    assert found.acls == {Family.IPV4, Family.IPV6}
    assert len(found.filters) == 4


def test_foreign_filters_are_seen_by_name_or_number() -> None:
    config = parse_current_configuration(CUT_42)

    assert config.holder("GigabitEthernet0/0/0", Family.IPV4, "inbound") == "ACL 3000"
    assert config.holder("GigabitEthernet0/0/1", Family.IPV6, "outbound") == "CURFEW6-L42"
    assert config.holder("GigabitEthernet0/0/1", Family.IPV4, "outbound") == "CURFEW-L42"


def test_foreign_and_non_canonical_names_are_not_owned() -> None:
    text = HEAD.replace("acl number 3000", "acl name CURFEW-L042 3000") + (
        "acl name CURFEW6-L7 3998\n rule 5 deny ip source 10.0.0.0 0.255.255.255\n#\n"
        "acl ipv6 name CURFEW-L8 3999\n rule 5 deny ipv6 source 2001:DB8::/32\n#\n"
    )
    assert parse_current_configuration(text) == {}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (ACLS_42.replace(" rule 10 deny ip destination", " rule 10 deny tcp destination"), "tcp"),
        (ACLS_42.replace("#\nacl ipv6", " rule 15 permit ip\n#\nacl ipv6", 1), "a permit"),
        (ACLS_42.replace("0.0.0.255\n rule 10", "0.0.255.255\n rule 10", 1), "prefix mismatch"),
        (ACLS_42.replace(" rule 10 deny ip destination 198.18.1.0 0.0.0.255\n", ""), "half"),
        (ACLS_42.replace("acl name CURFEW-L42 3999", "acl name CURFEW-L42 2999"), "basic ACL"),
        (ACLS_42.replace("198.18.1.0 0.0.0.255\n rule 10", "198.18.0.1 0.0.255.0\n rule 10"), "wc"),
    ],
)
def test_an_acl_that_is_not_exactly_a_cut_reads_as_unknown(text: str, why: str) -> None:
    owned = parse_current_configuration(HEAD + text + UPLINK + VENUE_CUT + TAIL)
    assert not owned[42].complete, why
    assert owned[42].state_for(target()) is LineState.UNKNOWN


def test_named_acls_printed_without_a_number_are_read_too() -> None:
    vrp8 = ACLS_42.replace("CURFEW-L42 3999", "CURFEW-L42 advance").replace(
        "CURFEW6-L42 3999", "CURFEW6-L42"
    )
    owned = parse_current_configuration(HEAD + vrp8 + UPLINK + VENUE_CUT + TAIL)
    assert owned[42].complete
    basic = ACLS_42.replace("CURFEW-L42 3999", "CURFEW-L42 basic")
    assert not parse_current_configuration(HEAD + basic + UPLINK + VENUE_CUT + TAIL)[42].complete


def test_bindings_without_their_acl_are_found_for_removal() -> None:
    owned = parse_current_configuration(HEAD + UPLINK + VENUE_CUT + TAIL)

    found = owned[42]
    assert found.acls == frozenset() and not found.complete
    assert DRIVER.render_line(Action.RESTORE, target(), found) == DUAL_STACK_RESTORE[:6]


def test_a_binding_of_our_acl_by_number_is_ours_and_removed_by_that_number() -> None:
    venue = VENUE_CUT.replace("outbound acl name CURFEW-L42", "outbound acl 3999")
    owned = parse_current_configuration(HEAD + ACLS_42 + UPLINK + venue + TAIL)

    assert not owned[42].complete
    assert "undo traffic-filter outbound acl 3999" in DRIVER.render_line(
        Action.RESTORE, target(), owned[42]
    )


@pytest.mark.parametrize(
    ("family", "text", "expected"),
    [
        (Family.IPV4, "rule 5 deny ip source 198.18.1.7 0", ("198.18.1.7/32", None)),
        (Family.IPV4, "rule 10 deny ip destination 10.0.0.0 0.255.255.255", (None, "10.0.0.0/8")),
        (Family.IPV6, "rule 5 deny ipv6 source 2001:DB8:4::7/128", ("2001:db8:4::7/128", None)),
        (Family.IPV4, "rule 5 deny ip source 10.0.0.1 0.255.0.255", None),
        (Family.IPV4, "rule 5 deny ip source 10.0.0.1 0.0.0.255", None),
        (Family.IPV4, "rule 5 deny ip source any", None),
        (Family.IPV4, "rule 5 deny ipv6 source 2001:DB8::/32", None),
        (Family.IPV6, "rule 5 deny ipv6 source 2001:DB8::/32 logging", None),
        (Family.IPV4, "rule 5 deny ip source 1.0.0.0 0.255.255.255 source 2.0.0.0 0.0.0.255", None),
    ],
)
def test_rules_parse_only_when_they_are_plain_address_matches(
    family: Family, text: str, expected: tuple[str | None, str | None] | None
) -> None:
    entry = parse_rule(family, text)
    if expected is None:
        assert entry is None
    else:
        assert entry is not None and entry.action == "deny"
        source, destination = (ip_network(p) if p else None for p in expected)
        assert (entry.source, entry.destination) == (source, destination)


def test_facts_give_addresses_per_interface_and_routes_by_their_way_out() -> None:
    facts = parse_current_configuration(CUT_42).facts

    assert facts.interfaces["GigabitEthernet0/0/1"] == (
        IPv4Interface("198.18.1.1/24"),
        IPv6Interface("2001:db8:1::1/48"),
    )
    assert facts.interfaces["NULL0"] == ()
    assert facts.routes == {
        ip_network("0.0.0.0/0"): "GigabitEthernet0/0/0",  # by its next hop's connected network
        ip_network("198.18.7.0/24"): "GigabitEthernet0/0/2",
        ip_network("2001:db8:7::/48"): "GigabitEthernet0/0/2",
        ip_network("198.18.8.0/24"): "GigabitEthernet0/0/0",
        ip_network("192.0.2.0/24"): "NULL0",
    }
    assert "GigabitEthernet0/0/1" in facts.routed_via(ip_network("198.18.1.0/24"))


# ------------------------------------------------------------------------------ render


def test_cut_renders_named_advanced_acls_then_the_four_bindings() -> None:
    assert render(Batch(cuts=(target(),))) == DUAL_STACK_CUT


def test_host_prefixes_and_single_family_lines_render_only_their_family() -> None:
    commands = render(Batch(cuts=(target(44, "Eth-Trunk1", "2001:db8:4::7/128", "10.9.9.9/32"),)))

    assert commands == [
        "acl name CURFEW-L44 advance",
        "rule 5 deny ip source 10.9.9.9 0.0.0.0",
        "rule 10 deny ip destination 10.9.9.9 0.0.0.0",
        "quit",
        "acl ipv6 name CURFEW6-L44 advance",
        "rule 5 deny ipv6 source 2001:db8:4::7/128",
        "rule 10 deny ipv6 destination 2001:db8:4::7/128",
        "quit",
        "interface Eth-Trunk1",
        "traffic-filter inbound acl name CURFEW-L44",
        "traffic-filter outbound acl name CURFEW-L44",
        "traffic-filter inbound acl ipv6 name CURFEW6-L44",
        "traffic-filter outbound acl ipv6 name CURFEW6-L44",
        "quit",
    ]
    v4_only = render(Batch(cuts=(target(43, "Vlanif10", "198.18.2.0/24", "198.18.3.0/24"),)))
    assert [c for c in v4_only if c.startswith("rule")] == [
        "rule 5 deny ip source 198.18.2.0 0.0.0.255",
        "rule 10 deny ip destination 198.18.2.0 0.0.0.255",
        "rule 15 deny ip source 198.18.3.0 0.0.0.255",
        "rule 20 deny ip destination 198.18.3.0 0.0.0.255",
    ]
    assert not any("ipv6" in c for c in v4_only)


def test_restore_removes_bindings_first_then_the_acls() -> None:
    assert render(Batch(restores=(target(),)), CUT_42) == DUAL_STACK_RESTORE


def test_a_cut_line_is_not_rendered_again_and_a_restored_one_not_at_all() -> None:
    assert render(Batch(cuts=(target(),)), CUT_42) == []
    assert render(Batch(restores=(target(),)), HEAD + UPLINK + TAIL) == []


def test_drift_is_repaired_by_removing_what_is_there_and_cutting_afresh() -> None:
    drifted = CUT_42.replace(" rule 10 deny ip destination 198.18.1.0 0.0.0.255\n", "")
    assert render(Batch(cuts=(target(),)), drifted) == DUAL_STACK_RESTORE + DUAL_STACK_CUT


def test_a_cut_moved_to_another_interface_is_unbound_from_the_old_one() -> None:
    moved = target(42, "GigabitEthernet0/0/2")
    commands = render(Batch(cuts=(moved,)), CUT_42)
    assert commands[:6] == DUAL_STACK_RESTORE[:6]
    assert "interface GigabitEthernet0/0/2" in commands


@pytest.mark.parametrize("filtered", ["acl 3000", "acl name MGMT-ACCESS", "acl ipv6 3001"])
def test_a_foreign_filter_on_the_interface_refuses_that_cut_only(filtered: str) -> None:
    direction = "outbound" if "ipv6" in filtered else "inbound"
    venue = "interface GigabitEthernet0/0/1\n description venue\n"
    venue += f" traffic-filter {direction} {filtered}\n#\n"
    config = parse_current_configuration(HEAD + UPLINK + venue + TAIL)

    plans = DRIVER.plan(Batch(cuts=(target(), target(43, "GigabitEthernet0/0/2"))), config)

    refused, other = plans
    assert refused.commands == () and isinstance(refused.refusal, Rejected)
    assert "GigabitEthernet0/0/1" in str(refused.refusal) and "foreign" in str(refused.refusal)
    assert ("MGMT-ACCESS" if "MGMT" in filtered else filtered.split()[-1]) in str(refused.refusal)
    assert other.refusal is None and other.commands


@pytest.mark.parametrize(
    ("line", "slot", "holder"),
    [
        # AR routers spell the IPv6 binding `ipv6 acl`
        ("traffic-filter outbound ipv6 acl name V6-GUARD", (Family.IPV6, "outbound"), "V6-GUARD"),
        ("traffic-filter inbound acl 3000 rule 5", (Family.IPV4, "inbound"), "ACL 3000"),
        ("traffic-filter inbound acl 4000 acl 3001", (Family.IPV4, "inbound"), "ACL 4000"),
        (
            "traffic-filter inbound something new",
            (Family.IPV4, "inbound"),
            "'traffic-filter inbound something new'",
        ),
    ],
)
def test_a_filter_in_any_spelling_holds_its_slot(
    line: str, slot: tuple[Family, str], holder: str
) -> None:
    venue = f"interface GigabitEthernet0/0/1\n {line}\n#\n"
    config = parse_current_configuration(HEAD + venue + TAIL)

    assert config.holder("GigabitEthernet0/0/1", *slot) == holder
    (plan,) = DRIVER.plan(Batch(cuts=(target(),)), config)
    assert isinstance(plan.refusal, Rejected) and plan.commands == ()


def test_an_owned_binding_spelled_otherwise_is_undone_as_printed_and_rebound() -> None:
    venue = VENUE_CUT.replace(
        "traffic-filter outbound acl ipv6 name CURFEW6-L42",
        "traffic-filter outbound ipv6 acl name CURFEW6-L42",
    )
    owned = parse_current_configuration(HEAD + ACLS_42 + UPLINK + venue + TAIL)

    assert not owned[42].complete
    commands = render(Batch(cuts=(target(),)), HEAD + ACLS_42 + UPLINK + venue + TAIL)
    assert "undo traffic-filter outbound ipv6 acl name CURFEW6-L42" in commands
    assert commands[-2] == "traffic-filter outbound acl ipv6 name CURFEW6-L42"


def test_two_cuts_on_one_interface_refuse_the_second() -> None:
    plans = DRIVER.plan(Batch(cuts=(target(), target(43))), parse_current_configuration(""))
    assert plans[0].refusal is None
    assert isinstance(plans[1].refusal, Rejected) and "CURFEW-L42" in str(plans[1].refusal)


def test_another_lines_cut_may_take_the_interface_only_once_its_restore_is_rendered() -> None:
    config = parse_current_configuration(CUT_42)
    newcomer = target(43)

    together = DRIVER.plan(Batch(cuts=(newcomer,), restores=(target(),)), config)
    alone = DRIVER.plan(Batch(cuts=(newcomer,)), config)

    assert all(plan.refusal is None for plan in together)
    assert isinstance(alone[0].refusal, Rejected) and "line 42" in str(alone[0].refusal)


@pytest.mark.parametrize(
    "interface",
    ["GigabitEthernet0/0/1 ; reboot", "GigabitEthernet0/1", "gi0/0/1", "Vlanif10\nquit", ""],
)
def test_invalid_identifiers_are_refused_before_anything_is_rendered(interface: str) -> None:
    bad = LineTarget(45, interface, (ip_network("198.18.5.0/24"),))
    with pytest.raises(InvalidIdentifier):
        render(Batch(cuts=(bad,)))
    plans = DRIVER.plan(Batch(cuts=(bad, target(43, "GigabitEthernet0/0/3"))), {})
    assert isinstance(plans[0].refusal, InvalidIdentifier) and plans[0].commands == ()
    assert plans[1].commands


def test_a_bare_incomplete_owned_line_cannot_be_rendered_blind() -> None:
    with pytest.raises(ValueError, match="incomplete"):
        DRIVER.render_line(Action.RESTORE, target(), OwnedLine(42))


# ------------------------------------------------------------------------------ answers

PATTERN = answer_pattern("R1")


def test_prompts_of_every_view_and_questions_end_an_answer() -> None:
    text = (
        "system-view\nEnter system view, return user view with Ctrl+Z.\n"
        "[R1]acl name CURFEW-L42 advance\n"
        "[R1-acl-adv-CURFEW-L42]quit\n"
        "[R1]undo acl name CURFEW-L9\n"
        "Warning: The ACL is being used by traffic-filter. Continue? [Y/N]:Y\n"
        "[R1]return\n<R1>"
    )
    answers = split_answers(text, PATTERN)

    P, Q = Kind.PROMPT, Kind.QUESTION
    assert [a.kind for a in answers] == [P, P, P, Q, P, P]
    assert answers[3].text.startswith("undo acl name CURFEW-L9\nWarning:")
    assert answers[4].text == "Y\n"
    # another router's name in a prompt-like line is not an answer
    assert split_answers("[R10]x\n[R1x]y\n", PATTERN) == []


def test_a_prompt_reprinted_after_an_unasked_log_message_answers_no_line() -> None:
    text = (
        "[R1]vlan 30\n"
        "[R1-vlan30]\n"
        "Apr 30 2023 06:13:26-08:00 R1 DS/4/DATASYNC_CFGCHANGE:OID 1.3.6.1.4.1.2011.5\n"
        ".25.191.3.1 configurations have been changed.\n"
        "[R1-vlan30]quit\n"
        "[R1]"
    )
    answers = split_answers(text, PATTERN)
    assert [a.text for a in answers] == ["", "vlan 30\n", "quit\n"]


def test_errors_belong_to_the_line_echoed_before_them_and_swallowed_lines_are_skipped() -> None:
    exchanges = [
        Exchange("system-view", None, Answer(Kind.PROMPT, "system-view\nEnter system view.\n")),
        Exchange(
            "traffic-filter inbound acl ipv6 name CURFEW6-L42",
            0,
            Answer(
                Kind.PROMPT,
                "traffic-filter inbound acl ipv6 name CURFEW6-L42\n"
                "                         ^\nError: Unrecognized command found at '^' position.\n",
            ),
        ),
        Exchange(
            "undo acl name CURFEW-L42",
            1,
            Answer(Kind.PROMPT, "undo acl name CURFEW-L42\nError: Please choose 'YES' or 'NO'"),
            consumed=True,
        ),
        Exchange("rule 5 deny ip source 10.0.0.0 0.255.255.255", 2, Answer(Kind.PROMPT, "ru")),
        Exchange(
            "traffic-filter outbound acl ipv6 name CURFEW6-L999999999",
            3,
            Answer(
                Kind.PROMPT,  # VRP wraps a long echo at the terminal width
                "traffic-filter outbound acl ipv6 name CURFEW6-L99\n9999999\n",
            ),
        ),
    ]

    problems = find_rejections(exchanges)

    assert problems == [
        (1, "Error: Unrecognized command found at '^' position."),
        (3, "device never echoed 'rule 5 deny ip source 10.0.0.0 0.255.255.255'"),
    ]


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("undo acl name CURFEW-L42", True),
        ("undo acl ipv6 name CURFEW6-L42", True),
        ("undo acl name MGMT-ACCESS", False),
        ("undo acl number 3000", False),
        ("undo acl name CURFEW-L042", False),
        ("undo acl name CURFEW6-L42", False),
        ("undo acl ipv6 name CURFEW-L42", False),
        ("undo acl name CURFEW-L42 extra", False),
        ("save", False),
        ("undo traffic-filter inbound acl name CURFEW-L42", False),
    ],
)
def test_only_deleting_an_owned_acl_is_confirmed(command: str, answer: bool) -> None:
    assert may_ask(command) is answer
