"""Arista EOS parse, render and error translation on text and objects alone: what a cut, a
restore and a repair send, what read finds, and which project error each library error becomes."""

from __future__ import annotations

import http.client
from ipaddress import ip_interface, ip_network

import pyeapi.eapilib
import pytest
from napalm.base.exceptions import MergeConfigException, SessionLockedException

from drivers.arista_eos import (
    AristaEosDriver,
    Direction,
    EosOwnedLine,
    Family,
    SessionLocked,
    _routes,
    parse_running_config,
    refusal_of,
    translate,
)
from drivers.base import (
    Action,
    AuthFailed,
    Batch,
    Credentials,
    InvalidIdentifier,
    LineState,
    LineTarget,
    OwnedLine,
    Rejected,
    Timeout,
    Unreachable,
)
from drivers.identifiers import IdentifierError, check_interface


def target(line_id: int = 42, interface: str = "Ethernet2", *prefixes: str) -> LineTarget:
    chosen = prefixes or ("198.18.1.0/24", "2001:db8:1::/48")
    return LineTarget(line_id, interface, tuple(ip_network(p) for p in chosen))


# render is pure: a driver that never opens a session is enough.
DRIVER = AristaEosDriver("R1", Credentials("192.0.2.1", 443, "curfew", "unused"))


def render(batch: Batch, config: str = "") -> list[str]:
    return DRIVER.render(batch, parse_running_config(config))


CUT_LINE_42 = [
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
RESTORE_LINE_42 = [
    "interface Ethernet2",
    "no ip access-group CURFEW-L42 in",
    "no ip access-group CURFEW-L42 out",
    "no ipv6 access-group CURFEW6-L42 in",
    "no ipv6 access-group CURFEW6-L42 out",
    "exit",
    "no ip access-list CURFEW-L42",
    "no ipv6 access-list CURFEW6-L42",
]

CUT_42 = """\
! Command: show running-config
! device: R1 (vEOS-lab, EOS-4.30.1F)
!
hostname R1
!
interface Ethernet1
   description uplink
   no switchport
   ip address 100.64.0.1/30
   ip access-group MGMT-ACCESS in
!
interface Ethernet2
   description venue access
   no switchport
   ip address 198.18.1.1/24
   ipv6 address 2001:db8:1::1/48
   ip access-group CURFEW-L42 in
   ip access-group CURFEW-L42 out
   ipv6 access-group CURFEW6-L42 in
   ipv6 access-group CURFEW6-L42 out
!
interface Ethernet3
!
ip access-list CURFEW-L42
   10 deny ip 198.18.1.0/24 any
   20 deny ip any 198.18.1.0/24
   30 permit ip any any
!
ip access-list MGMT-ACCESS
   10 permit ip 192.0.2.0/24 any
   30 permit ip any any
!
ipv6 access-list CURFEW6-L42
   10 deny ipv6 2001:db8:1::/48 any
   20 deny ipv6 any 2001:db8:1::/48
   30 permit ipv6 any any
!
ip route 10.0.0.0/8 100.64.0.2
ip route 192.0.2.128/25 Ethernet3
ipv6 route 2001:db8:ff::/48 Ethernet2 2001:db8:1::2
!
end
"""


# ------------------------------------------------------------------------------ identifiers


@pytest.mark.parametrize(
    "name",
    ["Ethernet1", "Ethernet49/1", "Ethernet3/1/1", "Ethernet1.100", "Port-Channel10", "Vlan10"],
)
def test_eos_interface_names_as_eos_prints_them_are_accepted(name: str) -> None:
    assert check_interface("arista_eos", name) == name


@pytest.mark.parametrize(
    "name",
    ["Et1", "ethernet1", "Ethernet01", "Ethernet0", "Port-channel10", "Vlan0", "Ethernet1 ; reload",
     "Ethernet1\n", "Loopback0", "GigabitEthernet0/1", "Ethernet1/0"],
)  # fmt: skip
def test_abbreviated_mis_cased_or_unsafe_interface_names_are_refused(name: str) -> None:
    with pytest.raises(IdentifierError):
        check_interface("arista_eos", name)


# ------------------------------------------------------------------------------ render


def test_cut_renders_the_vendor_objects_and_bindings_in_eos_syntax() -> None:
    assert render(Batch(cuts=(target(),))) == CUT_LINE_42


def test_restore_removes_bindings_first_then_the_acls() -> None:
    assert render(Batch(restores=(target(),)), CUT_42) == RESTORE_LINE_42


def test_host_prefixes_are_spelled_host_and_single_family_lines_touch_one_family() -> None:
    commands = render(Batch(cuts=(target(44, "Ethernet4", "2001:db8:4::7/128"),)))
    assert commands == [
        "ipv6 access-list CURFEW6-L44",
        "deny ipv6 host 2001:db8:4::7 any",
        "deny ipv6 any host 2001:db8:4::7",
        "permit ipv6 any any",
        "exit",
        "interface Ethernet4",
        "ipv6 access-group CURFEW6-L44 in",
        "ipv6 access-group CURFEW6-L44 out",
        "exit",
    ]


def test_a_line_already_cut_renders_nothing_and_a_restore_of_nothing_renders_nothing() -> None:
    assert render(Batch(cuts=(target(),)), CUT_42) == []
    assert render(Batch(restores=(target(43, "Ethernet3", "198.18.2.0/24"),)), CUT_42) == []


def test_a_drifted_line_is_removed_and_rewritten_in_one_render() -> None:
    drifted = CUT_42.replace("   20 deny ip any 198.18.1.0/24\n", "")
    commands = render(Batch(cuts=(target(),)), drifted)
    assert commands == RESTORE_LINE_42 + CUT_LINE_42


def test_a_line_moved_to_another_port_is_unbound_from_the_old_one() -> None:
    commands = render(Batch(cuts=(target(42, "Ethernet3"),)), CUT_42)
    assert commands[:6] == RESTORE_LINE_42[:6]
    assert "interface Ethernet3" in commands[8:]


def test_a_foreign_acl_in_the_direction_refuses_the_line_and_renders_nothing_for_it() -> None:
    config = CUT_42.replace(
        "interface Ethernet3\n!", "interface Ethernet3\n   ipv6 access-group EDGE6 out\n!"
    )
    plans = DRIVER.plan(
        Batch(cuts=(target(43, "Ethernet3", "198.18.2.0/24", "2001:db8:2::/48"),)),
        parse_running_config(config),
    )
    assert plans[0].commands == ()
    assert isinstance(plans[0].refusal, Rejected)
    assert "Ethernet3" in str(plans[0].refusal) and "EDGE6" in str(plans[0].refusal)


def test_two_lines_on_one_port_in_one_batch_refuse_the_second() -> None:
    plans = DRIVER.plan(
        Batch(
            cuts=(
                target(50, "Ethernet3", "198.18.5.0/24"),
                target(51, "Ethernet3", "198.18.6.0/24"),
            )
        ),
        parse_running_config(""),
    )
    assert plans[0].commands and plans[1].refusal is not None
    assert "CURFEW-L50" in str(plans[1].refusal)


def test_a_restore_frees_the_port_for_a_cut_in_the_same_batch() -> None:
    plans = DRIVER.plan(
        Batch(cuts=(target(43, "Ethernet2", "198.18.2.0/24"),), restores=(target(),)),
        parse_running_config(CUT_42),
    )
    assert [p.target.line_id for p in plans] == [42, 43]
    assert all(p.refusal is None and p.commands for p in plans)


def test_invalid_identifiers_refuse_the_line_before_anything_is_rendered() -> None:
    bad = target(45, "Ethernet4 ; reload", "198.18.5.0/24")
    with pytest.raises(InvalidIdentifier):
        render(Batch(cuts=(bad, target())))
    plans = DRIVER.plan(Batch(cuts=(bad, target())), parse_running_config(""))
    assert isinstance(plans[0].refusal, InvalidIdentifier) and plans[0].commands == ()
    assert plans[1].commands == tuple(CUT_LINE_42)


def test_an_incomplete_bare_owned_line_cannot_be_restored_blind() -> None:
    with pytest.raises(ValueError, match="render against what read"):
        DRIVER.render_line(Action.RESTORE, target(), OwnedLine(42, complete=False))


# ------------------------------------------------------------------------------ parse


def test_read_finds_the_owned_line_complete_and_every_bound_acl() -> None:
    parsed = parse_running_config(CUT_42)
    assert set(parsed) == {42}
    found = parsed[42]
    assert isinstance(found, EosOwnedLine) and found.complete
    assert found.state_for(target()) is LineState.CUT
    assert found.bindings == {"Ethernet2"}
    assert parsed.holder("Ethernet1", Family.IPV4, Direction.IN) == "MGMT-ACCESS"
    assert parsed.holder("Ethernet1", Family.IPV6, Direction.IN) is None


@pytest.mark.parametrize(
    "edit",
    [
        ("   20 deny ip any 198.18.1.0/24\n", ""),  # one direction of the deny gone
        ("   30 permit ip any any\n!\nip access-list MGMT", "!\nip access-list MGMT"),
        ("   ipv6 access-group CURFEW6-L42 out\n", ""),  # one binding gone
        ("   10 deny ip 198.18.1.0/24 any\n", "   10 deny ip 198.18.1.0/24 any log\n"),
        ("ip access-list CURFEW-L42\n", "ip access-list CURFEW-L042\n"),  # not our name
    ],
)
def test_anything_but_the_exact_cut_reads_back_as_not_cut(edit: tuple[str, str]) -> None:
    parsed = parse_running_config(CUT_42.replace(*edit))
    assert parsed.get(42) is None or parsed[42].state_for(target()) is not LineState.CUT


def test_static_routes_resolve_to_the_interface_they_leave_through() -> None:
    parsed = parse_running_config(CUT_42)
    interfaces = {
        "Ethernet1": (ip_interface("100.64.0.1/30"),),
        "Ethernet2": (ip_interface("198.18.1.1/24"), ip_interface("2001:db8:1::1/48")),
        "Ethernet3": (),
    }
    assert _routes(parsed.routes, interfaces) == {
        ip_network("10.0.0.0/8"): "Ethernet1",
        ip_network("192.0.2.128/25"): "Ethernet3",
        ip_network("2001:db8:ff::/48"): "Ethernet2",
    }


# ------------------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    "extra", [{"transport": "telnet"}, {"revert_in": "5"}, {"revert_in": "soon"}]
)
def test_bad_driver_settings_are_refused(extra: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        AristaEosDriver("R1", Credentials("192.0.2.1", 443, "u", "p", extra=extra))


def test_driver_settings_come_from_credentials_extra() -> None:
    driver = AristaEosDriver(
        "R1",
        Credentials("192.0.2.1", 443, "u", "p", extra={"transport": "https", "revert_in": "90"}),
    )
    assert (driver.transport, driver.revert_in) == ("https", 90)
    assert (DRIVER.transport, DRIVER.revert_in) == ("http", 60)


# ------------------------------------------------------------------------------ errors


def _command_error(
    commands: list[str], failed_at: int, message: str
) -> pyeapi.eapilib.CommandError:
    """A CommandError as pyeapi raises it for an eAPI error answer."""
    data = [{} for _ in range(failed_at)] + [{"errors": [message]}]
    error = pyeapi.eapilib.CommandError(
        1002,
        f"CLI command {failed_at + 1} of {len(commands)} '{commands[failed_at]}' failed: "
        "invalid command",
        command_error="errors: ...",
        output=data,
    )
    error.commands = commands
    return error


def _raised(error: BaseException, during: BaseException | None = None) -> BaseException:
    """`error` as raised while handling `during`, so that its context is set."""
    try:
        try:
            if during is not None:
                raise during
            raise error
        except BaseException:
            if during is None:
                raise
            raise error  # noqa: B904 - the implicit context is the point
    except BaseException as caught:
        return caught


def test_refusal_names_the_command_eapi_stopped_at() -> None:
    commands = ["enable", "configure session s", "ip access-list X", "bogus", "end"]
    refusal = refusal_of(_command_error(commands, 3, "Invalid input (at token 0: 'bogus')"))
    assert refusal is not None
    assert (refusal.command, refusal.index) == ("bogus", 3)
    assert "Invalid input" in refusal.text


def test_library_errors_become_the_projects_errors() -> None:
    where = "R1 (127.0.0.1:1)"

    def socket_error() -> pyeapi.eapilib.ConnectionError:
        return pyeapi.eapilib.ConnectionError("http", "Socket error during eAPI connection")

    cases = [
        (_raised(socket_error(), TimeoutError("timed out")), Timeout),
        (_raised(socket_error(), ConnectionRefusedError(111, "refused")), Unreachable),
        (_raised(socket_error(), http.client.RemoteDisconnected("closed")), Unreachable),
        (
            pyeapi.eapilib.ConnectionError("http", "Unauthorized. Unable to authenticate"),
            AuthFailed,
        ),
        (_command_error(["enable", "show version"], 0, "Bad secret"), AuthFailed),
        (_command_error(["enable", "configure", "x"], 2, "Invalid input"), Rejected),
        (SessionLockedException("Session is already in use"), SessionLocked),
        (
            _raised(
                MergeConfigException("boom"),
                _command_error(["enable", "configure session s", "x", "end"], 2, "Invalid input"),
            ),
            Rejected,
        ),
        (KeyError("version"), Unreachable),
    ]
    for error, expected in cases:
        translated = translate(error, where, "show version")
        assert type(translated) is expected, (error, translated)
        assert str(translated).startswith(where)
    assert translate(SessionLockedException("x"), where, "load").retryable
    assert not translate(cases[3][0], where, "open").retryable
