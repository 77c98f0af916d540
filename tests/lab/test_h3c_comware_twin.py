"""The simulated Comware 7 router: views, parsing and display as a state machine, then over SSH
with netmiko's hp_comware, in a mixed city, and read by the driver's facts()."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv6Interface, ip_network

import pytest
from netmiko import ConnectHandler

from drivers.base import Batch, Credentials, LineState, LineTarget
from drivers.h3c_comware import H3cComwareDriver
from lab.h3c_comware import (
    CTRL_Z,
    INCOMPLETE,
    SYSTEM_VIEW_BANNER,
    TOO_MANY,
    UNRECOGNIZED,
    WRONG_PARAMETER,
    CliSession,
    ComwareRouter,
    View,
)
from lab.topology import DeviceSpec, Lab, city

PORTS = ["Ten-GigabitEthernet1/0/49", "GigabitEthernet1/0/1", "GigabitEthernet1/0/2"]

CUT = [
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

CUT_BLOCKS = (
    "interface GigabitEthernet1/0/1\n"
    " description venue access\n"
    " ip address 198.18.1.1 255.255.255.0\n"
    " ipv6 address 2001:DB8:1::1/48\n"
    " packet-filter name CURFEW-L42 inbound\n"
    " packet-filter name CURFEW-L42 outbound\n"
    " packet-filter ipv6 name CURFEW6-L42 inbound\n"
    " packet-filter ipv6 name CURFEW6-L42 outbound\n"
    "#\n",
    "acl advanced name CURFEW-L42\n"
    " rule 5 deny ip source 198.18.1.0 0.0.0.255\n"
    " rule 10 deny ip destination 198.18.1.0 0.0.0.255\n"
    " rule 15 permit ip\n"
    "#\n",
    "acl ipv6 advanced name CURFEW6-L42\n"
    " rule 5 deny ipv6 source 2001:DB8:1::/48\n"
    " rule 10 deny ipv6 destination 2001:DB8:1::/48\n"
    " rule 15 permit ipv6\n"
    "#\n",
)


@pytest.fixture
def router() -> ComwareRouter:
    r = ComwareRouter("R1", PORTS)
    r.configure(
        [
            "interface GigabitEthernet1/0/1",
            " description venue access",
            " ip address 198.18.1.1 255.255.255.0",
            " ipv6 address 2001:db8:1::1/48",
        ]
    )
    return r


def system(router: ComwareRouter) -> CliSession:
    session = router.open_session()
    assert session.execute("system-view").output == SYSTEM_VIEW_BANNER + "\n"
    return session


def run(session: CliSession, lines: list[str]) -> str:
    return "".join(session.execute(line).output for line in lines)


# ------------------------------------------------------------------------------ views


def test_prompts_follow_the_view(router: ComwareRouter) -> None:
    s = router.open_session()
    assert s.prompt == "<R1>" and not s.in_config
    assert s.execute("system-view").prompt == "[R1]"
    assert s.execute("acl advanced name CURFEW-L42").prompt == "[R1-acl-ipv4-adv-CURFEW-L42]"
    assert s.execute("quit").prompt == "[R1]"
    assert s.execute("acl ipv6 advanced 3001").prompt == "[R1-acl-ipv6-adv-3001]"
    assert s.execute("quit").prompt == "[R1]"
    assert s.execute("acl basic 2000").prompt == "[R1-acl-ipv4-basic-2000]"
    assert s.execute("return").prompt == "<R1>"
    s.execute("sys")
    assert s.execute("interface ten 1/0/49").prompt == "[R1-Ten-GigabitEthernet1/0/49]"
    assert s.execute(CTRL_Z).prompt == "<R1>"


def test_quit_climbs_one_view_and_closes_the_session_from_user_view(
    router: ComwareRouter,
) -> None:
    s = system(router)
    s.execute("interface GigabitEthernet1/0/1")
    assert s.execute("quit").prompt == "[R1]"
    assert s.execute("quit").prompt == "<R1>"
    assert s.execute("quit").close


def test_return_is_unknown_in_user_view_and_system_view_is_unknown_in_system_view(
    router: ComwareRouter,
) -> None:
    s = router.open_session()
    assert UNRECOGNIZED in s.execute("return").output
    s.execute("system-view")
    assert UNRECOGNIZED in s.execute("system-view").output
    assert s.view is View.SYSTEM


def test_an_error_carets_the_offending_word_under_the_prompt(router: ComwareRouter) -> None:
    s = system(router)
    reply = s.execute("interface GigabitEthernet1/0/1 extra")
    caret, message = reply.output.splitlines()
    assert caret == " " * len("[R1]interface GigabitEthernet1/0/1 ") + "^"
    assert message == f" {TOO_MANY}"


def test_sessions_share_state_but_not_view(router: ComwareRouter) -> None:
    one, two = system(router), router.open_session()
    run(one, CUT)
    assert two.view is View.USER
    assert "acl advanced name CURFEW-L42" in two.execute("display current-configuration").output


# ------------------------------------------------------------------------------ configuration


def test_cut_renders_exactly_in_comware_current_configuration_format(
    router: ComwareRouter,
) -> None:
    assert run(system(router), CUT) == ""
    config = router.running_config()
    for block in CUT_BLOCKS:
        assert block in config
    assert config.startswith("#\n version 7.1") and config.endswith("#\nreturn\n")


def test_undo_forms_restore_the_configuration_as_it_was(router: ComwareRouter) -> None:
    before = router.running_config()
    s = system(router)
    run(s, CUT)
    output = run(
        s,
        [
            "interface GigabitEthernet1/0/1",
            "undo packet-filter name CURFEW-L42 inbound",
            "undo packet-filter name CURFEW-L42 outbound",
            "undo packet-filter ipv6 name CURFEW6-L42 inbound",
            "undo packet-filter ipv6 name CURFEW6-L42 outbound",
            "quit",
            "undo acl advanced name CURFEW-L42",
            "undo acl ipv6 advanced name CURFEW6-L42",
        ],
    )
    assert output == ""
    assert router.running_config() == before


def test_a_second_packet_filter_in_a_direction_replaces_the_first(router: ComwareRouter) -> None:
    s = system(router)
    run(s, ["interface GigabitEthernet1/0/1", "packet-filter name MGMT inbound"])
    s.execute("packet-filter 3001 inbound hardware-count")
    block = router.interfaces["GigabitEthernet1/0/1"].config_lines()
    assert " packet-filter 3001 inbound hardware-count" in block
    assert not any("MGMT" in line for line in block)


def test_undo_packet_filter_naming_another_acl_leaves_the_bound_one(
    router: ComwareRouter,
) -> None:
    s = system(router)
    run(s, ["interface GigabitEthernet1/0/1", "packet-filter name MGMT inbound"])
    assert s.execute("undo packet-filter name CURFEW-L42 inbound").output == ""
    assert " packet-filter name MGMT inbound" in router.running_config()
    s.execute("undo packet-filter name mgmt inbound")  # names are case-insensitive
    assert "packet-filter" not in router.running_config()


def test_deleting_an_applied_acl_keeps_the_packet_filter(router: ComwareRouter) -> None:
    s = system(router)
    run(s, CUT)
    s.execute("undo acl advanced name CURFEW-L42")
    config = router.running_config()
    assert "acl advanced name CURFEW-L42" not in config
    assert " packet-filter name CURFEW-L42 inbound" in config


def test_rules_get_ids_from_zero_in_steps_of_five_and_an_id_edits_its_rule(
    router: ComwareRouter,
) -> None:
    s = system(router)
    run(
        s,
        [
            "acl advanced name T",
            "rule deny ip source 10.0.0.0 0.255.255.255",
            "rule 7 deny ip destination 10.1.1.1 0",
            "rule permit ip",
            "rule 7 deny ip source 10.2.0.0 0.0.255.255",
        ],
    )
    assert router.find_acl(4, None, "T").config_lines() == [
        "acl advanced name T",
        " rule 0 deny ip source 10.0.0.0 0.255.255.255",
        " rule 7 deny ip source 10.2.0.0 0.0.255.255 destination 10.1.1.1 0",
        " rule 10 permit ip",
    ]


def test_a_rule_equal_to_another_is_refused(router: ComwareRouter) -> None:
    s = system(router)
    run(s, ["acl advanced name T", "rule 5 permit ip"])
    assert s.execute("rule 10 permit ip").output == "The rule already exists.\n"
    assert list(router.find_acl(4, None, "T").rules) == [5]


def test_ipv6_rules_print_upper_case_and_clear_host_bits(router: ComwareRouter) -> None:
    s = system(router)
    run(s, ["acl ipv6 advanced name T", "rule 5 deny ipv6 source 2001:db8:1::5 48"])
    assert router.find_acl(6, None, "T").config_lines()[1] == (
        " rule 5 deny ipv6 source 2001:DB8:1::/48"
    )


def test_acl_names_are_case_insensitive_and_shared_by_basic_and_advanced(
    router: ComwareRouter,
) -> None:
    s = system(router)
    run(s, ["acl advanced name curfew-l42", "rule 5 permit ip", "quit"])
    assert s.execute("acl advanced name CURFEW-L42").prompt == "[R1-acl-ipv4-adv-curfew-l42]"
    s.execute("quit")
    assert s.execute("acl basic name CURFEW-L42").output == "The ACL name already exists.\n"
    assert s.execute("acl ipv6 advanced name CURFEW-L42").output == "", "IPv6 names apart"
    assert "acl advanced name curfew-l42" in router.running_config()


@pytest.mark.parametrize(
    ("view", "line", "message"),
    [
        ([], "acl advanced 2000", WRONG_PARAMETER),
        ([], "acl advanced name all", WRONG_PARAMETER),
        ([], "acl advanced", INCOMPLETE),
        ([], "interface GigabitEthernet1/0/9", WRONG_PARAMETER),
        ([], "ip route-static 10.0.0.0 8", INCOMPLETE),
        ([], "ntp-service", INCOMPLETE),
        ([], "bogus", UNRECOGNIZED),
        (["acl advanced name T"], "rule 5 deny ip source 10.0.0.256 0.0.0.255", WRONG_PARAMETER),
        (["acl advanced name T"], "rule 5 deny ip source 10.0.0.0", INCOMPLETE),
        (["acl advanced name T"], "rule 5 deny ip sauce 10.0.0.0 0.0.0.255", UNRECOGNIZED),
        (["acl advanced name T"], "rule 70000 deny ip", WRONG_PARAMETER),
        (["acl ipv6 advanced name T"], "rule 5 deny ipx source 2001:db8::/32", UNRECOGNIZED),
        (["acl ipv6 advanced name T"], "rule 5 deny ipv6 source 10.0.0.0/8", WRONG_PARAMETER),
        (["interface GigabitEthernet1/0/1"], "packet-filter name X sideways", UNRECOGNIZED),
        (["interface GigabitEthernet1/0/1"], "ip address 198.18.1.0 24", WRONG_PARAMETER),
        (["interface GigabitEthernet1/0/1"], "ipv6 address 2001:db8::zz/64", WRONG_PARAMETER),
        (["interface GigabitEthernet1/0/1"], "rule 5 permit ip", UNRECOGNIZED),
    ],
)
def test_malformed_lines_are_refused_with_comwares_text_and_change_nothing(
    router: ComwareRouter, view: list[str], line: str, message: str
) -> None:
    s = system(router)
    run(s, view)
    before, prompt = router.running_config(), s.prompt
    reply = s.execute(line)
    assert reply.output.splitlines()[-1] == f" {message}"
    assert reply.output.splitlines()[0].strip() == "^"
    assert router.running_config() == before and reply.prompt == prompt


def test_static_routes_print_with_mask_lengths_and_undo_by_prefix(router: ComwareRouter) -> None:
    s = system(router)
    run(
        s,
        [
            "ip route-static 0.0.0.0 0.0.0.0 100.64.0.2",
            "ip route-static 198.51.100.0 255.255.255.0 GigabitEthernet1/0/1 198.18.1.2",
            "ipv6 route-static 2001:db8:99:: 48 GigabitEthernet 1/0/1 fe80::2",
        ],
    )
    config = router.running_config()
    assert " ip route-static 0.0.0.0 0 100.64.0.2\n" in config
    assert " ip route-static 198.51.100.0 24 GigabitEthernet1/0/1 198.18.1.2\n" in config
    assert " ipv6 route-static 2001:DB8:99:: 48 GigabitEthernet1/0/1 FE80::2\n" in config
    s.execute("undo ip route-static 198.51.100.0 24")
    assert "198.51.100.0" not in router.running_config()


def test_primary_and_sub_addresses(router: ComwareRouter) -> None:
    s = system(router)
    run(
        s,
        [
            "interface GigabitEthernet1/0/2",
            "ip address 10.0.0.1 255.255.255.0",
            "ip address 10.0.1.1 24 sub",
            "ip address 10.0.2.1 24",
        ],
    )
    assert router.interfaces["GigabitEthernet1/0/2"].config_lines()[1:] == [
        " ip address 10.0.2.1 255.255.255.0",
        " ip address 10.0.1.1 255.255.255.0 sub",
    ]


def test_configure_loads_a_configuration_file_by_indentation(router: ComwareRouter) -> None:
    router.configure(
        [
            "#",
            "acl advanced name MGMT",
            " rule 5 permit ip source 192.0.2.0 0.0.0.255",
            "#",
            "interface Vlan-interface10",
            " ip address 10.10.0.1 255.255.255.0",
            "info-center loghost 192.0.2.50",
            "return",
            "this line is never read",
        ]
    )
    config = router.running_config()
    assert "interface Vlan-interface10\n ip address 10.10.0.1 255.255.255.0\n#\n" in config
    assert " info-center loghost 192.0.2.50\n" in config
    with pytest.raises(ValueError, match="Unrecognized"):
        router.configure(["interface GigabitEthernet1/0/2", " rule 5 permit ip"])


def test_display_filters_and_brief(router: ComwareRouter) -> None:
    s = router.open_session()
    included = s.execute("display current-configuration | include ^interface").output
    assert included == "".join(f"interface {p}\n" for p in PORTS)
    begun = s.execute("dis cur | begin GigabitEthernet1/0/2").output
    assert begun.startswith("interface GigabitEthernet1/0/2\n")
    brief = s.execute("display ip interface brief").output.splitlines()
    assert brief[3].split() == ["XGE1/0/49", "up", "up", "--", "--", "--"]
    assert brief[4].split()[:4] == ["GE1/0/1", "up", "up", "198.18.1.1/24"]


def test_save_writes_the_startup_configuration(router: ComwareRouter) -> None:
    assert router.startup_config == ""
    assert "successfully" in router.open_session().execute("save force").output
    assert router.startup_config == router.running_config()


# ------------------------------------------------------------------------------ over SSH


def test_netmiko_hp_comware_configures_and_reads_back_the_twin() -> None:
    spec = DeviceSpec("R1", platform="h3c_comware", interfaces=tuple(PORTS))
    with Lab([spec]) as lab:
        with ConnectHandler(**lab.connection("R1"), fast_cli=True, global_cmd_verify=True) as c:
            assert c.base_prompt == "R1"
            c.send_config_set(CUT)
            shown = c.send_command("display current-configuration", expect_string=r"<R1>")
            refused = c.send_config_set(["interface GigabitEthernet1/0/1", "packet-filter x"])
        assert CUT_BLOCKS[1] in shown.replace("\r", "")
        assert INCOMPLETE in refused or UNRECOGNIZED in refused
        config = lab.router("R1").running_config()
        assert config.rstrip("\n") == shown.replace("\r", "").strip("\n")


def test_a_mixed_city_cuts_a_comware_line_through_the_driver() -> None:
    specs, inventory = city(3, 4, platforms=("cisco_ios", "h3c_comware"))
    assert [s.platform for s in specs] == ["cisco_ios", "h3c_comware", "cisco_ios"]
    comware = [entry for entry in inventory["lines"] if entry["device"] == "R2"]
    assert [entry["interface"] for entry in comware] == [
        f"GigabitEthernet1/0/{k}" for k in range(1, 5)
    ]
    line = comware[0]
    target = LineTarget(7, line["interface"], tuple(ip_network(p) for p in line["prefixes"]))
    with Lab(specs) as lab:
        spec = next(s for s in lab.specs if s.name == "R2")
        before = lab.router("R2").running_config()
        assert " packet-filter name MGMT-ACCESS inbound" in before
        creds = Credentials(
            lab.host, spec.port, spec.username, spec.password, timeout=5, host_key=spec.host_key
        )
        with H3cComwareDriver("R2", creds) as driver:
            cut = driver.apply(Batch(cuts=(target,)))
            facts = driver.facts()
            restored = driver.apply(Batch(restores=(target,)))
        assert cut.ok and cut.outcomes[0].state_after is LineState.CUT, cut
        assert restored.ok and lab.router("R2").running_config() == before
    assert facts.interfaces["Ten-GigabitEthernet1/0/49"] == (IPv4Interface("100.64.0.5/30"),)
    v4, v6 = (ip_network(p) for p in line["prefixes"])
    assert facts.interfaces[line["interface"]] == (
        IPv4Interface(f"{v4.network_address + 1}/{v4.prefixlen}"),
        IPv6Interface(f"{v6.network_address + 1}/{v6.prefixlen}"),
    )
    assert facts.routed_via(v4) == {line["interface"]}
