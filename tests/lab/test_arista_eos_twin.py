"""The simulated Arista EOS switch: its eAPI model on its own, its HTTP front under the real
napalm `eos` driver and pyeapi, and the driver's transactional path against it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from ipaddress import ip_interface, ip_network
from typing import Any

import napalm
import pyeapi
import pyeapi.eapilib
import pytest

import drivers.arista_eos as eos_driver
from drivers.arista_eos import AristaEosDriver, SessionLocked, WrongDevice
from drivers.base import Batch, Credentials, LineState, LineTarget, Timeout, VerifyFailed
from lab.arista_eos import TWIN, EosRouter, LabClock
from lab.topology import DeviceSpec, Lab, city

pytestmark = pytest.mark.lab

VENUE = [
    "interface Ethernet2",
    "   description venue access",
    "   no switchport",
    "   ip address 198.18.1.1/24",
    "   ipv6 address 2001:db8:1::1/48",
]
CUT = [
    "ip access-list CURFEW-L42",
    "deny ip 198.18.1.0/24 any",
    "deny ip any 198.18.1.0/24",
    "permit ip any any",
    "exit",
    "ipv6 access-list CURFEW6-L42",
    "deny ipv6 2001:db8:1::/48 any",
    "deny ipv6 any 2001:db8:1::/48",
    "permit ipv6 any any",
    "exit",
    "interface Ethernet2",
    "ip access-group CURFEW-L42 in",
    "ip access-group CURFEW-L42 out",
    "ipv6 access-group CURFEW6-L42 in",
    "ipv6 access-group CURFEW6-L42 out",
    "exit",
]
CUT_BLOCKS = (
    "interface Ethernet2\n"
    "   description venue access\n"
    "   no switchport\n"
    "   ip address 198.18.1.1/24\n"
    "   ipv6 address 2001:db8:1::1/48\n"
    "   ip access-group CURFEW-L42 in\n"
    "   ip access-group CURFEW-L42 out\n"
    "   ipv6 access-group CURFEW6-L42 in\n"
    "   ipv6 access-group CURFEW6-L42 out\n"
    "!\n",
    "ip access-list CURFEW-L42\n"
    "   10 deny ip 198.18.1.0/24 any\n"
    "   20 deny ip any 198.18.1.0/24\n"
    "   30 permit ip any any\n"
    "!\n",
    "ipv6 access-list CURFEW6-L42\n"
    "   10 deny ipv6 2001:db8:1::/48 any\n"
    "   20 deny ipv6 any 2001:db8:1::/48\n"
    "   30 permit ipv6 any any\n"
    "!\n",
)
L42 = LineTarget(42, "Ethernet2", (ip_network("198.18.1.0/24"), ip_network("2001:db8:1::/48")))


def make_router() -> EosRouter:
    switch = EosRouter("R1", ["Ethernet1", "Ethernet2", "Ethernet3"], clock=LabClock(frozen=True))
    switch.configure(TWIN.base_config("100.64.0.1"))
    switch.configure(VENUE)
    switch.boot()
    return switch


@pytest.fixture
def router() -> EosRouter:
    return make_router()


def run(router: EosRouter, *commands: str, fmt: str = "json") -> dict[str, Any]:
    return router.run_cmds(["enable", *commands], fmt)


def ok(router: EosRouter, *commands: str, fmt: str = "json") -> list[Any]:
    answer = run(router, *commands, fmt=fmt)
    assert "error" not in answer, answer
    return answer["result"][1:]


# ------------------------------------------------------------------------------ the model


def test_running_config_prints_as_eos_does(router: EosRouter) -> None:
    ok(router, "configure", *CUT, "end")
    config = router.running_config()
    assert config.startswith("! Command: show running-config\n! device: R1 (vEOS-lab, EOS-4.30")
    for block in CUT_BLOCKS:
        assert block in config
    assert "interface Ethernet1\n   description uplink\n   no switchport\n" in config
    assert config.index("hostname R1") < config.index("interface Ethernet1")
    assert config.index("interface Ethernet3") < config.index("ip access-list CURFEW-L42")
    assert config.endswith("!\nend\n")
    assert ok(router, "show running-config", fmt="text") == [{"output": config}]


def test_show_running_config_takes_eos_output_filters(router: EosRouter) -> None:
    ok(router, "configure", *CUT, "end")
    owned = "show running-config | section ^interface|^ip access-list CURFEW-L|^ipv6 access-list"
    (answer,) = ok(router, owned, fmt="text")
    assert CUT_BLOCKS[0].removesuffix("!\n") in answer["output"]
    assert "ip access-list CURFEW-L42\n   10 deny ip 198.18.1.0/24 any\n" in answer["output"]
    assert "hostname" not in answer["output"] and "!" not in answer["output"]
    (bindings,) = ok(router, "show running-config | include access-group", fmt="text")
    assert bindings["output"] == "   ip access-group MGMT-ACCESS in\n" + "".join(
        f"   {family} access-group {name} {way}\n"
        for family, name in (("ip", "CURFEW-L42"), ("ipv6", "CURFEW6-L42"))
        for way in ("in", "out")
    )
    assert ok(router, "show running-config | begin ^end", fmt="text") == [{"output": "end\n"}]
    assert "error" in router.run_cmds(["enable", "show running-config | grep x"], "text")


def test_no_forms_return_the_config_byte_for_byte(router: EosRouter) -> None:
    before = router.running_config()
    ok(router, "configure", *CUT, "end")
    ok(
        router,
        "configure",
        "interface Ethernet2",
        "no ip access-group CURFEW-L42 in",
        "no ip access-group CURFEW-L42 out",
        "no ipv6 access-group CURFEW6-L42 in",
        "no ipv6 access-group CURFEW6-L42 out",
        "exit",
        "no ip access-list CURFEW-L42",
        "no ipv6 access-list CURFEW6-L42",
        "end",
    )
    assert router.running_config() == before


def test_an_invalid_command_stops_the_call_with_eapis_error_shape(router: EosRouter) -> None:
    answer = run(router, "configure", "ntp server 192.0.2.9", "ip access-gruop X in", "end")
    error = answer["error"]
    assert error["code"] == 1002
    assert error["message"] == "CLI command 4 of 5 'ip access-gruop X in' failed: invalid command"
    assert error["data"][:3] == [{}, {}, {}]
    assert error["data"][3] == {"errors": ["Invalid input (at token 1: 'access-gruop')"]}
    assert "ntp server 192.0.2.9" in router.running_config(), "commands before it ran"


@pytest.mark.parametrize(
    "lines",
    [
        ["interface Ethernet2", "ip access-group"],
        ["interface Ethernet2", "ipv6 access-group X sideways"],
        ["interface Ethernet2", "ip address 300.1.1.1/24"],
        ["interface Ethernet99"],
        ["ip access-list CURFEW-L1", "deny ip 198.18.1.0/33 any"],
        ["ip access-list CURFEW-L1", "deny ip 198.18.1.1/24 any"],
        ["ipv6 access-list CURFEW6-L1", "deny ip any any"],
        ["hostname -bad"],
        ["ip access-list CURFEW-L1", "10 permit ip any any", "10 deny ip any any"],
    ],
)
def test_malformed_lines_are_refused_and_change_nothing(
    router: EosRouter, lines: list[str]
) -> None:
    reference = make_router()
    ok(reference, "configure", *lines[:-1], "end")

    answer = run(router, "configure", *lines)

    assert f"'{lines[-1]}' failed" in answer["error"]["message"]
    assert router.running_config() == reference.running_config()


def test_config_needs_enable_and_eapi_takes_no_abbreviations(router: EosRouter) -> None:
    answer = router.run_cmds(["configure"])
    assert answer["error"]["data"][-1]["errors"] == ["Invalid input (privileged mode required)"]
    assert "error" in run(router, "conf t")
    assert "error" in run(router, "show run")


def test_a_sub_mode_falls_back_to_global_commands(router: EosRouter) -> None:
    ok(router, "configure", "interface Ethernet3", "ip access-list FOO", "permit ip any any", "end")
    assert "ip access-list FOO\n   10 permit ip any any\n!" in router.running_config()


def test_ace_addresses_are_normalised_and_duplicates_ignored(router: EosRouter) -> None:
    ok(
        router,
        "configure",
        "ip access-list T",
        "deny ip 10.0.0.0 0.255.255.255 host 192.0.2.1",
        "deny ip 10.0.0.0/8 host 192.0.2.1",
        "15 permit ip any any",
        "end",
    )
    assert (
        "ip access-list T\n   10 deny ip 10.0.0.0/8 host 192.0.2.1\n   15 permit ip any any\n"
    ) in router.running_config()


def test_a_session_is_invisible_until_committed_and_diffs_against_running(
    router: EosRouter,
) -> None:
    before = router.running_config()
    ok(router, "configure session s1", *CUT, "end")
    assert router.running_config() == before
    assert ok(router, "show configuration sessions")[0]["sessions"]["s1"]["state"] == "pending"
    diff = ok(router, "show session-config named s1 diffs", fmt="text")[0]["output"]
    lines = diff.splitlines()
    assert lines[:2] == ["--- system:/running-config", "+++ session:/s1-session-config"]
    added = [line[1:] for line in lines[2:] if line.startswith("+")]
    removed = [line for line in lines[2:] if line.startswith("-")]
    assert removed == [] and len(added) == 4 + 5 + 5
    ok(router, "configure session s1 commit")
    assert all(block in router.running_config() for block in CUT_BLOCKS)
    assert ok(router, "show configuration sessions")[0]["sessions"]["s1"]["state"] == "completed"


def test_aborting_a_session_discards_it(router: EosRouter) -> None:
    before = router.running_config()
    ok(router, "configure session s1", *CUT, "end", "configure session s1 abort")
    assert router.running_config() == before
    assert ok(router, "show configuration sessions")[0]["sessions"] == {}


def test_an_unconfirmed_timed_commit_reverts_when_the_lab_clock_passes_it(
    router: EosRouter,
) -> None:
    before = router.running_config()
    ok(router, "configure session s1", *CUT, "end", "configure session s1 commit timer 00:01:00")
    assert CUT_BLOCKS[1] in router.running_config()
    detail = ok(router, "show configuration sessions detail", "show version")
    assert detail[0]["sessions"]["s1"]["state"] == "pendingCommitTimer"
    assert detail[0]["sessions"]["s1"]["commitBy"] - detail[1]["uptime"] == pytest.approx(60)
    router.advance(59.5)
    assert CUT_BLOCKS[1] in router.running_config()
    router.advance(1)
    assert router.running_config() == before
    assert ok(router, "show configuration sessions")[0]["sessions"] == {}


def test_a_timed_commit_confirmed_in_time_stays(router: EosRouter) -> None:
    ok(router, "configure session s1", *CUT, "end", "configure session s1 commit timer 00:00:30")
    router.advance(29)
    ok(router, "configure session s1 commit")
    router.advance(3600)
    assert CUT_BLOCKS[1] in router.running_config()


def test_aborting_a_timed_commit_reverts_it_at_once(router: EosRouter) -> None:
    before = router.running_config()
    ok(router, "configure session s1", *CUT, "end", "configure session s1 commit timer 00:10:00")
    ok(router, "configure session s1 abort")
    assert router.running_config() == before


def test_rollback_file_and_configure_replace_bring_back_the_saved_config(
    router: EosRouter,
) -> None:
    saved = router.running_config()
    ok(router, "copy startup-config flash:rollback-0", fmt="text")
    ok(router, "configure", *CUT, "no ntp server 192.0.2.123", "end")
    assert router.running_config() != saved
    ok(router, "configure replace flash:rollback-0", fmt="text")
    assert router.running_config() == saved
    assert "error" in run(router, "configure replace flash:nothing-here")


def test_write_memory_saves_the_running_config(router: EosRouter) -> None:
    saved = router.startup_config
    ok(router, "configure", *CUT, "end")
    assert router.startup_config == saved
    ok(router, "write memory", fmt="text")
    assert all(block in router.startup_config for block in CUT_BLOCKS)


def test_at_most_five_sessions_may_be_pending(router: EosRouter) -> None:
    for n in range(5):
        ok(router, f"configure session p{n}", "end")
    assert "Maximum number" in run(router, "configure session p5")["error"]["data"][-1]["errors"][0]


def test_show_commands_answer_the_json_napalm_parses(router: EosRouter) -> None:
    version, hostname, interfaces, ipv4, ipv6 = ok(
        router,
        "show version",
        "show hostname",
        "show interfaces",
        "show ip interface",
        "show ipv6 interface",
    )
    assert version["version"] == "4.30.1F" and "bootupTimestamp" in version
    assert hostname == {"hostname": "R1", "fqdn": "R1"}
    assert interfaces["interfaces"]["Ethernet2"]["description"] == "venue access"
    primary = ipv4["interfaces"]["Ethernet1"]["interfaceAddress"]["primaryIp"]
    assert primary == {"address": "100.64.0.1", "maskLen": 30}
    assert "Ethernet3" not in ipv4["interfaces"], "a switchport without an address"
    assert ipv6["interfaces"]["Ethernet2"]["addresses"][0]["subnet"] == "2001:db8:1::/48"
    bare = EosRouter("R2", ["Ethernet1"])
    assert "No IPv6 configured interfaces" in str(run(bare, "show ipv6 interface")["error"])


def test_build_applies_the_spec_and_saves_it() -> None:
    spec = DeviceSpec("R9", platform="arista_eos", config=tuple(TWIN.base_config("100.64.0.9")))
    router = spec.build_router()
    assert spec.interfaces == ("Ethernet1", "Ethernet2")
    assert " ip access-group MGMT-ACCESS in" in router.running_config()
    assert "ip access-group MGMT-ACCESS in" in router.startup_config


def test_a_bad_start_up_line_names_the_device() -> None:
    with pytest.raises(ValueError, match="R9"):
        DeviceSpec("R9", platform="arista_eos", config=("interface Ethernet7",)).build_router()


# ------------------------------------------------------------------------------ over HTTP


@pytest.fixture
def lab() -> Iterator[Lab]:
    spec = DeviceSpec(
        "R1",
        platform="arista_eos",
        interfaces=("Ethernet1", "Ethernet2", "Ethernet3"),
        config=(*TWIN.base_config("100.64.0.1"), *VENUE),
    )
    with Lab([spec]) as running:
        yield running


def napalm_device(lab: Lab, name: str = "R1", password: str = "lab-password") -> Any:
    return napalm.get_network_driver("eos")(
        "127.0.0.1",
        "curfew",
        password,
        timeout=5,
        optional_args={"transport": "http", "port": lab.port(name)},
    )


def test_unmodified_napalm_runs_the_whole_transactional_cycle(lab: Lab) -> None:
    router = lab.router("R1")
    device = napalm_device(lab)
    device.open()
    try:
        assert device.get_facts()["interface_list"] == ["Ethernet1", "Ethernet2", "Ethernet3"]
        assert device.get_interfaces_ip()["Ethernet2"]["ipv6"]["2001:db8:1::1"] == {
            "prefix_length": 48
        }
        device.load_merge_candidate(config="\n".join(CUT))
        diff = device.compare_config()
        assert diff.startswith("@@ ") and "+   ip access-group CURFEW-L42 in" in diff
        device.commit_config(revert_in=60)
        assert device.has_pending_commit()
        device.confirm_commit()
        assert all(block in router.running_config() for block in CUT_BLOCKS)
        assert all(block in router.startup_config for block in CUT_BLOCKS), "write memory"
        assert not device.has_pending_commit()
    finally:
        device.close()


def test_napalm_close_reverts_an_unconfirmed_commit(lab: Lab) -> None:
    router = lab.router("R1")
    before = router.running_config()
    device = napalm_device(lab)
    device.open()
    device.load_merge_candidate(config="\n".join(CUT))
    device.commit_config(revert_in=60)
    assert CUT_BLOCKS[1] in router.running_config()
    device.close()
    assert router.running_config() == before


def test_napalm_rollback_after_a_plain_commit_uses_the_rollback_file(lab: Lab) -> None:
    router = lab.router("R1")
    before = router.running_config()
    device = napalm_device(lab)
    device.open()
    try:
        device.load_merge_candidate(config="\n".join(CUT))
        device.commit_config()
        assert CUT_BLOCKS[1] in router.running_config()
        device.rollback()
        assert router.running_config() == before
    finally:
        device.close()


def pyeapi_node(lab: Lab, password: str = "lab-password") -> Any:
    return pyeapi.connect(
        transport="http",
        host="127.0.0.1",
        port=lab.port("R1"),
        username="curfew",
        password=password,
        timeout=5,
        return_node=True,
    )


def test_wrong_password_and_auth_fail_answer_401(lab: Lab) -> None:
    with pytest.raises(pyeapi.eapilib.ConnectionError, match="Unauthorized"):
        pyeapi_node(lab, password="wrong").run_commands(["show version"])
    lab.set_fault("R1", auth_fail=True)
    with pytest.raises(pyeapi.eapilib.ConnectionError, match="Unauthorized"):
        pyeapi_node(lab).run_commands(["show version"])
    lab.set_fault("R1", auth_fail=False)
    assert pyeapi_node(lab).run_commands(["show hostname"])[0]["hostname"] == "R1"


def test_reject_answers_eos_invalid_input_for_matching_config_lines(lab: Lab) -> None:
    lab.set_fault("R1", reject=(r"^ntp server",))
    with pytest.raises(pyeapi.eapilib.CommandError, match="invalid command") as caught:
        pyeapi_node(lab).config(["logging host 192.0.2.9", "ntp server 192.0.2.9"])
    assert caught.value.output[-1] == {"errors": ["Invalid input (at token 0: 'ntp')"]}
    assert pyeapi_node(lab).run_commands(["show hostname"]), "show commands still answer"


def test_drop_after_runs_the_kth_request_unanswered_then_answers_nothing(lab: Lab) -> None:
    router = lab.router("R1")
    lab.set_fault("R1", drop_after=2)
    node = pyeapi_node(lab)
    node.run_commands(["show hostname"])
    with pytest.raises(pyeapi.eapilib.ConnectionError, match="Remote end closed"):
        node.config(["ntp server 192.0.2.77"])
    assert "ntp server 192.0.2.77" in router.running_config(), "the k-th ran"
    with pytest.raises(pyeapi.eapilib.ConnectionError):
        node.config(["ntp server 192.0.2.78"])
    assert "192.0.2.78" not in router.running_config(), "later ones are not run"
    lab.set_fault("R1", drop_after=None)
    assert node.run_commands(["show hostname"])


def test_latency_delays_every_answer(lab: Lab) -> None:
    lab.set_fault("R1", latency_ms=200)
    started = time.perf_counter()
    pyeapi_node(lab).run_commands(["show hostname"])
    assert time.perf_counter() - started >= 0.2


def test_refused_connections_until_cleared(lab: Lab) -> None:
    port = lab.port("R1")
    lab.set_fault("R1", refuse_connections=True)
    with pytest.raises(pyeapi.eapilib.ConnectionError, match="refused"):
        pyeapi_node(lab).run_commands(["show hostname"])
    lab.set_fault("R1", refuse_connections=False)
    assert lab.port("R1") == port
    assert pyeapi_node(lab).run_commands(["show hostname"])


# ------------------------------------------------------------------------------ the driver


def driver(lab: Lab, name: str = "R1", **extra: str) -> AristaEosDriver:
    credentials = Credentials(
        "127.0.0.1", lab.port(name), "curfew", "lab-password", timeout=5, extra=extra
    )
    return AristaEosDriver(name, credentials)


@pytest.mark.parametrize("commit", ["", "configure session curfew_dead commit timer 00:05:00"])
def test_our_own_session_left_by_a_crashed_pass_is_aborted_first(lab: Lab, commit: str) -> None:
    router = lab.router("R1")
    before = router.running_config()
    pyeapi_node(lab).run_commands(
        ["configure session curfew_dead", "ntp server 192.0.2.66", "end", *filter(None, [commit])]
    )

    result = driver(lab).apply(Batch(cuts=(L42,)))

    assert result.ok, result
    assert "curfew_dead" not in router.sessions
    assert "192.0.2.66" not in router.running_config(), "its unconfirmed commit reverted"
    assert driver(lab).apply(Batch(restores=(L42,))).ok
    assert router.running_config() == before


def test_another_clients_pending_session_is_session_locked_without_waiting(lab: Lab) -> None:
    pyeapi_node(lab).run_commands(["configure session ops-change", "ntp server 192.0.2.1", "end"])

    started = time.perf_counter()
    result = driver(lab).apply(Batch(cuts=(L42,)))

    assert isinstance(result.error, SessionLocked) and result.error.retryable
    assert "ops-change" in str(result.error)
    assert time.perf_counter() - started < 6, "not napalm's 10 s lock wait"
    assert all(o.state_after is LineState.UNKNOWN for o in result.outcomes)
    assert "CURFEW" not in lab.router("R1").running_config()


def test_a_read_back_that_does_not_verify_is_rolled_back(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = lab.router("R1")
    before = router.running_config()
    real = eos_driver.parse_running_config
    reads: list[int] = []

    def losing_line_42_after_the_commit(text: str) -> eos_driver.ParsedConfig:
        parsed = real(text)
        reads.append(1)
        if len(reads) == 2:  # the read-back between commit and confirm
            parsed.pop(42, None)
        return parsed

    monkeypatch.setattr(eos_driver, "parse_running_config", losing_line_42_after_the_commit)
    result = driver(lab).apply(Batch(cuts=(L42,)))

    assert isinstance(result.error, VerifyFailed), result.error
    found = result.outcomes[0]
    assert (found.verified, found.state_after) == (False, LineState.OPEN)
    assert found.error is not None and found.error.startswith("VerifyFailed")
    assert result.commands[-1].endswith(" abort")
    assert router.running_config() == before
    assert router.sessions == {}


def test_a_commit_timer_run_out_before_confirmation_is_a_timeout(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = lab.router("R1")
    before = router.running_config()
    real = eos_driver.parse_running_config
    reads: list[int] = []

    def slow_read_back(text: str) -> eos_driver.ParsedConfig:
        reads.append(1)
        if len(reads) == 2:
            router.advance(61)  # the switch's clock runs out while we read
        return real(text)

    monkeypatch.setattr(eos_driver, "parse_running_config", slow_read_back)
    result = driver(lab).apply(Batch(cuts=(L42,)))

    assert isinstance(result.error, Timeout) and result.error.retryable
    assert result.outcomes[0].state_after is LineState.OPEN
    assert router.running_config() == before


def test_diff_is_the_switchs_session_diff_and_leaves_nothing_behind(lab: Lab) -> None:
    router = lab.router("R1")
    before = router.running_config()
    with driver(lab) as switch:
        diff = switch.diff(Batch(cuts=(L42,)))
        assert switch.diff(Batch(restores=(L42,))) == ""
    assert diff.startswith("@@ ")
    added = [line[1:] for line in diff.splitlines() if line.startswith("+")]
    assert "   ip access-group CURFEW-L42 in" in added and "ip access-list CURFEW-L42" in added
    assert router.running_config() == before and router.sessions == {}


def test_a_cut_sends_one_session_and_is_saved_after_confirmation(lab: Lab) -> None:
    router = lab.router("R1")
    result = driver(lab, revert_in="30").apply(Batch(cuts=(L42,)))
    assert result.ok
    session = result.commands[0].removeprefix("configure session ")
    assert result.commands == (
        f"configure session {session}",
        *CUT,
        "end",
        f"configure session {session} commit timer 00:00:30",
        f"configure session {session} commit",
    )
    assert result.device_output.startswith("@@ ")
    assert all(block in router.startup_config for block in CUT_BLOCKS)


def test_facts_report_ports_addresses_and_static_routes(lab: Lab) -> None:
    pyeapi_node(lab).config(["ip route 10.9.0.0/16 100.64.0.2", "ip route 192.0.2.0/25 Ethernet2"])
    facts = driver(lab).facts()
    assert facts.interfaces["Ethernet2"] == (
        ip_interface("198.18.1.1/24"),
        ip_interface("2001:db8:1::1/48"),
    )
    assert facts.interfaces["Ethernet3"] == ()
    assert facts.routes == {
        ip_network("10.9.0.0/16"): "Ethernet1",
        ip_network("192.0.2.0/25"): "Ethernet2",
    }
    assert facts.routed_via(ip_network("198.18.1.0/24")) == {"Ethernet2"}


def test_facts_refuse_a_switch_answering_as_another_host(lab: Lab) -> None:
    with pytest.raises(WrongDevice, match="'R1'"):
        AristaEosDriver(
            "R7", Credentials("127.0.0.1", lab.port("R1"), "curfew", "lab-password")
        ).facts()


def test_a_mixed_city_runs_ios_and_eos_side_by_side() -> None:
    specs, inventory = city(3, 4, platforms=("cisco_ios", "arista_eos"))
    assert [s.platform for s in specs] == ["cisco_ios", "arista_eos", "cisco_ios"]
    eos_lines = [line for line in inventory["lines"] if line["device"] == "R2"]
    assert [line["interface"] for line in eos_lines] == [f"Ethernet{k}" for k in range(2, 6)]
    with Lab(specs) as lab:
        line = eos_lines[0]
        target = LineTarget(5, line["interface"], tuple(ip_network(p) for p in line["prefixes"]))
        result = driver(lab, "R2").apply(Batch(cuts=(target,)))
        assert result.ok, result
        config = lab.router("R2").running_config()
        assert "   ip access-group MGMT-ACCESS in" in config
        assert "   ip access-group CURFEW-L5 in" in config
        assert "description line R2-L1" in config


def test_a_refused_line_is_left_out_and_the_rest_loaded_again_in_a_new_session(lab: Lab) -> None:
    router = lab.router("R1")
    lab.set_fault("R1", reject=(r"^ipv6 access-group CURFEW6-L42 out",))
    l43 = LineTarget(43, "Ethernet3", (ip_network("198.18.2.0/24"),))

    result = driver(lab).apply(Batch(cuts=(L42, l43)))

    sessions = [c for c in result.commands if c.startswith("configure session ")]
    first, second = (c.split()[2] for c in sessions if len(c.split()) == 3)
    assert sessions == [
        f"configure session {first}",
        f"configure session {first} abort",
        f"configure session {second}",
        f"configure session {second} commit timer 00:01:00",
        f"configure session {second} commit",
    ]
    assert result.commands.count("ipv6 access-group CURFEW6-L42 out") == 1, "sent once, refused"
    assert [o.verified for o in result.outcomes] == [False, True]
    assert "Invalid input" in result.device_output
    config = router.running_config()
    assert "CURFEW-L43" in config and "CURFEW-L42" not in config
    assert router.sessions.keys() == {second}, "only the committed session is remembered"
