"""The simulated Huawei VRP router: views, parsing, errors and questions as a state machine, then
over SSH with netmiko's real `huawei` driver, in a mixed city, and against the product driver."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from netmiko import ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException

from drivers.base import Batch, Credentials, LineState, LineTarget
from drivers.huawei_vrp import HuaweiVrpDriver
from drivers.registry import driver_for
from lab.huawei_vrp import (
    CHOOSE_YES_OR_NO,
    CTRL_Z,
    INCOMPLETE,
    SYSTEM_VIEW_BANNER,
    TOO_MANY,
    UNRECOGNIZED,
    WRONG_PARAMETER,
    View,
    VrpRouter,
    VrpSession,
)
from lab.platforms import TWINS
from lab.topology import DeviceSpec, Lab, city

PORTS = ("GigabitEthernet0/0/0", "GigabitEthernet0/0/1", "GigabitEthernet0/0/2")
VENUE = (
    "interface GigabitEthernet0/0/1",
    " description venue access",
    " ip address 198.18.1.1 255.255.255.0",
    " ipv6 enable",
    " ipv6 address 2001:db8:1::1/48",
    " quit",
)
# VENDORS.md's cut of line 42, with named ACLs
CUT = [
    "acl name CURFEW-L42 advance",
    " rule 5 deny ip source 198.18.1.0 0.0.0.255",
    " rule 10 deny ip destination 198.18.1.0 0.0.0.255",
    " quit",
    "acl ipv6 name CURFEW6-L42 advance",
    " rule 5 deny ipv6 source 2001:db8:1::/48",
    " rule 10 deny ipv6 destination 2001:db8:1::/48",
    " quit",
    "interface GigabitEthernet0/0/1",
    " traffic-filter inbound acl name CURFEW-L42",
    " traffic-filter outbound acl name CURFEW-L42",
    " traffic-filter inbound acl ipv6 name CURFEW6-L42",
    " traffic-filter outbound acl ipv6 name CURFEW6-L42",
    " quit",
]
CUT_BLOCKS = (
    "acl name CURFEW-L42 3999\n"
    " rule 5 deny ip source 198.18.1.0 0.0.0.255\n"
    " rule 10 deny ip destination 198.18.1.0 0.0.0.255\n"
    "#\n"
    "acl ipv6 name CURFEW6-L42 3999\n"
    " rule 5 deny ipv6 source 2001:DB8:1::/48\n"
    " rule 10 deny ipv6 destination 2001:DB8:1::/48\n"
    "#\n",
    "interface GigabitEthernet0/0/1\n"
    " description venue access\n"
    " ipv6 enable\n"
    " ip address 198.18.1.1 255.255.255.0\n"
    " ipv6 address 2001:DB8:1::1/48\n"
    " traffic-filter inbound acl name CURFEW-L42\n"
    " traffic-filter outbound acl name CURFEW-L42\n"
    " traffic-filter inbound acl ipv6 name CURFEW6-L42\n"
    " traffic-filter outbound acl ipv6 name CURFEW6-L42\n"
    "#\n",
)


@pytest.fixture
def router() -> VrpRouter:
    r = VrpRouter("R1", PORTS, "curfew")
    r.configure(VENUE)
    return r


def system_view(router: VrpRouter) -> VrpSession:
    session = router.open_session()
    assert session.execute("system-view").output == SYSTEM_VIEW_BANNER + "\n"
    return session


def run(session: VrpSession, lines: list[str]) -> str:
    return "".join(session.execute(line).output for line in lines)


# ------------------------------------------------------------------------------ views


def test_prompts_follow_the_views_and_quit_climbs_back(router: VrpRouter) -> None:
    s = router.open_session()
    assert s.prompt == "<R1>" and not s.in_config
    steps = [
        ("sys", "[R1]"),
        ("int g0/0/1", "[R1-GigabitEthernet0/0/1]"),
        ("acl name CURFEW-L42 advance", "[R1-acl-adv-CURFEW-L42]"),
        ("quit", "[R1]"),
        ("acl ipv6 name CURFEW6-L42 advance", "[R1-acl6-adv-CURFEW6-L42]"),
        ("acl 3000", "[R1-acl-adv-3000]"),
        ("acl number 2000", "[R1-acl-basic-2000]"),
        ("interface GigabitEthernet 0/0/2", "[R1-GigabitEthernet0/0/2]"),
        ("return", "<R1>"),
        ("system-view", "[R1]"),
        (CTRL_Z, "<R1>"),
    ]
    for line, prompt in steps:
        assert s.execute(line).prompt == prompt, line
    assert s.execute("quit").close


def test_the_vendor_cut_prints_in_vrp_format(router: VrpRouter) -> None:
    before = router.running_config()
    s = system_view(router)

    assert run(s, CUT) == ""

    config = router.running_config()
    assert all(block in config for block in CUT_BLOCKS)
    assert config.startswith("!Software Version") and config.endswith("#\nreturn\n")
    restore = [
        "interface GigabitEthernet0/0/1",
        "undo traffic-filter inbound acl name CURFEW-L42",
        "undo traffic-filter outbound acl name CURFEW-L42",
        "undo traffic-filter inbound acl ipv6 name CURFEW6-L42",
        "undo traffic-filter outbound acl ipv6 name CURFEW6-L42",
        "quit",
        "undo acl name CURFEW-L42",
        "undo acl ipv6 name CURFEW6-L42",
    ]
    assert run(s, restore) == ""
    assert router.running_config() == before


def test_named_acls_take_the_highest_free_number(router: VrpRouter) -> None:
    s = system_view(router)
    run(s, ["acl number 3999", "quit", "acl name A advance", "quit", "acl name B 3500", "quit"])
    run(s, ["acl name C advance", "quit", "acl ipv6 name D advance", "quit"])

    config = router.running_config()
    assert "acl name A 3998\n" in config and "acl name B 3500\n" in config
    assert "acl name C 3997\n" in config and "acl ipv6 name D 3999\n" in config
    assert run(s, ["acl name E 3998"]) == "Error: The ACL number has been used by another ACL.\n"
    assert s.prompt == "[R1]"


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("line", "message", "column"),
    [
        ("Vlanif 30", UNRECOGNIZED, 4),
        ("interface GigabitEthernet0/0/9", WRONG_PARAMETER, 14),
        ("acl name X 5000", WRONG_PARAMETER, 15),
        ("interface", INCOMPLETE, 14),
        ("sysname A B", TOO_MANY, 14),
        ("ip route-static 10.0.0.0 24 10.0.0.300", WRONG_PARAMETER, 32),
        ("undo save", UNRECOGNIZED, 9),
    ],
)
def test_malformed_lines_get_vrp_errors_under_a_caret_and_change_nothing(
    router: VrpRouter, line: str, message: str, column: int
) -> None:
    s = system_view(router)
    before = router.running_config()

    reply = s.execute(line)

    assert reply.output == " " * column + "^\n" + message + "\n"
    assert reply.prompt == "[R1]" and router.running_config() == before


def test_bad_values_inside_sub_views_are_wrong_parameters(router: VrpRouter) -> None:
    s = system_view(router)
    s.execute("acl name CURFEW-L42 advance")
    prompt = "[R1-acl-adv-CURFEW-L42]"

    reply = s.execute("rule 5 deny ip source 198.18.1.300 0.0.0.255")
    assert reply.output == " " * (len(prompt) + 22) + "^\n" + WRONG_PARAMETER + "\n"
    reply = s.execute("rule 5 deny ipv6 source 2001:db8::/32")
    assert reply.output.endswith(UNRECOGNIZED + "\n")
    assert router.acls[4]["CURFEW-L42"].rules == {}


def test_ipv6_addresses_need_ipv6_enabled_first(router: VrpRouter) -> None:
    s = system_view(router)
    s.execute("interface GigabitEthernet0/0/2")
    assert s.execute("ipv6 address 2001:db8:2::1/64").output.startswith("Error: Please enable")
    run(s, ["ipv6 enable", "ipv6 address 2001:db8:2::1 64"])
    assert " ipv6 address 2001:DB8:2::1/64" in router.running_config()


def test_configure_raises_on_a_refused_line() -> None:
    r = VrpRouter("R1", PORTS)
    with pytest.raises(ValueError, match="rejected"):
        r.configure(["interface GigabitEthernet0/0/7"])


# ------------------------------------------------------------------------------ filters


def test_one_filter_per_family_and_direction_the_latest_replaces(router: VrpRouter) -> None:
    s = system_view(router)
    run(s, CUT)
    run(s, ["acl name MGMT advance", "quit", "interface GigabitEthernet0/0/1"])

    assert s.execute("traffic-filter inbound acl name MISSING").output == (
        "Error: The ACL does not exist.\n"
    )
    assert s.execute("traffic-filter inbound acl name MGMT").output == ""
    config = router.running_config()
    assert " traffic-filter inbound acl name MGMT\n" in config
    assert " traffic-filter inbound acl name CURFEW-L42\n" not in config

    # the undo names the ACL: it never removes another one
    assert s.execute("undo traffic-filter inbound acl name CURFEW-L42").output.startswith("Error:")
    assert " traffic-filter inbound acl name MGMT\n" in router.running_config()


def test_deleting_a_bound_acl_asks_and_leaves_the_binding_behind(router: VrpRouter) -> None:
    s = system_view(router)
    run(s, CUT)

    asked = s.execute("undo acl name CURFEW-L42")
    assert asked.output.endswith("Continue? [Y/N]:") and asked.prompt == ""
    assert not s.in_config, "an answer is not a config line"
    assert s.execute("quit") == type(asked)(CHOOSE_YES_OR_NO, "")
    assert s.execute("n").prompt == "[R1]"
    assert "acl name CURFEW-L42 3999" in router.running_config()

    s.execute("undo acl name CURFEW-L42")
    assert s.execute("Y").prompt == "[R1]"
    config = router.running_config()
    assert "\nacl name CURFEW-L42 " not in config
    assert " traffic-filter inbound acl name CURFEW-L42\n" in config
    # an unbound ACL goes without a question
    assert s.execute("undo acl ipv6 name CURFEW6-L42").output.startswith("Warning")
    s.execute("y")
    run(s, ["acl name LONE advance", "quit"])
    assert s.execute("undo acl name LONE") == type(asked)("", "[R1]")


def test_rules_number_by_five_refuse_duplicates_and_merge_into_an_existing_id(
    router: VrpRouter,
) -> None:
    s = system_view(router)
    s.execute("acl 3001")
    run(s, ["rule deny ip source 10.0.0.0 0.255.255.255", "rule permit ip"])
    assert s.execute("rule 20 deny ip source 10.0.0.0 0.255.255.255").output == (
        "Error: The rule already exists.\n"
    )
    run(s, ["rule 5 deny ip destination 192.0.2.1 0"])
    run(s, ["rule 1 permit icmp source 10.1.1.1 0.0.0.255 destination any"])
    config = router.running_config()
    assert (
        "acl number 3001\n"
        " rule 1 permit icmp source 10.1.1.0 0.0.0.255\n"
        " rule 5 deny ip source 10.0.0.0 0.255.255.255 destination 192.0.2.1 0\n"
        " rule 10 permit ip\n#\n"
    ) in config
    run(s, ["undo rule 10", "undo rule permit icmp source 10.1.1.0 0.0.0.255"])
    assert list(router.acls[4]["3001"].rules) == [5]
    assert s.execute("undo rule 99").output == "Error: The rule does not exist.\n"


def test_a_system_view_command_runs_from_a_sub_view(router: VrpRouter) -> None:
    s = system_view(router)
    s.execute("interface GigabitEthernet0/0/1")
    s.execute("sysname EDGE-1")
    assert s.prompt == "[EDGE-1-GigabitEthernet0/0/1]"
    s.execute("acl name X advance")
    assert s.prompt == "[EDGE-1-acl-adv-X]"
    s.execute("interface GigabitEthernet0/0/2")
    assert s.prompt == "[EDGE-1-GigabitEthernet0/0/2]"


# ------------------------------------------------------------------------------ display


def test_display_commands_show_what_vrp_shows(router: VrpRouter) -> None:
    s = router.open_session()
    system = system_view(router)
    run(system, [*CUT, "ip route-static 198.18.9.0 24 GigabitEthernet0/0/2 198.18.1.2"])

    brief = s.execute("display ip interface brief").output
    assert "GigabitEthernet0/0/1              198.18.1.1/24        up         up" in brief
    assert "GigabitEthernet0/0/2              unassigned" in brief
    assert s.execute("dis cu | include traffic-filter outbound").output == (
        " traffic-filter outbound acl name CURFEW-L42\n"
        " traffic-filter outbound acl ipv6 name CURFEW6-L42\n"
    )
    assert s.execute("display current-configuration interface g0/0/1").output == (
        "#\n" + CUT_BLOCKS[1] + "return\n"
    )
    assert "ip route-static 198.18.9.0 255.255.255.0 GigabitEthernet0/0/2 198.18.1.2\n" in (
        router.running_config()
    )
    system.execute("acl name CURFEW-L42")
    assert system.execute("display this").output.startswith("#\nacl name CURFEW-L42 3999\n")
    assert "VRP (R) software" in s.execute("display version").output


def test_save_asks_then_writes_the_startup_config(router: VrpRouter) -> None:
    s = router.open_session()
    assert s.execute("save").output.endswith("[Y/N]")
    assert s.execute("n").prompt == "<R1>" and router.startup_config == ""
    s.execute("save")
    assert "successfully" in s.execute("y").output
    assert router.startup_config == router.running_config()


def test_a_reject_fault_answers_unrecognized_without_running_the_line(router: VrpRouter) -> None:
    s = system_view(router)
    reply = s.reject("  acl name CURFEW-L42 advance")
    assert reply.output == " " * (len("[R1]") + 2) + "^\n" + UNRECOGNIZED + "\n"
    assert router.acls[4] == {} and s.prompt == "[R1]"


# ------------------------------------------------------------------------------ over SSH


def _connection(lab: Lab, name: str = "R1") -> dict[str, object]:
    params = {**lab.connection(name), "device_type": "huawei", "fast_cli": True}
    params.pop("secret")
    return params


@pytest.mark.lab
def test_netmiko_huawei_logs_in_pages_off_configures_and_reads_back() -> None:
    with Lab([DeviceSpec("R1", platform="huawei_vrp", interfaces=PORTS, config=VENUE)]) as lab:
        with ConnectHandler(**_connection(lab)) as session:
            assert session.base_prompt == "R1"
            session.send_command("system-view", expect_string=r"\]$")
            for line in CUT:
                assert "Error" not in session.send_command(line, expect_string=r"\]$")
            session.send_command("return", expect_string=r">$")
            config = session.send_command("display current-configuration", read_timeout=5)
            session.check_config_mode = lambda *args, **kwargs: False
        assert all(block in config for block in CUT_BLOCKS)
        assert config == lab.router("R1").running_config().rstrip("\n")


@pytest.mark.lab
def test_ssh_faults_refuse_logins_and_reject_matching_config_lines() -> None:
    spec = DeviceSpec("R1", platform="huawei_vrp", interfaces=PORTS, reject=(r"^traffic-filter",))
    with Lab([spec]) as lab:
        with ConnectHandler(**_connection(lab)) as session:
            session.send_command("system-view", expect_string=r"\]$")
            session.send_command("interface GigabitEthernet0/0/1", expect_string=r"\]$")
            answer = session.send_command("traffic-filter inbound acl 3000", expect_string=r"\]$")
            session.send_command("return", expect_string=r">$")
            session.check_config_mode = lambda *args, **kwargs: False
        assert UNRECOGNIZED in answer
        assert lab.router("R1").interfaces["GigabitEthernet0/0/1"].filters == {}
        lab.set_fault("R1", auth_fail=True)
        with pytest.raises(NetmikoAuthenticationException):
            ConnectHandler(**_connection(lab))


@pytest.mark.lab
def test_a_mixed_city_runs_both_platforms_with_their_foreign_config() -> None:
    specs, inventory = city(3, 4, platforms=("cisco_ios", "huawei_vrp"))
    assert [s.platform for s in specs] == ["cisco_ios", "huawei_vrp", "cisco_ios"]
    assert TWINS["huawei_vrp"].netmiko_device_type == "huawei"
    with Lab(specs) as lab:
        spec = lab.specs[1]
        before = lab.router("R2").running_config()
        assert " traffic-filter inbound acl 3000" in before and "ntp-service" in before
        lines = [row for row in inventory["lines"] if row["device"] == "R2"]
        targets = tuple(
            LineTarget(n, row["interface"], tuple(ip_network(p) for p in row["prefixes"]))
            for n, row in enumerate(lines, 1)
        )
        credentials = Credentials(
            lab.host, spec.port, spec.username, spec.password, host_key=spec.host_key
        )
        with driver_for("huawei_vrp")("R2", credentials) as driver:
            facts = driver.facts()  # type: ignore[attr-defined]
            cut = driver.apply(Batch(cuts=targets))
            restored = driver.apply(Batch(restores=targets))
    for target in targets:
        assert target.interface in facts.interfaces
        assert all(target.interface in facts.routed_via(p) for p in target.prefixes)
    assert cut.ok and restored.ok
    assert lab.router("R2").running_config() == before


@pytest.mark.lab
def test_the_driver_answers_yes_when_an_acl_it_deletes_is_still_bound_elsewhere() -> None:
    """An operator binds line 42's ACL on another port between the driver's read and its push:
    VRP asks before deleting it, the lines the question swallowed are sent again, and the
    dangling binding is seen by read-back and removed by the next pass."""
    l42 = LineTarget(
        42, "GigabitEthernet0/0/1", (ip_network("198.18.1.0/24"), ip_network("2001:db8:1::/48"))
    )
    with Lab([DeviceSpec("R1", platform="huawei_vrp", interfaces=PORTS, config=VENUE)]) as lab:
        spec = lab.specs[0]
        credentials = Credentials(
            lab.host, spec.port, "curfew", spec.password, host_key=spec.host_key
        )
        driver = HuaweiVrpDriver("R1", credentials)
        with driver:
            assert driver.apply(Batch(cuts=(l42,))).ok
            read = driver._read_config
            raced = []

            def read_then_race():  # type: ignore[no-untyped-def]
                config = read()
                if not raced:
                    raced.append(True)
                    lab.router("R1").configure(
                        [
                            "interface GigabitEthernet0/0/2",
                            " traffic-filter inbound acl name CURFEW-L42",
                        ]
                    )
                return config

            driver._read_config = read_then_race  # type: ignore[method-assign]
            first = driver.apply(Batch(restores=(l42,)))
            second = driver.apply(Batch(restores=(l42,)))

    assert "Continue? [Y/N]:" in first.device_output and "Y" in first.commands
    assert first.commands.count("undo acl ipv6 name CURFEW6-L42") == 1, "sent again, once run"
    assert first.error is None, "a swallowed line is not a rejection"
    assert first.outcomes[0].state_after is LineState.UNKNOWN and not first.ok
    assert second.ok and second.outcomes[0].state_after is LineState.OPEN
    assert "\nacl name CURFEW" not in lab.router("R1").running_config()
    assert "traffic-filter" not in lab.router("R1").running_config()


@pytest.mark.lab
def test_the_twin_is_registered_and_names_its_interfaces_as_vrp_prints_them() -> None:
    twin = TWINS["huawei_vrp"]
    assert twin.uplink == "GigabitEthernet0/0/0" and twin.venue_interface(7) == (
        "GigabitEthernet0/0/7"
    )
    router = twin.build(DeviceSpec("R9", platform="huawei_vrp"))
    assert isinstance(router, VrpRouter) and router.console.view is View.USER
