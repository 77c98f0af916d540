"""Arista EOS driver over NAPALM's `eos` driver (eAPI): a cut is a pair of named ACLs,
CURFEW-L<id> and CURFEW6-L<id>, bound in and out on the venue's interface, pushed as one
configure session, committed with a revert timer and confirmed only once read-back verifies.

The path of one batch: read `show running-config` (text, through napalm's `get_config`), render
only the difference, `load_merge_candidate`, `compare_config` (the dry-run diff, see `diff`),
`commit_config(revert_in=N)`, read back, then `confirm_commit()` if every line verified, else
`rollback()`. If anything fails between the commit and the confirmation, the switch reverts by
itself when the timer runs out (or at once: napalm's `close()` aborts an unconfirmed session).

Unlike the IOS driver, a confirmed change is saved: napalm's `confirm_commit` and `rollback` end
with `write memory`, and its rollback checkpoint is the startup-config it copies to
`flash:rollback-0`. A switch that reboots mid-curfew therefore comes back with its venues cut;
the next reconcile pass opens them at the end of the window as usual.
"""

from __future__ import annotations

import http.client
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from ipaddress import (
    IPv4Interface,
    IPv6Interface,
    ip_address,
    ip_interface,
    ip_network,
)
from typing import Any, ClassVar, TypeVar

import napalm
import pyeapi.eapilib
from napalm.base.exceptions import (
    CommitError,
    ConnectionException,
    MergeConfigException,
    SessionLockedException,
    UnsupportedVersion,
)

from drivers.acl import (
    AclOwnedLine,
    BoundFilters,
    CiscoDirection,
    CiscoStyleAcls,
    Entry,
    Family,
    family_of,
    owned_lines,
    owner_of,
)
from drivers.base import (
    AuthFailed,
    Batch,
    Credentials,
    DeviceFacts,
    DriverError,
    LineOutcome,
    LineTarget,
    OwnedLine,
    Prefix,
    Rejected,
    Timeout,
    Unreachable,
    VerifyFailed,
    observed_state,
)
from drivers.lifecycle import LinePlan, Progress, Pushed, Replan, Sendable, Step
from drivers.outcomes import (
    describe,
    first_line,
    summary,
    unverified,
    wanted_state,
)

PLATFORM = "arista_eos"
# Driver settings, overridable per device through `Credentials.extra`:
# eAPI transport (the lab serves plain HTTP; a production switch wants "https"), and how long an
# unconfirmed commit stands before the switch reverts it.
DEFAULT_TRANSPORT = "http"
DEFAULT_REVERT_IN = 60
TRANSPORTS = ("http", "https")
# napalm refuses to confirm with less than half a second left; leave read-back ample time
MIN_REVERT_IN = 10
# Our configure sessions carry this prefix: one left pending by a crashed pass is ours to abort.
SESSION_PREFIX = "curfew_"
# A refused command drops its line and the session is loaded again, at most this many times.
MAX_LOADS = 8


class SessionLocked(DriverError):
    """Another client holds a pending configure session (or an unconfirmed commit) on the
    switch; it ends by itself (commit, abort or timer), so a later pass can succeed."""

    retryable = True


class WrongDevice(DriverError):
    """The switch that answered is not the one the inventory names."""

    retryable = False


Direction = CiscoDirection
DIRECTIONS = (Direction.IN, Direction.OUT)

# How each family's objects are spelled: ACL header, interface binding.
_ACL_HEADER = {Family.IPV4: "ip access-list", Family.IPV6: "ipv6 access-list"}
_BINDING = {Family.IPV4: "ip access-group", Family.IPV6: "ipv6 access-group"}
# The read: the owned ACLs whole, and every interface with what it holds (foreign ACLs
# included: binding ours over one would replace it). The patterns match top-level lines only.
OWNED_READ = (
    "show running-config | section ^interface|^ip access-list CURFEW-L|^ipv6 access-list CURFEW6-L"
)


# --------------------------------------------------------------------------------------------
# What read finds


# An owned line as the parser finds it: which ACLs and bindings exist.
EosOwnedLine = AclOwnedLine


Slot = tuple[Family, Direction]


@dataclass(frozen=True)
class StaticRoute:
    prefix: Prefix
    interface: str | None
    next_hop: str | None


class ParsedConfig(BoundFilters[Direction]):
    """Owned lines by id (what `read()` returns), plus every ACL bound on each interface.

    EOS holds one ACL per family and direction on an interface, and binding another replaces
    it: rendering a cut must see the foreign ones too. Addresses and static routes are kept for
    `facts()`.
    """

    def __init__(
        self,
        lines: Mapping[int, OwnedLine] | None = None,
        filters: Mapping[str, Mapping[Slot, str]] | None = None,
        routes: Sequence[StaticRoute] = (),
    ) -> None:
        super().__init__(lines, filters)
        self.routes = tuple(routes)


def _take_address(family: Family, words: list[str]) -> Prefix | None:
    """Consume one ACL address as EOS prints it (`any`, `host X`, `X/len`) from `words`."""
    head = words.pop(0).lower()
    if head == "any":
        return None
    if head == "host":
        network = ip_network(ip_address(words.pop(0)))
    else:
        network = ip_network(head, strict=True)
        if network.prefixlen == 0:
            raise ValueError("a /0 is spelled any")
    if family_of(network) is not family:
        raise ValueError(f"{network} is not {family}")
    return network


def parse_entry(family: Family, text: str) -> Entry | None:
    """A `[seq] deny|permit ip|ipv6 SRC DST` entry, or None for anything else."""
    words = text.split()
    if words[:1] and words[0].isdigit():
        words = words[1:]
    if len(words) < 4 or words[0].lower() not in ("deny", "permit"):
        return None
    if words[1].lower() != family.value:
        return None
    rest = words[2:]
    try:
        source = _take_address(family, rest)
        destination = _take_address(family, rest)
    except (IndexError, ValueError):
        return None
    if rest:
        return None
    return Entry(words[0].lower(), source, destination)


_ACL_HEADER_RE = {
    Family.IPV4: re.compile(r"ip access-list (\S+)"),
    Family.IPV6: re.compile(r"ipv6 access-list (\S+)"),
}
_INTERFACE_RE = re.compile(r"interface (\S+)")
_BINDING_RE = {
    Family.IPV4: re.compile(r"ip access-group (\S+) (in|out)"),
    Family.IPV6: re.compile(r"ipv6 access-group (\S+) (in|out)"),
}
_ROUTE_RE = re.compile(r"(ip|ipv6) route (\S+) (.+)")


def _parse_route(words: str, prefix_text: str) -> StaticRoute | None:
    """`ip route P [INTERFACE] [NEXT-HOP] [distance] ...` of the default VRF; else None."""
    try:
        prefix = ip_network(prefix_text, strict=True)
    except ValueError:
        return None
    rest = words.split()
    interface: str | None = None
    next_hop: str | None = None
    if rest and rest[0][:1].isalpha() and rest[0] != "vrf":
        interface = rest.pop(0)
    if rest:
        try:
            next_hop = str(ip_address(rest[0]))
        except ValueError:
            next_hop = None
    if interface is None and next_hop is None:
        return None
    return StaticRoute(prefix, interface, next_hop)


def parse_running_config(text: str) -> ParsedConfig:
    """Owned ACLs and bindings in `show running-config`, every ACL bound, the static routes."""
    acls: dict[tuple[Family, int], list[Entry | None]] = {}
    filters: dict[str, dict[Slot, str]] = {}
    routes: list[StaticRoute] = []
    current_acl: list[Entry | None] | None = None
    acl_family = Family.IPV4
    current_interface: str | None = None

    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("!"):
            continue
        if line[0] in " \t":
            body = line.strip()
            if current_acl is not None:
                current_acl.append(parse_entry(acl_family, body))
            elif current_interface is not None:
                for family, pattern in _BINDING_RE.items():
                    match = pattern.fullmatch(body)
                    if match:
                        slot = (family, Direction(match.group(2)))
                        filters.setdefault(current_interface, {})[slot] = match.group(1)
            continue

        current_acl, current_interface = None, None
        for family, pattern in _ACL_HEADER_RE.items():
            match = pattern.fullmatch(line)
            if match:
                line_id = owner_of(family, match.group(1))
                if line_id is not None:
                    current_acl = acls.setdefault((family, line_id), [])
                    acl_family = family
                break
        else:
            match = _INTERFACE_RE.fullmatch(line)
            if match:
                current_interface = match.group(1)
                continue
            match = _ROUTE_RE.fullmatch(line)
            if match:
                route = _parse_route(match.group(3), match.group(2))
                if route is not None:
                    routes.append(route)

    return ParsedConfig(owned_lines(acls, filters, DIRECTIONS), filters, routes)


# --------------------------------------------------------------------------------------------
# What render sends


def _address(prefix: Prefix) -> str:
    if prefix.prefixlen == prefix.max_prefixlen:
        return f"host {prefix.network_address}"
    return prefix.compressed


_DIRECTION_WORD = {Direction.IN: "inbound", Direction.OUT: "outbound"}


# --------------------------------------------------------------------------------------------
# napalm's and pyeapi's errors, translated once


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every error it was raised from or while handling."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _command_error(error: BaseException) -> pyeapi.eapilib.CommandError | None:
    return next((e for e in _chain(error) if isinstance(e, pyeapi.eapilib.CommandError)), None)


@dataclass(frozen=True)
class Refusal:
    """The command a switch refused in one runCmds call, and what it said."""

    command: str
    index: int  # position in the call, `enable` included
    message: str
    errors: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join((self.message, *self.errors))


def refusal_of(error: pyeapi.eapilib.CommandError) -> Refusal | None:
    """Which command failed: eAPI answers every command up to the failed one, which is last."""
    output = error.output if isinstance(error.output, list) else []
    commands = list(error.commands or [])
    index = len(output) - 1
    if not output or not 0 <= index < len(commands):
        return None
    command = commands[index]
    if isinstance(command, dict):
        command = command.get("cmd", "")
    last = output[-1] if isinstance(output[-1], dict) else {}
    errors = tuple(str(e) for e in last.get("errors", ()))
    return Refusal(str(command), index, str(error.error_text), errors)


def translate(error: BaseException, where: str, what: str) -> DriverError:
    """The project's error for anything napalm or pyeapi raised during `what`."""
    if isinstance(error, DriverError):
        return error
    for cause in _chain(error):
        if isinstance(cause, SessionLockedException):
            return SessionLocked(f"{where}: another configure session is pending ({what})")
        if isinstance(cause, UnsupportedVersion):
            return Rejected(f"{where}: EOS version {cause} is older than napalm supports")
        if isinstance(cause, TimeoutError):
            return Timeout(f"{where}: no answer to {what} (eAPI)")
        if isinstance(cause, ConnectionRefusedError):
            return Unreachable(f"{where}: eAPI connection refused ({what})")
        if isinstance(cause, pyeapi.eapilib.CommandError):
            refusal = refusal_of(cause)
            detail = refusal.text if refusal else str(cause)
            if cause.error_code == 1005 or (refusal and refusal.command == "enable"):
                return AuthFailed(f"{where}: privilege refused during {what}: {detail}", detail)
            command = refusal.command if refusal else what
            return Rejected(f"{where}: switch refused {command!r}: {detail}", detail)
        if isinstance(cause, pyeapi.eapilib.ConnectionError):
            message = str(cause.message)
            if message.startswith("Unauthorized") or " 401" in message:
                return AuthFailed(f"{where}: eAPI login refused")
            continue  # the socket error it was raised from says more
        if isinstance(cause, http.client.HTTPException | ConnectionError | EOFError):
            return Unreachable(f"{where}: connection lost during {what}: {first_line(cause)}")
        if isinstance(cause, OSError):
            return Unreachable(f"{where}: cannot reach eAPI for {what}: {first_line(cause)}")
    if isinstance(error, pyeapi.eapilib.ConnectionError | ConnectionException):
        return Unreachable(f"{where}: eAPI unusable during {what}: {first_line(error)}")
    # napalm choking on an answer it cannot parse: the switch misbehaved, try again later
    return Unreachable(f"{where}: unexpected answer to {what}: {describe(error)}")


# --------------------------------------------------------------------------------------------
# The session


T = TypeVar("T")


class AristaEosDriver(CiscoStyleAcls):
    """One EOS switch over eAPI through napalm's `eos` driver (wrapped, not subclassed).

    Settings from `Credentials.extra`: `transport` ("http" or "https", default http) and
    `revert_in` (seconds an unconfirmed commit stands, default 60). There is no enable secret:
    pyeapi sends `enable` itself. A stage loads the ACLs into a configure session and commits
    it plainly (unbound, they filter nothing); a bind's session carries the bindings and is
    committed with the revert timer, confirmed once read-back verifies.
    """

    platform: ClassVar[str] = PLATFORM
    acl_header = _ACL_HEADER
    binding_word = _BINDING
    joiner = ": "
    output_separator = "\n"

    def __init__(self, name: str, credentials: Credentials) -> None:
        super().__init__(name, credentials)
        extra = credentials.extra
        self.transport = extra.get("transport", DEFAULT_TRANSPORT)
        if self.transport not in TRANSPORTS:
            raise ValueError(f"{name}: eAPI transport must be one of {TRANSPORTS}")
        revert_in = extra.get("revert_in", str(DEFAULT_REVERT_IN))
        if not revert_in.isdigit() or not MIN_REVERT_IN <= int(revert_in) <= 3600:
            raise ValueError(f"{name}: revert_in must be {MIN_REVERT_IN}..3600 seconds")
        self.revert_in = int(revert_in)
        self._device: Any = None

    @property
    def where(self) -> str:
        return f"{self.name} ({self.credentials.host}:{self.credentials.port})"

    # -- syntax ------------------------------------------------------------------------------

    def _address(self, prefix: Prefix) -> str:
        return _address(prefix)

    def _held(self, target: LineTarget, family: Family, direction: Direction) -> str:
        return (
            f"{target.interface} already has an {family} access-group {_DIRECTION_WORD[direction]}"
        )

    def _as_found(self, owned: Mapping[int, OwnedLine]) -> ParsedConfig:
        return owned if isinstance(owned, ParsedConfig) else ParsedConfig(owned)

    # -- session lifecycle; napalm's errors become the project's here ------------------------

    def open(self) -> None:
        if self._device is not None:
            return
        creds = self.credentials
        device = napalm.get_network_driver("eos")(
            hostname=creds.host,
            username=creds.username,
            password=creds.password,
            timeout=creds.timeout,
            optional_args={"transport": self.transport, "port": creds.port},
        )
        try:
            device.open()
        except Exception as exc:  # noqa: BLE001 - every library error is translated here
            raise translate(exc, self.where, "show version") from exc
        self._device = device

    def close(self) -> None:
        """napalm's close aborts our configure session if one is still open: an unconfirmed
        commit is reverted at once. A change has confirmed or rolled back before it gets here."""
        device, self._device = self._device, None
        if device is not None:
            try:
                device.close()
            except Exception:  # noqa: BLE001 - closing a dead switch must not fail a pass
                # the switch's timer reverts what the abort could not; napalm's __del__ must
                # not try again at some later garbage collection
                device.config_session = None

    def _opened(self) -> AbstractContextManager[object]:
        return self._session()

    @contextmanager
    def _session(self) -> Iterator[Any]:
        opened_here = self._device is None
        self.open()
        try:
            yield self._device
        finally:
            if opened_here:
                self.close()

    def _call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one napalm call; whatever it raises comes out as the project's error."""
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise translate(exc, self.where, what) from exc

    # -- switch exchanges ----------------------------------------------------------------------

    def _read(self) -> ParsedConfig:
        """The owned ACLs and every interface, filtered on the switch (one eAPI call)."""
        answer = self._call(
            OWNED_READ, self._device.device.run_commands, [OWNED_READ], encoding="text"
        )
        try:
            text = answer[0]["output"]
        except (IndexError, KeyError, TypeError):
            raise Unreachable(f"{self.where}: unexpected answer to {OWNED_READ}") from None
        return parse_running_config(text)

    def _read_config(self) -> ParsedConfig:
        """The whole running configuration (for `facts`: its static routes)."""
        config = self._call("show running-config", self._device.get_config, retrieve="running")
        return parse_running_config(config["running"])

    def _before_change(self) -> None:
        self._clear_sessions()

    def _clear_sessions(self) -> None:
        """Abort our own sessions a crashed pass left pending (an unconfirmed commit among them
        reverts now rather than at its timer); refuse to go on while another client's is.

        A session named with our prefix is ours to abort because one device gets one pass at a
        time (the reconciler claims a device's batch before it connects)."""
        what = "show configuration sessions detail"
        answer = self._call(what, self._device.cli, [what], encoding="json")
        sessions = (answer.get(what) or {}).get("sessions") if isinstance(answer, dict) else None
        if not isinstance(sessions, dict):
            raise Unreachable(f"{self.where}: unexpected answer to {what}: {answer!r:.200}")
        foreign = []
        for name, session in sessions.items():
            state = session.get("state", "")
            if state not in ("pending", "pendingCommitTimer"):
                continue
            if name.startswith(SESSION_PREFIX):
                self._device.config_session = name
                self._call(f"configure session {name} abort", self._device.discard_config)
            else:
                foreign.append(f"{name} ({state})")
        if foreign:
            raise SessionLocked(
                f"{self.where}: configure session(s) of another client pending: "
                + ", ".join(foreign)
            )

    def _load(
        self, plans: Sequence[Sendable], progress: Progress
    ) -> tuple[dict[int, str], str | None]:
        """Load every plan's commands into one configure session. A command the switch refuses
        drops its line, and the session is loaded again without it (EOS stops at the first
        error and napalm aborts the session). Returns the refusals and the loaded session."""
        refused: dict[int, str] = {}
        for _ in range(MAX_LOADS):
            owners: list[int] = []
            lines: list[str] = []
            for index, plan in enumerate(plans):
                if index not in refused and plan.refusal is None:
                    owners.extend([index] * len(plan.commands))
                    lines.extend(plan.commands)
            if not lines:
                return refused, None
            session = f"{SESSION_PREFIX}{secrets.token_hex(6)}"
            progress.sent += [f"configure session {session}", *lines, "end"]
            self._device.config_session = session
            try:
                self._device.load_merge_candidate(config="\n".join(lines))
            except MergeConfigException as exc:
                error = _command_error(exc)
                refusal = refusal_of(error) if error is not None else None
                position = refusal.index - 2 if refusal else -1  # after enable, configure session
                if refusal is None or not 0 <= position < len(lines):
                    raise translate(exc, self.where, "loading the configure session") from exc
                progress.sent.append(f"configure session {session} abort")  # napalm's discard
                progress.output.append(refusal.text)
                message = f"switch refused {refusal.command!r}: {' '.join(refusal.errors)}"
                refused[owners[position]] = message.strip()
                continue
            except Exception as exc:  # noqa: BLE001 - translated, never swallowed
                raise translate(exc, self.where, "loading the configure session") from exc
            return refused, session
        # napalm aborted each refused session itself; what is left is not pushed at all
        remaining = [i for i, p in enumerate(plans) if i not in refused and p.refusal is None]
        for index in remaining:
            refused[index] = f"not pushed: the switch refused {MAX_LOADS} loads in a row"
        return refused, None

    def _push(
        self,
        step: Step,
        plans: Sequence[Sendable],
        found: Mapping[int, OwnedLine],
        replan: Replan,
        progress: Progress,
    ) -> Pushed:
        """Load the session, show its diff, commit (a bind with the revert timer, confirmed
        once read-back verifies, else rolled back), read back."""
        del replan
        refused, session = self._load(plans, progress)
        error: DriverError | None = None
        after = self._as_found(found)
        if session is not None:
            diff = self._call(
                f"show session-config named {session} diffs", self._device.compare_config
            )
            if diff:
                progress.output.append(diff)
            if step is Step.BIND:
                after, error = self._commit_confirmed(session, plans, refused, progress)
            else:
                progress.sent.append(f"configure session {session} commit")
                self._call("the commit", self._device.commit_config)
                after = self._read()
        if error is None and refused:
            messages = list(dict.fromkeys(refused.values()))
            error = Rejected(f"{self.where}: {summary(messages)}", "\n".join(progress.output))
        return Pushed(after, refused, error)

    def _commit_confirmed(
        self,
        session: str,
        plans: Sequence[Sendable],
        refused: Mapping[int, str],
        progress: Progress,
    ) -> tuple[ParsedConfig, DriverError | None]:
        """Commit with the revert timer, read back, then confirm, or roll back what did not
        verify; the read-back and the error, if any."""
        progress.sent.append(f"configure session {session} commit timer {_hms(self.revert_in)}")
        self._call("the timed commit", self._device.commit_config, revert_in=self.revert_in)
        after = self._read()
        failed = _unverified(plans, refused, after)  # type: ignore[arg-type]
        if failed:
            progress.sent.append(f"configure session {session} abort")
            self._call("rollback", self._device.rollback)
            error: DriverError = VerifyFailed(
                f"{self.where}: read-back did not verify line(s) "
                f"{', '.join(map(str, failed))}; the session was rolled back",
                output="\n".join(progress.output),
            )
            return self._read(), error
        progress.sent.append(f"configure session {session} commit")
        try:
            self._device.confirm_commit()
        except CommitError as exc:
            # napalm found no pending commit: the timer ran out, or has under half a second
            # left; abort so the switch reverts now, not just after we read
            progress.output.append(str(exc))
            progress.sent.append(f"configure session {session} abort")
            self._device.config_session = session
            try:
                self._call("abort", self._device.discard_config)
            except DriverError:
                self._device.config_session = None  # already gone with its timer
            error = Timeout(f"{self.where}: commit timer expired before confirmation")
            return self._read(), error
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise translate(exc, self.where, "confirming the commit") from exc
        return after, None

    def _outcomes(self, plans: Sequence[LinePlan], pushed: Pushed) -> tuple[LineOutcome, ...]:
        """A line the switch refused is left out of the session: not verified, whatever
        read-back shows."""
        after = self._as_found(pushed.after)
        return tuple(
            _outcome(plan, after, pushed.rejections.get(i), pushed.error)
            for i, plan in enumerate(plans)
        )

    # -- the dry run ---------------------------------------------------------------------------

    def diff(self, batch: Batch) -> str:
        """The dry run: what the switch says the batch would change (`compare_config`), from
        the same read, render and load as `apply`; the session is then aborted."""
        if not len(batch):
            return ""
        with self._session():
            self._clear_sessions()
            plans = self._plan(Step.BIND, batch, self._read())
            _, session = self._load(plans, Progress())
            if session is None:
                return ""
            diff = self._call(
                f"show session-config named {session} diffs", self._device.compare_config
            )
            self._call(f"configure session {session} abort", self._device.discard_config)
            return diff

    # -- inventory facts -------------------------------------------------------------------

    def facts(self) -> DeviceFacts:
        """Interfaces with their addresses (napalm getters) and static routes (running-config);
        refuses a switch whose hostname is not the inventory's name for it."""
        with self._session():
            device = self._device
            identity = self._call("show hostname", device.get_facts)
            names = {identity.get("hostname", ""), identity.get("fqdn", "")}
            if self.name.lower() not in {n.lower() for n in names if n}:
                raise WrongDevice(
                    f"{self.where}: answers as {identity.get('hostname')!r}, not {self.name!r}"
                )
            interfaces = self._call("show interfaces", device.get_interfaces)
            addresses = self._call("show ip/ipv6 interface", device.get_interfaces_ip)
            config = self._read_config()
        found: dict[str, tuple[IPv4Interface | IPv6Interface, ...]] = {}
        for name in interfaces:
            kept: list[IPv4Interface | IPv6Interface] = []
            for family in ("ipv4", "ipv6"):
                for address, detail in addresses.get(name, {}).get(family, {}).items():
                    interface = ip_interface(f"{address}/{detail['prefix_length']}")
                    if not interface.is_link_local:  # every IPv6 port has one; routes nothing
                        kept.append(interface)
            found[name] = tuple(kept)
        return DeviceFacts(found, _routes(config.routes, found))


def _routes(
    routes: Sequence[StaticRoute],
    interfaces: Mapping[str, tuple[IPv4Interface | IPv6Interface, ...]],
) -> dict[Prefix, str]:
    """Static routes by the interface they leave through: named, or found by the next hop."""
    found: dict[Prefix, str] = {}
    for route in routes:
        name = route.interface
        if name is None and route.next_hop is not None:
            hop = ip_address(route.next_hop)
            name = next(
                (
                    interface
                    for interface, addresses in interfaces.items()
                    for address in addresses
                    if address.version == hop.version and hop in address.network
                ),
                None,
            )
        if name is not None:
            found[route.prefix] = name
    return found


def _hms(seconds: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def _unverified(
    plans: Sequence[LinePlan], refused: Mapping[int, str], after: ParsedConfig
) -> list[int]:
    """Ids of the pushed lines read-back does not show in the wanted state."""
    failed = []
    for index, plan in enumerate(plans):
        if plan.refusal is not None or index in refused or not plan.commands:
            continue
        if observed_state(after, plan.target) is not wanted_state(plan.action):
            failed.append(plan.target.line_id)
    return failed


def _outcome(
    plan: LinePlan, after: ParsedConfig, rejection: str | None, error: DriverError | None
) -> LineOutcome:
    state = observed_state(after, plan.target)
    wanted = wanted_state(plan.action)
    verified = plan.refusal is None and rejection is None and state is wanted
    problem: str | None = None
    if plan.refusal is not None:
        problem = describe(plan.refusal)
    elif rejection is not None:
        problem = f"Rejected: {rejection}"
    elif not verified:
        problem = (
            describe(error) if error is not None else unverified(plan.target.line_id, state, wanted)
        )
    return LineOutcome(plan.target.line_id, plan.action, plan.commands, state, verified, problem)
