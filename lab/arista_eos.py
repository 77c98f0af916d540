"""A simulated Arista EOS switch behind eAPI: running and startup configs, configure sessions
with commit timers on a lab clock, and an HTTP JSON-RPC front the real napalm `eos` driver uses.

The model (`EosRouter`) answers one `runCmds` call at a time as EOS does: each call is a fresh
CLI session, commands run in order and the first failure stops the call. `EapiServer` serves it
on a loopback port from the lab's event loop, with the lab's faults.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import difflib
import enum
import hmac
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    ip_address,
    ip_interface,
    ip_network,
)
from typing import Any

from lab.cli import filter_output
from lab.twin import Prefix, SpecLike, TwinKind, hold_port, venue_networks

VERSION = "4.30.1F"  # napalm compares versions word by word as strings: "30" > "23" holds
MODEL = "vEOS-lab"
MAX_PENDING_SESSIONS = 5
MAX_SAVED_SESSIONS = 1
BOOT_EPOCH = 1_767_225_600.0  # what `show version` says the switch booted at (lab clock 0)
_HOSTNAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9.-]{0,62}[A-Za-z0-9])?")
_ACL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,99}")
_SESSION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TIMER = re.compile(r"(\d{1,2}):([0-5]\d):([0-5]\d)")
_SEQ_MAX = 4294967295

# Interface types this model knows, in the order EOS prints them, and whether a port of that
# type is hardware (exists from boot) or made by configuration.
_INTERFACE_TYPES = {
    "Port-Channel": False,
    "Ethernet": True,
    "Loopback": False,
    "Management": True,
    "Vlan": False,
}
_INTERFACE_NAME = re.compile(
    r"(Port-Channel|Ethernet|Loopback|Management|Vlan)([1-9]\d{0,5}(?:/[1-9]\d{0,2}){0,2})"
    r"(\.[1-9]\d{0,3})?",
    re.IGNORECASE,
)

# Global lines stored verbatim (validated by a pattern), and where EOS prints them: rank 0
# before the hostname, 1 after it, 2 after the access lists, 3 after that.
_VERBATIM: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"logging host \S+( \d+)?"), 0),
    (re.compile(r"logging buffered \d+( \S+)?"), 0),
    (re.compile(r"ntp server( vrf \S+)? \S+( prefer| iburst)*"), 1),
    (re.compile(r"ip name-server( vrf \S+)? \S+"), 1),
    (re.compile(r"dns domain \S+"), 1),
    (re.compile(r"snmp-server .+"), 1),
    (re.compile(r"spanning-tree mode \S+"), 1),
    (re.compile(r"ip routing"), 2),
    (re.compile(r"ipv6 unicast-routing"), 2),
    (re.compile(r"ip route( vrf \S+)? \d+\.\d+\.\d+\.\d+/\d+ \S+( \S+)*"), 3),
    (re.compile(r"ipv6 route( vrf \S+)? [0-9a-fA-F:]+/\d+ \S+( \S+)*"), 3),
)
_GLOBAL_WORDS = {"hostname", "interface", "ip", "ipv6", "logging", "ntp", "dns", "snmp-server"}
# Lines EOS prints by itself; accepted (and ignored) when a saved config is replayed.
_FIXED_LINES = (
    "no aaa root",
    "transceiver qsfp default-mode 4x10G",
    "service routing protocols model multi-agent",
)
_HEADER = (
    "! boot system flash:/vEOS-lab.swi",
    "!",
    *(part for line in _FIXED_LINES for part in (line, "!")),
)
_FOOTER = ("management api http-commands", "   protocol http", "   no shutdown", "!")


class LabClock:
    """Seconds since the switch booted: real time by default, plus whatever the lab advances.

    A frozen clock moves only when advanced, so a test decides when a commit timer runs out.
    """

    def __init__(self, frozen: bool = False) -> None:
        self._frozen = frozen
        self._started = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            moving = 0.0 if self._frozen else time.monotonic() - self._started
            return moving + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the lab clock only moves forward")
        with self._lock:
            self._offset += seconds


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Ace:
    """One access-list entry; `source`/`destination` None means `any`."""

    seq: int
    action: str  # permit | deny | remark
    source: Prefix | None = None
    destination: Prefix | None = None
    remark: str = ""

    def body(self) -> tuple[str, object, object, str]:
        return (self.action, self.source, self.destination, self.remark)

    def text(self, protocol: str) -> str:
        if self.action == "remark":
            return f"{self.seq} remark {self.remark}"
        return (
            f"{self.seq} {self.action} {protocol} {_match(self.source)} {_match(self.destination)}"
        )


def _match(prefix: Prefix | None) -> str:
    if prefix is None:
        return "any"
    if prefix.prefixlen == prefix.max_prefixlen:
        return f"host {prefix.network_address}"
    return prefix.compressed


@dataclass
class Acl:
    name: str
    family: int  # 4 or 6
    entries: list[Ace] = field(default_factory=list)

    @property
    def protocol(self) -> str:
        return "ip" if self.family == 4 else "ipv6"

    def next_seq(self) -> int:
        return max((e.seq for e in self.entries), default=0) + 10

    def config_lines(self) -> list[str]:
        header = "ip access-list" if self.family == 4 else "ipv6 access-list"
        return [f"{header} {self.name}"] + [f"   {e.text(self.protocol)}" for e in self.entries]


Slot = tuple[int, str]  # (family, direction)


@dataclass
class Interface:
    name: str
    description: str = ""
    shutdown: bool = False
    routed: bool = False
    ipv4: IPv4Interface | None = None
    secondaries: list[IPv4Interface] = field(default_factory=list)
    ipv6_enable: bool = False
    ipv6: list[IPv6Interface] = field(default_factory=list)
    access_groups: dict[Slot, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        match = _INTERFACE_NAME.fullmatch(self.name)
        return match.group(1) if match else ""

    @property
    def switchable(self) -> bool:
        return self.kind in ("Ethernet", "Port-Channel") and "." not in self.name

    @property
    def is_routed(self) -> bool:
        return self.routed or not self.switchable

    def config_lines(self) -> list[str]:
        lines = [f"interface {self.name}"]
        if self.description:
            lines.append(f"   description {self.description}")
        if self.shutdown:
            lines.append("   shutdown")
        if self.switchable and self.routed:
            lines.append("   no switchport")
        if self.ipv4 is not None:
            lines.append(f"   ip address {self.ipv4.with_prefixlen}")
        lines += [f"   ip address {a.with_prefixlen} secondary" for a in self.secondaries]
        if self.ipv6_enable:
            lines.append("   ipv6 enable")
        lines += [f"   ipv6 address {a.with_prefixlen}" for a in self.ipv6]
        for family, word in ((4, "ip"), (6, "ipv6")):
            for direction in ("in", "out"):
                name = self.access_groups.get((family, direction))
                if name is not None:
                    lines.append(f"   {word} access-group {name} {direction}")
        return lines


def _interface_key(name: str) -> tuple[int, tuple[int, ...]]:
    match = _INTERFACE_NAME.fullmatch(name)
    if match is None:
        return (len(_INTERFACE_TYPES), ())
    numbers = tuple(int(n) for n in re.findall(r"\d+", match.group(2) + (match.group(3) or "")))
    return (list(_INTERFACE_TYPES).index(match.group(1)), numbers)


@dataclass
class EosConfig:
    """One whole configuration: the running config, a session's candidate, or a checkpoint."""

    hostname: str
    interfaces: dict[str, Interface] = field(default_factory=dict)
    acls: dict[int, dict[str, Acl]] = field(default_factory=lambda: {4: {}, 6: {}})
    global_lines: list[str] = field(default_factory=list)

    @classmethod
    def blank(cls, hostname: str, hardware: Iterable[str]) -> EosConfig:
        return cls(hostname, {name: Interface(name) for name in hardware})

    def copy(self) -> EosConfig:
        return copy.deepcopy(self)

    def render(self, command: str = "show running-config") -> str:
        ranks: dict[int, list[str]] = {r: [] for r in range(4)}
        for line in self.global_lines:
            ranks[_verbatim_rank(line)].append(line)
        out = [f"! Command: {command}", f"! device: {self.hostname} ({MODEL}, EOS-{VERSION})", "!"]
        out += _HEADER
        out += _group(ranks[0])
        out += [f"hostname {self.hostname}", "!"]
        out += _group(ranks[1])
        for name in sorted(self.interfaces, key=_interface_key):
            out += self.interfaces[name].config_lines() + ["!"]
        for family in (4, 6):
            for name in sorted(self.acls[family]):
                out += self.acls[family][name].config_lines() + ["!"]
        out += _group(ranks[2])
        out += _group(ranks[3])
        out += _FOOTER
        out.append("end")
        return "\n".join(out) + "\n"


def _group(lines: list[str]) -> list[str]:
    return [*lines, "!"] if lines else []


def _verbatim_rank(line: str) -> int:
    for pattern, rank in _VERBATIM:
        if pattern.fullmatch(line):
            return rank
    raise ValueError(f"not a verbatim line: {line!r}")


# --------------------------------------------------------------------------- command errors


class CommandFailed(Exception):
    """One command of a runCmds call failed; eAPI stops the call there."""

    code = 1000
    summary = "could not run command"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(CommandFailed):
    code = 1002
    summary = "invalid command"


def _invalid(words: Sequence[str], index: int) -> InvalidInput:
    token = words[index] if index < len(words) else ""
    return InvalidInput(f"Invalid input (at token {index}: '{token}')")


def _incomplete() -> InvalidInput:
    return InvalidInput("Incomplete command")


class _Words:
    """The words of one command, consumed from the front; errors name the word's position."""

    def __init__(self, line: str) -> None:
        self.words = line.split()
        self.at = 0

    def peek(self) -> str | None:
        return self.words[self.at] if self.at < len(self.words) else None

    def take(self) -> str:
        if self.at >= len(self.words):
            raise _incomplete()
        self.at += 1
        return self.words[self.at - 1]

    def keyword(self, *choices: str) -> str:
        word = self.take()
        if word.lower() not in choices:
            raise _invalid(self.words, self.at - 1)
        return word.lower()

    def optional(self, *choices: str) -> str | None:
        word = self.peek()
        if word is not None and word.lower() in choices:
            self.at += 1
            return word.lower()
        return None

    def rest(self) -> str:
        if self.at >= len(self.words):
            raise _incomplete()
        text = " ".join(self.words[self.at :])
        self.at = len(self.words)
        return text

    def done(self) -> None:
        if self.at < len(self.words):
            raise _invalid(self.words, self.at)

    def bad(self, back: int = 1) -> InvalidInput:
        return _invalid(self.words, self.at - back)


def _prefix_word(words: _Words, family: int) -> Prefix | None:
    """An ACL address: `any`, `host A`, `A/len`, or (IPv4) `A wildcard`."""
    word = words.take()
    if word.lower() == "any":
        return None
    try:
        if word.lower() == "host":
            host = ip_address(words.take())
            if host.version != family:
                raise words.bad()
            return ip_network(host)
        if "/" in word:
            network = ip_network(word, strict=True)
        elif family == 4:
            base = int(IPv4Address(word))
            bits = int(IPv4Address(words.take()))
            if bits & (bits + 1) or base & bits:
                raise words.bad()
            network = IPv4Network((base, 32 - bits.bit_length()))
        else:
            raise words.bad()
    except ValueError:
        raise words.bad() from None
    if network.version != family:
        raise words.bad()
    return network


# --------------------------------------------------------------------------- sessions


class SessionState(enum.StrEnum):
    PENDING = "pending"
    TIMER = "pendingCommitTimer"
    COMPLETED = "completed"


@dataclass
class ConfigSession:
    name: str
    candidate: EosConfig
    state: SessionState = SessionState.PENDING
    checkpoint: EosConfig | None = None  # running-config before a timed commit
    commit_by: float | None = None  # lab-clock second at which a timed commit reverts


class Mode(enum.Enum):
    EXEC = "exec"
    CONFIG = "config"
    INTERFACE = "config-if"
    ACL = "config-acl"
    MGMT_API = "config-mgmt-api-http-cmds"


Action = Callable[[], object]


class CliRun:
    """One runCmds call: a fresh CLI session on the router (mode, privilege, what it edits)."""

    def __init__(self, router: EosRouter, reject: Callable[[str], bool] | None = None) -> None:
        self.router = router
        self.reject = reject
        self.mode = Mode.EXEC
        self.privileged = False
        self.target: EosConfig | None = None  # the config being edited in config modes
        self.session: ConfigSession | None = None
        self.interface: Interface | None = None
        self.acl: Acl | None = None

    @property
    def in_config(self) -> bool:
        return self.mode is not Mode.EXEC

    def run(self, line: str, text: bool) -> dict[str, Any] | str:
        """Run one command: its JSON answer, or its text when `text` is asked for."""
        command = line.strip()
        if not command or command.startswith("!"):
            return "" if text else {}
        if self.in_config:
            if self.reject is not None and self.reject(command):
                raise _invalid(command.split(), 0)
            self._configure(command)
            return "" if text else {}
        return self._exec(command, text)

    # ------------------------------------------------------------------ exec mode

    def _exec(self, line: str, text: bool) -> dict[str, Any] | str:
        words = _Words(line)
        first = words.take().lower()
        if first == "enable":
            words.done()
            self.privileged = True
            return "" if text else {}
        if first in ("end", "exit"):
            words.done()
            return "" if text else {}
        if first == "show":
            return self._show(words, text)
        if not self.privileged:
            raise InvalidInput("Invalid input (privileged mode required)")
        router = self.router
        if first == "configure":
            return self._configure_command(words, text)
        if first == "write":
            words.optional("memory")
            words.done()
            router.save()
            return "Copy completed successfully.\n" if text else {}
        if first == "copy":
            source = words.take()
            destination = words.take()
            words.done()
            router.copy_file(source, destination)
            return "Copy completed successfully.\n" if text else {}
        raise words.bad()

    def _configure_command(self, words: _Words, text: bool) -> dict[str, Any] | str:
        router = self.router
        what = words.optional("terminal", "session", "replace")
        if what is None or what == "terminal":
            words.done()
            self._enter_config(router.running, None)
            return "" if text else {}
        if what == "replace":
            source = words.take()
            words.optional("force")
            words.done()
            router.replace(source)
            return "" if text else {}
        name = words.take()
        if not _SESSION_NAME.fullmatch(name):
            raise words.bad()
        verb = words.optional("commit", "abort")
        if verb is None:
            words.done()
            session = router.open_config_session(name)
            self._enter_config(session.candidate, session)
        elif verb == "abort":
            words.done()
            router.abort(name)
        elif words.optional("timer") is not None:
            match = _TIMER.fullmatch(words.take())
            if match is None:
                raise words.bad()
            words.done()
            hours, minutes, seconds = (int(g) for g in match.groups())
            seconds_total = hours * 3600 + minutes * 60 + seconds
            if seconds_total == 0:
                raise words.bad()
            router.commit(name, timer=seconds_total)
        else:
            words.done()
            router.commit(name)
        return "" if text else {}

    def _enter_config(self, target: EosConfig, session: ConfigSession | None) -> None:
        self.mode = Mode.CONFIG
        self.target = target
        self.session = session
        self.interface = self.acl = None

    def _leave_config(self) -> None:
        self.mode = Mode.EXEC
        self.target = self.session = None
        self.interface = self.acl = None

    def _show(self, words: _Words, text: bool) -> dict[str, Any] | str:
        router = self.router
        what = words.take().lower()
        if what == "version":
            words.done()
            return router.show_version(text)
        if what == "hostname":
            words.done()
            answer = {"hostname": router.running.hostname, "fqdn": router.running.hostname}
            return (
                f"Hostname: {answer['hostname']}\nFQDN:     {answer['fqdn']}\n" if text else answer
            )
        if what == "interfaces":
            words.done()
            return _as(text, router.show_interfaces())
        if what in ("ip", "ipv6"):
            words.keyword("interface")
            words.done()
            answer = router.show_ip_interface() if what == "ip" else router.show_ipv6_interface()
            return _as(text, answer)
        if not self.privileged:
            raise InvalidInput("Invalid input (privileged mode required)")
        if what in ("running-config", "startup-config"):
            kind, pattern = _output_filter(words)
            body = router.running.render() if what == "running-config" else router.startup_text
            return _text_only(text, body if kind is None else filter_output(body, kind, pattern))
        if what == "configuration":
            words.keyword("sessions")
            detail = words.optional("detail") is not None
            words.done()
            return _as(text, router.show_sessions(detail))
        if what == "session-config":
            words.keyword("named")
            name = words.take()
            diffs = words.optional("diffs") is not None
            words.done()
            return _text_only(text, router.session_config(name, diffs))
        raise words.bad()

    # ------------------------------------------------------------------ config modes

    def _configure(self, line: str) -> None:
        """Parse fully, then apply: a refused line changes nothing."""
        words = _Words(line)
        first = (words.peek() or "").lower()
        if first == "end":
            words.take()
            words.done()
            self._leave_config()
            return
        if first == "exit":
            words.take()
            words.done()
            if self.mode is Mode.CONFIG:
                self._leave_config()
            else:
                self.mode, self.interface, self.acl = Mode.CONFIG, None, None
            return
        if first in ("abort", "commit") and self.session is not None and self.mode is Mode.CONFIG:
            words.take()
            words.done()
            name = self.session.name
            self._leave_config()
            if first == "abort":
                self.router.abort(name)
            else:
                self.router.commit(name)
            return
        action: Action
        if self.mode is Mode.CONFIG:
            action = self._parse_global(words)
        else:
            try:
                action = self._parse_sub_mode(_Words(line))
            except InvalidInput as own:
                # EOS leaves a sub-mode for a command only the global mode knows
                try:
                    action = self._parse_global(words)
                except InvalidInput:
                    raise own from None
                self.mode, self.interface, self.acl = Mode.CONFIG, None, None
        action()

    def _parse_sub_mode(self, words: _Words) -> Action:
        if self.mode is Mode.INTERFACE:
            return self._parse_interface(words)
        if self.mode is Mode.ACL:
            return self._parse_ace(words)
        return self._parse_mgmt_api(words)

    def _parse_global(self, words: _Words) -> Action:
        config = self.target
        assert config is not None
        if " ".join(words.words) in _FIXED_LINES:
            return lambda: None
        negate = words.optional("no") is not None
        line = " ".join(words.words[words.at :])
        first = words.take().lower()
        if first == "hostname" and not negate:
            name = words.take()
            words.done()
            if not _HOSTNAME.fullmatch(name):
                raise words.bad()
            return lambda: setattr(config, "hostname", name)
        if first == "interface":
            name = self._interface_name(words)
            words.done()
            return self._interface_action(config, name, negate)
        if first in ("ip", "ipv6") and words.optional("access-list") is not None:
            family = 4 if first == "ip" else 6
            name = words.take()
            words.done()
            if not _ACL_NAME.fullmatch(name) or name.lower() == "standard":
                raise words.bad()
            acls = config.acls[family]
            if negate:
                return lambda: acls.pop(name, None)
            return lambda: self._open_acl(acls, name, family)
        if not negate and line == "management api http-commands":
            return lambda: setattr(self, "mode", Mode.MGMT_API)
        for pattern, _ in _VERBATIM:
            if pattern.fullmatch(line):
                return self._verbatim_action(config, line, negate)
        # the first word EOS knows here points the error at the word after it
        known = first in _GLOBAL_WORDS and len(words.words) > words.at
        raise _invalid(words.words, words.at if known else words.at - 1)

    def _verbatim_action(self, config: EosConfig, line: str, negate: bool) -> Action:
        def apply() -> None:
            if negate:
                if line in config.global_lines:
                    config.global_lines.remove(line)
            elif line not in config.global_lines:
                config.global_lines.append(line)

        return apply

    def _interface_name(self, words: _Words) -> str:
        word = words.take()
        match = _INTERFACE_NAME.fullmatch(word)
        if match is None:
            raise words.bad()
        kind = next(k for k in _INTERFACE_TYPES if k.lower() == match.group(1).lower())
        return kind + match.group(2) + (match.group(3) or "")

    def _interface_action(self, config: EosConfig, name: str, negate: bool) -> Action:
        hardware = _INTERFACE_TYPES[_INTERFACE_NAME.fullmatch(name).group(1)]  # type: ignore[union-attr]
        is_sub = "." in name
        exists = name in config.interfaces
        if hardware and not is_sub and name not in self.router.hardware:
            raise CommandFailed(f"Interface {name} does not exist")
        if is_sub and name.split(".")[0] not in config.interfaces:
            raise CommandFailed(f"Interface {name.split('.')[0]} does not exist")
        if negate:
            if hardware and not is_sub:
                raise CommandFailed(f"Interface {name} cannot be removed")

            def remove() -> None:
                config.interfaces.pop(name, None)

            return remove

        def enter() -> None:
            if not exists:
                config.interfaces[name] = Interface(name)
            self.mode, self.interface, self.acl = Mode.INTERFACE, config.interfaces[name], None

        return enter

    def _open_acl(self, acls: dict[str, Acl], name: str, family: int) -> None:
        self.mode, self.interface = Mode.ACL, None
        self.acl = acls.setdefault(name, Acl(name, family))

    def _parse_mgmt_api(self, words: _Words) -> Action:
        negate = words.optional("no") is not None
        first = words.keyword("protocol", "shutdown")
        if first == "protocol" and not negate:
            words.keyword("http", "https")
        words.done()
        return lambda: None

    def _parse_interface(self, words: _Words) -> Action:
        interface = self.interface
        assert interface is not None
        negate = words.optional("no") is not None
        first = words.keyword("description", "shutdown", "switchport", "ip", "ipv6")
        if first == "description":
            if negate:
                words.done()
                return lambda: setattr(interface, "description", "")
            text = words.rest()
            return lambda: setattr(interface, "description", text)
        if first == "shutdown":
            words.done()
            return lambda: setattr(interface, "shutdown", not negate)
        if first == "switchport":
            words.done()
            if not interface.switchable:
                raise words.bad()
            return lambda: setattr(interface, "routed", negate)
        family = 4 if first == "ip" else 6
        second = words.keyword(
            *(("address", "access-group") + (("enable",) if family == 6 else ()))
        )
        if second == "enable":
            words.done()
            return lambda: setattr(interface, "ipv6_enable", not negate)
        if second == "access-group":
            return self._parse_binding(words, interface, family, negate)
        return self._parse_address(words, interface, family, negate)

    def _parse_binding(
        self, words: _Words, interface: Interface, family: int, negate: bool
    ) -> Action:
        word = words.take()
        name: str | None = None
        if word.lower() in ("in", "out") and negate:
            direction = word.lower()
        else:
            if not _ACL_NAME.fullmatch(word):
                raise words.bad()
            name = word
            direction = words.keyword("in", "out")
        words.done()
        slot = (family, direction)
        if negate:

            def unbind() -> None:
                if name is None or interface.access_groups.get(slot) == name:
                    interface.access_groups.pop(slot, None)

            return unbind
        assert name is not None
        bound = name
        return lambda: interface.access_groups.__setitem__(slot, bound)

    def _parse_address(
        self, words: _Words, interface: Interface, family: int, negate: bool
    ) -> Action:
        if negate and words.peek() is None:
            if family == 4:
                return lambda: (setattr(interface, "ipv4", None), interface.secondaries.clear())
            return lambda: interface.ipv6.clear()
        word = words.take()
        try:
            if family == 4 and "/" not in word:
                address: IPv4Interface | IPv6Interface = IPv4Interface(f"{word}/{words.take()}")
            else:
                address = ip_interface(word)
        except ValueError:
            raise words.bad() from None
        if address.version != family or address.network.prefixlen == 0:
            raise words.bad()
        secondary = family == 4 and words.optional("secondary") is not None
        words.done()
        if family == 6:
            v6 = address
            assert isinstance(v6, IPv6Interface)

            def set_v6() -> None:
                if negate:
                    if v6 in interface.ipv6:
                        interface.ipv6.remove(v6)
                elif v6 not in interface.ipv6:
                    interface.ipv6.append(v6)

            return set_v6
        v4 = address
        assert isinstance(v4, IPv4Interface)

        def set_v4() -> None:
            if secondary:
                if negate:
                    if v4 in interface.secondaries:
                        interface.secondaries.remove(v4)
                elif v4 not in interface.secondaries:
                    interface.secondaries.append(v4)
            elif negate:
                if interface.ipv4 == v4:
                    interface.ipv4 = None
                    interface.secondaries.clear()
            else:
                interface.ipv4 = v4

        return set_v4

    def _parse_ace(self, words: _Words) -> Action:
        acl = self.acl
        assert acl is not None
        negate = words.optional("no") is not None
        seq: int | None = None
        word = words.peek()
        if word is not None and word.isdigit():
            seq = int(words.take())
            if not 1 <= seq <= _SEQ_MAX:
                raise words.bad()
            if negate and words.peek() is None:
                chosen = seq
                return lambda: acl.entries.__setitem__(
                    slice(None), [e for e in acl.entries if e.seq != chosen]
                )
        action = words.keyword("permit", "deny", "remark")
        if action == "remark":
            ace = Ace(0, "remark", remark=words.rest())
        else:
            words.keyword(acl.protocol)
            source = _prefix_word(words, acl.family)
            destination = _prefix_word(words, acl.family)
            words.done()
            ace = Ace(0, action, source, destination)
        if negate:
            return lambda: acl.entries.__setitem__(
                slice(None), [e for e in acl.entries if e.body() != ace.body()]
            )

        def add() -> None:
            if any(e.body() == ace.body() for e in acl.entries):
                return
            number = acl.next_seq() if seq is None else seq
            if any(e.seq == number for e in acl.entries):
                raise CommandFailed(f"Duplicate sequence number {number}")
            acl.entries.append(Ace(number, ace.action, ace.source, ace.destination, ace.remark))
            acl.entries.sort(key=lambda e: e.seq)

        return add


def _output_filter(words: _Words) -> tuple[str | None, re.Pattern[str]]:
    """An output modifier after a show command (`| include|exclude|begin|section REGEX`), or
    none; the regex is the rest of the command (EOS joins its words with single spaces)."""
    if words.optional("|") is None:
        words.done()
        return None, re.compile("")
    kind = words.keyword("include", "exclude", "begin", "section")
    text = words.rest()
    try:
        return kind, re.compile(text)
    except re.error:
        raise words.bad() from None


def _as(text: bool, answer: dict[str, Any]) -> dict[str, Any] | str:
    return json.dumps(answer, indent=2) + "\n" if text else answer


def _text_only(text: bool, body: str) -> dict[str, Any] | str:
    if not text:
        raise CommandFailed("This is an unconverted command")
    return body


# --------------------------------------------------------------------------- the switch


class EosRouter:
    """One switch's state, shared by every eAPI call. Thread-safe: tests read it from theirs."""

    def __init__(
        self,
        hostname: str = "switch",
        interfaces: Iterable[str] = ("Ethernet1", "Ethernet2"),
        clock: LabClock | None = None,
    ) -> None:
        if not _HOSTNAME.fullmatch(hostname):
            raise ValueError(f"invalid hostname {hostname!r}")
        names = tuple(interfaces)
        if len(set(names)) != len(names):
            raise ValueError("duplicate interface names")
        hardware: list[str] = []
        virtual: list[str] = []
        for name in names:
            match = _INTERFACE_NAME.fullmatch(name)
            if match is None or match.group(1) not in _INTERFACE_TYPES:
                raise ValueError(f"{name!r} is not an EOS interface name")
            is_port = _INTERFACE_TYPES[match.group(1)] and not match.group(3)
            (hardware if is_port else virtual).append(name)
        # hardware ports exist whatever the config says; the others are config (built at boot)
        self.hardware: tuple[str, ...] = tuple(hardware)
        self.clock = clock or LabClock()
        self.running = EosConfig.blank(hostname, self.hardware)
        for name in virtual:
            self.running.interfaces[name] = Interface(name)
        self._startup = self.running.render("show startup-config")
        self.flash: dict[str, str] = {}
        self.sessions: dict[str, ConfigSession] = {}
        self.calls = 0  # runCmds calls answered
        self.lock = threading.RLock()

    # ------------------------------------------------------------------ eAPI

    def run_cmds(
        self,
        commands: Sequence[str | dict[str, Any]],
        fmt: str = "json",
        reject: Callable[[str], bool] | None = None,
    ) -> dict[str, Any]:
        """The JSON-RPC `result` (one entry per command) or `error` of one runCmds call."""
        text = fmt == "text"
        results: list[dict[str, Any]] = []
        with self.lock:
            self.expire_timers()
            self.calls += 1
            run = CliRun(self, reject)
            for index, entry in enumerate(commands, 1):
                line = entry.get("cmd", "") if isinstance(entry, dict) else entry
                if not isinstance(line, str):
                    return _rpc_error(1002, "Command must be a string", results)
                try:
                    answer = run.run(line, text)
                except CommandFailed as exc:
                    message = (
                        f"CLI command {index} of {len(commands)} '{line}' failed: {exc.summary}"
                    )
                    results.append({"errors": [exc.message]})
                    return _rpc_error(exc.code, message, results)
                results.append({"output": answer} if text else answer)  # type: ignore[dict-item]
        return {"result": results}

    def configure(self, lines: Iterable[str]) -> None:
        """Apply config lines as an operator would (`configure` ... `end`); any error raises."""
        answer = self.run_cmds(["enable", "configure", *lines, "end"])
        if "error" in answer:
            error = answer["error"]
            raise ValueError(f"{error['message']}: {error['data'][-1]['errors'][0]}")

    # ------------------------------------------------------------------ what tests read

    def running_config(self) -> str:
        with self.lock:
            self.expire_timers()
            return self.running.render()

    @property
    def startup_config(self) -> str:
        with self.lock:
            self.expire_timers()
            return self._startup

    @property
    def startup_text(self) -> str:
        return self._startup

    def advance(self, seconds: float) -> None:
        """Move the lab clock on; a timed commit left unconfirmed past its time reverts."""
        with self.lock:
            self.clock.advance(seconds)
            self.expire_timers()

    def boot(self) -> None:
        """Take the running config as the saved one, as after booting from it."""
        with self.lock:
            self.save()

    # ------------------------------------------------------------------ state changes

    def save(self) -> None:
        self._startup = self.running.render("show startup-config")

    def copy_file(self, source: str, destination: str) -> None:
        if source == "running-config":
            body = self.running.render("show startup-config")
        elif source == "startup-config":
            body = self._startup
        elif source in self.flash:
            body = self.flash[source]
        else:
            raise CommandFailed(f"Error copying {source} to {destination} (No such file)")
        if destination == "startup-config":
            self._startup = body
        elif re.fullmatch(r"flash:[A-Za-z0-9_.-]{1,64}", destination):
            self.flash[destination] = body
        else:
            raise InvalidInput(f"Invalid input (at token 2: '{destination}')")

    def replace(self, source: str) -> None:
        """`configure replace`: the whole running config becomes the saved file's."""
        body = self._startup if source == "startup-config" else self.flash.get(source)
        if body is None:
            raise CommandFailed(f"File {source} does not exist")
        fresh = EosConfig.blank(self.running.hostname, self.hardware)
        replay = CliRun(self)
        replay.privileged = True
        replay._enter_config(fresh, None)
        for line in body.splitlines():
            if line.strip() in ("", "end") or line.lstrip().startswith("!"):
                continue
            if replay.mode is Mode.EXEC:
                replay._enter_config(fresh, None)
            try:
                replay.run(line, text=False)
            except CommandFailed as exc:
                raise CommandFailed(
                    f"Configure replace failed at {line.strip()!r}: {exc}"
                ) from None
        self.running = fresh

    def open_config_session(self, name: str) -> ConfigSession:
        found = self.sessions.get(name)
        if found is not None:
            if found.state is not SessionState.PENDING:
                raise CommandFailed(f"Cannot enter session {name} (session state: {found.state})")
            return found
        pending = [s for s in self.sessions.values() if s.state is not SessionState.COMPLETED]
        if len(pending) >= MAX_PENDING_SESSIONS:
            raise CommandFailed("Maximum number of pending sessions has been reached")
        session = ConfigSession(name, self.running.copy())
        self.sessions[name] = session
        return session

    def _session(self, name: str) -> ConfigSession:
        found = self.sessions.get(name)
        if found is None or found.state is SessionState.COMPLETED:
            raise CommandFailed(f"Cannot find session {name}")
        return found

    def commit(self, name: str, timer: int | None = None) -> None:
        """Commit a session; with a timer the commit reverts unless committed again in time."""
        session = self._session(name)
        if session.state is SessionState.TIMER:
            if timer is None:  # the confirmation
                session.state, session.checkpoint, session.commit_by = (
                    SessionState.COMPLETED,
                    None,
                    None,
                )
                self._forget_completed()
            else:
                session.commit_by = self.clock.now() + timer
            return
        if timer is None:
            self.running = session.candidate
            session.state = SessionState.COMPLETED
            self._forget_completed()
            return
        session.checkpoint = self.running
        self.running = session.candidate.copy()
        session.state = SessionState.TIMER
        session.commit_by = self.clock.now() + timer

    def abort(self, name: str) -> None:
        session = self._session(name)
        if session.state is SessionState.TIMER and session.checkpoint is not None:
            self.running = session.checkpoint
        del self.sessions[name]

    def expire_timers(self) -> None:
        now = self.clock.now()
        for session in list(self.sessions.values()):
            if (
                session.state is SessionState.TIMER
                and session.commit_by is not None
                and now >= session.commit_by
            ):
                self.abort(session.name)

    def _forget_completed(self) -> None:
        completed = [n for n, s in self.sessions.items() if s.state is SessionState.COMPLETED]
        for name in completed[:-MAX_SAVED_SESSIONS]:
            del self.sessions[name]

    # ------------------------------------------------------------------ show commands

    def session_config(self, name: str, diffs: bool) -> str:
        session = self.sessions.get(name)
        if session is None:
            raise CommandFailed(f"Cannot find session {name}")
        candidate = session.candidate.render("show session-config")
        if not diffs:
            return candidate
        running = self.running.render("show session-config")
        lines = difflib.unified_diff(
            running.splitlines(),
            candidate.splitlines(),
            fromfile="system:/running-config",
            tofile=f"session:/{name}-session-config",
            lineterm="",
        )
        return "\n".join(lines) + "\n"

    def show_sessions(self, detail: bool) -> dict[str, Any]:
        now = self.clock.now()
        sessions: dict[str, Any] = {}
        for session in self.sessions.values():
            entry: dict[str, Any] = {
                "state": str(session.state),
                "description": "",
                "instances": {},
            }
            if session.state is SessionState.TIMER and session.commit_by is not None:
                entry["commitBy"] = session.commit_by
                if detail:
                    entry["commitTimerRemaining"] = max(0.0, session.commit_by - now)
            sessions[session.name] = entry
        return {
            "sessions": sessions,
            "maxSavedSessions": MAX_SAVED_SESSIONS,
            "maxOpenSessions": MAX_PENDING_SESSIONS,
        }

    def show_version(self, text: bool) -> dict[str, Any] | str:
        answer = {
            "mfgName": "Arista",
            "modelName": MODEL,
            "hardwareRevision": "",
            "serialNumber": f"LAB{_stable_number(self.running.hostname):08d}",
            "systemMacAddress": _mac(self.running.hostname, 0),
            "hwMacAddress": "00:00:00:00:00:00",
            "configMacAddress": "00:00:00:00:00:00",
            "version": VERSION,
            "architecture": "x86_64",
            "internalVersion": f"{VERSION}-32308478.{VERSION.replace('.', '')}",
            "internalBuildId": "5f7c8d2e-0000-4000-8000-000000000000",
            "imageFormatVersion": "1.0",
            "imageOptimization": "None",
            "isIntlVersion": False,
            "uptime": self.clock.now(),
            "bootupTimestamp": BOOT_EPOCH,
            "memTotal": 2_000_000,
            "memFree": 1_000_000,
        }
        if not text:
            return answer
        return (
            f"Arista {MODEL}\nHardware version: \nSerial number: {answer['serialNumber']}\n"
            f"System MAC address: {answer['systemMacAddress']}\n\n"
            f"Software image version: {VERSION}\nArchitecture: x86_64\n"
            f"Internal build version: {answer['internalVersion']}\n"
            f"Uptime: {int(self.clock.now())} seconds\n"
        )

    def _status(self, interface: Interface) -> tuple[str, str]:
        if interface.shutdown:
            return "disabled", "down"
        return "connected", "up"

    def show_interfaces(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for index, name in enumerate(sorted(self.running.interfaces, key=_interface_key), 1):
            interface = self.running.interfaces[name]
            status, protocol = self._status(interface)
            addresses = []
            if interface.ipv4 is not None:
                addresses.append(_v4_address(interface))
            found[name] = {
                "name": name,
                "description": interface.description,
                "interfaceStatus": status,
                "lineProtocolStatus": protocol,
                "hardware": "ethernet" if interface.kind == "Ethernet" else interface.kind.lower(),
                "forwardingModel": "routed" if interface.is_routed else "bridged",
                "mtu": 1500,
                "bandwidth": 1_000_000_000 if interface.kind == "Ethernet" else 0,
                "lastStatusChangeTimestamp": BOOT_EPOCH,
                "physicalAddress": _mac(self.running.hostname, index),
                "burnedInAddress": _mac(self.running.hostname, index),
                "interfaceAddress": addresses,
            }
        return {"interfaces": found}

    def show_ip_interface(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in sorted(self.running.interfaces, key=_interface_key):
            interface = self.running.interfaces[name]
            if not interface.is_routed and interface.ipv4 is None:
                continue
            status, protocol = self._status(interface)
            found[name] = {
                "name": name,
                "description": interface.description,
                "interfaceStatus": status,
                "lineProtocolStatus": protocol,
                "enabled": not interface.shutdown,
                "mtu": 1500,
                "vrf": "default",
                "urpf": "disable",
                "proxyArp": False,
                "localProxyArp": False,
                "interfaceAddress": _v4_address(interface),
            }
        return {"interfaces": found}

    def show_ipv6_interface(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for index, name in enumerate(sorted(self.running.interfaces, key=_interface_key), 1):
            interface = self.running.interfaces[name]
            if not (interface.ipv6_enable or interface.ipv6):
                continue
            status, protocol = self._status(interface)
            link_local = IPv6Address(0xFE80 << 112 | _stable_number(name) << 16 | index)
            found[name] = {
                "name": name,
                "description": interface.description,
                "interfaceStatus": status,
                "lineProtocolStatus": protocol,
                "state": "enabled",
                "vrf": "default",
                "mtu": 1500,
                "linkLocal": {
                    "address": str(link_local),
                    "subnet": "fe80::/64",
                    "active": True,
                    "dadfailed": False,
                },
                "addresses": [
                    {
                        "address": str(a.ip),
                        "subnet": a.network.with_prefixlen,
                        "active": True,
                        "dadfailed": False,
                    }
                    for a in interface.ipv6
                ],
            }
        if not found:
            raise CommandFailed("No IPv6 configured interfaces")
        return {"interfaces": found}


def _rpc_error(code: int, message: str, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "data": data}}


def _v4_address(interface: Interface) -> dict[str, Any]:
    primary = interface.ipv4
    return {
        "primaryIp": {
            "address": str(primary.ip) if primary else "0.0.0.0",
            "maskLen": primary.network.prefixlen if primary else 0,
        },
        "secondaryIpsOrderedList": [
            {"address": str(a.ip), "maskLen": a.network.prefixlen} for a in interface.secondaries
        ],
        "secondaryIps": {
            str(a.ip): {"address": str(a.ip), "maskLen": a.network.prefixlen}
            for a in interface.secondaries
        },
        "virtualIp": {"address": "0.0.0.0", "maskLen": 0},
        "broadcastAddress": "255.255.255.255",
    }


def _stable_number(text: str) -> int:
    """A small number derived from a name, the same in every run (no hash randomisation)."""
    value = 0
    for char in text:
        value = (value * 131 + ord(char)) % 65521
    return value


def _mac(hostname: str, index: int) -> str:
    number = 0x001C73000000 | (_stable_number(hostname) << 8 & 0xFFFF00) | (index & 0xFF)
    raw = f"{number:012x}"
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


# --------------------------------------------------------------------------- the HTTP front


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


_MAX_BODY = 32 * 1024 * 1024


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One HTTP/1.1 request (None at end of stream): request line, headers, a sized body."""
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("malformed request line")
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n"):
            break
        if not raw:
            raise ValueError("headers cut short")
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or "0")
    if not 0 <= length <= _MAX_BODY:
        raise ValueError("bad content length")
    body = await reader.readexactly(length) if length else b""
    return _Request(parts[0], parts[1], headers, body)


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


def _response(status: int, body: bytes, content_type: str, keep_alive: bool) -> bytes:
    head = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        "Server: curfew-lab-eapi",
    ]
    if status == 401:
        head.append('WWW-Authenticate: Basic realm="eAPI"')
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class EapiServer:
    """One switch's eAPI on one loopback port. Lives in the lab's event loop.

    Faults are the lab's (`lab.ssh.Faults`), read per request: `latency_ms` delays each answer,
    `refuse_connections` closes the port, `auth_fail` answers 401, `reject` refuses matching
    config lines with EOS's invalid-input error, and `drop_after=k` runs the k-th request but
    closes the connection without answering it, then drops every later request unread until the
    faults change: a switch that died mid-exchange; `hang_up_on=k` closes on the k-th request
    without running it, and on every later one.
    """

    def __init__(
        self,
        router: EosRouter,
        *,
        username: str,
        password: str,
        faults: Any,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.router = router
        self.username = username
        self.password = password
        self.faults = faults
        self.host = host
        self.port = port
        self.requests_seen = 0
        self._server: asyncio.Server | None = None
        self._reserved: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        if self.faults.refuse_connections:
            self._reserve()
        else:
            await self._listen()
        return self.port

    async def stop(self) -> None:
        await self._unlisten()
        self._release()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)

    async def set_faults(self, **changes: object) -> None:
        was_refusing = self.faults.refuse_connections
        self.faults.update(**changes)
        if "drop_after" in changes or "hang_up_on" in changes:
            self.requests_seen = 0
        if self.faults.refuse_connections and not was_refusing:
            await self._unlisten()
            self._reserve()
        elif was_refusing and not self.faults.refuse_connections:
            self._release()
            await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, backlog=1024, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _reserve(self) -> None:
        """Hold the port without listening, so connecting gets a real 'connection refused'."""
        self._reserved = hold_port(self.host, self.port)
        self.port = self._reserved.getsockname()[1]

    def _release(self) -> None:
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                answer = await self._answer(request)
                if answer is None:  # dropped: close without a word
                    break
                writer.write(answer)
                await writer.drain()
                if request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, UnicodeError):
            pass
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _answer(self, request: _Request) -> bytes | None:
        keep_alive = request.headers.get("connection", "").lower() != "close"
        faults = self.faults
        self.requests_seen += 1
        drop = faults.drop_after
        if drop is not None and self.requests_seen > drop:
            return None
        if faults.hang_up_on is not None and self.requests_seen >= faults.hang_up_on:
            return None  # the k-th request is closed on unread, and every later one
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if request.path != "/command-api" or request.method != "POST":
            return _response(404, b"Not Found", "text/plain", keep_alive)
        if faults.auth_fail or not self._authorised(request.headers.get("authorization", "")):
            return _response(401, b"Unable to authenticate user", "text/plain", keep_alive)
        try:
            call = json.loads(request.body)
            params = call.get("params", {})
            commands = params["cmds"]
            fmt = params.get("format") or "json"
            if call.get("method") != "runCmds" or not isinstance(commands, list):
                raise ValueError("not a runCmds call")
            if fmt not in ("json", "text"):
                raise ValueError(f"unknown format {fmt!r}")
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": str(exc)}}
            return _response(200, json.dumps(body).encode(), "application/json", keep_alive)
        outcome = self.router.run_cmds(commands, fmt, reject=faults.rejects)
        if drop is not None and self.requests_seen == drop:
            return None
        body = {"jsonrpc": "2.0", "id": call.get("id"), **outcome}
        return _response(200, json.dumps(body).encode(), "application/json", keep_alive)

    def _authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeError):
            return False
        user_ok = hmac.compare_digest(user.encode(), self.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok and password_ok


# --------------------------------------------------------------------------- the lab's view

UPLINK = "Ethernet1"
FOREIGN_CONFIG = (
    "ntp server 192.0.2.123",
    "logging host 192.0.2.50",
    "ip routing",
    "ipv6 unicast-routing",
    "ip access-list MGMT-ACCESS",
    "   permit ip 192.0.2.0/24 any",
    "   deny ip 203.0.113.0/24 any",
    "   permit ip any any",
)


def _build(spec: SpecLike) -> EosRouter:
    router = EosRouter(spec.name, spec.interfaces)
    router.configure(spec.config)
    router.boot()
    return router


def _serve(router: EosRouter, spec: SpecLike, host: str) -> EapiServer:
    return EapiServer(
        router,
        username=spec.username,
        password=spec.password,
        faults=spec.faults(),
        host=host,
        port=spec.port,
    )


def _base_config(uplink_address: str) -> list[str]:
    return [
        *FOREIGN_CONFIG,
        f"interface {UPLINK}",
        "   description uplink",
        "   no switchport",
        f"   ip address {uplink_address}/30",
        "   ip access-group MGMT-ACCESS in",
    ]


def line_interface_config(interface: str, line_name: str, prefixes: Sequence[Prefix]) -> list[str]:
    """A routed venue port: description, and the first host of its first v4 and v6 prefix."""
    config = [f"interface {interface}", f"   description line {line_name}", "   no switchport"]
    v4, v6 = venue_networks(prefixes)
    if v4 is not None:
        config.append(f"   ip address {v4.network_address + 1}/{v4.prefixlen}")
    if v6 is not None:
        config.append(f"   ipv6 address {v6.network_address + 1}/{v6.prefixlen}")
    return config


TWIN = TwinKind(
    platform="arista_eos",
    build=_build,
    uplink=UPLINK,
    venue_interface=lambda k: f"Ethernet{k + 1}",
    base_config=_base_config,
    line_config=line_interface_config,
    serve=_serve,
    ssh=False,
)
