"""The one contract every platform driver meets, and the values that cross it.

A driver knows a device and its syntax, nothing of orders: it is handed one device's batch of
cuts and restores, pushes it in one session, reads the device back and says what it found.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface, IPv6Network
from typing import ClassVar, Protocol, runtime_checkable

from drivers.identifiers import check_device_name, check_interface, check_line_id

Prefix = IPv4Network | IPv6Network


class LineState(enum.StrEnum):
    CUT = "cut"
    OPEN = "open"
    UNKNOWN = "unknown"


class Action(enum.StrEnum):
    CUT = "cut"
    RESTORE = "restore"


@dataclass(frozen=True)
class LineTarget:
    """A line as a driver sees it: the only input any command is rendered from."""

    line_id: int
    interface: str
    prefixes: tuple[Prefix, ...]
    # a subscriber line (RADIUS): the username its sessions authenticate with, and the names of
    # the NAS devices that may hold them; no interface and no prefixes then
    username: str | None = None
    nas: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_line_id(self.line_id)
        if self.username is not None:
            # its pattern is checked by the inventory and again by the driver (check_target)
            if not isinstance(self.username, str):
                raise TypeError(f"line {self.line_id}: username {self.username!r} is not a str")
            if self.interface or self.prefixes:
                raise ValueError(
                    f"line {self.line_id}: a subscriber line has no interface and no prefixes"
                )
            if not self.nas:
                raise ValueError(f"line {self.line_id}: a subscriber line names no NAS")
            for name in self.nas:
                check_device_name(name)
            return
        if self.nas:
            raise ValueError(f"line {self.line_id}: only a subscriber line names NAS devices")
        if not self.prefixes:
            raise ValueError(f"line {self.line_id}: no prefixes")
        for prefix in self.prefixes:
            if not isinstance(prefix, IPv4Network | IPv6Network):
                raise TypeError(f"line {self.line_id}: prefix {prefix!r} is not an ip_network")

    @property
    def subscriber(self) -> bool:
        return self.username is not None

    @property
    def ipv4(self) -> tuple[IPv4Network, ...]:
        return tuple(p for p in self.prefixes if isinstance(p, IPv4Network))

    @property
    def ipv6(self) -> tuple[IPv6Network, ...]:
        return tuple(p for p in self.prefixes if isinstance(p, IPv6Network))


@dataclass(frozen=True)
class Batch:
    """Everything one device must change in one pass. Restores go first."""

    cuts: tuple[LineTarget, ...] = ()
    restores: tuple[LineTarget, ...] = ()

    def __post_init__(self) -> None:
        cut_ids = {t.line_id for t in self.cuts}
        both = cut_ids & {t.line_id for t in self.restores}
        if both:
            raise ValueError(f"lines both cut and restored in one batch: {sorted(both)}")

    def __len__(self) -> int:
        return len(self.cuts) + len(self.restores)


@dataclass(frozen=True)
class OwnedLine:
    """What the device holds for one line, found by the controller's own object names.

    A line's objects are its bodies (ACLs, filters: they match the venue's prefixes) and their
    bindings (on the venue's interface, where they take effect). Bodies bound nowhere filter
    nothing: the line is OPEN, its bodies staged for a cut to come or left over from one.
    """

    line_id: int
    prefixes: frozenset[Prefix] = frozenset()
    # interfaces on which each owned object is bound, in every direction it must be
    bindings: frozenset[str] = frozenset()
    # exact bodies, bound on one interface in every direction: what a cut leaves
    complete: bool = False
    # every body exactly as a cut renders it for `prefixes` (bound or not)
    exact: bool = False
    # a device-timed cut (drivers.timing) complete and bound, whose rules wait for a window
    # the device's clock is not in: it filters nothing now
    dormant: bool = False

    def state_for(self, target: LineTarget) -> LineState:
        """CUT only if the device blocks exactly the target's prefixes on its interface; OPEN
        while nothing of the line is bound, or while its device-timed cut is dormant."""
        if not self.bindings:
            return LineState.OPEN
        if (
            self.complete
            and self.prefixes == frozenset(target.prefixes)
            and self.bindings == frozenset({target.interface})
        ):
            return LineState.OPEN if self.dormant else LineState.CUT
        return LineState.UNKNOWN

    def staged_for(self, target: LineTarget) -> bool:
        """Whether the bodies a cut of `target` needs are there, exactly, and bound nowhere:
        binding them is all the cut still takes."""
        return not self.bindings and self.exact and self.prefixes == frozenset(target.prefixes)


def observed_state(owned: Mapping[int, OwnedLine], target: LineTarget) -> LineState:
    found = owned.get(target.line_id)
    return LineState.OPEN if found is None else found.state_for(target)


@dataclass(frozen=True)
class LineOutcome:
    line_id: int
    action: Action
    commands: tuple[str, ...]
    state_after: LineState
    verified: bool
    error: str | None = None
    # whether another attempt may help this line when the batch as a whole did not fail (a NAS
    # that did not answer one Disconnect-Request); a batch's own error says it for every line
    retryable: bool = False


@dataclass(frozen=True)
class BatchResult:
    """What one session did: commands sent, what the device answered, what read-back shows."""

    device: str
    outcomes: tuple[LineOutcome, ...]
    commands: tuple[str, ...] = ()
    device_output: str = ""
    error: DriverError | None = None
    # restored lines (verified open) whose bodies read-back still shows, bound nowhere: what a
    # `bind(..., keep_bodies=True)` leaves for `discard_staged`
    released: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and all(o.verified for o in self.outcomes)


@dataclass(frozen=True)
class StagedLine:
    """One line of a `stage` or `discard_staged`: the commands sent for it, and whether
    read-back shows what was asked (`done`): after a stage, its bodies exactly as its cut
    needs them and bound nowhere, or the line cut already; after a discard, no body left."""

    line_id: int
    commands: tuple[str, ...]
    done: bool
    error: str | None = None


@dataclass(frozen=True)
class StageResult:
    """What one `stage` or `discard_staged` session did, line by line; no line's state
    changed either way (nothing was bound or unbound)."""

    device: str
    lines: tuple[StagedLine, ...]
    commands: tuple[str, ...] = ()
    device_output: str = ""
    error: DriverError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(line.done for line in self.lines)


class DriverError(Exception):
    """Base of every error a driver raises; says whether another attempt can help."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class Unreachable(DriverError):
    retryable = True


class Timeout(DriverError):
    retryable = True


class AuthFailed(DriverError):
    retryable = False


class HostKeyMismatch(DriverError):
    """The device offered another SSH host key than the one pinned for it: the session is
    refused before any credential is sent, until the NOC accepts the new key."""

    retryable = False


class HostKeyUnknown(DriverError):
    """No host key is pinned for the device and learning one was not allowed."""

    retryable = False


class Rejected(DriverError):
    """The device refused a command: retrying the same command will not help."""

    retryable = False


class VerifyFailed(DriverError):
    """The push went through but read-back does not show the intended state."""

    retryable = True


class InvalidIdentifier(DriverError, ValueError):
    retryable = False


@dataclass(frozen=True)
class Peer:
    """Another device a driver may have to reach for its lines, with its own address and
    secret: a NAS holding a subscriber's session, for the NAS device that drives the line."""

    name: str
    host: str
    port: int
    secret: str = field(default="", repr=False)
    # why it cannot be reached (its secret cannot be had, outside the management networks)
    problem: str | None = None


@dataclass(frozen=True)
class Credentials:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    secret: str = field(default="", repr=False)
    timeout: float = 20.0
    extra: dict[str, str] = field(default_factory=dict)
    # SSH only: the device's pinned host key (an OpenSSH public-key line, `ssh-ed25519 AAAA…`);
    # a session to a device offering another key is refused (HostKeyMismatch)
    host_key: str | None = None
    # SSH only, when no key is pinned: whether the key offered now may be trusted (once), and
    # who is told of it (given the key's line before any credential is sent; it may refuse by
    # raising a DriverError). Without a pinned key and without this, the session is refused.
    trust_unknown_host_key: bool = False
    on_host_key_learnt: Callable[[str], None] | None = field(default=None, compare=False)
    # the other devices this one's lines need (see `Driver.needs_peers`)
    peers: tuple[Peer, ...] = ()


class Driver(ABC):
    """One device. Use as a context manager: one session for read and apply."""

    platform: ClassVar[str]
    # whether sessions run over SSH, so that the device has a host key to pin
    ssh: ClassVar[bool] = False
    # whether a session needs the other devices its lines name (`Credentials.peers`): a NAS
    # disconnects a subscriber's session on whichever NAS of the line holds it
    needs_peers: ClassVar[bool] = False

    def __init__(self, name: str, credentials: Credentials) -> None:
        self.name = name
        self.credentials = credentials

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Driver:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def learn(self, targets: Iterable[LineTarget]) -> None:
        """Tell the driver which lines live on this device before a `read()`.

        Most platforms name their objects from line ids, so the device itself says which line
        an object belongs to and this does nothing. A platform whose device holds no line
        names (a switch port shut over SNMP) needs it to answer `read()` for those lines.
        """
        del targets

    @abstractmethod
    def read(self) -> dict[int, OwnedLine]:
        """Owned objects found on the device, by line id (of lines `learn` was told of, where
        the device itself cannot name them)."""

    @abstractmethod
    def render(self, batch: Batch, owned: dict[int, OwnedLine]) -> list[str]:
        """The commands that take the device from `owned` to what `batch` asks (pure)."""

    @abstractmethod
    def apply(self, batch: Batch) -> BatchResult:
        """Read, push the difference in one session, read back and verify every line."""

    @classmethod
    def check_target(cls, target: LineTarget) -> None:
        check_interface(cls.platform, target.interface)

    @classmethod
    def has_host_key(cls, host: str) -> bool:
        """Whether a device at `host` is reached over SSH, and so has a host key to pin."""
        del host
        return cls.ssh


@dataclass(frozen=True)
class DeviceFacts:
    """What a device says of its interfaces and routes, for checking the inventory against it."""

    # interface name -> its addresses (a connected route is implied by each)
    interfaces: dict[str, tuple[IPv4Interface | IPv6Interface, ...]]
    # static routes: prefix -> the interface it points out of
    routes: dict[Prefix, str] = field(default_factory=dict)

    def routed_via(self, prefix: Prefix) -> set[str]:
        """Interfaces through which `prefix` is reached: connected or statically routed."""
        found = {
            name
            for name, addresses in self.interfaces.items()
            for address in addresses
            if address.version == prefix.version
            and address.network.prefixlen < address.max_prefixlen
            and (prefix.subnet_of(address.network) or address.network.subnet_of(prefix))  # type: ignore[arg-type]
        }
        found |= {
            name
            for route, name in self.routes.items()
            if route.version == prefix.version and prefix.subnet_of(route)  # type: ignore[arg-type]
        }
        return found


@runtime_checkable
class Staging(Protocol):
    """An optional ability: `apply` in two halves, for a pass prepared before its instant.

    `stage` writes, for the batch's cuts, everything that has no effect until bound: the
    bodies under the owned names (a cut's ACLs or filters), committed where the platform
    commits. Idempotent; lines already cut, or bound in any way, are left to `bind`; a cut
    whose interface is held by a foreign filter is refused already here. `bind` is `apply`:
    restores (unbind, then delete the bodies) and the cuts' bindings, bodies a stage did not
    leave written first, then one read-back; it never depends on a stage having run. With
    `keep_bodies`, a restore only unbinds: its bodies, bound nowhere, filter nothing and are
    left for a `discard_staged` after the instant (the result's `released` names them).
    `discard_staged` deletes the owned bodies of the given lines that are bound nowhere, and
    refuses a line that is bound: never a foreign object, never one in use. A platform that
    cannot stage without effect (a port shut over SNMP) does not offer this: the controller
    applies there.
    """

    def stage(self, batch: Batch) -> StageResult: ...

    def bind(self, batch: Batch, *, keep_bodies: bool = False) -> BatchResult: ...

    def discard_staged(self, line_ids: Iterable[int]) -> StageResult: ...


@runtime_checkable
class WritesAhead(Protocol):
    """An optional ability: `apply` (and `bind`) tells the caller before it sends the first
    command that may change the device, after its read and plan. `before_send` is called at
    most once for the change under way, inside `announcing`; a change that finds nothing to
    send (every line already as wanted) never calls it. The controller writes its intents
    there, so a change that sends nothing logs only what it found. If `before_send` raises,
    nothing is sent and the exception leaves `apply` as it came."""

    def announcing(self, before_send: Callable[[], None]) -> AbstractContextManager[None]: ...


def announced(
    driver: Driver, before_send: Callable[[], None] | None
) -> AbstractContextManager[None]:
    """Where a change on `driver` calls `before_send`: just before its first command where the
    driver `WritesAhead`, else here and now, before the change starts."""
    if before_send is None:
        return nullcontext()
    if isinstance(driver, WritesAhead):
        return driver.announcing(before_send)
    before_send()
    return nullcontext()


@runtime_checkable
class Inspects(Protocol):
    """An optional ability: read interfaces and routes (for `curfew inventory verify`)."""

    def facts(self) -> DeviceFacts: ...
