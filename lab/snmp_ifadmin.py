"""A simulated L2 access switch managed over SNMP: IF-MIB ports whose ifAdminStatus can be set.

`SnmpSwitch` is the port-state model (ifIndex, ifName, ifAlias, admin and oper status, octet
counters) with a stable text view; `SnmpAgent` serves it with pysnmp's own agent side
(an SNMPv3 authPriv user, a read-write and a read-only v2c community) on a loopback UDP port
in the lab's event loop, with the lab's faults.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi import error as smi_error
from pysnmp.smi import instrum

from drivers.identifiers import IdentifierError, check_interface
from lab.ssh import Faults
from lab.twin import Prefix, SpecLike, TwinKind

PLATFORM = "snmp_ifadmin"
UPLINK = "TenGigabitEthernet1/1/1"
READ_ONLY_COMMUNITY = "public"
UNAUTHORIZED_USER = "guest"
UP, DOWN = 1, 2
ALIAS_MAX = 64  # IF-MIB: ifAlias is at most 64 octets
SYS_DESCR = "curfew lab L2 access switch (IF-MIB over SNMP)"
SYS_OBJECT_ID = (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)

# Numeric OIDs: pysnmp 7 ships no IF-MIB.
SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
MIB_2 = (1, 3, 6, 1, 2, 1)

# column OID -> its name, for the view and for the `reject` fault's text
COLUMNS: dict[tuple[int, ...], str] = {
    IF_ENTRY + (1,): "ifIndex",
    IF_ENTRY + (2,): "ifDescr",
    IF_ENTRY + (3,): "ifType",
    IF_ENTRY + (7,): "ifAdminStatus",
    IF_ENTRY + (8,): "ifOperStatus",
    IF_X_ENTRY + (1,): "ifName",
    IF_X_ENTRY + (6,): "ifHCInOctets",
    IF_X_ENTRY + (10,): "ifHCOutOctets",
    IF_X_ENTRY + (18,): "ifAlias",
}
_BY_NAME = {name: oid for oid, name in COLUMNS.items()}
IF_ADMIN_STATUS = _BY_NAME["ifAdminStatus"]
IF_ALIAS = _BY_NAME["ifAlias"]
WRITABLE = {IF_ADMIN_STATUS, IF_ALIAS}

# What one read of a counter adds while the port is up: the twin's traffic is "per read" so a
# test needs no clock; `advance()` adds traffic by lab time as well.
OCTETS_PER_READ = {_BY_NAME["ifHCInOctets"]: 3 * 1514, _BY_NAME["ifHCOutOctets"]: 5 * 1514}
OCTETS_PER_SECOND = 125_000

Oid = tuple[int, ...]
# A value as the model holds it: (SMI type, python value).
Value = tuple[str, int | str | Oid]


class SnmpError(Exception):
    """A SET the agent refuses: `status` is the SNMP error-status name (RFC 3416)."""

    def __init__(self, status: str, index: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.index = index


# --------------------------------------------------------------------------- the model


@dataclass
class Port:
    index: int
    name: str
    alias: str = ""
    admin: int = UP
    link: bool = True  # cable plugged and far end up
    in_octets: int = 0
    out_octets: int = 0

    @property
    def oper(self) -> int:
        return UP if self.admin == UP and self.link else DOWN


_CONFIG_LINE = re.compile(
    r"(?P<scalar>sysContact|sysLocation)\s+(?P<text>\S.*)"
    r"|interface\s+(?P<port>\S+)\s+(?:"
    r"alias\s+(?P<alias>\S.*)|admin\s+(?P<admin>up|down)|link\s+(?P<link>up|down))"
)


class SnmpSwitch:
    """One switch's ports and system group, shared by every request. Thread-safe."""

    def __init__(
        self,
        hostname: str = "Switch",
        interfaces: Iterable[str] = (UPLINK, "GigabitEthernet1/0/1"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hostname = hostname
        self.contact = ""
        self.location = ""
        self.ports: dict[int, Port] = {}
        self.by_name: dict[str, Port] = {}
        for position, name in enumerate(interfaces):
            try:
                check_interface(PLATFORM, name)
            except IdentifierError as exc:
                raise ValueError(str(exc)) from None
            if name in self.by_name:
                raise ValueError(f"duplicate interface {name!r}")
            port = Port(index=position + 1, name=name)
            self.ports[port.index] = port
            self.by_name[name] = port
        self._clock = clock
        self._booted = clock()
        self.startup_config = ""
        # requests are served in the lab's event loop; tests read and edit from their thread
        self.lock = threading.RLock()
        self._oids: list[Oid] = sorted(self._instances())

    def _instances(self) -> Iterable[Oid]:
        yield from (SYSTEM + (n, 0) for n in range(1, 7))
        yield IF_NUMBER
        for column in COLUMNS:
            yield from (column + (index,) for index in self.ports)

    # ------------------------------------------------------------------ configuration text

    def configure(self, lines: Iterable[str]) -> None:
        """Apply start-up lines (the view's own syntax); a bad line raises and changes nothing.

        `sysContact TEXT`, `sysLocation TEXT`, `interface NAME alias TEXT`,
        `interface NAME admin up|down`, `interface NAME link up|down` (the cable).
        """
        changes: list[Callable[[], None]] = []
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            match = _CONFIG_LINE.fullmatch(line)
            if match is None:
                raise ValueError(f"{self.hostname}: {line!r}: unknown configuration line")
            if match["scalar"]:
                changes.append(_setter(self, _SCALAR_ATTRIBUTE[match["scalar"]], match["text"]))
                continue
            port = self.by_name.get(match["port"])
            if port is None:
                raise ValueError(f"{self.hostname}: {line!r}: no interface {match['port']!r}")
            if match["alias"] is not None:
                if len(match["alias"].encode()) > ALIAS_MAX:
                    raise ValueError(f"{self.hostname}: {line!r}: alias over {ALIAS_MAX} octets")
                changes.append(_setter(port, "alias", match["alias"]))
            elif match["admin"] is not None:
                changes.append(_setter(port, "admin", UP if match["admin"] == "up" else DOWN))
            else:
                changes.append(_setter(port, "link", match["link"] == "up"))
        with self.lock:
            for change in changes:
                change()

    def running_config(self) -> str:
        """A stable text view: system lines, then per port its index and what is not default.

        A port that is up prints one line; shutting it adds `admin down` and `oper down`.
        """
        with self.lock:
            out = [f"sysName {self.hostname}"]
            if self.contact:
                out.append(f"sysContact {self.contact}")
            if self.location:
                out.append(f"sysLocation {self.location}")
            for port in self.ports.values():
                head = f"interface {port.name}"
                out.append(f"{head} ifIndex {port.index}")
                if port.alias:
                    out.append(f"{head} alias {port.alias}")
                if not port.link:
                    out.append(f"{head} link down")
                if port.admin != UP:
                    out.append(f"{head} admin {_STATUS_WORD.get(port.admin, port.admin)}")
                if port.oper != UP:
                    out.append(f"{head} oper down")
            return "\n".join(out) + "\n"

    def port(self, name: str) -> Port:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"{self.hostname} has no interface {name!r}") from None

    def advance(self, seconds: float) -> None:
        """Let lab time pass: every port that is up carries traffic."""
        with self.lock:
            for port in self.ports.values():
                if port.oper == UP:
                    port.in_octets += int(OCTETS_PER_SECOND * seconds)
                    port.out_octets += int(OCTETS_PER_SECOND * seconds)

    # ------------------------------------------------------------------ the MIB

    def value(self, oid: Oid) -> Value | None:
        """The instance's value, or None when the agent has no such instance."""
        with self.lock:
            if oid[: len(SYSTEM)] == SYSTEM and len(oid) == len(SYSTEM) + 2 and oid[-1] == 0:
                return self._system(oid[len(SYSTEM)])
            if oid == IF_NUMBER:
                return ("int", len(self.ports))
            port = self.ports.get(oid[-1])
            column = oid[:-1]
            if port is None or column not in COLUMNS:
                return None
            return self._column(COLUMNS[column], port)

    def successor(self, oid: Oid) -> tuple[Oid, Value] | None:
        """The first instance after `oid` in lexicographic order, or None at the end."""
        position = bisect.bisect_right(self._oids, oid)
        while position < len(self._oids):
            found = self._oids[position]
            value = self.value(found)
            if value is not None:
                return found, value
            position += 1
        return None

    def write(self, changes: Sequence[tuple[Oid, object]], refused: Callable[[str], bool]) -> None:
        """Apply a SET as one: every binding is checked before any is written (RFC 3416 4.2.5).

        `refused(text)` is the lab's reject fault, asked about each binding in the form
        `ifAdminStatus.7 GigabitEthernet1/0/6` (column.ifIndex ifName).
        """
        with self.lock:
            writes: list[Callable[[], None]] = []
            for position, (oid, value) in enumerate(changes):
                writes.append(self._check_write(position, oid, value, refused))
            for write in writes:
                write()

    def _check_write(
        self, position: int, oid: Oid, value: object, refused: Callable[[str], bool]
    ) -> Callable[[], None]:
        column, port = oid[:-1], self.ports.get(oid[-1]) if oid else None
        if port is None or column not in COLUMNS:
            exists = self.value(oid) is not None
            status = "notWritable" if exists else "noCreation"
            raise SnmpError(status, position, f"{_dotted(oid)} cannot be written")
        if column not in WRITABLE:
            raise SnmpError("notWritable", position, f"{COLUMNS[column]} is read-only")
        if refused(f"{COLUMNS[column]}.{port.index} {port.name}"):
            raise SnmpError("notWritable", position, f"{port.name}: refused by the lab")
        if column == IF_ADMIN_STATUS:
            if not isinstance(value, int):
                raise SnmpError("wrongType", position, "ifAdminStatus is an INTEGER")
            if value not in (UP, DOWN):
                # testing(3) is a valid enumeration this switch does not implement
                status = "inconsistentValue" if value == 3 else "wrongValue"
                raise SnmpError(status, position, f"ifAdminStatus {value} not up(1)/down(2)")
            return _setter(port, "admin", value)
        if not isinstance(value, bytes):
            raise SnmpError("wrongType", position, "ifAlias is an OCTET STRING")
        if len(value) > ALIAS_MAX:
            raise SnmpError("wrongLength", position, f"ifAlias over {ALIAS_MAX} octets")
        return _setter(port, "alias", value.decode("utf-8", "replace"))

    def _system(self, item: int) -> Value | None:
        if item == 1:
            return ("str", SYS_DESCR)
        if item == 2:
            return ("oid", SYS_OBJECT_ID)
        if item == 3:
            return ("ticks", int((self._clock() - self._booted) * 100) % 2**32)
        return {4: ("str", self.contact), 5: ("str", self.hostname), 6: ("str", self.location)}.get(
            item
        )

    def _column(self, name: str, port: Port) -> Value:
        if name == "ifIndex":
            return ("int", port.index)
        if name in ("ifDescr", "ifName"):
            return ("str", port.name)
        if name == "ifType":
            return ("int", 6)  # ethernetCsmacd
        if name == "ifAdminStatus":
            return ("int", port.admin)
        if name == "ifOperStatus":
            return ("int", port.oper)
        if name == "ifAlias":
            return ("str", port.alias)
        if port.oper == UP:
            if name == "ifHCInOctets":
                port.in_octets += OCTETS_PER_READ[_BY_NAME[name]]
            else:
                port.out_octets += OCTETS_PER_READ[_BY_NAME[name]]
        return ("counter64", port.in_octets if name == "ifHCInOctets" else port.out_octets)


_SCALAR_ATTRIBUTE = {"sysContact": "contact", "sysLocation": "location"}
_STATUS_WORD = {UP: "up", DOWN: "down", 3: "testing"}


def _setter(target: object, attribute: str, value: object) -> Callable[[], None]:
    return lambda: setattr(target, attribute, value)


def _dotted(oid: Oid) -> str:
    return ".".join(map(str, oid))


# --------------------------------------------------------------------------- the agent


def _to_smi(value: Value) -> Any:
    kind, raw = value
    if kind == "int":
        return rfc1902.Integer32(raw)
    if kind == "str":
        return rfc1902.OctetString(str(raw).encode())
    if kind == "counter64":
        return rfc1902.Counter64(raw)
    if kind == "ticks":
        return rfc1902.TimeTicks(raw)
    return rfc1902.ObjectIdentifier(raw)


def _from_smi(value: Any) -> object:
    if isinstance(value, rfc1902.Integer32 | rfc1902.Integer):
        return int(value)
    if isinstance(value, rfc1902.OctetString):
        return value.asOctets()
    return value


_SMI_ERRORS: dict[str, type[smi_error.MibOperationError]] = {
    "notWritable": smi_error.NotWritableError,
    "noCreation": smi_error.NoCreationError,
    "wrongType": smi_error.WrongTypeError,
    "wrongValue": smi_error.WrongValueError,
    "wrongLength": smi_error.WrongLengthError,
    "inconsistentValue": smi_error.InconsistentValueError,
}


class _Instrumentation(instrum.AbstractMibInstrumController):
    """The agent's MIB: every request is answered from the switch model, under VACM."""

    def __init__(self, agent: SnmpAgent) -> None:
        self._agent = agent

    @staticmethod
    def _visible(view: str, oid: Oid, value: Any, context: dict[str, Any]) -> bool:
        check = context.get("acFun")
        # acFun raises AuthorizationError when the requester has no view at all, and answers
        # True when this object is outside its view
        return check is None or not check(view, (rfc1902.ObjectName(oid), value), **context)

    def read_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        answer = []
        switch = self._agent.router
        for position, (name, _) in enumerate(var_binds):
            oid = tuple(name)
            found = switch.value(oid)
            value = rfc1905.noSuchInstance if found is None else _to_smi(found)
            if found is not None and not self._visible(
                "read", oid, value, context | {"idx": position}
            ):
                value = rfc1905.noSuchObject
            answer.append((rfc1902.ObjectName(oid), value))
        return answer

    def read_next_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        answer = []
        switch = self._agent.router
        for position, (name, _) in enumerate(var_binds):
            oid = tuple(name)
            while True:
                found = switch.successor(oid)
                if found is None:
                    answer.append((rfc1902.ObjectName(oid), rfc1905.endOfMibView))
                    break
                oid, value = found[0], _to_smi(found[1])
                if self._visible("read", oid, value, context | {"idx": position}):
                    answer.append((rfc1902.ObjectName(oid), value))
                    break
        return answer

    def write_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        changes = []
        for position, (name, value) in enumerate(var_binds):
            oid = tuple(name)
            if not self._visible("write", oid, value, context | {"idx": position}):
                # RFC 3416 4.2.5: outside the requester's write view
                raise smi_error.NoAccessError(name=name, idx=position)
            changes.append((oid, _from_smi(value)))
        try:
            self._agent.router.write(changes, self._agent.faults.rejects)
        except SnmpError as refusal:
            raise _SMI_ERRORS[refusal.status](
                name=var_binds[refusal.index][0], idx=refusal.index
            ) from None
        return list(var_binds)


class _LabUdpTransport(udp.UdpAsyncioTransport):
    """pysnmp's UDP server transport with the lab's faults applied to each datagram."""

    def __init__(self, agent: SnmpAgent) -> None:
        super().__init__()
        self._agent = agent
        self._delayed: set[asyncio.TimerHandle] = set()

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:  # noqa: N803
        agent = self._agent
        agent.requests_seen += 1
        faults = agent.faults
        if faults.refuse_connections:
            return  # UDP: a refusing agent simply never answers
        if faults.drop_after is not None and agent.requests_seen > faults.drop_after:
            return  # hung after its k-th request
        if faults.hang_up_on is not None and agent.requests_seen >= faults.hang_up_on:
            return  # hung on its k-th request
        if faults.latency_ms:
            handle = self.loop.call_later(
                faults.latency_ms / 1000, self._deliver, datagram, transportAddress
            )
            self._delayed.add(handle)
        else:
            self.loop.call_soon(self._deliver, datagram, transportAddress)

    def _deliver(self, datagram: bytes, address: Any) -> None:
        now = self.loop.time()
        self._delayed = {h for h in self._delayed if h.when() > now and not h.cancelled()}
        callback = self._callback_function
        if callback is not None and self.transport is not None and not self.transport.is_closing():
            callback(self, address, datagram)

    def close_transport(self) -> None:
        for handle in self._delayed:
            handle.cancel()
        self._delayed.clear()
        super().close_transport()


class SnmpAgent:
    """One simulated switch on one loopback UDP port. Lives in the lab's event loop.

    SNMPv3: user `username`, HMAC-SHA-96 with `auth_key`, AES-128 with `priv_key`, authPriv.
    SNMPv2c: community `community` may read and write; `public` may only read (a write
    answers noAccess). User `guest` has the same keys and no access at all (authorizationError).
    """

    def __init__(
        self,
        router: SnmpSwitch,
        *,
        username: str,
        auth_key: str,
        priv_key: str,
        community: str,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        for what, key in (("auth", auth_key), ("priv", priv_key)):
            if len(key) < 8:
                raise ValueError(f"SNMPv3 {what} key must be at least 8 characters")
        self.router = router
        self.username = username
        self.auth_key = auth_key
        self.priv_key = priv_key
        self.community = community
        self.faults = faults if faults is not None else Faults()
        self.host = host
        self.port = port
        self.requests_seen = 0
        self._engine: engine.SnmpEngine | None = None
        self._transport: _LabUdpTransport | None = None
        self._keys_broken = False

    async def start(self) -> int:
        snmp = engine.SnmpEngine()
        _set_engine_id(snmp, self.router.hostname)
        transport = _LabUdpTransport(self).open_server_mode((self.host, self.port))
        endpoint, _ = await transport._lport
        self.port = endpoint.get_extra_info("sockname")[1]
        config.add_transport(snmp, udp.DOMAIN_NAME, transport)
        # the agent's timers only expire cached request state: no need for 10 ticks a second
        snmp.transport_dispatcher.set_timer_resolution(0.5)
        self._engine, self._transport = snmp, transport
        self._add_credentials(broken=self.faults.auth_fail)
        # `public` reads everything and writes nothing (an explicit empty write view: pysnmp
        # lets a write through when the view has no entries at all)
        config.add_v1_system(snmp, "ro-area", READ_ONLY_COMMUNITY)
        config.add_vacm_group(snmp, "read-only", 2, "ro-area")
        config.add_vacm_access(
            snmp, "read-only", b"", 2, "noAuthNoPriv", "exact", "mib-2", "nothing", "nothing"
        )
        config.add_vacm_view(snmp, "mib-2", "included", MIB_2, b"")
        config.add_vacm_view(snmp, "nothing", "excluded", MIB_2, b"")
        # a USM user with the right keys but in no VACM group: every request is refused
        config.add_v3_user(
            snmp,
            UNAUTHORIZED_USER,
            config.USM_AUTH_HMAC96_SHA,
            self.auth_key,
            config.USM_PRIV_CFB128_AES,
            self.priv_key,
        )
        snmp_context = context.SnmpContext(snmp)
        snmp_context.unregister_context_name(b"")
        snmp_context.register_context_name(b"", _Instrumentation(self))
        for responder in (
            cmdrsp.GetCommandResponder,
            cmdrsp.NextCommandResponder,
            cmdrsp.BulkCommandResponder,
            cmdrsp.SetCommandResponder,
        ):
            responder(snmp, snmp_context)
        return self.port

    async def stop(self) -> None:
        snmp, self._engine = self._engine, None
        if snmp is not None:
            snmp.close_dispatcher()
        self._transport = None

    async def set_faults(self, **changes: object) -> None:
        self.faults.update(**changes)
        if self._engine is not None and self.faults.auth_fail != self._keys_broken:
            self._remove_credentials()
            self._add_credentials(broken=self.faults.auth_fail)

    def _add_credentials(self, broken: bool) -> None:
        """The read-write user and community; `broken` (the auth_fail fault) spoils the keys
        and drops the community, so every request fails authentication as with wrong keys."""
        snmp = self._engine
        assert snmp is not None
        spoil = "-spoiled-by-the-lab" if broken else ""
        config.add_v3_user(
            snmp,
            self.username,
            config.USM_AUTH_HMAC96_SHA,
            self.auth_key + spoil,
            config.USM_PRIV_CFB128_AES,
            self.priv_key + spoil,
        )
        config.add_vacm_user(snmp, 3, self.username, "authPriv", MIB_2, MIB_2)
        if not broken:
            config.add_v1_system(snmp, "rw-area", self.community)
            config.add_vacm_user(snmp, 2, "rw-area", "noAuthNoPriv", MIB_2, MIB_2)
        self._keys_broken = broken

    def _remove_credentials(self) -> None:
        snmp = self._engine
        assert snmp is not None
        config.delete_v3_user(snmp, self.username)
        if not self._keys_broken:
            config.delete_v1_system(snmp, "rw-area")


def _set_engine_id(snmp: engine.SnmpEngine, hostname: str) -> None:
    """A distinct engine ID per agent (format 5, octets): twins in one process must differ.

    Passing snmpEngineID to SnmpEngine() would make pysnmp persist boots under /tmp.
    """
    digest = hashlib.sha256(hostname.encode() + os.urandom(8)).digest()[:12]
    (engine_id,) = snmp.get_mib_builder().import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineID")
    engine_id.syntax = engine_id.syntax.clone(bytes([0x80, 0x00, 0x4F, 0xB8, 0x05]) + digest)
    snmp.snmpEngineID = engine_id.syntax


# --------------------------------------------------------------------------- the lab's view


def _build(spec: SpecLike) -> SnmpSwitch:
    switch = SnmpSwitch(spec.name, spec.interfaces)
    switch.configure(spec.config)
    switch.startup_config = switch.running_config()
    return switch


def _serve(model: SnmpSwitch, spec: SpecLike, host: str) -> SnmpAgent:
    return SnmpAgent(
        model,
        username=spec.username,
        auth_key=spec.password,
        priv_key=spec.secret,
        community=spec.password,
        faults=spec.faults(),
        host=host,
        port=spec.port,
    )


def _base_config(uplink_address: str) -> list[str]:
    """What the controller must never touch: the system group and the uplink's description."""
    return [
        "sysContact noc@carrier.example",
        "sysLocation street cabinet 7, access ring A",
        f"interface {UPLINK} alias uplink to aggregation, mgmt {uplink_address}",
    ]


def _line_config(interface: str, line_name: str, prefixes: Sequence[Prefix]) -> list[str]:
    """A venue's dedicated port carries its line's name; an L2 port holds no addresses."""
    alias = f"line {line_name}".encode()[:ALIAS_MAX].decode("utf-8", "ignore")
    return [f"interface {interface} alias {alias}"]


TWIN = TwinKind(
    platform=PLATFORM,
    build=_build,
    uplink=UPLINK,
    venue_interface=lambda k: f"GigabitEthernet1/0/{k}",
    base_config=_base_config,
    line_config=_line_config,
    serve=_serve,
    ssh=False,
)
