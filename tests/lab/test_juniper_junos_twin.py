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
        credentials = Credentials(running.host, spec.port, spec.username, spec.password)
        with JuniperJunosDriver(spec.name, credentials) as driver:
            assert driver.read() == {}
            facts = driver.facts()
        config = running.router(spec.name).running_config()
    assert "set interfaces ge-0/0/0 unit 0 family inet filter input MGMT-ACCESS" in config
    first = lines[0]
    assert facts.routed_via(ip_network(first["prefixes"][1])) == {"ge-0/0/1"}
    assert facts.routes[ip_network("0.0.0.0/0")] == "ge-0/0/0"
