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

import enum
import http.client
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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

from drivers._legacy import (
    filter_slots,
    found_objects,
    occupied,
    owned_lines,
    removal_commands,
    render_change,
)
from drivers.acl import (
    FAMILIES,
    BoundFilters,
    Entry,
    Family,
    acl_name,
    family_of,
    owner_of,
)
from drivers.base import (
    Action,
    AuthFailed,
    Batch,
    BatchResult,
    Credentials,
    DeviceFacts,
    Driver,
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
from drivers.outcomes import (
    LinePlan,
    describe,
    first_line,
    plan_lines,
    summary,
    unknown_outcomes,
    unverified,
    validate_target,
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


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


DIRECTIONS = (Direction.IN, Direction.OUT)

# How each family's objects are spelled: ACL name prefix, ACL header, interface binding.
_ACL_HEADER = {Family.IPV4: "ip access-list", Family.IPV6: "ipv6 access-list"}
_BINDING = {Family.IPV4: "ip access-group", Family.IPV6: "ipv6 access-group"}


# --------------------------------------------------------------------------------------------
# What read finds


@dataclass(frozen=True, order=True)
class Binding:
    """One owned ACL bound on an interface in one direction."""

    interface: str
    family: Family
    direction: Direction


@dataclass(frozen=True)
class EosOwnedLine(OwnedLine):
    """An owned line plus exactly which objects exist, so a restore removes only those."""

    acls: frozenset[Family] = frozenset()
    filters: frozenset[Binding] = frozenset()


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


def _acl_prefixes(entries: Sequence[Entry | None]) -> frozenset[Prefix]:
    found: set[Prefix] = set()
    for entry in entries:
        if entry is not None and entry.action == "deny":
            found.update(p for p in (entry.source, entry.destination) if p is not None)
    return frozenset(found)


def _acl_is_exact(entries: Sequence[Entry | None]) -> bool:
    """Exactly deny-source and deny-destination per prefix, then one trailing permit any any."""
    if len(entries) < 3 or entries[-1] != Entry("permit", None, None):
        return False
    denies = entries[:-1]
    if any(entry is None for entry in denies) or len(set(denies)) != len(denies):
        return False
    prefixes = _acl_prefixes(denies)
    expected = {Entry("deny", p, None) for p in prefixes} | {
        Entry("deny", None, p) for p in prefixes
    }
    return set(denies) == expected


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

    lines = owned_lines(
        acls,
        filters,
        directions=DIRECTIONS,
        binding=Binding,
        exact=_acl_is_exact,
        prefixes=_acl_prefixes,
        make=EosOwnedLine,
    )
    return ParsedConfig(lines, filters, routes)


# --------------------------------------------------------------------------------------------
# What render sends


def check_target(target: LineTarget) -> None:
    """Refuse any target a command would be unsafe to render from."""
    validate_target(PLATFORM, target)


def _address(prefix: Prefix) -> str:
    if prefix.prefixlen == prefix.max_prefixlen:
        return f"host {prefix.network_address}"
    return prefix.compressed


def _found_objects(found: OwnedLine) -> tuple[frozenset[Family], frozenset[Binding]]:
    """Exactly which owned objects exist; a bare OwnedLine says that only when complete."""
    return found_objects(found, EosOwnedLine, DIRECTIONS, Binding)


def _removal(found: OwnedLine | None) -> list[str]:
    """Bindings first, then the ACLs: an ACL is never deleted while it filters an interface."""
    if found is None:
        return []
    acls, filters = _found_objects(found)
    line_id = found.line_id

    def unbind(interface: str) -> list[str]:
        return [
            f"no {_BINDING[family]} {acl_name(family, line_id)} {direction}"
            for family in FAMILIES
            for direction in DIRECTIONS
            if Binding(interface, family, direction) in filters
        ]

    return removal_commands(
        line_id,
        acls,
        {b.interface for b in filters},
        platform=PLATFORM,
        unbind=unbind,
        delete=lambda family: f"no {_ACL_HEADER[family]} {acl_name(family, line_id)}",
        leave="exit",
    )


def _cut(target: LineTarget) -> list[str]:
    commands: list[str] = []
    families = [f for f in FAMILIES if any(family_of(p) is f for p in target.prefixes)]
    for family in families:
        commands.append(f"{_ACL_HEADER[family]} {acl_name(family, target.line_id)}")
        for prefix in dict.fromkeys(p for p in target.prefixes if family_of(p) is family):
            commands.append(f"deny {family} {_address(prefix)} any")
            commands.append(f"deny {family} any {_address(prefix)}")
        commands.append(f"permit {family} any any")
        commands.append("exit")
    commands.append(f"interface {target.interface}")
    for family in families:
        for direction in DIRECTIONS:
            commands.append(f"{_BINDING[family]} {acl_name(family, target.line_id)} {direction}")
    commands.append("exit")
    return commands


def render_line(action: Action, target: LineTarget, found: OwnedLine | None) -> list[str]:
    """Commands taking one line from what the switch holds (`found`) to `action`."""
    check_target(target)
    return render_change(action, target, found, removal=_removal, cut=_cut)


_DIRECTION_WORD = {Direction.IN: "inbound", Direction.OUT: "outbound"}


def _occupied(
    target: LineTarget, config: ParsedConfig, restored: set[int], claimed: dict[Slot, int]
) -> Rejected | None:
    """Why binding the target's ACLs would replace one that is not this line's, if so."""

    def where(family: Family, direction: Direction) -> str:
        return (
            f"{target.interface} already has an {family} access-group {_DIRECTION_WORD[direction]}"
        )

    return occupied(
        target, config, restored, claimed, directions=DIRECTIONS, where=where, joiner=": "
    )


def plan_batch(batch: Batch, owned: Mapping[int, OwnedLine]) -> tuple[LinePlan, ...]:
    """Restores first, then cuts; a line with an invalid identifier or an occupied interface is
    refused on its own and the rest of the batch goes ahead."""
    return plan_lines(
        batch,
        owned if isinstance(owned, ParsedConfig) else ParsedConfig(owned),
        check_target=check_target,
        render_line=render_line,
        occupied=_occupied,
        slots=_slots,
        restore_frees=bool,
    )


def _slots(target: LineTarget) -> list[Slot]:
    return filter_slots(target, DIRECTIONS)


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


@dataclass
class _Pass:
    """What one apply did so far, kept for the result whatever happens next."""

    plans: tuple[LinePlan, ...] = ()
    sent: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Staged:
    """A batch loaded into a configure session: the plans, what the switch refused, the diff."""

    plans: tuple[LinePlan, ...]
    before: ParsedConfig
    refused: dict[int, str]  # plan index -> why the switch refused its command
    diff: str
    session: str | None  # None when nothing was loaded


class AristaEosDriver(Driver):
    """One EOS switch over eAPI through napalm's `eos` driver (wrapped, not subclassed).

    Settings from `Credentials.extra`: `transport` ("http" or "https", default http) and
    `revert_in` (seconds an unconfirmed commit stands, default 60). There is no enable secret:
    pyeapi sends `enable` itself.
    """

    platform: ClassVar[str] = PLATFORM

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
        commit is reverted at once. apply() has confirmed or rolled back before it gets here."""
        device, self._device = self._device, None
        if device is not None:
            try:
                device.close()
            except Exception:  # noqa: BLE001 - closing a dead switch must not fail a pass
                # the switch's timer reverts what the abort could not; napalm's __del__ must
                # not try again at some later garbage collection
                device.config_session = None

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

    # -- switch exchanges ------------------------------------------------------------------

    def _read_config(self) -> ParsedConfig:
        config = self._call("show running-config", self._device.get_config, retrieve="running")
        return parse_running_config(config["running"])

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
        self, plans: tuple[LinePlan, ...], progress: _Pass
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

    def _stage(self, batch: Batch, progress: _Pass) -> Staged:
        """Read, plan and load the difference into a configure session: the shared first half
        of `apply` and `diff`."""
        self._clear_sessions()
        before = self._read_config()
        plans = plan_batch(batch, before)
        progress.plans = plans
        refused, session = self._load(plans, progress)
        diff = ""
        if session is not None:
            diff = self._call(
                f"show session-config named {session} diffs", self._device.compare_config
            )
        return Staged(plans, before, refused, diff, session)

    # -- the contract ----------------------------------------------------------------------

    def read(self) -> ParsedConfig:
        """Owned lines by id; the answer also carries every ACL bound per interface."""
        with self._session():
            return self._read_config()

    def render(self, batch: Batch, owned: dict[int, OwnedLine]) -> list[str]:
        """All config lines for the batch, restores first; refused lines contribute none.

        Pass what `read()` returned: it also knows the foreign ACLs a cut must not replace.
        Raises InvalidIdentifier if any target fails validation, before rendering anything.
        """
        for target in (*batch.restores, *batch.cuts):
            check_target(target)
        return [command for plan in plan_batch(batch, owned) for command in plan.commands]

    def diff(self, batch: Batch) -> str:
        """The dry run: what the switch says the batch would change (`compare_config`), from
        the same read, render and load as `apply`; the session is then aborted."""
        if not len(batch):
            return ""
        with self._session():
            staged = self._stage(batch, _Pass())
            if staged.session is not None:
                self._call(f"configure session {staged.session} abort", self._device.discard_config)
            return staged.diff

    def apply(self, batch: Batch) -> BatchResult:
        """The one place a switch error becomes a result."""
        if not len(batch):
            return BatchResult(self.name, ())
        progress = _Pass()
        try:
            with self._session():
                return self._apply(batch, progress)
        except DriverError as exc:
            if exc.output:
                progress.output.append(exc.output)
            return BatchResult(
                device=self.name,
                outcomes=unknown_outcomes(batch, progress.plans, exc),
                commands=tuple(progress.sent),
                device_output="\n".join(progress.output),
                error=exc,
            )

    def _apply(self, batch: Batch, progress: _Pass) -> BatchResult:
        staged = self._stage(batch, progress)
        if staged.diff:
            progress.output.append(staged.diff)
        error: DriverError | None = None
        after = staged.before
        if staged.session is not None:
            session = staged.session
            progress.sent.append(f"configure session {session} commit timer {_hms(self.revert_in)}")
            self._call("the timed commit", self._device.commit_config, revert_in=self.revert_in)
            after = self._read_config()
            failed = _unverified(staged.plans, staged.refused, after)
            if failed:
                progress.sent.append(f"configure session {session} abort")
                self._call("rollback", self._device.rollback)
                error = VerifyFailed(
                    f"{self.where}: read-back did not verify line(s) "
                    f"{', '.join(map(str, failed))}; the session was rolled back",
                    output="\n".join(progress.output),
                )
                after = self._read_config()
            else:
                progress.sent.append(f"configure session {session} commit")
                try:
                    self._device.confirm_commit()
                except CommitError as exc:
                    # napalm found no pending commit: the timer ran out, or has under half a
                    # second left; abort so the switch reverts now, not just after we read
                    error = Timeout(f"{self.where}: commit timer expired before confirmation")
                    progress.output.append(str(exc))
                    progress.sent.append(f"configure session {session} abort")
                    self._device.config_session = session
                    try:
                        self._call("abort", self._device.discard_config)
                    except DriverError:
                        self._device.config_session = None  # already gone with its timer
                    after = self._read_config()
                except Exception as exc:  # noqa: BLE001 - translated, never swallowed
                    raise translate(exc, self.where, "confirming the commit") from exc
        outcomes = tuple(
            _outcome(plan, after, staged.refused.get(i), error)
            for i, plan in enumerate(staged.plans)
        )
        if error is None and staged.refused:
            messages = list(dict.fromkeys(staged.refused.values()))
            error = Rejected(f"{self.where}: {summary(messages)}", "\n".join(progress.output))
        return BatchResult(
            self.name, outcomes, tuple(progress.sent), "\n".join(progress.output), error
        )

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
