"""The simulated Junos router: as a state machine (modes, candidates, commits, lab time), then
under the real netmiko `juniper_junos` driver over SSH, with faults, and in a mixed city."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from ipaddress import ip_network

import pytest
from netmiko import ConnectHandler

from drivers.base import Credentials
from drivers.juniper_junos import JuniperJunosDriver
from lab.juniper_junos import (
    CHECKOUT_FAILED,
    VERSION,
    JunosRouter,
    JunosSession,
    LabClock,
    Mode,
    _base_config,
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
