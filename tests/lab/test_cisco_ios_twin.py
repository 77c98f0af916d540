"""The simulated IOS router as a state machine, without SSH: modes, parsing, running-config."""

from __future__ import annotations

import pytest

from lab.cisco_ios import INVALID, CliSession, IosRouter, Mode
from lab.ssh import Faults, LineSplitter

CUT = [
    "ip access-list extended CURFEW-L42",
    " deny ip 198.18.1.0 0.0.0.255 any",
    " deny ip any 198.18.1.0 0.0.0.255",
    " permit ip any any",
    "ipv6 access-list CURFEW6-L42",
    " deny ipv6 2001:db8:1::/48 any",
    " deny ipv6 any 2001:db8:1::/48",
    " permit ipv6 any any",
    "interface GigabitEthernet0/1",
    " ip access-group CURFEW-L42 in",
    " ip access-group CURFEW-L42 out",
    " ipv6 traffic-filter CURFEW6-L42 in",
    " ipv6 traffic-filter CURFEW6-L42 out",
]

CUT_BLOCKS = (
    "interface GigabitEthernet0/1\n"
    " description venue access\n"
    " ip address 198.18.1.1 255.255.255.0\n"
    " ip access-group CURFEW-L42 in\n"
    " ip access-group CURFEW-L42 out\n"
    " ipv6 address 2001:DB8:1::1/48\n"
    " ipv6 traffic-filter CURFEW6-L42 in\n"
    " ipv6 traffic-filter CURFEW6-L42 out\n"
    "!\n",
    "ip access-list extended CURFEW-L42\n"
    " deny   ip 198.18.1.0 0.0.0.255 any\n"
    " deny   ip any 198.18.1.0 0.0.0.255\n"
    " permit ip any any\n"
    "!\n",
    "ipv6 access-list CURFEW6-L42\n"
    " deny ipv6 2001:DB8:1::/48 any\n"
    " deny ipv6 any 2001:DB8:1::/48\n"
    " permit ipv6 any any\n"
    "!\n",
)


@pytest.fixture
def router() -> IosRouter:
    r = IosRouter("R1", "lab-enable", ["GigabitEthernet0/0", "GigabitEthernet0/1"])
    r.configure(
        [
            "interface GigabitEthernet0/1",
            " description venue access",
            " ip address 198.18.1.1 255.255.255.0",
            " ipv6 address 2001:db8:1::1/48",
        ]
    )
    return r


def configured(router: IosRouter) -> CliSession:
    session = router.open_session()
    session.execute("enable")
    session.execute("lab-enable")
    session.execute("configure terminal")
    assert session.mode is Mode.CONFIG
    return session


def run(session: CliSession, lines: list[str]) -> str:
    return "".join(session.execute(line).output for line in lines)


def test_prompts_follow_the_mode(router: IosRouter) -> None:
    s = router.open_session()
    assert s.prompt == "R1>"
    assert s.execute("enable").prompt == "Password: "
    assert not s.echo
    assert s.execute("lab-enable").prompt == "R1#"
    steps = {
        "configure terminal": "R1(config)#",
        "interface GigabitEthernet0/1": "R1(config-if)#",
        "ip access-list extended X": "R1(config-ext-nacl)#",
        "ipv6 access-list X6": "R1(config-ipv6-acl)#",
        "exit": "R1(config)#",
    }
    for line, prompt in steps.items():
        assert s.execute(line).prompt == prompt
    assert s.execute("exit").prompt == "R1#"
    assert s.execute("disable").prompt == "R1>"
    assert s.execute("exit").close


def test_wrong_secret_is_denied_and_stays_in_user_mode(router: IosRouter) -> None:
    s = router.open_session()
    s.execute("enable")
    reply = s.execute("not-the-secret")
    assert reply.output.startswith("% Access denied")
    assert reply.prompt == "R1>"
    assert s.echo


def test_configure_from_user_mode_is_invalid_with_caret_under_the_word(router: IosRouter) -> None:
    reply = router.open_session().execute("configure terminal")
    assert reply.output == f"   ^\n{INVALID}\n\n"
    assert reply.prompt == "R1>"


def test_terminal_settings_are_accepted_in_both_exec_modes(router: IosRouter) -> None:
    s = router.open_session()
    for line in ("terminal width 511", "terminal length 0"):
        assert s.execute(line).output == ""
    s.execute("enable")
    s.execute("lab-enable")
    for line in ("terminal width 511", "terminal length 0"):
        assert s.execute(line).output == ""


def test_conf_t_abbreviation_and_end_and_ctrl_z_return_to_privileged(router: IosRouter) -> None:
    s = router.open_session()
    s.execute("enable")
    s.execute("lab-enable")
    assert s.execute("conf t").output.startswith("Enter configuration commands")
    s.execute("int gi0/1")
    assert s.context == "GigabitEthernet0/1"
    assert s.execute("end").prompt == "R1#"
    s.execute("configure terminal")
    s.execute("ip access-list extended X")
    assert s.execute("\x1a").prompt == "R1#"


def test_cut_renders_exactly_in_ios_running_config_format(router: IosRouter) -> None:
    s = configured(router)
    assert run(s, CUT) == ""
    config = router.running_config()
    for block in CUT_BLOCKS:
        assert block in config
    assert config.startswith("!\nversion ")
    assert config.endswith("!\nend\n")
    shown = s.execute("do show running-config").output
    assert shown.startswith("Building configuration...\n\nCurrent configuration : ")
    assert f"Current configuration : {len(config)} bytes\n" in shown


def test_no_forms_restore_the_config_as_it_was(router: IosRouter) -> None:
    before = router.running_config()
    s = configured(router)
    run(s, CUT)
    run(
        s,
        [
            "interface GigabitEthernet0/1",
            " no ip access-group CURFEW-L42 in",
            " no ip access-group CURFEW-L42 out",
            " no ipv6 traffic-filter CURFEW6-L42 in",
            " no ipv6 traffic-filter CURFEW6-L42 out",
            "no ip access-list extended CURFEW-L42",
            "no ipv6 access-list CURFEW6-L42",
        ],
    )
    assert router.running_config() == before


def test_second_access_group_in_a_direction_replaces_the_first(router: IosRouter) -> None:
    s = configured(router)
    run(s, ["interface GigabitEthernet0/1", " ip access-group A in", " ip access-group B in"])
    run(s, [" ipv6 traffic-filter A6 out", " ipv6 traffic-filter B6 out"])
    config = router.running_config()
    assert " ip access-group B in\n" in config
    assert "access-group A " not in config
    assert " ipv6 traffic-filter B6 out\n" in config
    assert "traffic-filter A6" not in config


def test_no_access_group_removes_whatever_is_bound_whatever_the_name(router: IosRouter) -> None:
    s = configured(router)
    run(s, ["interface GigabitEthernet0/0", " ip access-group MGMT in"])
    assert run(s, [" no ip access-group CURFEW-L1 in"]) == ""
    assert "access-group" not in router.running_config()


def test_deleting_a_bound_acl_keeps_the_binding(router: IosRouter) -> None:
    s = configured(router)
    run(s, CUT)
    run(s, ["no ip access-list extended CURFEW-L42"])
    config = router.running_config()
    assert "ip access-list extended CURFEW-L42" not in config
    assert " ip access-group CURFEW-L42 in\n" in config


def test_aces_get_sequence_numbers_and_duplicates_are_ignored(router: IosRouter) -> None:
    s = configured(router)
    run(
        s,
        [
            "ip access-list extended T",
            " deny ip host 192.0.2.1 any",
            " permit ip any any",
            " permit ip any any",
            " 15 deny ip 192.0.2.77 0.0.0.255 any",
            " deny ip 192.0.2.9 0.0.0.0 any",
        ],
    )
    acl = router.ipv4_acls["T"]
    assert [e.seq for e in acl.entries] == [10, 15, 20, 30]
    assert acl.config_lines() == [
        " deny   ip host 192.0.2.1 any",
        " deny   ip 192.0.2.0 0.0.0.255 any",
        " permit ip any any",
        " deny   ip host 192.0.2.9 any",
    ]
    assert "Duplicate sequence" in s.execute(" 10 deny ip any host 192.0.2.3").output
    run(s, [" no 15", " no permit ip any any"])
    assert router.ipv4_acls["T"].config_lines() == [
        " deny   ip host 192.0.2.1 any",
        " deny   ip host 192.0.2.9 any",
    ]


def test_ipv6_aces_print_upper_case_and_host_for_128(router: IosRouter) -> None:
    s = configured(router)
    run(
        s,
        [
            "ipv6 access-list T6",
            " deny ipv6 host 2001:db8::7 any",
            " sequence 5 deny ipv6 2001:db8:aa::/48 2001:db8::7/128",
            " permit ipv6 any any",
        ],
    )
    assert router.ipv6_acls["T6"].config_lines() == [
        " deny ipv6 2001:DB8:AA::/48 host 2001:DB8::7",
        " deny ipv6 host 2001:DB8::7 any",
        " permit ipv6 any any",
    ]
    run(s, [" no sequence 5", " no deny ipv6 host 2001:db8::7 any"])
    assert router.ipv6_acls["T6"].config_lines() == [" permit ipv6 any any"]


@pytest.mark.parametrize(
    ("mode_line", "bad", "caret_at"),
    [
        ("ip access-list extended T", " deny ip 198.18.1.300 0.0.0.255 any", 9),
        ("ip access-list extended T", " deny ip 198.18.1.0 0.0.0.255 any log", 34),
        ("ip access-list extended T", " deny tcp any any", 6),
        ("ip access-list extended T", " deny ip any 10.0.0.0 0.0.x.255", 22),
        ("ipv6 access-list T6", " deny ipv6 2001:db8::/129 any", 11),
        ("ipv6 access-list T6", " deny ipv6 198.18.1.0/24 any", 11),
        ("interface GigabitEthernet0/1", " ip access-group X sideways", 19),
        ("interface GigabitEthernet0/1", " ip address 10.0.0.1 255.0.255.0", 21),
        ("interface GigabitEthernet0/1", " ipv6 address 2001:db8::1", 14),
        ("interface GigabitEthernet0/1", " frobnicate", 1),
        ("interface GigabitEthernet0/1", "interface GigabitEthernet0/9", 10),
        ("interface GigabitEthernet0/1", "hostname", None),
    ],
)
def test_malformed_lines_are_refused_and_change_nothing(
    router: IosRouter, mode_line: str, bad: str, caret_at: int | None
) -> None:
    s = configured(router)
    run(s, [mode_line])
    before, prompt = router.running_config(), s.prompt
    reply = s.execute(bad)
    if caret_at is None:
        assert reply.output == "% Incomplete command.\n\n"
    else:
        assert reply.output == " " * (len(prompt) + caret_at) + f"^\n{INVALID}\n\n"
    assert router.running_config() == before
    assert reply.prompt == prompt


@pytest.mark.parametrize("line", ["frobnicate now", "ip frobnicate", "interface Bogus0/1", "x"])
def test_unknown_global_commands_are_invalid(router: IosRouter, line: str) -> None:
    s = configured(router)
    before = router.running_config()
    assert INVALID in s.execute(line).output
    assert router.running_config() == before


def test_whitelisted_global_lines_are_kept_verbatim_in_ios_order(router: IosRouter) -> None:
    s = configured(router)
    run(
        s,
        [
            "ntp server 192.0.2.123",
            "logging host 192.0.2.50",
            "snmp-server community public RO",
            "ntp server 192.0.2.123",
        ],
    )
    config = router.running_config()
    assert config.count("ntp server 192.0.2.123\n") == 1
    order = [config.index(t) for t in ("interface ", "logging host", "snmp-server", "ntp server")]
    assert order == sorted(order)
    run(s, ["no ntp server 192.0.2.123"])
    assert "ntp server" not in router.running_config()
    assert s.execute("ntp").output == "% Incomplete command.\n\n"


def test_sub_mode_falls_back_to_global_commands(router: IosRouter) -> None:
    s = configured(router)
    run(s, ["ip access-list extended T", "interface GigabitEthernet0/1"])
    assert s.mode is Mode.INTERFACE
    run(s, ["ntp server 192.0.2.1"])
    assert s.mode is Mode.CONFIG


def test_do_runs_show_commands_from_config_mode(router: IosRouter) -> None:
    s = configured(router)
    assert "R1 uptime is" in s.execute("do show version").output
    assert s.execute("do show frobs").output == " " * (len("R1(config)#") + 8) + f"^\n{INVALID}\n\n"
    assert INVALID in s.execute("do configure terminal").output
    assert s.mode is Mode.CONFIG


def test_show_running_config_filters(router: IosRouter) -> None:
    s = configured(router)
    run(s, CUT + ["end"])
    section = s.execute("show running-config | section CURFEW6").output
    assert section == CUT_BLOCKS[0].replace("!\n", "") + CUT_BLOCKS[2].replace("!\n", "")
    include = s.execute("show running-config | include access-group").output
    assert include == " ip access-group CURFEW-L42 in\n ip access-group CURFEW-L42 out\n"
    assert INVALID in s.execute("show running-config | include (").output


def test_show_commands(router: IosRouter) -> None:
    s = router.open_session()
    assert INVALID in s.execute("show running-config").output
    assert "R1 uptime is" in s.execute("show version").output
    brief = s.execute("show ip interface brief").output.splitlines()
    assert brief[0].startswith("Interface")
    assert brief[2].split()[:2] == ["GigabitEthernet0/1", "198.18.1.1"]


def test_sessions_share_state_but_not_mode(router: IosRouter) -> None:
    a, b = configured(router), router.open_session()
    run(a, ["hostname EDGE-1", "ip access-list extended T", " permit ip any any"])
    assert b.prompt == "EDGE-1>"
    assert a.prompt == "EDGE-1(config-ext-nacl)#"
    b.execute("enable")
    b.execute("lab-enable")
    assert "ip access-list extended T\n permit ip any any\n" in b.execute("show run").output


def test_configure_raises_on_a_rejected_line() -> None:
    with pytest.raises(ValueError, match="rejected"):
        IosRouter("R1").configure(["interface GigabitEthernet0/7"])


def test_line_splitter_handles_every_line_ending_across_chunks() -> None:
    splitter = LineSplitter()
    assert splitter.feed("a\rb\nc\r") == ["a", "b", "c"]
    assert splitter.feed("\nd\r\n") == ["d"]
    assert splitter.feed("ef\x7fg") == []
    assert splitter.feed("\n\x1a") == ["eg", "\x1a"]


def test_faults_validate_their_fields() -> None:
    faults = Faults(reject=[r"^ ?deny ip 198\.18\."])
    assert faults.rejects(" deny ip 198.18.1.0 0.0.0.255 any")
    assert not faults.rejects(" permit ip any any")
    with pytest.raises(ValueError, match="unknown fault"):
        faults.update(latency=1)
    with pytest.raises(ValueError):
        Faults(drop_after=0)
