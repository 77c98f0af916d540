"""The simulated SNMP switch: its port model and text view, and the agent pysnmp clients talk to,
with the lab's faults (latency, refusal, wrong keys, rejected sets, an agent that hangs)."""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    Integer32,
    ObjectIdentity,
    ObjectType,
    OctetString,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    set_cmd,
    usmAesCfb128Protocol,
    usmHMACSHAAuthProtocol,
)
from pysnmp.proto import errind

from lab.platforms import TWINS
from lab.snmp_ifadmin import (
    IF_ADMIN_STATUS,
    IF_ALIAS,
    IF_ENTRY,
    IF_X_ENTRY,
    UPLINK,
    SnmpError,
    SnmpSwitch,
)
from lab.topology import DeviceSpec, Lab, city

pytestmark = pytest.mark.lab

PORTS = ("GigabitEthernet1/0/1", "GigabitEthernet1/0/2", "GigabitEthernet1/0/3")
IF_NAME = IF_X_ENTRY + (1,)
IF_OPER_STATUS = IF_ENTRY + (8,)
IF_HC_IN = IF_X_ENTRY + (6,)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)


def dotted(oid: tuple[int, ...]) -> str:
    return ".".join(map(str, oid))


# ------------------------------------------------------------------------------ the model


def test_view_prints_one_line_per_fact_and_a_shut_port_adds_two() -> None:
    switch = SnmpSwitch("S1", (UPLINK, *PORTS))
    switch.configure(["sysContact noc@example.net", f"interface {PORTS[0]} alias line R1-L1"])
    before = switch.running_config()

    switch.configure([f"interface {PORTS[0]} admin down"])

    assert before.splitlines() == [
        "sysName S1",
        "sysContact noc@example.net",
        f"interface {UPLINK} ifIndex 1",
        f"interface {PORTS[0]} ifIndex 2",
        f"interface {PORTS[0]} alias line R1-L1",
        f"interface {PORTS[1]} ifIndex 3",
        f"interface {PORTS[2]} ifIndex 4",
    ]
    added = sorted(set(switch.running_config().splitlines()) - set(before.splitlines()))
    assert added == [f"interface {PORTS[0]} admin down", f"interface {PORTS[0]} oper down"]
    switch.configure([f"interface {PORTS[0]} admin up"])
    assert switch.running_config() == before


def test_oper_status_follows_admin_status_and_the_cable() -> None:
    switch = SnmpSwitch("S1", (UPLINK, *PORTS))
    port = switch.port(PORTS[1])
    switch.configure([f"interface {PORTS[1]} link down"])
    assert (port.admin, port.oper) == (1, 2)
    assert f"interface {PORTS[1]} link down" in switch.running_config()
    switch.configure([f"interface {PORTS[1]} link up", f"interface {PORTS[1]} admin down"])
    assert (port.admin, port.oper) == (2, 2)


@pytest.mark.parametrize(
    "line",
    [
        "interface GigabitEthernet9/9/9 admin down",
        f"interface {PORTS[0]} admin off",
        f"interface {PORTS[0]} oper down",
        f"interface {PORTS[0]} alias " + "x" * 65,
        "hostname S2",
    ],
)
def test_a_bad_configuration_line_raises_and_changes_nothing(line: str) -> None:
    switch = SnmpSwitch("S1", (UPLINK, *PORTS))
    before = switch.running_config()
    with pytest.raises(ValueError):
        switch.configure([f"interface {PORTS[1]} admin down", line])
    assert switch.running_config() == before


def test_switch_refuses_interface_names_the_driver_could_not_address() -> None:
    with pytest.raises(ValueError):
        SnmpSwitch("S1", (UPLINK, "Gi1/0/1 ; reload"))
    with pytest.raises(ValueError):
        SnmpSwitch("S1", (UPLINK, UPLINK))


def test_a_set_is_checked_whole_before_anything_is_written() -> None:
    switch = SnmpSwitch("S1", (UPLINK, *PORTS))
    before = switch.running_config()
    changes = [(IF_ADMIN_STATUS + (2,), 2), (IF_OPER_STATUS + (3,), 2)]

    with pytest.raises(SnmpError) as refused:
        switch.write(changes, lambda text: False)

    assert (refused.value.status, refused.value.index) == ("notWritable", 1)
    assert switch.running_config() == before


@pytest.mark.parametrize(
    ("oid", "value", "status"),
    [
        (IF_ADMIN_STATUS + (2,), 3, "inconsistentValue"),
        (IF_ADMIN_STATUS + (2,), 9, "wrongValue"),
        (IF_ADMIN_STATUS + (2,), b"down", "wrongType"),
        (IF_ADMIN_STATUS + (99,), 2, "noCreation"),
        (IF_ALIAS + (2,), b"x" * 65, "wrongLength"),
        (SYS_NAME, b"S2", "notWritable"),
    ],
)
def test_the_model_answers_sets_with_rfc3416_error_statuses(
    oid: tuple[int, ...], value: object, status: str
) -> None:
    switch = SnmpSwitch("S1", (UPLINK, *PORTS))
    with pytest.raises(SnmpError) as refused:
        switch.write([(oid, value)], lambda text: False)
    assert refused.value.status == status


def test_counters_grow_per_read_and_by_lab_time_only_while_the_port_is_up() -> None:
    switch = SnmpSwitch("S1", (UPLINK, *PORTS))
    oid = IF_HC_IN + (2,)
    first, second = switch.value(oid), switch.value(oid)
    assert first is not None and second is not None and second[1] > first[1]
    switch.configure([f"interface {PORTS[0]} admin down"])
    still = switch.value(oid)
    switch.advance(60)
    assert switch.value(oid) == still
    switch.configure([f"interface {PORTS[0]} admin up"])
    before = switch.value(oid)
    switch.advance(1)
    after = switch.value(oid)
    assert before is not None and after is not None and after[1] - before[1] > 125_000


# ------------------------------------------------------------------------------ the agent


@pytest.fixture
def lab() -> Iterator[Lab]:
    spec = DeviceSpec(
        "S1",
        platform="snmp_ifadmin",
        interfaces=(UPLINK, *PORTS),
        config=(f"interface {PORTS[0]} alias line S1-L1",),
    )
    with Lab([spec]) as running:
        yield running


def v3(user: str = "curfew", auth: str = "lab-password", priv: str = "lab-enable") -> Any:
    return UsmUserData(
        user, auth, priv, authProtocol=usmHMACSHAAuthProtocol, privProtocol=usmAesCfb128Protocol
    )


def query(lab: Lab, command: str, *bindings: Any, auth: Any = None, timeout: float = 1) -> Any:
    """One pysnmp exchange with S1 from the test's thread: (indication, status, index, binds)."""

    async def exchange() -> Any:
        engine = SnmpEngine()
        try:
            target = await UdpTransportTarget.create(
                ("127.0.0.1", lab.port("S1")), timeout=timeout, retries=0
            )
            call = {"get": get_cmd, "set": set_cmd}.get(command)
            extra: tuple[Any, ...] = ()
            if call is None:
                call, extra = bulk_cmd, (0, 50)
            return await call(
                engine,
                auth or v3(),
                target,
                ContextData(),
                *extra,
                *bindings,
                lookupMib=False,
            )
        finally:
            engine.close_dispatcher()

    return asyncio.run(exchange())


def get(*oids: tuple[int, ...]) -> list[ObjectType]:
    return [ObjectType(ObjectIdentity(dotted(oid))) for oid in oids]


def admin(index: int, value: int) -> ObjectType:
    return ObjectType(ObjectIdentity(dotted(IF_ADMIN_STATUS + (index,))), Integer32(value))


def test_agent_serves_the_if_mib_over_snmpv3_authpriv(lab: Lab) -> None:
    indication, status, _, binds = query(lab, "get", *get(SYS_NAME, IF_NAME + (2,), IF_NAME + (9,)))
    assert not indication and not status
    values = [value.prettyPrint() for _, value in binds]
    assert values[:2] == ["S1", PORTS[0]]
    assert "No Such Instance" in values[2]

    indication, status, _, binds = query(lab, "bulk", *get(IF_NAME))
    names = [(tuple(oid), str(value)) for oid, value in binds if tuple(oid)[:-1] == IF_NAME]
    assert names == [(IF_NAME + (i,), n) for i, n in enumerate((UPLINK, *PORTS), 1)]


def test_setting_admin_down_takes_the_port_down_in_the_view(lab: Lab) -> None:
    indication, status, _, _ = query(lab, "set", admin(2, 2))
    assert not indication and not status

    _, _, _, binds = query(lab, "get", *get(IF_ADMIN_STATUS + (2,), IF_OPER_STATUS + (2,)))
    assert [int(value) for _, value in binds] == [2, 2]
    assert f"interface {PORTS[0]} oper down" in lab.router("S1").running_config()
    assert lab.router("S1").startup_config != lab.router("S1").running_config()
    assert f"interface {PORTS[0]} admin down" not in lab.router("S1").startup_config


def test_agent_answers_a_set_of_a_read_only_object_with_not_writable(lab: Lab) -> None:
    binding = ObjectType(ObjectIdentity(dotted(IF_OPER_STATUS + (2,))), Integer32(2))
    _, status, index, _ = query(lab, "set", binding)
    assert (status.prettyPrint(), int(index)) == ("notWritable", 1)


def test_v2c_community_writes_and_public_only_reads(lab: Lab) -> None:
    community = CommunityData("lab-password", mpModel=1)
    public = CommunityData("public", mpModel=1)
    alias = ObjectType(ObjectIdentity(dotted(IF_ALIAS + (3,))), OctetString(b"spare"))

    assert query(lab, "set", alias, auth=community)[:2] == (None, 0)
    _, status, _, binds = query(lab, "get", *get(IF_ALIAS + (3,)), auth=public)
    denied = query(lab, "set", admin(3, 2), auth=public)

    assert not status and str(binds[0][1]) == "spare"
    assert int(denied[1]) == 6, "noAccess"
    assert lab.router("S1").port(PORTS[1]).admin == 1


def test_a_user_in_no_access_group_gets_authorization_error(lab: Lab) -> None:
    _, status, _, _ = query(lab, "get", *get(SYS_NAME), auth=v3(user="guest"))
    assert int(status) == 16, "authorizationError"


def test_wrong_keys_and_unknown_users_are_reported_by_the_agent(lab: Lab) -> None:
    wrong_auth = query(lab, "get", *get(SYS_NAME), auth=v3(auth="not-the-password"))[0]
    wrong_priv = query(lab, "get", *get(SYS_NAME), auth=v3(priv="not-the-priv-key"))[0]
    nobody = query(lab, "get", *get(SYS_NAME), auth=v3(user="nobody"))[0]
    assert isinstance(wrong_auth, errind.WrongDigest)
    assert isinstance(wrong_priv, errind.DecryptionError)
    assert isinstance(nobody, errind.UnknownUserName)


def test_auth_fail_fault_spoils_the_keys_until_lifted(lab: Lab) -> None:
    lab.set_fault("S1", auth_fail=True)
    spoiled = query(lab, "get", *get(SYS_NAME))[0]
    community = query(lab, "get", *get(SYS_NAME), auth=CommunityData("lab-password", mpModel=1))
    lab.set_fault("S1", auth_fail=False)
    healed = query(lab, "get", *get(SYS_NAME))

    assert isinstance(spoiled, errind.WrongDigest)
    assert isinstance(community[0], errind.RequestTimedOut)
    assert healed[:2] == (None, 0)


def test_refusing_agent_never_answers_and_latency_delays_each_answer(lab: Lab) -> None:
    lab.set_fault("S1", refuse_connections=True)
    refused = query(lab, "get", *get(SYS_NAME), timeout=0.3)[0]
    lab.set_fault("S1", refuse_connections=False, latency_ms=300)
    started = time.perf_counter()
    late = query(lab, "get", *get(SYS_NAME), timeout=2)
    waited = time.perf_counter() - started

    assert isinstance(refused, errind.RequestTimedOut)
    assert late[:2] == (None, 0)
    assert waited >= 0.6, "discovery and the request each wait out the latency"


def test_reject_fault_refuses_sets_on_matching_ports_only(lab: Lab) -> None:
    lab.set_fault("S1", reject=(r"^ifAdminStatus\.\d+ GigabitEthernet1/0/2$",))
    _, refused, _, _ = query(lab, "set", admin(3, 2))
    _, accepted, _, _ = query(lab, "set", admin(4, 2))
    assert refused.prettyPrint() == "notWritable"
    assert not accepted
    assert lab.router("S1").port(PORTS[1]).admin == 1
    assert lab.router("S1").port(PORTS[2]).admin == 2


def test_drop_after_makes_the_agent_hang_after_its_kth_request() -> None:
    spec = DeviceSpec("S1", platform="snmp_ifadmin", interfaces=(UPLINK, *PORTS), drop_after=2)
    with Lab([spec]) as lab:
        first = query(lab, "get", *get(SYS_NAME))  # discovery and the request itself
        second = query(lab, "get", *get(SYS_NAME), timeout=0.3)
    assert first[:2] == (None, 0)
    assert isinstance(second[0], errind.RequestTimedOut)


def test_stopping_the_lab_frees_the_udp_port() -> None:
    spec = DeviceSpec("S1", platform="snmp_ifadmin")
    with Lab([spec]) as lab:
        port = lab.port("S1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", port))
    finally:
        sock.close()


# ------------------------------------------------------------------------------ in the lab


def test_twin_is_registered_with_its_naming_and_foreign_config() -> None:
    twin = TWINS["snmp_ifadmin"]
    spec = DeviceSpec("S1", platform="snmp_ifadmin")
    assert spec.interfaces == (UPLINK, "GigabitEthernet1/0/1")
    assert twin.venue_interface(48) == "GigabitEthernet1/0/48"
    switch = spec.build_router()
    assert switch.running_config() == switch.startup_config
    config = [*twin.base_config("100.64.0.1"), *twin.line_config(PORTS[0], "S1-L1", [])]
    switch.configure(config)
    view = switch.running_config()
    assert "sysContact noc@carrier.example" in view
    assert f"interface {UPLINK} alias uplink to aggregation, mgmt 100.64.0.1" in view
    assert f"interface {PORTS[0]} alias line S1-L1" in view


def test_mixed_city_serves_ssh_routers_and_snmp_switches_side_by_side() -> None:
    specs, inventory = city(3, 4, platforms=("cisco_ios", "snmp_ifadmin"))
    assert [s.platform for s in specs] == ["cisco_ios", "snmp_ifadmin", "cisco_ios"]
    r2_lines = [line["interface"] for line in inventory["lines"] if line["device"] == "R2"]
    assert r2_lines == [f"GigabitEthernet1/0/{k}" for k in range(1, 5)]
    with Lab(specs) as lab:
        filled = lab.inventory(inventory)
        assert all(device["port"] > 0 for device in filled["devices"])
        indication, status, _, binds = query_device(lab, "R2", IF_NAME + (5,))
        assert not indication and not status and str(binds[0][1]) == "GigabitEthernet1/0/4"
        assert "alias line R2-L4" in lab.router("R2").running_config()


def query_device(lab: Lab, name: str, oid: tuple[int, ...]) -> Any:
    async def exchange() -> Any:
        engine = SnmpEngine()
        try:
            target = await UdpTransportTarget.create(("127.0.0.1", lab.port(name)), timeout=1)
            return await get_cmd(engine, v3(), target, ContextData(), *get(oid), lookupMib=False)
        finally:
            engine.close_dispatcher()

    return asyncio.run(exchange())


def test_demo_night_runs_on_a_city_with_snmp_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    """`curfew demo` end to end with every other router an SNMP switch: all verified."""
    import api.demo as demo

    monkeypatch.setattr(
        demo, "city", functools.partial(city, platforms=("cisco_ios", "snmp_ifadmin"))
    )
    printed: list[str] = []

    assert demo.run_demo(echo=printed.append) == 0, "\n".join(printed)
    table = next(text for text in printed if "verified cut" in text)
    assert any(" R2 " in row and "verified cut" in row for row in table.splitlines())
