"""Junos parse and render on text alone: what a cut, a restore and a repair send, what read-back
counts as a cut, and which filters a cut refuses to replace."""

from __future__ import annotations

from ipaddress import ip_interface, ip_network

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
from drivers.identifiers import IdentifierError, check_interface
from drivers.juniper_junos import (
    CommitStatus,
    JuniperJunosDriver,
    JunosOwnedLine,
    parse_commit_status,
    parse_display_set,
    parse_facts,
    problems_in,
    split_words,
)

# render is pure: a driver that never opens a session is enough.
DRIVER = JuniperJunosDriver("R1", Credentials("192.0.2.1", 22, "curfew", "unused"))


def line(line_id: int, interface: str, *prefixes: str) -> LineTarget:
    return LineTarget(line_id, interface, tuple(ip_network(p) for p in prefixes))


L42 = line(42, "ge-0/0/1", "198.18.1.0/24", "2001:db8:1::/48")
L43 = line(43, "ge-0/0/2", "198.18.2.0/24")

# VENDORS.md "Juniper Junos", for line 42.
CUT_42 = [
    "set firewall family inet filter CURFEW-L42 term s from source-address 198.18.1.0/24",
    "set firewall family inet filter CURFEW-L42 term s then discard",
    "set firewall family inet filter CURFEW-L42 term d from destination-address 198.18.1.0/24",
    "set firewall family inet filter CURFEW-L42 term d then discard",
    "set firewall family inet filter CURFEW-L42 term rest then accept",
    "set firewall family inet6 filter CURFEW6-L42 term s from source-address 2001:db8:1::/48",
    "set firewall family inet6 filter CURFEW6-L42 term s then discard",
    "set firewall family inet6 filter CURFEW6-L42 term d from destination-address 2001:db8:1::/48",
    "set firewall family inet6 filter CURFEW6-L42 term d then discard",
    "set firewall family inet6 filter CURFEW6-L42 term rest then accept",
    "set interfaces ge-0/0/1 unit 0 family inet filter input CURFEW-L42",
    "set interfaces ge-0/0/1 unit 0 family inet filter output CURFEW-L42",
    "set interfaces ge-0/0/1 unit 0 family inet6 filter input CURFEW6-L42",
    "set interfaces ge-0/0/1 unit 0 family inet6 filter output CURFEW6-L42",
]
RESTORE_42 = [
    "delete interfaces ge-0/0/1 unit 0 family inet filter input",
    "delete interfaces ge-0/0/1 unit 0 family inet filter output",
    "delete interfaces ge-0/0/1 unit 0 family inet6 filter input",
    "delete interfaces ge-0/0/1 unit 0 family inet6 filter output",
    "delete firewall family inet filter CURFEW-L42",
    "delete firewall family inet6 filter CURFEW6-L42",
]
FOREIGN = [
    "set version 21.4R3-S5.4",
    "set system host-name R1",
    'set interfaces ge-0/0/1 description "venue access"',
    "set interfaces ge-0/0/1 unit 0 family inet address 198.18.1.1/24",
    "set interfaces ge-0/0/1 unit 0 family inet6 address 2001:db8:1::1/48",
    "set firewall family inet filter MGMT-ACCESS term allow from source-address 192.0.2.0/24",
    "set firewall family inet filter MGMT-ACCESS term allow then accept",
]


def config(*lines: str) -> str:
    return "".join(f"{text}\n" for text in (*FOREIGN, *lines))


def cut_config(*dropped: str, extra: tuple[str, ...] = ()) -> str:
    return config(*(c for c in CUT_42 if c not in dropped), *extra)


def owned(text: str) -> JunosOwnedLine:
    found = parse_display_set(text)[42]
    assert isinstance(found, JunosOwnedLine)
    return found


# ------------------------------------------------------------------------------ render


def test_cut_renders_the_vendor_filters_then_the_bindings() -> None:
    assert DRIVER.render_line(Action.CUT, L42, None) == CUT_42


def test_restore_removes_bindings_before_filters_and_nothing_else() -> None:
    assert DRIVER.render_line(Action.RESTORE, L42, owned(cut_config())) == RESTORE_42
    assert DRIVER.render_line(Action.RESTORE, L42, None) == []


def test_a_cut_read_back_is_cut_and_renders_nothing() -> None:
    found = owned(cut_config())
    assert found.complete and found.state_for(L42) is LineState.CUT
    assert found.bindings == {"ge-0/0/1"}
    assert found.prefixes == set(L42.prefixes)
    assert DRIVER.render_line(Action.CUT, L42, found) == []


def test_several_prefixes_of_a_family_share_the_terms() -> None:
    target = line(7, "xe-0/0/0:1", "198.18.7.0/24", "198.18.8.0/25", "2001:db8:7::1/128")
    commands = DRIVER.render_line(Action.CUT, target, None)
    assert commands[:4] == [
        "set firewall family inet filter CURFEW-L7 term s from source-address 198.18.7.0/24",
        "set firewall family inet filter CURFEW-L7 term s from source-address 198.18.8.0/25",
        "set firewall family inet filter CURFEW-L7 term s then discard",
        "set firewall family inet filter CURFEW-L7 term d from destination-address 198.18.7.0/24",
    ]
    assert (
        "set firewall family inet6 filter CURFEW6-L7 term d from destination-address "
        "2001:db8:7::1/128"
    ) in commands
    readback = "".join(c + "\n" for c in commands)
    assert parse_display_set(readback)[7].state_for(target) is LineState.CUT


def test_an_ipv4_only_line_touches_no_inet6_statement() -> None:
    commands = DRIVER.render_line(Action.CUT, L43, None)
    assert commands and not any("inet6" in c for c in commands)
    assert commands[-2:] == [
        "set interfaces ge-0/0/2 unit 0 family inet filter input CURFEW-L43",
        "set interfaces ge-0/0/2 unit 0 family inet filter output CURFEW-L43",
    ]


def test_a_filter_missing_a_term_is_rewritten_whole_and_bindings_are_kept() -> None:
    dropped = (
        "set firewall family inet filter CURFEW-L42 term d from destination-address 198.18.1.0/24",
        "set firewall family inet filter CURFEW-L42 term d then discard",
    )
    found = owned(cut_config(*dropped))

    assert not found.complete and found.state_for(L42) is LineState.UNKNOWN
    # a term appended after `rest` would never match: the filter goes and comes back whole
    assert DRIVER.render_line(Action.CUT, L42, found) == [
        "delete firewall family inet filter CURFEW-L42",
        *CUT_42[:5],
    ]


def test_terms_out_of_order_or_with_more_conditions_are_not_a_cut() -> None:
    head = "set firewall family inet filter CURFEW-L42"
    reordered = [c for c in CUT_42 if "term rest" not in c or "inet6" in c]
    reordered.insert(0, f"{head} term rest then accept")
    assert not owned(config(*reordered)).complete

    narrowed = cut_config(extra=(f"{head} term s from protocol tcp",))
    assert not owned(narrowed).complete
    with_except = cut_config(extra=(f"{head} term s from source-address 198.18.1.128/25 except",))
    assert not owned(with_except).complete


def test_changed_prefixes_rewrite_only_that_familys_filter() -> None:
    moved = line(42, "ge-0/0/1", "198.18.9.0/24", "2001:db8:1::/48")
    commands = DRIVER.render_line(Action.CUT, moved, owned(cut_config()))
    assert commands[0] == "delete firewall family inet filter CURFEW-L42"
    assert commands[1:] == [c.replace("198.18.1.0", "198.18.9.0") for c in CUT_42[:5]]


def test_a_family_the_line_no_longer_has_is_removed() -> None:
    v4_only = line(42, "ge-0/0/1", "198.18.1.0/24")
    assert DRIVER.render_line(Action.CUT, v4_only, owned(cut_config())) == [
        "delete interfaces ge-0/0/1 unit 0 family inet6 filter input",
        "delete interfaces ge-0/0/1 unit 0 family inet6 filter output",
        "delete firewall family inet6 filter CURFEW6-L42",
    ]


def test_a_line_moved_to_another_port_is_unbound_there_and_bound_here() -> None:
    moved = line(42, "ge-0/0/3", "198.18.1.0/24", "2001:db8:1::/48")
    commands = DRIVER.render_line(Action.CUT, moved, owned(cut_config()))
    assert commands == RESTORE_42[:4] + [c.replace("ge-0/0/1", "ge-0/0/3") for c in CUT_42[10:]]


def test_a_binding_on_another_unit_is_ours_to_remove_but_not_a_cut() -> None:
    text = cut_config(
        extra=("set interfaces ge-0/0/1 unit 100 family inet filter input CURFEW-L42",)
    )
    found = owned(text)
    assert found.bindings == {"ge-0/0/1", "ge-0/0/1.100"}
    assert found.state_for(L42) is LineState.UNKNOWN
    assert DRIVER.render_line(Action.CUT, L42, found) == [
        "delete interfaces ge-0/0/1 unit 100 family inet filter input"
    ]
    assert "delete interfaces ge-0/0/1 unit 100 family inet filter input" in DRIVER.render_line(
        Action.RESTORE, L42, found
    )


def test_a_deactivated_binding_is_deleted_and_written_again() -> None:
    text = cut_config(extra=("deactivate interfaces ge-0/0/1 unit 0 family inet filter input",))
    found = owned(text)
    assert not found.complete
    assert DRIVER.render_line(Action.CUT, L42, found) == [
        "delete interfaces ge-0/0/1 unit 0 family inet filter input",
        "set interfaces ge-0/0/1 unit 0 family inet filter input CURFEW-L42",
    ]


def test_a_bare_complete_owned_line_still_renders_its_removal() -> None:
    bare = OwnedLine(42, frozenset(L42.prefixes), frozenset({"ge-0/0/1"}), complete=True)
    assert DRIVER.render_line(Action.RESTORE, L42, bare) == RESTORE_42
    with pytest.raises(ValueError, match="incomplete"):
        DRIVER.render_line(Action.RESTORE, L42, OwnedLine(42, frozenset(L42.prefixes)))


# ------------------------------------------------------------------------------ parse


def test_only_canonical_owned_names_are_read() -> None:
    text = config(
        "set firewall family inet filter CURFEW-L042 term rest then accept",
        "set firewall family inet filter CURFEW-L0 term rest then accept",
        "set firewall family inet filter curfew-l5 term rest then accept",
        "set firewall family inet6 filter CURFEW-L6 term rest then accept",
        "set interfaces ge-0/0/2 unit 0 family inet filter input CURFEW6-L9",
    )
    assert dict(parse_display_set(text)) == {}


def test_quoted_words_are_one_word() -> None:
    assert split_words('set interfaces ge-0/0/1 description "line \\"A\\" one"') == [
        "set",
        "interfaces",
        "ge-0/0/1",
        "description",
        'line "A" one',
    ]
    assert split_words('set x "open') is None


@pytest.mark.parametrize(
    "line",
    [
        "set firewall family inet filter CURFEW-L1 term s from source-address 198.18.1.0/24",
        "  set interfaces  ge-0/0/1\tunit 0 family inet filter input CURFEW-L1  ",
        "deactivate interfaces ge-0/0/1 unit 0 family inet filter",
        "set system host-name R1\u00a0",  # a no-break space is a space to both
        "",
    ],
)
def test_a_line_without_quotes_splits_as_the_quote_aware_walk_does(line: str) -> None:
    """The unquoted fast path (str.split) and the walk give the same words: the walk is
    forced by a quoted word appended, then dropped."""
    walked = split_words(f'{line} "x"')
    assert walked is not None and split_words(line) == walked[:-1]


def test_every_bound_filter_is_seen_including_filter_lists() -> None:
    parsed = parse_display_set(
        config(
            "set interfaces ge-0/0/1 unit 0 family inet filter input MGMT-ACCESS",
            "set interfaces ge-0/0/2 unit 0 family inet6 filter output-list [ A B ]",
        )
    )
    assert parsed.holders == {
        ("ge-0/0/1", "0", "inet", "input"): "MGMT-ACCESS",
        ("ge-0/0/2", "0", "inet6", "output"): "output-list [ A B ]",
    }


# ------------------------------------------------------------------------------ plan


def test_a_foreign_filter_where_the_cut_binds_refuses_that_line_only() -> None:
    before = parse_display_set(
        config("set interfaces ge-0/0/1 unit 0 family inet filter input MGMT-ACCESS")
    )
    refused, fine = DRIVER.plan(Batch(cuts=(L42, L43)), before)
    assert refused.commands == () and isinstance(refused.refusal, Rejected)
    assert "ge-0/0/1" in str(refused.refusal) and "MGMT-ACCESS" in str(refused.refusal)
    assert fine.commands == tuple(DRIVER.render_line(Action.CUT, L43, None))


def test_a_foreign_filter_list_is_refused_too() -> None:
    before = parse_display_set(
        config("set interfaces ge-0/0/2 unit 0 family inet filter output-list [ A B ]")
    )
    (plan,) = DRIVER.plan(Batch(cuts=(L43,)), before)
    assert isinstance(plan.refusal, Rejected) and "output-list" in str(plan.refusal)


def test_another_lines_filter_is_replaced_only_when_that_line_is_restored_first() -> None:
    other = line(50, "ge-0/0/2", "198.18.50.0/24")
    moved_here = line(43, "ge-0/0/2", "198.18.2.0/24")
    before = parse_display_set(config(*DRIVER.render_line(Action.CUT, other, None)))

    (refused,) = DRIVER.plan(Batch(cuts=(moved_here,)), before)
    restore, cut = DRIVER.plan(Batch(cuts=(moved_here,), restores=(other,)), before)

    assert isinstance(refused.refusal, Rejected) and "line 50" in str(refused.refusal)
    assert restore.commands[0] == "delete interfaces ge-0/0/2 unit 0 family inet filter input"
    assert cut.refusal is None and cut.commands


def test_two_cuts_on_one_port_in_one_batch_refuse_the_second() -> None:
    twin = line(44, "ge-0/0/1", "198.18.4.0/24")
    first, second = DRIVER.plan(Batch(cuts=(L42, twin)), parse_display_set(config()))
    assert first.refusal is None
    assert isinstance(second.refusal, Rejected) and "line 42" in str(second.refusal)


# ------------------------------------------------------------------------------ groups

NOC = (
    "set groups NOC interfaces ge-0/0/1 unit 0 family inet filter input MGMT-ACCESS",
    "set apply-groups NOC",
)
# `show configuration interfaces | display inheritance no-comments | display set` for NOC
INHERITED = "set interfaces ge-0/0/1 unit 0 family inet filter input MGMT-ACCESS\n"


def test_a_filter_a_group_binds_refuses_the_cut_and_names_the_group() -> None:
    before = parse_display_set(config(*NOC), INHERITED)

    refused, fine = DRIVER.plan(Batch(cuts=(L42, L43)), before)

    assert refused.commands == () and isinstance(refused.refusal, Rejected)
    assert str(refused.refusal) == (
        "ge-0/0/1 unit 0 already filters inet input with MGMT-ACCESS, inherited from group NOC; "
        "not overriding a filter a configuration group binds"
    )
    assert fine.commands == tuple(DRIVER.render_line(Action.CUT, L43, None))
    assert parse_display_set(config(*NOC)).holders == {}, "the written configuration alone hides it"


@pytest.mark.parametrize(
    ("group", "applied"),
    [
        ("ge-0/0/1 unit 0", "set interfaces ge-0/0/1 apply-groups NOC"),
        ("<ge-0/0/*> unit <*>", "set interfaces ge-0/0/1 unit 0 apply-groups NOC"),
        ("<*> unit 0", "set apply-groups [ OPS NOC ]"),
    ],
)
def test_the_group_is_named_wherever_it_is_applied(group: str, applied: str) -> None:
    written = config(
        f"set groups NOC interfaces {group} family inet filter input MGMT-ACCESS", applied
    )
    (refused,) = DRIVER.plan(Batch(cuts=(L42,)), parse_display_set(written, INHERITED))
    assert "inherited from group NOC;" in str(refused.refusal)


def test_an_inherited_filter_the_configuration_does_not_explain_is_refused_all_the_same() -> None:
    (refused,) = DRIVER.plan(Batch(cuts=(L42,)), parse_display_set(config(), INHERITED))
    assert "with MGMT-ACCESS, inherited from a configuration group;" in str(refused.refusal)


def test_a_group_binding_a_filter_named_as_ours_is_refused_too() -> None:
    (refused,) = DRIVER.plan(
        Batch(cuts=(L42,)),
        parse_display_set(config(), INHERITED.replace("MGMT-ACCESS", "CURFEW-L42")),
    )
    assert isinstance(refused.refusal, Rejected) and "CURFEW-L42, inherited" in str(refused.refusal)


def test_a_group_binding_another_port_or_hidden_by_a_local_binding_leaves_the_cut_alone() -> None:
    elsewhere = parse_display_set(
        config("set groups NOC interfaces ge-0/0/2 unit 0 family inet filter input MGMT-ACCESS"),
        INHERITED.replace("ge-0/0/1", "ge-0/0/2"),
    )
    (cut,) = DRIVER.plan(Batch(cuts=(L42,)), elsewhere)
    assert cut.refusal is None and cut.commands == tuple(CUT_42)

    # NOC's filter sits under line 42's own binding: the slot is line 42's, and its restore
    # deletes the binding set on the unit, letting NOC's filter take the slot again
    hidden = parse_display_set(cut_config(extra=NOC), "".join(c + "\n" for c in CUT_42[-4:]))
    assert hidden.inherited == {} and hidden.holder("ge-0/0/1", "inet", "input") == "CURFEW-L42"
    assert DRIVER.render_line(Action.RESTORE, L42, hidden[42]) == RESTORE_42


def test_nothing_under_groups_is_ever_an_owned_object() -> None:
    text = config(
        "set groups NOC interfaces ge-0/0/1 unit 0 family inet filter input CURFEW-L42",
        *(f"set groups NOC {c[4:]}" for c in CUT_42 if "firewall" in c),
        "set apply-groups NOC",
    )
    parsed = parse_display_set(text, INHERITED.replace("MGMT-ACCESS", "CURFEW-L42"))
    assert 42 not in parsed
    assert DRIVER.render_line(Action.RESTORE, L42, parsed.get(42)) == []


def test_an_inheritance_read_the_device_refused_stops_the_pass() -> None:
    refused = "show configuration interfaces | display inheritance no-comments | display set\n"
    refused += "                                                                ^\nsyntax error.\n"
    with pytest.raises(Rejected, match="not cutting blind to configuration groups"):
        parse_display_set(config(), refused)
    assert parse_display_set("set version 1\n", "").holders == {}, "no interface, nothing to show"


@pytest.mark.parametrize(
    "interface", ["ge-0/0/1.0", "ge-0/0/1 unit 5", "ge-0/0/1\nset system", "GigabitEthernet0/1"]
)
def test_an_invalid_interface_refuses_that_line_and_renders_nothing(interface: str) -> None:
    bad = line(45, interface, "198.18.5.0/24")
    refused, fine = DRIVER.plan(Batch(cuts=(bad, L43)), parse_display_set(config()))
    assert refused.commands == () and isinstance(refused.refusal, InvalidIdentifier)
    assert fine.commands
    driver = JuniperJunosDriver("R1", Credentials("127.0.0.1", 22, "u", "p"))
    with pytest.raises(InvalidIdentifier):
        driver.render(Batch(cuts=(bad,)), {})


# ------------------------------------------------------------------------------ identifiers


@pytest.mark.parametrize(
    "name", ["ge-0/0/1", "xe-1/2/47", "et-0/0/0:3", "ae0", "ae127", "mge-0/1/9"]
)
def test_junos_port_names_are_accepted(name: str) -> None:
    assert check_interface("juniper_junos", name) == name


@pytest.mark.parametrize(
    "name",
    ["ge-0/0/1.0", "ge-00/0/1", "ge-0/0", "ge0/0/1", "lo0", "irb", "ae01", "GE-0/0/1", "ge-0/0/1 "],
)
def test_other_spellings_are_refused(name: str) -> None:
    with pytest.raises(IdentifierError):
        check_interface("juniper_junos", name)


# ------------------------------------------------------------------------------ device answers


def test_a_pending_confirmed_commit_is_told_ours_or_theirs() -> None:
    ours = (
        "0   2026-01-01 00:00:05 UTC by curfew via cli commit confirmed, rollback in 4mins\n"
        "    curfew\n"
        "1   2026-01-01 00:00:00 UTC by root via other\n"
    )
    theirs = ours.replace("    curfew\n", "    maintenance window\n")
    assert parse_commit_status(ours) == CommitStatus(True, True, "curfew", 4)
    assert parse_commit_status(theirs).pending and not parse_commit_status(theirs).ours
    settled = "0   2026-01-01 00:00:05 UTC by curfew via cli\n    curfew\n"
    assert parse_commit_status(settled) == CommitStatus()
    assert parse_commit_status("") == CommitStatus()


def test_only_refusals_count_as_problems() -> None:
    fine = "set x\r\n\r\n# commit confirmed will be rolled back in 4 minutes\r\n[edit]\r\n"
    assert problems_in(fine) == []
    assert problems_in("delete x\r\nwarning: statement not found\r\n\r\n[edit]\r\n") == []
    refused = "set foo\r\n               ^\r\nsyntax error.\r\n\r\n[edit]\r\n"
    assert problems_in(refused) == ["syntax error."]


def test_facts_read_interfaces_and_static_routes() -> None:
    facts = parse_facts(
        config(
            "set interfaces ge-0/0/0 description uplink",
            "set interfaces ge-0/0/0 unit 0 family inet address 100.64.0.1/30",
            "set interfaces ge-0/0/2 unit 100 family inet6 address 2001:db8:2::1/64",
            "set interfaces ge-0/0/3 description spare",
            "set routing-options static route 0.0.0.0/0 next-hop 100.64.0.2",
            "set routing-options static route 198.18.9.0/24 next-hop ge-0/0/1.0",
            "set routing-options static route 203.0.113.0/24 discard",
            "set routing-options rib inet6.0 static route 2001:db8:99::/48 next-hop 2001:db8:2::9",
        )
    )
    assert facts.interfaces == {
        "ge-0/0/1": (ip_interface("198.18.1.1/24"), ip_interface("2001:db8:1::1/48")),
        "ge-0/0/0": (ip_interface("100.64.0.1/30"),),
        "ge-0/0/2.100": (ip_interface("2001:db8:2::1/64"),),
        "ge-0/0/3": (),
    }
    assert facts.routes == {
        ip_network("0.0.0.0/0"): "ge-0/0/0",
        ip_network("198.18.9.0/24"): "ge-0/0/1",
        ip_network("2001:db8:99::/48"): "ge-0/0/2.100",
    }
    assert facts.routed_via(ip_network("2001:db8:99:1::/64")) == {"ge-0/0/2.100"}


def test_driver_settings_come_from_the_inventory_extras() -> None:
    credentials = Credentials(
        "127.0.0.1", 22, "u", "p", extra={"confirm_minutes": "3", "commit_timeout": "90"}
    )
    driver = JuniperJunosDriver("R1", credentials)
    assert (driver.confirm_minutes, driver.commit_timeout) == (3, 90.0)
    assert JuniperJunosDriver("R1", Credentials("h", 22, "u", "p")).confirm_minutes == 5


# ------------------------------------------------------------------------------ parse memo

OPERATIONAL_READ = 'show configuration | display set | match "CURFEW"\n'
CONFIGURATION_READ = 'run show configuration | display set | match "CURFEW"\r\n'
BINDINGS_READ = "show configuration interfaces | display inheritance | display set\n" + "\n".join(
    c for c in CUT_42 if c.startswith("set interfaces")
)


def test_a_read_printing_the_same_statements_is_not_parsed_again_and_keeps_its_own_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The read under the lock after the prepare's, or a discard's after the read-back, prints
    what the last read printed, with another echo (`run show ...`) and configuration mode's
    `[edit]` banner: the parse is the last one's, the commit status the new read's."""
    import drivers.juniper_junos as junos

    parses: list[str] = []

    def counted(text: str, *args: object) -> object:
        parses.append(text)
        return parse_display_set(text, *args)

    monkeypatch.setattr(junos, "parse_display_set", counted)
    driver = JuniperJunosDriver("R1", Credentials("192.0.2.1", 22, "curfew", "unused"))
    statements = "\n".join(CUT_42)
    first = driver._parsed(OPERATIONAL_READ + statements + "\n\n", BINDINGS_READ)
    pending = CommitStatus(pending=True, ours=True)
    again = driver._parsed(
        CONFIGURATION_READ + statements.replace("\n", "\r\n") + "\r\n\r\n[edit]\r\n",
        BINDINGS_READ.replace("show", "run show", 1) + "\n[edit]\n",
        pending,
    )
    assert len(parses) == 1, "the same statements are parsed once"
    assert again == first and again[42].state_for(L42) is LineState.CUT
    assert again.status == pending and first.status == CommitStatus()
    again.clear()  # what a caller does with its parse is not the memo's
    assert driver._parsed(OPERATIONAL_READ + statements, BINDINGS_READ)[42] == first[42]

    # one statement less (the read-back after a restore's unbinding): parsed again
    unbound = "\n".join(c for c in CUT_42 if "filter output" not in c)
    changed = driver._parsed(OPERATIONAL_READ + unbound, BINDINGS_READ)
    assert len(parses) == 2 and changed[42] != first[42]
    # a trailing statement that merely ends in a word like the banner is not taken for it
    edited = driver._parsed(OPERATIONAL_READ + unbound + "\n[edit] x", BINDINGS_READ)
    assert len(parses) == 3 and edited[42] == changed[42]
