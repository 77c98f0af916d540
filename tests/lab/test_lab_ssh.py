"""The real netmiko `cisco_ios` driver against lab routers over SSH on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from threading import BrokenBarrierError

import paramiko
import pytest
from netmiko import ConnectHandler
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoBaseException,
    NetmikoTimeoutException,
)

from lab.cisco_ios import INVALID
from lab.topology import DeviceSpec, Lab

pytestmark = pytest.mark.lab

INTERFACES = ("GigabitEthernet0/0", "GigabitEthernet0/1", "GigabitEthernet0/2")
VENUE = (
    "interface GigabitEthernet0/1",
    " description venue access",
    " ip address 198.18.1.1 255.255.255.0",
    " ipv6 address 2001:db8:1::1/48",
)
# The VENDORS.md cut for one line.
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
RESTORE = [
    "interface GigabitEthernet0/1",
    " no ip access-group CURFEW-L42 in",
    " no ip access-group CURFEW-L42 out",
    " no ipv6 traffic-filter CURFEW6-L42 in",
    " no ipv6 traffic-filter CURFEW6-L42 out",
    "no ip access-list extended CURFEW-L42",
    "no ipv6 access-list CURFEW6-L42",
]
EXPECTED = """\
interface GigabitEthernet0/1
 description venue access
 ip address 198.18.1.1 255.255.255.0
 ip access-group CURFEW-L42 in
 ip access-group CURFEW-L42 out
 ipv6 address 2001:DB8:1::1/48
 ipv6 traffic-filter CURFEW6-L42 in
 ipv6 traffic-filter CURFEW6-L42 out
!
"""
EXPECTED_ACLS = """\
ip access-list extended CURFEW-L42
 deny   ip 198.18.1.0 0.0.0.255 any
 deny   ip any 198.18.1.0 0.0.0.255
 permit ip any any
!
"""
EXPECTED_ACLS6 = """\
ipv6 access-list CURFEW6-L42
 deny ipv6 2001:DB8:1::/48 any
 deny ipv6 any 2001:DB8:1::/48
 permit ipv6 any any
!
"""


def spec(name: str = "R1", **faults: object) -> DeviceSpec:
    return DeviceSpec(name, interfaces=INTERFACES, config=VENUE, **faults)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab([spec("R1")]) as running:
        yield running


def connect(lab: Lab, name: str = "R1", **overrides: object) -> ConnectHandler:
    params = {**lab.connection(name), "conn_timeout": 10, "auth_timeout": 10, **overrides}
    return ConnectHandler(**params)


def test_netmiko_pushes_a_cut_and_reads_it_back_in_ios_format(lab: Lab) -> None:
    with connect(lab) as conn:
        assert conn.base_prompt == "R1"
        conn.enable()
        assert conn.check_enable_mode()
        output = conn.send_config_set(CUT)
        assert "%" not in output
        assert "R1(config-ext-nacl)#" in output and "R1(config-ipv6-acl)#" in output
        shown = conn.send_command("show running-config")
    assert shown.startswith("Building configuration...")
    assert shown.rstrip().endswith("end")
    for block in (EXPECTED, EXPECTED_ACLS, EXPECTED_ACLS6):
        assert block in shown + "\n"
    assert lab.router("R1").interfaces["GigabitEthernet0/1"].access_group == {
        "in": "CURFEW-L42",
        "out": "CURFEW-L42",
    }


def test_the_twin_sends_no_empty_ignore_packets_as_a_router_would_not(lab: Lab) -> None:
    """asyncssh would precede every encrypted packet with an SSH_MSG_IGNORE; the twin's
    answers arrive as a router's do, data packets only (what the client's transport reads)."""
    kinds: list[int] = []
    with connect(lab) as conn:
        conn.enable()
        packetizer = conn.remote_conn.get_transport().packetizer
        read = packetizer.read_message

        def counted() -> tuple[int, paramiko.Message]:
            ptype, message = read()
            kinds.append(ptype)
            return ptype, message

        packetizer.read_message = counted
        for _ in range(3):
            assert "Building configuration" in conn.send_command("show running-config")
    channel_data = 94  # SSH_MSG_CHANNEL_DATA
    assert kinds.count(channel_data) >= 3
    assert paramiko.common.MSG_IGNORE not in kinds


def test_no_forms_remove_the_cut_and_nothing_else(lab: Lab) -> None:
    before = lab.router("R1").running_config()
    with connect(lab) as conn:
        conn.enable()
        conn.send_config_set(CUT)
        assert "%" not in conn.send_config_set(RESTORE)
        section = conn.send_command("show running-config | section CURFEW")
    assert section.strip() == ""
    assert lab.router("R1").running_config() == before


def test_a_second_access_group_replaces_the_first(lab: Lab) -> None:
    with connect(lab) as conn:
        conn.enable()
        conn.send_config_set(CUT)
        conn.send_config_set(["interface GigabitEthernet0/1", " ip access-group OTHER in"])
        lines = conn.send_command("show running-config | include access-group")
    assert lines.splitlines() == [" ip access-group OTHER in", " ip access-group CURFEW-L42 out"]


def test_malformed_commands_are_answered_invalid_and_change_nothing(lab: Lab) -> None:
    with connect(lab) as conn:
        conn.enable()
        conn.send_config_set(CUT)
        before = lab.router("R1").running_config()
        output = conn.send_config_set(
            [
                "ip access-list extended CURFEW-L42",
                " deny ip 198.18.1.300 0.0.0.255 any",
                " deny ip any",
                "interface GigabitEthernet0/9",
                "frobnicate the router",
            ]
        )
        assert output.count(INVALID) == 3
        assert "% Incomplete command." in output
        # the failed `interface` left the session in the ACL; the caret counts the prompt
        assert "R1(config-ext-nacl)#frobnicate the router\n" + " " * 20 + "^\n" in output
        assert lab.router("R1").running_config() == before
        conn.exit_enable_mode()
        answer = conn.send_command("configure terminal", expect_string=r"R1>")
        assert INVALID in answer


def test_wrong_password_and_auth_fail_are_refused_at_login() -> None:
    with Lab([spec("R1"), spec("R2", auth_fail=True)]) as lab:
        with pytest.raises(NetmikoAuthenticationException):
            connect(lab, "R1", password="wrong")
        with pytest.raises(NetmikoAuthenticationException):
            connect(lab, "R2")
        lab.set_fault("R2", auth_fail=False)
        with connect(lab, "R2") as conn:
            assert conn.find_prompt() == "R2>"


def test_drop_after_closes_the_session_after_that_command() -> None:
    # terminal width, terminal length, enable, configure terminal, then the ACL header (5th)
    with Lab([spec("R1", drop_after=5)]) as lab:
        conn = connect(lab)
        try:
            conn.enable()
            with pytest.raises((OSError, EOFError, NetmikoBaseException, paramiko.SSHException)):
                conn.send_config_set(CUT, read_timeout=5)
        finally:
            conn.disconnect()
        acl = lab.router("R1").ipv4_acls["CURFEW-L42"]
        assert acl.entries == []  # half-pushed: the header went through, no ACE did
        assert "CURFEW6-L42" not in lab.router("R1").ipv6_acls


def test_hang_up_on_closes_the_session_when_that_command_arrives_unanswered() -> None:
    # terminal width, terminal length, enable, configure terminal, then the ACL header (5th)
    with Lab([spec("R1", hang_up_on=5)]) as lab:
        conn = connect(lab)
        try:
            conn.enable()
            conn.config_mode()
            conn.write_channel(conn.normalize_cmd(CUT[0]))
            transport = conn.remote_conn.get_transport()
            for _ in range(500):  # bounded: 5 s
                if conn.remote_conn.closed or not transport.is_active():
                    break
                time.sleep(0.01)
            assert conn.remote_conn.closed or not transport.is_active(), "the twin hung up"
            assert CUT[0] not in conn.read_channel(), "the command is never echoed"
        finally:
            conn.disconnect()
        assert "CURFEW-L42" not in lab.router("R1").ipv4_acls, "nor run"


def test_latency_delays_every_answer() -> None:
    with Lab([spec("R1")]) as lab:
        with connect(lab) as conn:
            started = time.monotonic()
            conn.send_command("show version", expect_string=r"R1>")
            fast = time.monotonic() - started
            lab.set_fault("R1", latency_ms=300)
            started = time.monotonic()
            conn.send_command("show version", expect_string=r"R1>")
            slow = time.monotonic() - started
    assert slow >= 0.3
    assert slow > fast + 0.25


def test_refuse_connections_refuses_until_cleared() -> None:
    with Lab([spec("R1", refuse_connections=True)]) as lab:
        port = lab.port("R1")
        assert port != 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        with pytest.raises(NetmikoTimeoutException):
            connect(lab, conn_timeout=3)
        lab.set_fault("R1", refuse_connections=False)
        assert lab.port("R1") == port
        with connect(lab) as conn:
            assert conn.find_prompt() == "R1>"
        lab.set_fault("R1", refuse_connections=True)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_reject_patterns_refuse_matching_config_lines() -> None:
    with Lab([spec("R1", reject=[r"^ip access-list extended CURFEW"])]) as lab:
        with connect(lab) as conn:
            conn.enable()
            output = conn.send_config_set(CUT[:4])
        assert INVALID in output
        assert "CURFEW-L42" not in lab.router("R1").ipv4_acls
        # the ACEs then fell back to global config mode and were refused there too
        assert output.count(INVALID) == 4


def test_stop_closes_listeners_and_sessions() -> None:
    lab = Lab([spec("R1")]).start()
    port = lab.port("R1")
    conn = connect(lab)
    lab.stop()
    assert not lab.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises((OSError, EOFError, NetmikoBaseException)):
        conn.send_command("show version", read_timeout=3)
    conn.disconnect()


def test_two_hundred_concurrent_netmiko_sessions_all_succeed() -> None:
    sessions = 200
    specs = [spec(f"R{n}") for n in range(1, 5)]
    # opening 200 sessions takes 6 s here when the machine is idle, 53 s on a loaded one:
    # the bounds stay under the suite's 120 s per test, far from either
    barrier = threading.Barrier(sessions, timeout=90)
    with Lab(specs) as lab:

        def one(i: int) -> str:
            name = f"R{i % 4 + 1}"
            try:
                conn = connect(lab, name, conn_timeout=30, auth_timeout=30, banner_timeout=30)
            except BaseException:
                barrier.abort()  # the others fail at once, and this error is the one to read
                raise
            with conn:
                barrier.wait()  # all sessions are open at the same time
                conn.enable()
                return conn.send_command(
                    "show running-config | include ^hostname", read_timeout=30
                ).strip()

        pool = ThreadPoolExecutor(max_workers=sessions)
        try:
            futures = [pool.submit(one, i) for i in range(sessions)]
            done, pending = wait(futures, timeout=105)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        assert not pending
        results = [f.exception() or f.result() for f in done]
        failures = [r for r in results if isinstance(r, BaseException)]
        causes = [
            f"{type(r).__name__}: {r}" for r in failures if not isinstance(r, BrokenBarrierError)
        ]
        assert failures == [], causes or failures[:1]
        assert sorted(set(results)) == [f"hostname R{n}" for n in range(1, 5)]
