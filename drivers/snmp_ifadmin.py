"""SNMP port-shut driver for L2 access switches: a cut sets IF-MIB ifAdminStatus of the venue's
dedicated port to down(2), a restore sets it back to up(1); read-back checks admin and oper status.

Use it only where a venue has a port of its own and no ACL is possible: a shut port stops every
IPv4 and IPv6 packet of the venue in both directions, and nothing else on the switch changes.

Ports are named by ifName exactly as the switch reports it (`GigabitEthernet1/0/7`, `Gi1/0/7`,
`ge-0/0/7`); each session walks ifName to find the ifIndex, so renumbering after a reboot cannot
make a cut land on another port, and read-back re-reads ifName with the status it verifies.

SNMP has no named objects, so nothing on the switch says "the controller did this":
- a port is CUT when ifAdminStatus is down(2) and ifOperStatus down; OPEN when admin up;
- a port an operator shut by hand looks exactly like a cut. The driver only ever sets a port up
  when a batch asks to restore that line, and the reconciler only restores lines it recorded as
  cut or unknown; a line of unknown state on a port shut by hand will be brought up.
- `read()` can only answer for lines it knows the port of. The driver keeps a per-process book of
  the port each line lives on (inventory facts from the batches it was given, or `learn()`), and
  reports a line whose port is admin-down as an `OwnedLine` built from its target (prefixes, the
  one port as binding, `complete` when oper status is down too), so `state_for` says CUT. A line
  never seen by this process is not reported, whatever its port's state.

Credentials: SNMPv3 authPriv, `username` = user, `password` = HMAC-SHA-96 auth key, `secret` =
AES-128 priv key (passphrases, at least 8 characters). `extra["version"] = "2c"` switches to
SNMPv2c with `password` as the community (a wrong community gets no answer: Unreachable).
Other `extra` options: `attempt_timeout` (s, default 1), `retries` (default 2), `counter_interval`
(s between the two counter reads after a cut, default 0.25 — a per-device option: longer gives
stronger evidence on quiet ports at the cost of the batch's time; 0 reads twice back to back)
and `settle`
(s to wait for ifOperStatus to follow a shut, default 2).

Changes are never saved to the switch's start-up configuration: a switch that reboots mid-curfew
comes back with its venues open, and the next reconcile pass cuts them again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    Integer32,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    set_cmd,
    usmAesCfb128Protocol,
    usmHMACSHAAuthProtocol,
)
from pysnmp.proto import errind, rfc1905

from drivers.base import (
    Action,
    AuthFailed,
    Batch,
    BatchResult,
    Credentials,
    Driver,
    DriverError,
    InvalidIdentifier,
    LineOutcome,
    LineState,
    LineTarget,
    OwnedLine,
    Rejected,
    Timeout,
    Unreachable,
)
from drivers.outcomes import (
    describe,
    first_line,
    summary,
    unknown_outcomes,
    validate_target,
    wanted_state,
    work,
)

PLATFORM = "snmp_ifadmin"

Oid = tuple[int, ...]

# Numeric OIDs: pysnmp 7 ships no IF-MIB.
SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
IF_ADMIN_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
IF_OPER_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
IF_NAME: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
IF_HC_IN_OCTETS: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)
IF_HC_OUT_OCTETS: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10)

UP, DOWN = 1, 2
STATUS_WORDS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
                7: "lowerLayerDown"}  # fmt: skip
# ifOperStatus values of a port that passes no traffic (RFC 2863)
NOT_PASSING = frozenset({2, 6, 7})

# SNMP error-status names (RFC 3416), for what the device answered
ERROR_STATUS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess",
                "wrongType", "wrongLength", "wrongEncoding", "wrongValue", "noCreation",
                "inconsistentValue", "resourceUnavailable", "commitFailed", "undoFailed",
                "authorizationError", "notWritable", "inconsistentName")  # fmt: skip
AUTHORIZATION_ERROR = 16

# Requests in flight at once in one session (switch agents have small queues), ports per GET
# (three varbinds each: a reply stays well under a 1,472-octet datagram), rows asked per
# GETBULK (an agent returns fewer when they would not fit; the walk simply goes on).
IN_FLIGHT = 8
PORTS_PER_GET = 8
BULK_REPETITIONS = 50
WALK_ROWS_MAX = 100_000
SETTLE_POLL = 0.05

# Errors that say the keys, the user or the community's rights are wrong: no retry helps.
_AUTH_INDICATIONS = (
    errind.WrongDigest,
    errind.DecryptionError,
    errind.AuthenticationFailure,
    errind.AuthenticationError,
    errind.UnknownUserName,
    errind.UnknownSecurityName,
    errind.UnsupportedSecurityLevel,
    errind.UnsupportedAuthProtocol,
    errind.UnsupportedPrivProtocol,
    errind.NoAuthentication,
    errind.NoEncryption,
    errind.UnknownCommunityName,
)


def dotted(oid: Oid) -> str:
    return ".".join(map(str, oid))


def status_word(value: int | None) -> str:
    if value is None:
        return "absent"
    return f"{STATUS_WORDS.get(value, 'invalid')}({value})"


# --------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class SnmpOptions:
    """What `Credentials.extra` may say; every value is a string there."""

    version: str = "3"
    attempt_timeout: float = 1.0
    retries: int = 2
    counter_interval: float = 0.25
    settle: float = 2.0

    @classmethod
    def from_extra(cls, extra: Mapping[str, str]) -> SnmpOptions:
        known = {"version", "attempt_timeout", "retries", "counter_interval", "settle"}
        unknown = set(extra) - known
        if unknown:
            raise ValueError(f"unknown SNMP option(s): {', '.join(sorted(unknown))}")
        version = extra.get("version", "3")
        if version not in ("3", "2c"):
            raise ValueError(f"SNMP version must be '3' or '2c', got {version!r}")
        try:
            options = cls(
                version=version,
                attempt_timeout=float(extra.get("attempt_timeout", cls.attempt_timeout)),
                retries=int(extra.get("retries", cls.retries)),
                counter_interval=float(extra.get("counter_interval", cls.counter_interval)),
                settle=float(extra.get("settle", cls.settle)),
            )
        except ValueError as exc:
            raise ValueError(f"bad SNMP option: {exc}") from None
        if not 0 < options.attempt_timeout <= 60 or not 0 <= options.retries <= 10:
            raise ValueError("attempt_timeout must be in (0, 60] s and retries in 0..10")
        if not 0 <= options.counter_interval <= 60 or not 0 <= options.settle <= 60:
            raise ValueError("counter_interval and settle must be in [0, 60] s")
        return options

    def attempts(self, budget: float) -> tuple[float, int]:
        """Per-request timeout and retries, so that one exchange never outlasts `budget`."""
        timeout = min(self.attempt_timeout, budget)
        return timeout, min(self.retries, max(0, int(budget / timeout) - 1))


# --------------------------------------------------------------------------------------------
# What read finds


@dataclass(frozen=True)
class PortStatus:
    """One port as the switch reports it; `admin`/`oper` None when the agent has no value."""

    name: str
    index: int
    admin: int | None = None
    oper: int | None = None

    @property
    def state(self) -> LineState:
        if self.admin == UP:
            return LineState.OPEN
        if self.admin == DOWN and self.oper in NOT_PASSING:
            return LineState.CUT
        return LineState.UNKNOWN

    def describe(self) -> str:
        return (
            f"{self.name} ifIndex {self.index}: ifAdminStatus {status_word(self.admin)}, "
            f"ifOperStatus {status_word(self.oper)}"
        )


@dataclass(frozen=True)
class SnmpOwnedLine(OwnedLine):
    """A line whose port is not up, built from its target: the switch holds no prefixes."""

    port: PortStatus | None = None

    def state_for(self, target: LineTarget) -> LineState:
        """A shut port is a body and a binding in one: only a port reporting admin and oper
        status down is a cut, and a port the switch did not report is unknown."""
        if (
            self.complete
            and self.prefixes == frozenset(target.prefixes)
            and self.bindings == frozenset({target.interface})
        ):
            return LineState.CUT
        return LineState.UNKNOWN


class SwitchPorts(dict[int, OwnedLine]):
    """Lines whose port is not up, by id (what `read()` returns), plus the port table.

    `ports` maps each ifName to its status; `duplicates` are ifNames reported by more than one
    ifIndex, which no line may be rendered against.
    """

    def __init__(
        self,
        lines: Mapping[int, OwnedLine] | None = None,
        ports: Mapping[str, PortStatus] | None = None,
        duplicates: Iterable[str] = (),
    ) -> None:
        super().__init__(lines or {})
        self.ports: dict[str, PortStatus] = dict(ports or {})
        self.duplicates = frozenset(duplicates)


def owned_line(
    target: LineTarget, port: PortStatus | None, ambiguous: bool = False
) -> OwnedLine | None:
    """What the switch says of one line: None when its port is up (OPEN)."""
    if port is not None and not ambiguous and port.state is LineState.OPEN:
        return None
    complete = port is not None and not ambiguous and port.state is LineState.CUT
    return SnmpOwnedLine(
        line_id=target.line_id,
        prefixes=frozenset(target.prefixes),
        bindings=frozenset({target.interface}) if port is not None else frozenset(),
        complete=complete,
        port=port,
    )


def owned_lines(
    targets: Iterable[LineTarget], ports: Mapping[str, PortStatus], duplicates: Iterable[str] = ()
) -> SwitchPorts:
    duplicates = frozenset(duplicates)
    lines: dict[int, OwnedLine] = {}
    for target in targets:
        found = owned_line(target, ports.get(target.interface), target.interface in duplicates)
        if found is not None:
            lines[target.line_id] = found
    return SwitchPorts(lines, ports, duplicates)


class LineBook:
    """The port each line lives on, per switch, as this process has been told.

    Inventory facts, never state: the state is always read from the switch. A port belongs to
    one line, so learning a line forgets any other line that named the same port.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._switches: dict[tuple[str, str, int], dict[int, LineTarget]] = {}

    def learn(self, switch: tuple[str, str, int], targets: Iterable[LineTarget]) -> None:
        with self._lock:
            lines = self._switches.setdefault(switch, {})
            for target in targets:
                for line_id, known in list(lines.items()):
                    if known.interface == target.interface and line_id != target.line_id:
                        del lines[line_id]
                lines[target.line_id] = target

    def lines(self, switch: tuple[str, str, int]) -> tuple[LineTarget, ...]:
        with self._lock:
            return tuple(self._switches.get(switch, {}).values())


LINES = LineBook()


# --------------------------------------------------------------------------------------------
# What render sends


def check_target(target: LineTarget) -> None:
    """Refuse any target a command would be unsafe to render from."""
    validate_target(PLATFORM, target)


def set_command(port: PortStatus, value: int) -> str:
    """The one SET a line's change is, as the change log records it."""
    oid = dotted(IF_ADMIN_STATUS + (port.index,))
    return f"set {oid} = {status_word(value)} [ifAdminStatus {port.name}]"


@dataclass(frozen=True)
class LinePlan:
    target: LineTarget
    action: Action
    port: PortStatus | None = None
    value: int | None = None  # the ifAdminStatus to set; None: nothing to send
    refusal: DriverError | None = None

    @property
    def commands(self) -> tuple[str, ...]:
        if self.port is None or self.value is None:
            return ()
        return (set_command(self.port, self.value),)


def plan_batch(batch: Batch, ports: SwitchPorts) -> tuple[LinePlan, ...]:
    """One plan per line, restores first; a refused line carries its refusal and no command."""
    lines = work(batch)
    claims: dict[str, list[int]] = {}
    for _, target in lines:
        claims.setdefault(target.interface, []).append(target.line_id)
    plans = []
    for action, target in lines:
        try:
            check_target(target)
            port = _port_for(target, ports, claims[target.interface])
        except DriverError as refusal:
            plans.append(LinePlan(target, action, refusal=refusal))
            continue
        if action is Action.RESTORE:
            value = None if port.admin == UP else UP
        else:
            value = None if port.state is LineState.CUT else DOWN
        plans.append(LinePlan(target, action, port, value))
    return tuple(plans)


def _port_for(target: LineTarget, ports: SwitchPorts, claimants: list[int]) -> PortStatus:
    name = target.interface
    if len(claimants) > 1:
        others = ", ".join(str(i) for i in claimants)
        raise Rejected(
            f"line {target.line_id}: port {name} is named by lines {others} of one batch; "
            f"a port serves one venue"
        )
    if name in ports.duplicates:
        raise Rejected(f"line {target.line_id}: the switch reports ifName {name} more than once")
    port = ports.ports.get(name)
    if port is None:
        raise Rejected(f"line {target.line_id}: the switch reports no port with ifName {name}")
    if port.admin is None:
        raise Rejected(f"line {target.line_id}: port {name} has no ifAdminStatus")
    return port


# --------------------------------------------------------------------------------------------
# The session: pysnmp's asyncio API on a private event loop

T = TypeVar("T")


def _is_absent(value: Any) -> bool:
    return isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView)


def _integer(value: Any) -> int | None:
    if _is_absent(value):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if _is_absent(value):
        return None
    try:
        return bytes(value.asOctets()).decode("utf-8", "replace")
    except AttributeError:
        return None


class SnmpSession:
    """One switch's engine, credentials and target, driven from synchronous code.

    pysnmp's asyncio API needs a running loop; the driver contract is synchronous and the
    reconciler calls drivers from worker threads. Each session owns a private loop, run by the
    calling thread for each exchange (or by a helper thread when the caller already runs one).
    """

    def __init__(self, where: str, credentials: Credentials, options: SnmpOptions) -> None:
        self.where = where
        self.credentials = credentials
        self.options = options
        self.auth = _auth_data(where, credentials, options)
        self.context = ContextData()
        self.timeout, self.retries = options.attempts(credentials.timeout)
        self.loop = asyncio.new_event_loop()
        self.engine: SnmpEngine | None = None
        self.target: UdpTransportTarget | None = None
        self.contacted = False
        self._helper: ThreadPoolExecutor | None = None
        self._in_flight: asyncio.Semaphore | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.loop.run_until_complete(coroutine)
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix="snmp-session")
        return self._helper.submit(self.loop.run_until_complete, coroutine).result()

    def close(self) -> None:
        try:
            if not self.loop.is_closed():
                self.run(self._shutdown())
        finally:
            if not self.loop.is_closed():
                self.loop.close()
            if self._helper is not None:
                self._helper.shutdown(wait=True)

    async def _shutdown(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.close_dispatcher()
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1)
        # the address was resolved in the loop's default executor: end its thread now (a
        # resolver still stuck on DNS is left to finish on its own)
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.get_running_loop().shutdown_default_executor(), 1)

    # -- exchanges; pysnmp's answers become the project's errors here ----------------------

    async def connect(self) -> None:
        """Resolve the address and ask sysUpTime: the first answer proves address and keys."""
        host, port = self.credentials.host, self.credentials.port
        try:
            self.engine = SnmpEngine()
            self.target = await asyncio.wait_for(
                UdpTransportTarget.create((host, port), timeout=self.timeout, retries=self.retries),
                self.credentials.timeout,
            )
        except PySnmpError as exc:
            raise Unreachable(f"{self.where}: {first_line(exc)}") from exc
        except TimeoutError as exc:
            raise Unreachable(f"{self.where}: {host} did not resolve in time") from exc
        await self.get([SYS_UPTIME])
        self.contacted = True

    async def get(self, oids: Sequence[Oid]) -> list[tuple[Oid, Any]]:
        answer = await self._request(
            "GET", get_cmd, *(ObjectType(ObjectIdentity(dotted(o))) for o in oids)
        )
        return [(tuple(name), value) for name, value in answer]

    async def set_integer(self, oid: Oid, value: int) -> int:
        """SET one INTEGER; the error-status the device answered (0: done)."""
        indication, status, _, _ = await self._exchange(
            set_cmd, ObjectType(ObjectIdentity(dotted(oid)), Integer32(value))
        )
        self._raise_for(indication, "SET")
        return int(status)

    async def walk(self, column: Oid) -> dict[int, Any]:
        """Every instance of one table column, by ifIndex (GETBULK)."""
        rows: dict[int, Any] = {}
        cursor = column
        while len(rows) < WALK_ROWS_MAX:
            answer = await self._request(
                "GETBULK", bulk_cmd, 0, BULK_REPETITIONS, ObjectType(ObjectIdentity(dotted(cursor)))
            )
            for name, value in answer:
                oid = tuple(name)
                if oid[: len(column)] != column or _is_absent(value):
                    return rows
                if oid <= cursor or len(oid) != len(column) + 1:
                    raise Rejected(f"{self.where}: the agent broke the walk of {dotted(column)}")
                rows[oid[-1]] = value
                cursor = oid
            if not answer:
                return rows
        raise Rejected(f"{self.where}: {dotted(column)} has over {WALK_ROWS_MAX} rows")

    async def _request(self, what: str, command: Any, *args: Any) -> list[Any]:
        indication, status, index, var_binds = await self._exchange(command, *args)
        self._raise_for(indication, what)
        if int(status):
            error = AuthFailed if int(status) == AUTHORIZATION_ERROR else Rejected
            raise error(f"{self.where}: {what} answered {_status_name(status)} (index {index})")
        return list(var_binds)

    async def _exchange(self, command: Any, *args: Any) -> tuple[Any, Any, Any, Any]:
        if self._in_flight is None:
            self._in_flight = asyncio.Semaphore(IN_FLIGHT)
        try:
            async with self._in_flight:
                return await command(
                    self.engine, self.auth, self.target, self.context, *args, lookupMib=False
                )
        except PySnmpError as exc:
            raise Unreachable(f"{self.where}: pysnmp: {first_line(exc)}") from exc

    def _raise_for(self, indication: Any, what: str) -> None:
        if not indication:
            return
        text = f"{self.where}: {what}: {indication}"
        if isinstance(indication, errind.RequestTimedOut):
            waited = f"no answer in {self.timeout * (self.retries + 1):g} s"
            if self.contacted:
                raise Timeout(f"{self.where}: {what}: {waited}")
            hint = ", or a wrong community" if self.options.version == "2c" else ""
            raise Unreachable(f"{self.where}: {waited} (agent down or unreachable{hint})")
        if isinstance(indication, _AUTH_INDICATIONS):
            raise AuthFailed(text)
        raise Unreachable(text)


def _auth_data(where: str, credentials: Credentials, options: SnmpOptions) -> Any:
    if options.version == "2c":
        if not credentials.password:
            raise AuthFailed(f"{where}: SNMPv2c needs a community (the password)")
        return CommunityData(credentials.password, mpModel=1)
    if not credentials.username or len(credentials.password) < 8 or len(credentials.secret) < 8:
        raise AuthFailed(
            f"{where}: SNMPv3 needs a user, and auth and priv keys of at least 8 characters"
        )
    return UsmUserData(
        credentials.username,
        credentials.password,
        credentials.secret,
        authProtocol=usmHMACSHAAuthProtocol,
        privProtocol=usmAesCfb128Protocol,
    )


def _status_name(status: Any) -> str:
    number = int(status)
    return ERROR_STATUS[number] if 0 <= number < len(ERROR_STATUS) else f"error {number}"


# --------------------------------------------------------------------------------------------
# The driver


@dataclass
class _Push:
    """What one push did: the device's answer per plan, and its text."""

    answers: dict[int, int] = field(default_factory=dict)  # plan index -> error-status
    log: list[str] = field(default_factory=list)


class SnmpIfAdminDriver(Driver):
    """One L2 access switch over SNMP (pysnmp's asyncio API on a private loop)."""

    platform: ClassVar[str] = PLATFORM

    def __init__(self, name: str, credentials: Credentials) -> None:
        super().__init__(name, credentials)
        self.options = SnmpOptions.from_extra(credentials.extra)
        self._session: SnmpSession | None = None

    @property
    def switch(self) -> tuple[str, str, int]:
        """The key of this switch in the line book."""
        return (self.name, self.credentials.host, self.credentials.port)

    @property
    def where(self) -> str:
        return f"{self.name} ({self.credentials.host}:{self.credentials.port})"

    def learn(self, targets: Iterable[LineTarget]) -> None:
        """Tell the driver which port each line lives on, so `read()` can answer for it."""
        valid = []
        for target in targets:
            try:
                check_target(target)
            except InvalidIdentifier:
                continue
            valid.append(target)
        LINES.learn(self.switch, valid)

    # -- session lifecycle -------------------------------------------------------------------

    def open(self) -> None:
        if self._session is not None:
            return
        session = SnmpSession(self.where, self.credentials, self.options)
        try:
            session.run(session.connect())
        except BaseException:
            session.close()
            raise
        self._session = session

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception:  # noqa: BLE001 - closing a dead session must not fail a pass
                pass

    @contextmanager
    def _opened(self) -> Iterator[SnmpSession]:
        opened_here = self._session is None
        self.open()
        assert self._session is not None
        try:
            yield self._session
        finally:
            if opened_here:
                self.close()

    # -- device exchanges ------------------------------------------------------------------

    async def _read_ports(self, session: SnmpSession) -> SwitchPorts:
        names, admins, opers = await _all(
            session.walk(column) for column in (IF_NAME, IF_ADMIN_STATUS, IF_OPER_STATUS)
        )
        ports: dict[str, PortStatus] = {}
        seen: Counter[str] = Counter()
        for index, value in sorted(names.items()):
            name = _text(value)
            if name is None:
                continue
            seen[name] += 1
            ports[name] = PortStatus(
                name, index, _integer(admins.get(index)), _integer(opers.get(index))
            )
        duplicates = {name for name, count in seen.items() if count > 1}
        return owned_lines(LINES.lines(self.switch), ports, duplicates)

    async def _statuses(
        self, session: SnmpSession, ports: Sequence[PortStatus]
    ) -> dict[str, PortStatus]:
        """Fresh admin and oper status, read with ifName: a renumbered index reads as absent."""

        async def chunk(group: Sequence[PortStatus]) -> list[PortStatus]:
            oids = [
                c + (p.index,) for p in group for c in (IF_NAME, IF_ADMIN_STATUS, IF_OPER_STATUS)
            ]
            answer = dict(await session.get(oids))
            found = []
            for port in group:
                if _text(answer.get(IF_NAME + (port.index,))) != port.name:
                    found.append(PortStatus(port.name, port.index))
                    continue
                found.append(
                    PortStatus(
                        port.name,
                        port.index,
                        _integer(answer.get(IF_ADMIN_STATUS + (port.index,))),
                        _integer(answer.get(IF_OPER_STATUS + (port.index,))),
                    )
                )
            return found

        groups = [ports[i : i + PORTS_PER_GET] for i in range(0, len(ports), PORTS_PER_GET)]
        found = await _all(chunk(g) for g in groups)
        return {port.name: port for group in found for port in group}

    async def _counters(
        self, session: SnmpSession, ports: Sequence[PortStatus]
    ) -> dict[str, tuple[int | None, int | None]]:
        async def chunk(group: Sequence[PortStatus]) -> dict[str, tuple[int | None, int | None]]:
            oids = [c + (p.index,) for p in group for c in (IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS)]
            answer = dict(await session.get(oids))
            return {
                p.name: (
                    _integer(answer.get(IF_HC_IN_OCTETS + (p.index,))),
                    _integer(answer.get(IF_HC_OUT_OCTETS + (p.index,))),
                )
                for p in group
            }

        groups = [ports[i : i + PORTS_PER_GET] for i in range(0, len(ports), PORTS_PER_GET)]
        found: dict[str, tuple[int | None, int | None]] = {}
        for part in await _all(chunk(g) for g in groups):
            found.update(part)
        return found

    async def _push(self, session: SnmpSession, plans: Sequence[LinePlan], push: _Push) -> None:
        """Every SET, restores first, `IN_FLIGHT` at a time; a silent device stops the push."""

        async def one(index: int, plan: LinePlan) -> None:
            assert plan.port is not None and plan.value is not None
            status = await session.set_integer(IF_ADMIN_STATUS + (plan.port.index,), plan.value)
            push.answers[index] = status
            push.log.append(f"{plan.commands[0]}: {_status_name(status)}")

        await _all(one(i, plan) for i, plan in enumerate(plans) if plan.commands)

    async def _verify(
        self, session: SnmpSession, plans: Sequence[LinePlan], push: _Push
    ) -> dict[str, PortStatus]:
        """Read every planned port back; give a shut port `settle` seconds to go oper-down, and
        record whether the octet counters of the ports just shut stopped growing."""
        ports = list({p.port.name: p.port for p in plans if p.port is not None}.values())
        shut = [
            p.port
            for i, p in enumerate(plans)
            if p.port is not None and p.value == DOWN and push.answers.get(i) == 0
        ]
        first = await self._evidence_counters(session, shut, push) if shut else None
        sampled = time.monotonic()
        fresh = await self._statuses(session, ports)
        deadline = time.monotonic() + self.options.settle
        while True:
            lagging = [
                p
                for p in fresh.values()
                if p.admin == DOWN and p.oper is not None and p.oper not in NOT_PASSING
            ]
            if not lagging or time.monotonic() >= deadline:
                break
            await asyncio.sleep(SETTLE_POLL)
            fresh.update(await self._statuses(session, lagging))
        push.log += [f"read back {port.describe()}" for port in fresh.values()]
        if first is not None:
            rest = self.options.counter_interval - (time.monotonic() - sampled)
            if rest > 0:
                await asyncio.sleep(rest)
            second = await self._evidence_counters(session, shut, push)
            elapsed = time.monotonic() - sampled
            if second is not None:
                push.log += [
                    _evidence(p, first.get(p.name), second.get(p.name), elapsed) for p in shut
                ]
        return fresh

    async def _evidence_counters(
        self, session: SnmpSession, ports: Sequence[PortStatus], push: _Push
    ) -> dict[str, tuple[int | None, int | None]] | None:
        """Counters are evidence, not the verdict: a refused read is noted, not raised."""
        try:
            return await self._counters(session, ports)
        except Rejected as exc:
            push.log.append(f"counters not read: {exc}")
            return None

    # -- the contract ----------------------------------------------------------------------

    def read(self) -> SwitchPorts:
        """Lines this process knows whose port is not up; the answer also carries every port."""
        with self._opened() as session:
            return session.run(self._read_ports(session))

    def render(self, batch: Batch, owned: dict[int, OwnedLine]) -> list[str]:
        """The SETs for the batch, restores first; refused lines contribute none.

        Pass what `read()` returned: only it knows each port's ifIndex and status.
        Raises InvalidIdentifier if any target fails validation, before rendering anything.
        """
        for target in (*batch.restores, *batch.cuts):
            check_target(target)
        if not isinstance(owned, SwitchPorts):
            raise ValueError("render against what read() returned: it carries the port table")
        return [command for plan in plan_batch(batch, owned) for command in plan.commands]

    def apply(self, batch: Batch) -> BatchResult:
        """The one place a device error becomes a result."""
        if not len(batch):
            return BatchResult(self.name, ())
        self.learn((*batch.restores, *batch.cuts))
        plans: tuple[LinePlan, ...] = ()
        sent: tuple[str, ...] = ()
        push = _Push()
        try:
            with self._opened() as session:
                before = session.run(self._read_ports(session))
                plans = plan_batch(batch, before)
                sent = tuple(c for plan in plans for c in plan.commands)
                if sent:
                    session.run(self._push(session, plans, push))
                    fresh = session.run(self._verify(session, plans, push))
                else:
                    fresh = {}
        except DriverError as exc:
            return BatchResult(
                device=self.name,
                outcomes=unknown_outcomes(batch, plans, exc),
                commands=sent,
                device_output="\n".join(push.log) or exc.output,
                error=exc,
            )
        after = {**before.ports, **fresh}
        outcomes = tuple(
            _outcome(plan, after, before.duplicates, push.answers.get(i))
            for i, plan in enumerate(plans)
        )
        return BatchResult(
            self.name, outcomes, sent, "\n".join(push.log), _batch_error(plans, push)
        )


async def _all(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run together; the first failure cancels the rest and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coroutines]
    except BaseExceptionGroup as failed:
        raise _first_error(failed) from None
    return [task.result() for task in tasks]


def _first_error(group: BaseExceptionGroup) -> BaseException:
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


def _evidence(
    port: PortStatus,
    first: tuple[int | None, int | None] | None,
    second: tuple[int | None, int | None] | None,
    elapsed: float,
) -> str:
    head = f"counters {port.name}"
    if not first or not second or None in first or None in second:
        return f"{head}: ifHCInOctets/ifHCOutOctets not available"
    (in1, out1), (in2, out2) = first, second
    verdict = "stopped" if (in1, out1) == (in2, out2) else "still growing"
    return (
        f"{head}: ifHCInOctets {in1} -> {in2}, ifHCOutOctets {out1} -> {out2} "
        f"over {elapsed:.2f} s: {verdict}"
    )


def _outcome(
    plan: LinePlan, ports: Mapping[str, PortStatus], duplicates: frozenset[str], status: int | None
) -> LineOutcome:
    found = owned_line(
        plan.target, ports.get(plan.target.interface), plan.target.interface in duplicates
    )
    state = LineState.OPEN if found is None else found.state_for(plan.target)
    wanted = wanted_state(plan.action)
    refused = bool(status)
    verified = plan.refusal is None and not refused and state is wanted
    error: str | None = None
    if plan.refusal is not None:
        error = describe(plan.refusal)
    elif refused:
        kind = AuthFailed if status == AUTHORIZATION_ERROR else Rejected
        error = f"{kind.__name__}: device answered {_status_name(status)} to {plan.commands[0]!r}"
    elif not verified:
        port = ports.get(plan.target.interface)
        seen = port.describe() if port is not None else "port not found"
        error = (
            f"VerifyFailed: read-back shows line {plan.target.line_id} {state} ({seen}), "
            f"expected {wanted}"
        )
    return LineOutcome(plan.target.line_id, plan.action, plan.commands, state, verified, error)


def _batch_error(plans: Sequence[LinePlan], push: _Push) -> DriverError | None:
    """The batch's error when the device refused a SET: AuthFailed before Rejected."""
    refused = [(i, status) for i, status in sorted(push.answers.items()) if status]
    if not refused:
        return None
    messages = [
        f"device rejected {plans[i].commands[0]!r}: {_status_name(status)}" for i, status in refused
    ]
    output = "\n".join(push.log)
    if any(status == AUTHORIZATION_ERROR for _, status in refused):
        return AuthFailed(summary(messages), output=output)
    return Rejected(summary(messages), output=output)
