"""The simulated Junos router: as a state machine (modes, candidates, commits, lab time), then
under the real netmiko `juniper_junos` driver over SSH, with faults, and in a mixed city."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from zoneinfo import ZoneInfo

import pytest
from netmiko import ConnectHandler

from controller.clock import SimulatedClock
from drivers.base import Credentials
from drivers.juniper_junos import JuniperJunosDriver
from lab.juniper_junos import (
    CHECKOUT_FAILED,
    VERSION,
    JunosRouter,
    JunosSession,
    LabClock,
    Mode,
    Tree,
    _base_config,
    apply_line,
    display_set,
    provision,
)
from lab.topology import DeviceSpec, Lab, city

VENUE = (
    'set interfaces ge-0/0/1 description "venue access"',
    "set interfaces ge-0/0/1 unit 0 family inet address 198.18.1.1/24",
)
FILTER = (
    "set firewall family inet filter CURFEW-L42 term s from source-address 198.18.1.0/24",
    "set firewall family inet filter CURFEW-L42 term s then discard",
    "set firewall family inet filter CURFEW-L42 term rest then accept",
)
BIND = "set interfaces ge-0/0/1 unit 0 family inet filter input CURFEW-L42"


@pytest.fixture
def router() -> JunosRouter:
    r = JunosRouter("R1", "curfew", LabClock(follow_host=False))
    r.configure([*provision("ge-0/0/2"), *VENUE])
    return r


def editing(router: JunosRouter, how: str = "configure") -> JunosSession:
    session = router.open_session()
    assert "Entering configuration mode" in session.execute(how).output
    return session


def run(session: JunosSession, *lines: str) -> str:
    return "".join(session.execute(line).output for line in lines)


# ------------------------------------------------------------------------------ modes


def test_prompts_and_banners_are_junos(router: JunosRouter) -> None:
    session = router.open_session()
    assert session.prompt == "curfew@R1> "
    entered = session.execute("configure")
    assert entered.output == "Entering configuration mode\n"
    assert entered.prompt == "\r\n[edit]\r\ncurfew@R1# "
    left = session.execute("exit configuration-mode")
    assert left.output == "Exiting configuration mode\n\n" and left.prompt == "curfew@R1> "
    assert session.execute("exit").close


def test_netmikos_session_set_up_gets_the_answers_it_waits_for(router: JunosRouter) -> None:
    session = router.open_session()
    assert run(session, "set cli screen-width 511").startswith("Screen width set to 511")
    assert run(session, "set cli complete-on-space off").startswith("Disabling complete-on-space")
    assert run(session, "set cli screen-length 0").startswith("Screen length set to 0")


def test_errors_are_printed_as_junos_does_with_the_caret_under_the_word(
    router: JunosRouter,
) -> None:
    before = router.running_config()
    operational = router.open_session()
    assert run(operational, "shw version") == " " * 11 + "^\nunknown command.\n"

    session = editing(router)
    assert run(session, "set foo bar") == " " * 15 + "^\nsyntax error.\n"
    address = "set interfaces ge-0/0/1 unit 0 family inet address 300.1.1.1/24"
    assert run(session, address) == " " * (11 + address.index("300")) + "^\nsyntax error.\n"
    assert run(session, BIND.rsplit(" ", 1)[0]).endswith("^\nmissing argument.\n")
    assert run(session, 'set interfaces ge-0/0/1 description "open').endswith("syntax error.\n")
    assert run(session, "delete system ntp") == "warning: statement not found\n"
    assert run(session, "frobnicate").endswith("unknown command.\n")
    assert router.candidate_config() == before == router.running_config()


def test_the_reject_fault_answers_a_syntax_error_and_changes_nothing(
    router: JunosRouter,
) -> None:
    session = editing(router)
    reply = session.reject("  " + BIND)
    assert reply.output == " " * 13 + "^\nsyntax error.\n"
    assert router.candidate_config() == router.running_config()


# ------------------------------------------------------------------------------ candidates


def test_changes_wait_in_the_candidate_until_commit(router: JunosRouter) -> None:
    session = editing(router)
    before = router.running_config()
    run(session, *FILTER, BIND)

    assert router.running_config() == before
    compare = run(session, "show | compare")
    assert "[edit interfaces ge-0/0/1 unit 0 family inet filter]\n+   input CURFEW-L42;" in compare
    assert BIND + "\n" in run(session, "show | display set")
    assert BIND not in run(session, "run show configuration | display set")

    assert run(session, "commit") == "commit complete\n"
    assert BIND + "\n" in router.running_config()
    assert run(session, "show | compare") == ""


@pytest.mark.parametrize("how", ["configure", "configure exclusive", "configure private"])
def test_edits_after_a_commit_never_reach_what_was_committed(router: JunosRouter, how: str) -> None:
    """After a commit the session's candidate and the shared one share the committed tree
    until someone edits (no copy for a session that only reads or leaves): an edit then,
    in this session or another, changes its candidate only, and a confirmed commit's rollback
    still restores the configuration from before it."""
    session = editing(router, how)
    before = router.running_config()
    run(session, *FILTER, BIND)
    private = how == "configure private"  # Junos has no `commit confirmed` there
    commit = "commit" if private else 'commit confirmed 5 comment "curfew"'
    assert run(session, commit).endswith("commit complete\n")
    committed = router.running_config()
    assert BIND + "\n" in committed

    run(session, "delete interfaces ge-0/0/1 unit 0 family inet filter input CURFEW-L42")
    assert router.running_config() == committed
    assert BIND not in run(session, "show | display set")
    if how != "configure":
        # the shared candidate too, edited by another session while this one keeps its own
        other = editing(router)
        run(other, "set interfaces ge-0/0/2 description spare")
        assert router.running_config() == committed
        assert "spare" not in run(session, "show | display set")
        run(other, "rollback 0", "exit")
    run(session, "rollback 0")
    assert run(session, "show | display set") == committed
    router.clock.advance(minutes=5)
    assert router.running_config() == (committed if private else before)


def test_display_inheritance_hides_apply_groups_even_with_no_group_defined(
    router: JunosRouter,
) -> None:
    """With no `groups` at all, the inheritance read is the configuration as written (not a
    copy of it) except for its `apply-groups` statements, which it never shows."""
    router.configure(["set interfaces ge-0/0/1 apply-groups G1"])
    session = router.open_session()
    written = run(session, "show configuration interfaces | display set")
    inherited = run(session, "show configuration interfaces | display inheritance | display set")
    assert "set interfaces ge-0/0/1 apply-groups G1\n" in written
    assert "apply-groups" not in inherited
    assert inherited == written.replace("set interfaces ge-0/0/1 apply-groups G1\n", "")


def test_a_value_replaces_the_last_and_one_action_replaces_another(router: JunosRouter) -> None:
    session = editing(router)
    run(session, *FILTER, BIND, BIND.replace("CURFEW-L42", "OTHER"))
    run(session, "set firewall family inet filter CURFEW-L42 term s then accept")
    shown = run(session, "show | display set")
    assert "filter input OTHER" in shown and "filter input CURFEW-L42" not in shown
    assert "term s then accept" in shown and "term s then discard" not in shown


def test_deleting_the_last_binding_leaves_family_inet_as_junos_keeps_it(
    router: JunosRouter,
) -> None:
    session = editing(router)
    run(session, *FILTER, "set interfaces ge-0/0/3 unit 0 family inet filter input CURFEW-L42")
    run(session, "commit")

    run(session, "delete interfaces ge-0/0/3 unit 0 family inet filter input")
    run(session, "delete firewall family inet filter CURFEW-L42", "commit")

    lines = router.running_config().splitlines()
    assert "set interfaces ge-0/0/3 unit 0 family inet" in lines, "a presence statement stays"
    assert not any(line.startswith("set firewall") for line in lines), "containers do not"


def test_a_commit_naming_a_missing_filter_fails_and_keeps_the_candidate(
    router: JunosRouter,
) -> None:
    session = editing(router)
    before = router.running_config()
    run(session, BIND)

    failed = run(session, "commit")

    assert failed == (
        "[edit interfaces ge-0/0/1 unit 0 family inet]\n"
        "  'filter'\n"
        "    Referenced filter 'CURFEW-L42' is not defined\n"
        f"{CHECKOUT_FAILED}\n"
    )
    assert router.running_config() == before
    assert BIND in router.candidate_config()
    assert run(session, "rollback 0") == "load complete\n"
    assert router.candidate_config() == before


def test_rollback_loads_an_earlier_commit_into_the_candidate(router: JunosRouter) -> None:
    session = editing(router)
    before = router.running_config()
    run(session, *FILTER, "commit")

    assert run(session, "rollback 1", "commit") == "load complete\ncommit complete\n"
    assert router.running_config() == before
    assert run(session, "rollback 49").startswith("error: rollback 49 does not exist")


# ------------------------------------------------------------------------------ commit confirmed


def test_an_unconfirmed_commit_rolls_back_when_lab_time_passes_its_deadline(
    router: JunosRouter,
) -> None:
    session = editing(router)
    before = router.running_config()
    run(session, *FILTER, BIND)

    reply = session.execute('commit confirmed 5 comment "curfew"')

    assert reply.output == (
        "commit confirmed will be automatically rolled back in 5 minutes unless confirmed\n"
        "commit complete\n"
    )
    assert "# commit confirmed will be rolled back in 5 minutes\r\n[edit]" in reply.prompt
    history = router.show_system_commit().splitlines()
    assert history[0].endswith("by curfew via cli commit confirmed, rollback in 5mins")
    assert history[1] == "    curfew"
    router.clock.advance(minutes=4, seconds=59)
    assert BIND in router.running_config()
    router.clock.advance(seconds=1)
    assert router.running_config() == before
    assert router.candidate_config() == before
    assert "automatic rollback complete" in router.events[-1]
    assert "# commit confirmed" not in session.prompt


@pytest.mark.parametrize("confirm", ["commit", "commit check"])
def test_a_commit_or_commit_check_confirms(router: JunosRouter, confirm: str) -> None:
    session = editing(router)
    run(session, *FILTER, BIND, "commit confirmed 2")
    run(session, confirm)
    router.clock.advance(minutes=10)
    assert BIND in router.running_config()
    assert router.pending is None


def test_a_rollback_happens_on_access_too_when_the_clock_follows_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = JunosRouter("R1", clock=LabClock())
    session = editing(r)
    run(session, *FILTER, "commit confirmed 1")
    host = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: host() + 120)  # two host minutes go by
    assert "CURFEW-L42" not in r.running_config()


def test_lab_time_only_moves_forward() -> None:
    clock = LabClock(follow_host=False)
    start = clock.now()
    assert clock.advance(minutes=1) - start == timedelta(minutes=1)
    with pytest.raises(ValueError):
        clock.advance(seconds=-1)


# ------------------------------------------------------------------------------ several users


def test_configure_exclusive_locks_out_other_editors_until_it_ends(router: JunosRouter) -> None:
    holder = editing(router, "configure exclusive")
    other = router.open_session()

    assert run(other, "configure exclusive").startswith("error: configuration database locked")
    assert "Users currently editing the configuration" in run(other, "configure")
    assert run(other, "set system ntp server 192.0.2.1").startswith("error: configuration database")
    holder.end()
    assert run(other, "set system ntp server 192.0.2.1") == ""


def test_configure_exclusive_refuses_a_modified_shared_candidate(router: JunosRouter) -> None:
    shared = editing(router)
    run(shared, "set system ntp server 192.0.2.1")
    assert run(router.open_session(), "configure exclusive") == (
        "error: configuration database modified\n\n"
    )
    assert run(router.open_session(), "configure private").startswith(
        "error: shared configuration database modified"
    )


def test_an_exclusive_session_discards_what_it_did_not_commit(router: JunosRouter) -> None:
    before = router.running_config()
    session = editing(router, "configure exclusive")
    run(session, *FILTER)
    assert router.candidate_config() == before, "its candidate is its own"

    asked = session.execute("exit configuration-mode")
    assert "warning: Auto rollback on exiting 'configure exclusive'" in asked.output
    assert asked.prompt == "Discard uncommitted changes? [yes,no] (yes) "
    left = session.execute("yes")
    assert "warning: discarding uncommitted changes" in left.output
    assert session.mode is Mode.OPERATIONAL and router.exclusive_holder() is None
    assert router.candidate_config() == before == router.running_config()


def test_leaving_the_shared_candidate_with_changes_asks_and_keeps_them(
    router: JunosRouter,
) -> None:
    session = editing(router)
    run(session, "set system ntp server 192.0.2.1")
    asked = session.execute("exit")
    assert asked.prompt == "Exit with uncommitted changes? [yes,no] (yes) "
    assert session.execute("no").prompt.endswith("# ")
    run(session, "exit", "yes")
    assert session.mode is Mode.OPERATIONAL
    assert "ntp server 192.0.2.1" in router.candidate_config()
    assert "ntp server 192.0.2.1" not in router.running_config()


def test_private_candidates_merge_into_what_others_committed(router: JunosRouter) -> None:
    mine = editing(router, "configure private")
    theirs = editing(router, "configure private")
    run(mine, *FILTER)
    run(theirs, "set system ntp server 192.0.2.1", "commit")
    assert "CURFEW-L42" not in router.running_config()

    assert run(mine, "commit confirmed 5").startswith(
        "error: 'commit confirmed' is not supported in private mode"
    )
    assert run(mine, "commit") == "commit complete\n"
    config = router.running_config()
    assert "ntp server 192.0.2.1" in config and "CURFEW-L42" in config


def test_a_hung_commit_never_answers(router: JunosRouter) -> None:
    session = editing(router)
    run(session, *FILTER)
    router.hang_commit = True
    reply = session.execute("commit")
    assert (reply.output, reply.prompt) == ("", "")
    assert not session.echo and session.execute("show").prompt == ""
    assert "CURFEW-L42" not in router.running_config()


def test_the_show_configuration_braces_format(router: JunosRouter) -> None:
    shown = run(router.open_session(), "show configuration interfaces ge-0/0/1")
    assert shown == (
        'description "venue access";\n'
        "unit 0 {\n"
        "    family {\n"
        "        inet {\n"
        "            address 198.18.1.1/24;\n"
        "        }\n"
        "    }\n"
        "}\n\n"
    )
    whole = run(router.open_session(), "show configuration | no-more")
    assert whole.startswith("## Last commit: 2026-01-01 00:00:00 UTC by root\nversion ")


def test_start_up_config_refuses_a_bad_line() -> None:
    r = JunosRouter("R1")
    with pytest.raises(ValueError, match="syntax error"):
        r.configure(["set interfaces ge-0/0/1 frobnicate"])
    with pytest.raises(ValueError, match="not defined"):
        r.configure([BIND])


# ------------------------------------------------------------------------------ groups

MGMT = (
    "set firewall family inet filter MGMT term any then accept",
    "set firewall family inet filter OPS term any then accept",
)
NOC_BINDS = "set groups NOC interfaces ge-0/0/1 unit 0 family inet filter input MGMT"
INHERITED = "set interfaces ge-0/0/1 unit 0 family inet filter input MGMT"
WITH_GROUPS = "show configuration | display inheritance | display set"


def shown(router: JunosRouter, command: str = WITH_GROUPS) -> list[str]:
    return run(router.open_session(), command).splitlines()


def test_groups_and_apply_groups_are_edited_committed_and_rolled_back_like_any_statement(
    router: JunosRouter,
) -> None:
    session = editing(router)
    run(session, *MGMT, NOC_BINDS, "set interfaces ge-0/0/1 apply-groups NOC")
    run(session, "set apply-groups OPS", "set apply-groups NOC", "commit")

    lines = router.running_config().splitlines()
    assert lines[:4] == [
        f"set version {VERSION}",
        NOC_BINDS,
        "set apply-groups OPS",
        "set apply-groups NOC",
    ], "groups, then the groups applied, come first, as Junos shows them"
    assert lines.index("set interfaces ge-0/0/1 apply-groups NOC") < lines.index(
        'set interfaces ge-0/0/1 description "venue access"'
    ), "apply-groups comes first at its level"
    assert "apply-groups [ OPS NOC ];" in run(session, "show")

    run(session, "delete apply-groups", "delete groups NOC")
    run(session, "delete interfaces ge-0/0/1 apply-groups NOC", "commit")
    assert "groups" not in router.running_config()
    run(session, "rollback 1", "commit")
    assert NOC_BINDS in router.running_config().splitlines()


def test_group_names_and_wildcards_are_checked_where_they_are_typed(router: JunosRouter) -> None:
    session = editing(router)
    for refused in (
        "set groups junos-mine system ntp server 192.0.2.1",
        "set interfaces <ge-*> description any",
        "set groups NOC interfaces ge-0/0/1 apply-groups OPS",
    ):
        assert run(session, refused).endswith("^\nsyntax error.\n"), refused
    assert run(session, 'set groups NOC interfaces "<ge-0/0/[12]>" unit <*> description x') == ""
    assert 'set groups NOC interfaces "<ge-0/0/[12]>" unit <*> description x' in run(
        session, "show | display set"
    ), "a character class is quoted, as Junos asks"


def test_display_set_shows_a_groups_binding_only_under_groups(router: JunosRouter) -> None:
    router.configure([*MGMT, NOC_BINDS, "set apply-groups NOC"])

    plain = router.running_config().splitlines()
    assert NOC_BINDS in plain and INHERITED not in plain

    for command in (
        WITH_GROUPS,
        "show configuration | display set | display inheritance",
        "show configuration interfaces | display inheritance no-comments | display set",
    ):
        inherited = shown(router, command)
        assert INHERITED in inherited, command
        assert not any("groups" in line for line in inherited), "groups are applied, not shown"
    assert shown(router, "show configuration | display set") == plain + [""]


def test_a_statement_set_locally_wins_over_an_inherited_one(router: JunosRouter) -> None:
    local = "set interfaces ge-0/0/1 unit 0 family inet filter input OPS"
    router.configure([*MGMT, NOC_BINDS, "set apply-groups NOC", local])
    assert local in shown(router) and INHERITED not in shown(router)

    session = editing(router)
    run(session, "delete interfaces ge-0/0/1 unit 0 family inet filter input", "commit")
    assert INHERITED in shown(router), "the group's filter takes the slot again"


def test_a_group_applies_at_the_level_it_is_applied_to_and_below(router: JunosRouter) -> None:
    elsewhere = "set groups NOC interfaces ge-0/0/2 unit 0 family inet filter input MGMT"
    router.configure([*MGMT, NOC_BINDS, elsewhere, "set interfaces ge-0/0/1 apply-groups NOC"])
    effective = shown(router)
    assert INHERITED in effective
    assert "set interfaces ge-0/0/2 unit 0 family inet filter input MGMT" not in effective

    router.configure(
        [
            "delete interfaces ge-0/0/1 apply-groups",
            "set interfaces ge-0/0/2 unit 0 apply-groups NOC",
        ]
    )
    effective = shown(router)
    assert INHERITED not in effective
    assert "set interfaces ge-0/0/2 unit 0 family inet filter input MGMT" in effective


def test_wildcards_add_to_entries_that_exist_and_the_first_group_named_wins(
    router: JunosRouter,
) -> None:
    router.configure(
        [
            *MGMT,
            "set groups OPS interfaces <ge-0/0/*> unit <*> family inet filter output OPS",
            "set groups NOC interfaces <*> unit 0 family inet filter output MGMT",
            "set groups NOC interfaces ge-0/0/7 description made",
            "set apply-groups OPS",
            "set apply-groups NOC",
        ]
    )
    effective = shown(router)
    for port in ("ge-0/0/1", "ge-0/0/2"):
        assert f"set interfaces {port} unit 0 family inet filter output OPS" in effective
    assert not any(line.endswith("output MGMT") for line in effective)
    assert "set interfaces ge-0/0/7 description made" in effective, "a name creates its entry"
    assert not any(line.startswith("set interfaces ge-0/0/7 unit") for line in effective)


def test_display_inheritance_names_each_inherited_statements_group(router: JunosRouter) -> None:
    router.configure([*MGMT, NOC_BINDS, "set interfaces ge-0/0/1 apply-groups NOC"])
    session = router.open_session()

    braces = run(session, "show configuration interfaces ge-0/0/1 unit 0 | display inheritance")
    quiet = run(
        session, "show configuration interfaces ge-0/0/1 unit 0 | display inheritance no-comments"
    )

    assert (
        "        ##\n"
        "        ## 'filter' was inherited from group 'NOC'\n"
        "        ##\n"
        "        filter {\n"
        "            ##\n"
        "            ## 'MGMT' was inherited from group 'NOC'\n"
        "            ##\n"
        "            input MGMT;\n"
        "        }\n"
        "        address 198.18.1.1/24;\n"
    ) in braces
    assert "##" not in quiet and "input MGMT;" in quiet
    assert "apply-groups" not in braces
    bogus = "show configuration | display inheritance bogus"
    assert run(session, bogus) == " " * (11 + bogus.index("bogus")) + "^\nsyntax error.\n"


def test_a_commit_checks_the_configuration_with_groups_applied(router: JunosRouter) -> None:
    session = editing(router)
    run(session, NOC_BINDS.replace("MGMT", "NOPE"))
    assert run(session, "commit") == "commit complete\n", "a group applied nowhere binds nothing"

    run(session, "set apply-groups NOC")
    failed = run(session, "commit")

    assert "Referenced filter 'NOPE' is not defined" in failed and CHECKOUT_FAILED in failed
    assert "apply-groups" not in router.running_config()


# ------------------------------------------------------------------------------ the router's clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 23:58:00.123 CST on the router's wall clock, two minutes before the cut
BEFORE_MIDNIGHT = datetime(2026, 11, 24, 15, 58, 0, 123000, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 2026-11-25 00:00:00 CST
TIMED = ("set system time-zone Asia/Shanghai", "set system ntp server 192.0.2.123")
NTP_ERA = datetime(1900, 1, 1, tzinfo=UTC)


@pytest.fixture
def true_time() -> SimulatedClock:
    return SimulatedClock(BEFORE_MIDNIGHT)


@pytest.fixture
def timed(router: JunosRouter, true_time: SimulatedClock) -> JunosRouter:
    """The router on a simulated clock the test moves, in Shanghai, synchronised by NTP."""
    router.clock.follow(true_time.now)
    router.configure(TIMED)
    return router


def ntp_clock(status: str) -> datetime:
    """`clock=` of `show ntp status`, an NTP timestamp, as a UTC instant."""
    found = re.search(r"\bclock=([0-9a-f]{8})\.([0-9a-f]{8})  ", status)
    assert found is not None, status
    seconds = int(found.group(1), 16) + int(found.group(2), 16) / 2**32
    return NTP_ERA + timedelta(seconds=seconds)


def test_time_zone_takes_a_tz_database_name_and_nothing_else(router: JunosRouter) -> None:
    assert router.zone.utcoffset(MIDNIGHT) == timedelta(0), "UTC until a zone is set"
    session = editing(router)
    for refused in ("Mars/Olympus", "asia/shanghai", "Asia", "../etc/passwd", "CST+8"):
        line = f"set system time-zone {refused}"
        assert run(session, line).endswith("^\nsyntax error.\n"), refused
    assert run(session, "set system time-zone Europe/Berlin", "set system time-zone UTC") == ""
    assert run(session, "set system time-zone Asia/Shanghai", "commit") == "commit complete\n"
    assert "set system time-zone Asia/Shanghai\n" in router.running_config()
    assert router.zone == SHANGHAI


def test_the_router_clock_follows_its_source_and_is_off_by_its_offset(
    router: JunosRouter, true_time: SimulatedClock
) -> None:
    router.clock.follow(true_time.now)
    assert router.now() == BEFORE_MIDNIGHT
    true_time.advance(timedelta(hours=1))
    assert router.now() == BEFORE_MIDNIGHT + timedelta(hours=1)
    router.clock.advance(minutes=1)
    assert router.now() == BEFORE_MIDNIGHT + timedelta(hours=1, minutes=1)
    router.clock_offset = timedelta(seconds=-90)
    assert router.now() == BEFORE_MIDNIGHT + timedelta(hours=1, seconds=-30)
    assert router.now().tzinfo == UTC


def test_ntp_status_shows_a_synchronised_clock_as_ntpq_does(timed: JunosRouter) -> None:
    timed.ntp_offset_ms = 0.5
    status = run(timed.open_session(), "show ntp status")
    lines = status.splitlines()
    assert lines[0] == "status=0644 leap_none, sync_ntp, 4 events, event_peer/strat_chg,"
    assert "leap=00, stratum=3," in lines[2]
    assert lines[4] == "refid=192.0.2.123,"
    assert lines[6].endswith("  Tue, Nov 24 2026 23:58:00.123, state=4,"), "the local wall clock"
    assert lines[7] == "offset=0.500, frequency=0.000, jitter=0.100, stability=0.010"
    assert abs(ntp_clock(status) - timed.now()) < timedelta(milliseconds=1)
    assert re.fullmatch(
        r"reftime=[0-9a-f]{8}\.0{8}  Tue, Nov 24 2026 23:57:04\.000, poll=6,", lines[5]
    )


def test_ntp_status_without_a_server_or_with_ntp_lost_is_not_synchronised(
    router: JunosRouter, true_time: SimulatedClock
) -> None:
    router.clock.follow(true_time.now)
    router.clock_offset = timedelta(seconds=7)
    unserved = run(router.open_session(), "show ntp status")
    router.configure(TIMED[1:])
    router.ntp_lost = True
    lost = run(editing(router), "run show ntp status")

    for status in (unserved, lost):
        lines = status.splitlines()
        assert lines[0] == "status=c011 leap_alarm, sync_unspec, 1 event, event_restart,"
        assert "leap=11, stratum=16," in lines[2] and lines[4] == "refid=INIT,"
        assert lines[6].endswith(", state=1,") and lines[7].startswith("offset=0.000,")
        assert abs(ntp_clock(status) - (BEFORE_MIDNIGHT + timedelta(seconds=7))) < timedelta(
            milliseconds=1
        ), "the router's own clock, off as it is"
    router.ntp_lost = False
    assert "sync_ntp" in run(router.open_session(), "show ntp status")


def test_system_uptime_shows_the_local_time_and_its_source(timed: JunosRouter) -> None:
    timed.clock.advance(seconds=119.877)
    lines = run(timed.open_session(), "show system uptime").splitlines()
    assert lines[0] == "Current time: 2026-11-25 00:00:00 CST"
    assert lines[1] == "Time Source:  NTP CLOCK"
    assert lines[2].startswith("System booted: ") and lines[2].endswith(" ago)")
    timed.ntp_lost = True
    assert "Time Source:  LOCAL CLOCK" in run(timed.open_session(), "show system uptime")


# ------------------------------------------------------------------------------ commit at

AT = 'at "2026-11-25 00:00:00"'
AT_MIDNIGHT = f"commit {AT}"
READ_ONLY = (
    "error: configuration database is read-only: a commit is scheduled for "
    "2026-11-25 00:00:00 CST\n"
)


def scheduled_cut(router: JunosRouter, how: str = "configure") -> JunosSession:
    """A session that set up the cut and armed it with `commit at` midnight."""
    session = editing(router, how)
    run(session, *FILTER, BIND)
    reply = session.execute(f'{AT_MIDNIGHT} comment "curfew L42"')
    assert reply.output == (
        "configuration check succeeds\n"
        "commit at will be executed at 2026-11-25 00:00:00 CST\n"
        "Exiting configuration mode\n\n"
    )
    assert reply.prompt == "curfew@R1> "
    return session


def test_commit_at_checks_and_schedules_the_candidate_and_leaves_configuration_mode(
    timed: JunosRouter,
) -> None:
    before = timed.running_config()
    session = scheduled_cut(timed, "configure exclusive")

    scheduled = timed.scheduled
    assert scheduled is not None
    assert (scheduled.at, scheduled.by, scheduled.comment) == (MIDNIGHT, "curfew", "curfew L42")
    assert BIND in display_set(scheduled.config), "a copy of the candidate, as it was"
    assert timed.running_config() == before, "nothing is committed yet"
    assert BIND + "\n" in timed.candidate_config(), "the shared candidate is what will be"
    assert session.mode is Mode.OPERATIONAL and timed.exclusive_holder() is None


@pytest.mark.parametrize("how", ["configure", "configure exclusive"])
def test_a_scheduled_commit_makes_the_candidate_read_only_but_visible(
    timed: JunosRouter, how: str
) -> None:
    scheduled_cut(timed)
    session = editing(timed, how)

    for refused in (
        "set system host-name R2",
        "delete interfaces ge-0/0/1",
        "rollback 1",
        "load merge terminal",
        "commit",
        'commit comment "again"',
        "commit confirmed 5",
        'commit at "2026-11-25 01:00"',
    ):
        assert run(session, refused) == READ_ONLY, refused
    assert run(session, "commit check") == "configuration check succeeds\n"
    assert BIND + "\n" in run(session, "show | display set"), "the candidate is the scheduled one"
    assert BIND not in run(session, "run show configuration | display set")
    left = session.execute("exit configuration-mode")
    assert left.output == "Exiting configuration mode\n\n" and left.prompt == "curfew@R1> "
    assert BIND not in run(session, "show configuration | display set")


def test_show_system_commit_names_the_scheduled_commit_first(timed: JunosRouter) -> None:
    scheduled_cut(timed)
    lines = run(timed.open_session(), "show system commit").splitlines()
    assert lines[0] == "commit requested by curfew via cli at Wed Nov 25 00:00:00 2026"
    assert lines[1].startswith("0   2026-11-24 15:58:00 UTC by root via other")


def test_the_scheduled_commit_runs_when_the_routers_clock_reaches_its_time(
    timed: JunosRouter, true_time: SimulatedClock
) -> None:
    before = timed.running_config()
    holder = editing(timed, "configure exclusive")
    run(holder, *FILTER, BIND)
    assert "commit at will be executed" in run(holder, f'commit comment "curfew L42" {AT}')
    watcher = editing(timed, "configure exclusive")

    true_time.set(MIDNIGHT - timedelta(seconds=1))
    assert timed.running_config() == before and timed.scheduled is not None
    true_time.set(MIDNIGHT)
    assert BIND + "\n" in timed.running_config(), "reading the configuration is enough"
    assert timed.scheduled is None
    assert timed.history[0].at == MIDNIGHT
    assert (timed.history[0].user, timed.history[0].comment) == ("curfew", "curfew L42")
    assert timed.events[-1].endswith("scheduled commit complete")
    assert timed.candidate_config() == timed.running_config()
    assert run(watcher, "show | compare") == "", "an exclusive candidate reloads what committed"
    assert run(watcher, "set system host-name R2") == "", "and it may edit again"


def test_a_scheduled_commit_fires_on_the_routers_clock_not_the_true_one(
    timed: JunosRouter, true_time: SimulatedClock
) -> None:
    scheduled_cut(timed)
    timed.clock_offset = timedelta(seconds=-30)  # the router runs 30 s late
    true_time.set(MIDNIGHT)
    assert timed.execute("show version").output and timed.scheduled is not None
    true_time.set(MIDNIGHT + timedelta(seconds=30))
    timed.execute("show version")
    assert timed.scheduled is None and BIND in timed.running_config()


def test_lab_clock_advance_fires_a_scheduled_commit(timed: JunosRouter) -> None:
    scheduled_cut(timed)
    timed.clock.advance(minutes=1, seconds=59)
    assert timed.scheduled is not None
    timed.clock.advance(seconds=1)
    assert timed.scheduled is None and BIND + "\n" in timed.running_config()


def test_an_edit_after_a_scheduled_commit_fired_changes_only_the_candidate(
    timed: JunosRouter,
) -> None:
    """The fired commit's tree is the committed one and the shared candidate's, as a commit's
    is: the first edit copies it, and `show configuration` reads are not left stale."""
    scheduled_cut(timed)
    timed.clock.advance(minutes=2)
    committed = timed.running_config()
    reader = timed.open_session()
    shown = reader.execute("show configuration | display set").output
    assert BIND in shown

    session = editing(timed)
    run(session, "set system host-name R9", "delete interfaces ge-0/0/1")

    assert timed.running_config() == committed
    assert reader.execute("show configuration | display set").output == shown
    assert "set system host-name R9" in timed.candidate_config()
    assert "commit complete" in session.execute("commit").output
    after = reader.execute("show configuration | display set").output
    assert "set system host-name R9" in after and BIND not in after


def test_clear_system_commit_cancels_and_keeps_the_changes_uncommitted(
    timed: JunosRouter, true_time: SimulatedClock
) -> None:
    before = timed.running_config()
    scheduled_cut(timed)
    operational = timed.open_session()

    assert run(operational, "clear system commit") == "Pending commit cleared\n\n"
    assert timed.scheduled is None
    assert run(operational, "clear system commit") == "error: no commit is scheduled\n\n"
    true_time.set(MIDNIGHT + timedelta(minutes=1))
    assert timed.running_config() == before, "cancelled: nothing runs at midnight"
    assert BIND in timed.candidate_config(), "the changes stay in the shared candidate"
    assert run(operational, "configure exclusive") == "error: configuration database modified\n\n"

    session = editing(timed)
    assert run(session, "rollback 0") == "load complete\n"
    assert run(session, "exit configuration-mode") == "Exiting configuration mode\n\n"
    assert timed.candidate_config() == before
    assert "Entering configuration mode" in run(operational, "configure exclusive")


def test_clear_system_commit_runs_from_configuration_mode_too(timed: JunosRouter) -> None:
    scheduled_cut(timed)
    session = editing(timed)
    assert run(session, "run clear system commit") == "Pending commit cleared\n"
    assert timed.scheduled is None
    assert run(session, "set system host-name R2") == "", "the candidate is editable again"


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        ('commit at "23:59:00"', "error: commit at time must be more than a minute after"),
        ('commit at "23:59:00.123"', "error: invalid time"),
        ('commit at "2026-11-25 24:00"', "error: invalid time"),
        ('commit at "2026-02-30 00:00"', "error: invalid time"),
        ('commit at "tonight"', "error: invalid time"),
        ('commit at "2026-11-24 12:00"', "error: commit at time must be more than a minute"),
        (f"{AT_MIDNIGHT} confirmed 5", "error: 'commit at' cannot be combined with 'confirmed'"),
        (f"commit check {AT}", "error: 'commit at' cannot be combined with 'check'"),
    ],
)
def test_commit_at_refuses_what_it_cannot_schedule(
    timed: JunosRouter, command: str, refusal: str
) -> None:
    session = editing(timed)
    run(session, *FILTER)
    assert run(session, command).startswith(refusal)
    assert timed.scheduled is None and session.mode is Mode.CONFIG
    assert "CURFEW-L42" not in timed.running_config()


def test_commit_at_wants_more_than_a_minute_on_the_routers_clock(timed: JunosRouter) -> None:
    session = editing(timed)
    timed.clock_offset = timedelta(seconds=-1)  # 23:57:59.123 CST: 23:59:00 is 60.877 s away
    assert run(session, 'commit at "23:59:00"').startswith("configuration check succeeds")
    assert timed.scheduled is not None and timed.scheduled.at == MIDNIGHT - timedelta(minutes=1)
    timed.scheduled = None
    session = editing(timed)
    timed.clock_offset = timedelta(seconds=0.877)  # exactly 60 s before 23:59:01
    assert run(session, 'commit at "23:59:01"').startswith("error: commit at time must be")


def test_commit_at_refuses_a_second_schedule_and_private_mode(timed: JunosRouter) -> None:
    private = editing(timed, "configure private")
    assert run(private, AT_MIDNIGHT) == "error: 'commit at' is not supported in private mode\n"
    assert private.mode is Mode.CONFIG
    run(private, "exit")
    scheduled_cut(timed)
    assert run(editing(timed), 'commit at "2026-11-25 00:30"') == READ_ONLY
    assert timed.scheduled is not None and timed.scheduled.at == MIDNIGHT


def test_commit_at_refuses_a_candidate_that_fails_its_check(timed: JunosRouter) -> None:
    session = editing(timed)
    run(session, BIND)
    failed = run(session, AT_MIDNIGHT)
    assert "Referenced filter 'CURFEW-L42' is not defined" in failed
    assert failed.endswith(f"{CHECKOUT_FAILED}\n")
    assert timed.scheduled is None and session.mode is Mode.CONFIG


def test_a_scheduled_commit_that_fails_its_check_at_its_time_commits_nothing(
    timed: JunosRouter, true_time: SimulatedClock
) -> None:
    before = timed.running_config()
    session = editing(timed)
    run(session, "set system host-name R2", AT_MIDNIGHT)
    assert timed.scheduled is not None

    def bind_a_missing_filter(config: Tree) -> None:
        apply_line(config, BIND)

    timed.commit_script = bind_a_missing_filter  # a commit script installed meanwhile

    true_time.set(MIDNIGHT)
    assert timed.running_config() == before
    assert timed.scheduled is None
    assert "scheduled commit failed" in timed.events[-1]
    assert "Referenced filter 'CURFEW-L42' is not defined" in timed.events[-1]


# ------------------------------------------------------------------------------ over SSH


@pytest.fixture
def lab() -> Iterator[Lab]:
    spec = DeviceSpec(
        "R1",
        platform="juniper_junos",
        interfaces=("ge-0/0/0", "ge-0/0/1", "ge-0/0/2"),
        config=(*_base_config("100.64.0.1"), *VENUE),
    )
    with Lab([spec]) as running:
        yield running


@pytest.mark.lab
def test_real_netmiko_reads_configures_and_commits(lab: Lab) -> None:
    router = lab.router("R1")
    with ConnectHandler(**lab.connection("R1"), fast_cli=True) as session:
        assert session.find_prompt() == "curfew@R1>"
        shown = session.send_command("show configuration | display set")
        assert "set interfaces ge-0/0/0 unit 0 family inet filter input MGMT-ACCESS" in shown
        session.send_config_set(list(FILTER), exit_config_mode=False)
        assert "commit confirmed will be automatically rolled back" in session.commit(
            confirm=True, confirm_delay=1
        )
        session.exit_config_mode()
        assert not session.check_config_mode()
    assert "CURFEW-L42" in router.running_config()
    router.clock.advance(minutes=2)
    assert "CURFEW-L42" not in router.running_config()


@pytest.mark.lab
def test_real_netmiko_sees_a_groups_binding_through_display_inheritance(lab: Lab) -> None:
    group = "set groups NOC interfaces ge-0/0/1 unit 0 family inet filter input MGMT-ACCESS"
    inherited = "set interfaces ge-0/0/1 unit 0 family inet filter input MGMT-ACCESS"
    with ConnectHandler(**lab.connection("R1"), fast_cli=True) as session:
        session.send_config_set([group, "set apply-groups NOC"], exit_config_mode=False)
        candidate = session.send_command("show | display inheritance | display set")
        assert "commit complete" in session.commit()
        session.exit_config_mode()
        plain = session.send_command("show configuration | display set")
        committed = session.send_command(
            "show configuration interfaces | display inheritance no-comments | display set"
        )
    assert inherited in candidate.splitlines()
    assert group in plain.splitlines() and inherited not in plain.splitlines()
    assert inherited in committed.splitlines() and "groups" not in committed
    assert lab.router("R1").inherited_config() != lab.router("R1").running_config()


@pytest.mark.lab
def test_faults_reach_netmiko_sessions(lab: Lab) -> None:
    lab.set_fault("R1", reject=(r"^set firewall",))
    with ConnectHandler(**lab.connection("R1"), fast_cli=True) as session:
        answer = session.send_config_set(list(FILTER[:1]), exit_config_mode=False)
        assert "syntax error." in answer
        session.exit_config_mode()
    lab.set_fault("R1", reject=(), drop_after=1)
    with pytest.raises(Exception):  # noqa: B017 - netmiko raises what it raises on a closed link
        ConnectHandler(**lab.connection("R1"), fast_cli=True, conn_timeout=3)


@pytest.mark.lab
def test_a_dropped_connection_releases_its_exclusive_lock(lab: Lab) -> None:
    router = lab.router("R1")
    session = ConnectHandler(**lab.connection("R1"), fast_cli=True)
    session.config_mode("configure exclusive")
    assert router.exclusive_holder() is not None
    session.paramiko_cleanup()  # the connection is gone, nobody says goodbye

    deadline = time.monotonic() + 5
    while router.exclusive_holder() is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.lab
def test_a_mixed_city_serves_junos_routers_the_driver_can_read() -> None:
    specs, inventory = city(3, 4, platforms=("cisco_ios", "juniper_junos"))
    junos = next(s for s in specs if s.platform == "juniper_junos")
    lines = [entry for entry in inventory["lines"] if entry["device"] == junos.name]
    assert [entry["interface"] for entry in lines] == [f"ge-0/0/{k}" for k in range(1, 5)]

    with Lab(specs) as running:
        spec = next(s for s in running.specs if s.name == junos.name)
        credentials = Credentials(
            running.host, spec.port, spec.username, spec.password, host_key=spec.host_key
        )
        with JuniperJunosDriver(spec.name, credentials) as driver:
            assert driver.read() == {}
            facts = driver.facts()
        config = running.router(spec.name).running_config()
    assert "set interfaces ge-0/0/0 unit 0 family inet filter input MGMT-ACCESS" in config
    first = lines[0]
    assert facts.routed_via(ip_network(first["prefixes"][1])) == {"ge-0/0/1"}
    assert facts.routes[ip_network("0.0.0.0/0")] == "ge-0/0/0"
