"""An L2 access switch whose venue ports are shut over SNMP, in the conformance suite.

The twin's text view prints one line per fact of a port (`interface X ifIndex N`, `interface X
admin down`, `interface X oper down`), so a cut adds lines and a restore removes them. A person
changing the switch uses SNMP too: `snmp_operator` sends one SET per line, by ifName.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    Integer32,
    ObjectIdentity,
    ObjectType,
    OctetString,
    SnmpEngine,
    UdpTransportTarget,
    set_cmd,
    walk_cmd,
)

from drivers.base import LineState
from drivers.snmp_ifadmin import IF_ADMIN_STATUS, IF_NAME, dotted
from lab.snmp_ifadmin import IF_ALIAS, UPLINK
from lab.topology import Lab
from tests.drivers.profiles import Profile

PORTS = ("GigabitEthernet1/0/1", "GigabitEthernet1/0/2", "GigabitEthernet1/0/3")


def snmp_operator(lab: Lab, name: str, lines: tuple[str, ...]) -> None:
    """A person with snmpset and the read-write community: `<ifName> admin up|down` or
    `<ifName> alias <text>`, one SET each, after looking the ifIndex up by walking ifName."""
    if lines:
        asyncio.run(_operate(lab.connection(name), lines))


async def _operate(connection: dict[str, Any], lines: tuple[str, ...]) -> None:
    engine = SnmpEngine()
    try:
        target = await UdpTransportTarget.create(
            (connection["host"], connection["port"]), timeout=2, retries=1
        )
        community = CommunityData(connection["password"], mpModel=1)
        indices: dict[str, int] = {}
        async for indication, status, _, var_binds in walk_cmd(
            engine,
            community,
            target,
            ContextData(),
            ObjectType(ObjectIdentity(dotted(IF_NAME))),
            lexicographicMode=False,
            lookupMib=False,
        ):
            assert not indication and not status, f"walking ifName: {indication or status}"
            for oid, value in var_binds:
                indices[str(value)] = tuple(oid)[-1]
        for line in lines:
            port, what, text = line.split(" ", 2)
            index = indices[port]
            if what == "admin":
                binding = ObjectType(
                    ObjectIdentity(dotted(IF_ADMIN_STATUS + (index,))),
                    Integer32({"up": 1, "down": 2}[text]),
                )
            else:
                assert what == "alias", line
                binding = ObjectType(
                    ObjectIdentity(dotted(IF_ALIAS + (index,))), OctetString(text.encode())
                )
            indication, status, _, _ = await set_cmd(
                engine, community, target, ContextData(), binding, lookupMib=False
            )
            assert not indication and not status, f"{line!r}: {indication or status.prettyPrint()}"
    finally:
        engine.close_dispatcher()


PROFILE = Profile(
    platform="snmp_ifadmin",
    uplink=UPLINK,
    venue_ports=PORTS,
    port_name=lambda n: f"GigabitEthernet2/0/{n + 1}",
    cut_of_l42=(
        "interface GigabitEthernet1/0/1 admin down",
        "interface GigabitEthernet1/0/1 oper down",
    ),
    # the SNMP kind of foreign state: a port an operator shut by hand
    foreign_acl=lambda interface: (f"{interface} admin down",),
    # drift: an operator brings the venue's port back up by hand
    delete_l42_acl=("GigabitEthernet1/0/1 admin up",),
    other_config=(
        "GigabitEthernet1/0/1 alias venue 42, patch panel B-17",
        "GigabitEthernet1/0/2 alias spare, do not patch",
        f"{UPLINK} alias uplink to agg-2",
    ),
    reject_pattern=r"^ifAdminStatus\.\d+ GigabitEthernet1/0/1$",
    # the twin numbers ports from 1 in order: the uplink, then the venue ports
    rejected_command="set 1.3.6.1.2.1.2.2.1.7.2 = down(2) [ifAdminStatus GigabitEthernet1/0/1]",
    invalid_marker="notWritable",
    # a refused SET changes nothing: the port is still up
    rejected_line_state=LineState.OPEN,
    drop_points={"during-login": 1, "mid-push": 3},
    config_enter="",
    owned_marker="admin down",
    credentials_extra={"counter_interval": "0"},
    no_device_timing="SNMP sets ifAdminStatus now: an agent holds no time-bound setting",
    no_staging=(
        "a port's ifAdminStatus is body and binding at once: setting it is the cut, so nothing "
        "can be staged without effect"
    ),
    operator=snmp_operator,
    skips={
        "test_foreign_acl_is_never_replaced_and_other_config_is_untouched": (
            "SNMP holds no filters to be foreign: a port shut by hand looks exactly like a cut "
            "(tests/drivers/test_snmp_ifadmin_unit.py pins how such a port is treated)"
        ),
        "test_session_dropped_is_unreachable_and_retryable": (
            "SNMP over UDP has no session to drop; an agent that goes silent is the "
            "refused-connection and timeout cases"
        ),
        "test_session_hung_up_on_a_command_in_flight_is_noticed": (
            "SNMP over UDP has no session to hang up; an agent that stops answering mid-request "
            "is the timeout case"
        ),
    },
)
