"""The SNMP port-shut driver: identifiers, options, planning from a port table, what a hand-shut
port means, counters as evidence, credentials and errors, and its private event loop."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from ipaddress import ip_network
from typing import Any

import pytest

from drivers.base import (
    Action,
    AuthFailed,
    Batch,
    Credentials,
    InvalidIdentifier,
    LineState,
    LineTarget,
    Rejected,
    Unreachable,
    observed_state,
)
from drivers.identifiers import IdentifierError, check_interface
from drivers.registry import driver_for
from drivers.snmp_ifadmin import (
    LineBook,
    PortStatus,
    SnmpIfAdminDriver,
    SnmpOptions,
    SwitchPorts,
    owned_line,
    owned_lines,
    plan_batch,
)
from lab.snmp_ifadmin import UPLINK, Port
from lab.topology import DeviceSpec, Lab

PORTS = ("GigabitEthernet1/0/1", "GigabitEthernet1/0/2", "GigabitEthernet1/0/3")
ADMIN = "1.3.6.1.2.1.2.2.1.7"  # ifAdminStatus


def line(line_id: int, interface: str, *prefixes: str) -> LineTarget:
    return LineTarget(
        line_id, interface, tuple(ip_network(p) for p in prefixes or ("198.18.9.0/24",))
    )


L42 = line(42, PORTS[0], "198.18.1.0/24", "2001:db8:1::/48")
L43 = line(43, PORTS[1], "198.18.2.0/24")


def table(*ports: PortStatus, duplicates: tuple[str, ...] = ()) -> SwitchPorts:
    return SwitchPorts({}, {p.name: p for p in ports}, duplicates)


def up(name: str, index: int) -> PortStatus:
    return PortStatus(name, index, 1, 1)


def down(name: str, index: int) -> PortStatus:
    return PortStatus(name, index, 2, 2)


# ------------------------------------------------------------------------------ pure


@pytest.mark.parametrize(
    "name", ["GigabitEthernet1/0/7", "Gi1/0/7", "ge-0/0/7", "ge-0/0/7.0", "10GE1/0/1", "Port7",
             "Ten-GigabitEthernet1/0/49", "XGE1/0/1", "ether7", "sfp-sfpplus1"],
)  # fmt: skip
def test_ports_are_named_by_ifname_as_switches_report_it(name: str) -> None:
    assert check_interface("snmp_ifadmin", name) == name


@pytest.mark.parametrize(
    "name", ["ifIndex:7", "7", "1/1/7", "Gi 1/0/7", "Gi1/0/7 ", "Gi1/0/7;reload", "ge--0/0/7",
             "-ge0/0/7", "Port", "Gi1/0/7\n", "G" * 40 + "1"],
)  # fmt: skip
def test_anything_else_is_refused_before_it_reaches_a_command(name: str) -> None:
    with pytest.raises(IdentifierError):
        check_interface("snmp_ifadmin", name)


def test_options_come_from_credentials_extra_with_safe_defaults() -> None:
    assert SnmpOptions.from_extra({}) == SnmpOptions()
    chosen = SnmpOptions.from_extra({"version": "2c", "counter_interval": "0", "retries": "0"})
    assert (chosen.version, chosen.counter_interval, chosen.retries) == ("2c", 0.0, 0)
    for bad in ({"version": "1"}, {"retries": "many"}, {"settle": "-1"}, {"community": "x"}):
        with pytest.raises(ValueError):
            SnmpOptions.from_extra(bad)


@pytest.mark.parametrize(
    ("budget", "expected"), [(20.0, (1.0, 2)), (5.0, (1.0, 2)), (2.0, (1.0, 1)), (1.0, (1.0, 0)),
                             (0.3, (0.3, 0))],
)  # fmt: skip
def test_one_exchange_never_outlasts_the_credentials_timeout(
    budget: float, expected: tuple[float, int]
) -> None:
    timeout, retries = SnmpOptions().attempts(budget)
    assert (timeout, retries) == expected
    assert timeout * (retries + 1) <= budget


def test_a_cut_is_one_set_of_if_admin_status_down_and_a_restore_one_set_up() -> None:
    ports = table(up(PORTS[0], 2), down(PORTS[1], 3))

    plans = plan_batch(Batch(cuts=(L42,), restores=(L43,)), ports)

    assert [(p.target.line_id, p.action, p.commands) for p in plans] == [
        (43, Action.RESTORE, (f"set {ADMIN}.3 = up(1) [ifAdminStatus GigabitEthernet1/0/2]",)),
        (42, Action.CUT, (f"set {ADMIN}.2 = down(2) [ifAdminStatus GigabitEthernet1/0/1]",)),
    ]


def test_rendering_is_idempotent_against_what_the_switch_shows() -> None:
    driver = SnmpIfAdminDriver("S1", Credentials("127.0.0.1", 161, "u", "p" * 8, "s" * 8))
    ports = table(down(PORTS[0], 2), up(PORTS[1], 3))
    assert driver.render(Batch(cuts=(L42,), restores=(L43,)), ports) == []
    half = table(PortStatus(PORTS[0], 2, 2, 1))  # admin down, oper still up: not yet a cut
    assert driver.render(Batch(cuts=(L42,)), half) == [
        "set 1.3.6.1.2.1.2.2.1.7.2 = down(2) [ifAdminStatus GigabitEthernet1/0/1]"
    ]
    with pytest.raises(InvalidIdentifier):
        driver.render(Batch(cuts=(line(45, "Gi1/0/5 ; reload"),)), ports)
    with pytest.raises(ValueError, match="read"):
        driver.render(Batch(cuts=(L42,)), {})


def test_lines_sharing_a_port_missing_ports_and_ambiguous_names_are_refused() -> None:
    ports = table(up(PORTS[0], 2), up(PORTS[1], 3), duplicates=(PORTS[1],))
    batch = Batch(
        cuts=(L42, line(46, PORTS[0]), L43, line(47, "GigabitEthernet9/0/9")),
    )

    plans = {p.target.line_id: p for p in plan_batch(batch, ports)}

    assert all(p.commands == () and isinstance(p.refusal, Rejected) for p in plans.values())
    assert "lines 42, 46" in str(plans[42].refusal)
    assert "more than once" in str(plans[43].refusal)
    assert "no port" in str(plans[47].refusal)


def test_a_port_is_cut_only_when_admin_and_oper_status_are_both_down() -> None:
    assert owned_line(L42, up(PORTS[0], 2)) is None
    cut = owned_line(L42, down(PORTS[0], 2))
    lower = owned_line(L42, PortStatus(PORTS[0], 2, 2, 7))  # lowerLayerDown passes nothing
    lagging = owned_line(L42, PortStatus(PORTS[0], 2, 2, 1))
    missing = owned_line(L42, None)
    assert cut is not None and cut.state_for(L42) is LineState.CUT
    assert cut.prefixes == frozenset(L42.prefixes) and cut.bindings == {PORTS[0]}
    assert lower is not None and lower.state_for(L42) is LineState.CUT
    assert lagging is not None and lagging.state_for(L42) is LineState.UNKNOWN
    assert missing is not None and missing.state_for(L42) is LineState.UNKNOWN
    # a port named twice cannot prove anything
    assert (
        owned_lines([L42], {PORTS[0]: down(PORTS[0], 2)}, [PORTS[0]])[42].state_for(L42)
        is LineState.UNKNOWN
    )


def test_the_line_book_keeps_one_line_per_port_and_one_book_per_switch() -> None:
    book = LineBook()
    s1, s2 = ("S1", "127.0.0.1", 1), ("S2", "127.0.0.1", 2)
    book.learn(s1, [L42, L43])
    book.learn(s1, [line(46, PORTS[0])])  # the venue's port now serves line 46
    book.learn(s2, [L42])
    assert {t.line_id for t in book.lines(s1)} == {43, 46}
    assert [t.line_id for t in book.lines(s2)] == [42]


def test_short_keys_and_an_empty_community_are_auth_failed_before_any_packet() -> None:
    for changes in ({"password": "short"}, {"secret": "short"}, {"username": ""}):
        fields: dict[str, Any] = {"host": "127.0.0.1", "port": 9, "username": "u",
                                  "password": "p" * 8, "secret": "s" * 8, **changes}  # fmt: skip
        with pytest.raises(AuthFailed):
            SnmpIfAdminDriver("S1", Credentials(**fields)).open()
    community = Credentials("127.0.0.1", 9, "", "", extra={"version": "2c"})
    with pytest.raises(AuthFailed):
        SnmpIfAdminDriver("S1", community).open()


def test_driver_is_registered_for_its_platform() -> None:
    assert driver_for("snmp_ifadmin") is SnmpIfAdminDriver


# ------------------------------------------------------------------------------ against the twin


@pytest.fixture
def switch() -> Iterator[Callable[..., tuple[Lab, Callable[..., SnmpIfAdminDriver]]]]:
    """Start a one-switch lab: `switch(**faults)` -> (lab, driver(**credential changes))."""
    labs: list[Lab] = []

    def starter(**faults: Any) -> tuple[Lab, Callable[..., SnmpIfAdminDriver]]:
        spec = DeviceSpec("S1", platform="snmp_ifadmin", interfaces=(UPLINK, *PORTS), **faults)
        lab = Lab([spec]).start()
        labs.append(lab)

        def driver(
            timeout: float = 5.0, extra: dict[str, str] | None = None, **changes: Any
        ) -> SnmpIfAdminDriver:
            fields: dict[str, Any] = {
                "host": lab.host,
                "port": lab.port("S1"),
                "username": spec.username,
                "password": spec.password,
                "secret": spec.secret,
                "timeout": timeout,
                "extra": {"counter_interval": "0", **(extra or {})},
                **changes,
            }
            return SnmpIfAdminDriver("S1", Credentials(**fields))

        return lab, driver

    yield starter
    for lab in labs:
        lab.stop()


def shut_by_hand(lab: Lab, port: str) -> None:
    lab.router("S1").configure([f"interface {port} admin down"])


def test_cut_and_restore_of_line_42_send_exactly_one_set_each(switch: Callable[..., Any]) -> None:
    lab, driver = switch()
    with driver() as session:
        cut = session.apply(Batch(cuts=(L42,)))
        restore = session.apply(Batch(restores=(L42,)))

    assert cut.ok and restore.ok
    assert cut.commands == (
        "set 1.3.6.1.2.1.2.2.1.7.2 = down(2) [ifAdminStatus GigabitEthernet1/0/1]",
    )
    assert restore.commands == (
        "set 1.3.6.1.2.1.2.2.1.7.2 = up(1) [ifAdminStatus GigabitEthernet1/0/1]",
    )
    assert (
        "read back GigabitEthernet1/0/1 ifIndex 2: ifAdminStatus down(2), ifOperStatus down(2)"
        in (cut.device_output)
    )
    assert restore.outcomes[0].state_after is LineState.OPEN


def test_counters_read_twice_after_a_cut_say_traffic_stopped(switch: Callable[..., Any]) -> None:
    lab, driver = switch()
    started = time.perf_counter()
    result = driver(extra={"counter_interval": "0.3"}).apply(Batch(cuts=(L42, L43)))
    took = time.perf_counter() - started

    evidence = [row for row in result.device_output.splitlines() if row.startswith("counters")]
    assert result.ok and len(evidence) == 2
    assert all(row.endswith(": stopped") and "ifHCInOctets" in row for row in evidence)
    # the second read comes at least the interval after the first (later on a busy machine)
    intervals = [float(re.search(r"over (\d+\.\d+) s", row).group(1)) for row in evidence]  # type: ignore[union-attr]
    assert took >= 0.3 and all(0.3 <= interval <= took for interval in intervals), evidence
    again = driver().apply(Batch(cuts=(L42,)))
    assert again.commands == () and "counters" not in again.device_output


def test_a_port_shut_by_hand_reads_as_cut_and_is_never_brought_up_unasked(
    switch: Callable[..., Any],
) -> None:
    lab, driver = switch()
    shut_by_hand(lab, PORTS[0])
    with driver() as session:
        session.learn([L42])
        seen = session.read()
        other = session.apply(Batch(cuts=(L43,)))
        cut = session.apply(Batch(cuts=(L42,)))

    assert observed_state(seen, L42) is LineState.CUT, "SNMP cannot tell it from a cut"
    assert other.ok and lab.router("S1").port(PORTS[0]).admin == 2
    assert cut.ok and cut.commands == (), "already down: nothing to send"
    # only a restore the batch asks for brings it up
    assert driver().apply(Batch(restores=(L42,))).ok
    assert lab.router("S1").port(PORTS[0]).admin == 1


def test_read_reports_only_lines_the_process_was_told_of(switch: Callable[..., Any]) -> None:
    lab, driver = switch()
    shut_by_hand(lab, PORTS[2])
    with driver(extra={"counter_interval": "0"}) as session:
        assert session.read() == {}, "a shut port of no known line is not ours"
        session.learn([line(44, PORTS[2], "2001:db8:4::7/128")])
        owned = session.read()
    assert set(owned) == {44} and owned[44].prefixes == {ip_network("2001:db8:4::7/128")}
    assert set(owned.ports) == {UPLINK, *PORTS} and owned.ports[PORTS[2]].index == 4


def test_oper_status_that_never_follows_is_waited_for_then_not_verified(
    switch: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab, driver = switch()
    monkeypatch.setattr(Port, "oper", property(lambda port: 1))  # a port that keeps its link
    started = time.perf_counter()
    result = driver(extra={"settle": "0.3"}).apply(Batch(cuts=(L42,)))

    found = result.outcomes[0]
    assert time.perf_counter() - started >= 0.3
    assert (found.state_after, found.verified) == (LineState.UNKNOWN, False)
    assert found.error is not None and found.error.startswith("VerifyFailed: ")
    assert "ifOperStatus up(1)" in found.error
    assert "still growing" in result.device_output


def test_v2c_with_the_community_as_password_cuts_too(switch: Callable[..., Any]) -> None:
    lab, driver = switch()
    result = driver(extra={"version": "2c"}, username="").apply(Batch(cuts=(L43,)))
    assert result.ok and lab.router("S1").port(PORTS[1]).admin == 2


def test_wrong_community_gets_no_answer_and_is_unreachable(switch: Callable[..., Any]) -> None:
    lab, driver = switch()
    result = driver(timeout=0.3, extra={"version": "2c"}, password="not-the-community").apply(
        Batch(cuts=(L43,))
    )
    assert isinstance(result.error, Unreachable) and result.error.retryable


def test_read_only_community_is_rejected_and_no_rights_is_auth_failed(
    switch: Callable[..., Any],
) -> None:
    lab, driver = switch()
    read_only = driver(extra={"version": "2c"}, password="public").apply(Batch(cuts=(L42, L43)))
    no_group = driver(username="guest").apply(Batch(cuts=(L42,)))

    assert isinstance(read_only.error, Rejected) and "noAccess" in str(read_only.error)
    assert all(o.error and o.error.startswith("Rejected: ") for o in read_only.outcomes)
    assert all(o.state_after is LineState.OPEN for o in read_only.outcomes)
    assert isinstance(no_group.error, AuthFailed) and "authorizationError" in str(no_group.error)


@pytest.mark.parametrize(
    "changes", [{"password": "not-the-auth-key"}, {"secret": "not-the-priv-key"}, {"username": "x"}]
)
def test_wrong_keys_or_user_are_auth_failed(
    switch: Callable[..., Any], changes: dict[str, str]
) -> None:
    lab, driver = switch()
    result = driver(**changes).apply(Batch(cuts=(L42,)))
    assert isinstance(result.error, AuthFailed) and not result.error.retryable
    assert lab.router("S1").port(PORTS[0]).admin == 1


def test_a_slow_agent_within_the_timeout_is_fine(switch: Callable[..., Any]) -> None:
    lab, driver = switch(latency_ms=50)
    assert driver().apply(Batch(cuts=(L42,), restores=(L43,))).ok


def test_restore_of_a_port_the_switch_lacks_is_refused_and_the_rest_goes_on(
    switch: Callable[..., Any],
) -> None:
    lab, driver = switch()
    result = driver().apply(Batch(restores=(line(48, "GigabitEthernet1/0/48"),), cuts=(L43,)))
    missing = next(o for o in result.outcomes if o.line_id == 48)
    assert missing.commands == () and missing.error and missing.error.startswith("Rejected: ")
    assert next(o for o in result.outcomes if o.line_id == 43).verified
    assert result.error is None and not result.ok


def test_apply_works_from_a_thread_that_runs_its_own_event_loop(switch: Callable[..., Any]) -> None:
    lab, driver = switch()

    async def inside_async_code() -> Any:
        return driver().apply(Batch(cuts=(L43,)))

    assert asyncio.run(inside_async_code()).ok


def test_worker_threads_each_drive_their_own_session(switch: Callable[..., Any]) -> None:
    lab, driver = switch()
    results: list[Any] = []
    targets = [L42, L43, line(44, PORTS[2])]
    workers = [
        threading.Thread(target=lambda t=t: results.append(driver().apply(Batch(cuts=(t,)))))
        for t in targets
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert len(results) == 3 and all(r.ok for r in results)
    assert all(lab.router("S1").port(p).admin == 2 for p in PORTS)


def test_closed_sessions_leave_no_threads_or_sockets_behind(switch: Callable[..., Any]) -> None:
    lab, driver = switch()
    with driver() as warm:  # pysnmp loads its MIB modules once per process
        warm.read()
    threads, descriptors = set(threading.enumerate()), len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with driver() as session:
            session.read()
    assert set(threading.enumerate()) <= threads
    assert len(os.listdir("/proc/self/fd")) <= descriptors
