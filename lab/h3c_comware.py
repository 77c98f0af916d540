"""A simulated H3C Comware 7 router: its running configuration and the CLI that edits it.

Pure state machine, no networking: lab/ssh.py feeds it one line at a time. The router holds the
shared state; every SSH session keeps its own view (user, system, interface or ACL view).
"""

from __future__ import annotations

import enum
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_network,
)

from lab.cli import (
    CTRL_C,
    CTRL_Z,
    Action,
    Ambiguous,
    CliError,
    Close,
    Cursor,
    Dialect,
    Incomplete,
    Refused,
    Token,
    TooMany,
    Unknown,
    WrongParameter,
    append_unique,
    filter_output,
    remove,
    set_to,
    then,
)
from lab.timekeeping import (
    AbsoluteTimeRange,
    ClockZone,
    KeepsTime,
    SummerRule,
    display_time,
)
from lab.twin import Prefix, Reply, SpecLike, TwinKind, venue_networks

UNRECOGNIZED = "% Unrecognized command found at '^' position."
WRONG_PARAMETER = "% Wrong parameter found at '^' position."
INCOMPLETE = "% Incomplete command found at '^' position."
TOO_MANY = "% Too many parameters found at '^' position."
AMBIGUOUS = "% Ambiguous command found at '^' position."
SYSTEM_VIEW_BANNER = "System View: return to User View with Ctrl+Z."
SAVED = (
    "Validating file. Please wait...\n"
    "Saved the current configuration to mainboard device successfully.\n"
)
VERSION = "7.1.064, Release 0821P11"

RULE_STEP = 5
RULE_ID_MAX = 65534
_NUMBERS = {"basic": range(2000, 3000), "advanced": range(3000, 4000)}
_SYSNAME = re.compile(r"[!-~]{1,64}")
# ACL names: 1 to 63 characters, starting with a letter, case-insensitive, never `all`.
_ACL_NAME = re.compile(r"[A-Za-z][!-~]{0,62}")
_DESCRIPTION_MAX = 255

# Interface types this model knows, as Comware spells them, and their `brief` abbreviations.
INTERFACE_TYPES = {
    "GigabitEthernet": "GE",
    "Ten-GigabitEthernet": "XGE",
    "TwentyFiveGigE": "WGE",
    "FortyGigE": "FGE",
    "HundredGigE": "HGE",
    "M-GigabitEthernet": "MGE",
    "Bridge-Aggregation": "BAGG",
    "Route-Aggregation": "RAGG",
    "Vlan-interface": "Vlan",
    "LoopBack": "Loop",
}
# Logical interfaces come into being when first entered, as on the real thing.
_LOGICAL = {"Bridge-Aggregation", "Route-Aggregation", "Vlan-interface", "LoopBack"}
_IFACE_SPLIT = re.compile(r"([A-Za-z][A-Za-z-]*?)(\d+(?:/\d+){0,3}(?:\.\d+)?)")
_V4_PROTOCOLS = ("ip", "tcp", "udp", "icmp", "gre", "igmp", "ospf", "ipinip")
_V6_PROTOCOLS = ("ipv6", "tcp", "udp", "icmpv6", "gre", "ospf")
DIRECTIONS = ("inbound", "outbound")

# Global lines kept verbatim, and where Comware prints them: 0 before the interfaces, 1 after
# the static routes, 2 after the line vty block.
_VERBATIM = {"clock": 0, "ntp-service": 0, "dns": 0, "info-center": 1, "snmp-agent": 1, "ssh": 2}


class View(enum.Enum):
    USER = "user"
    SYSTEM = "system"
    INTERFACE = "interface"
    ACL = "acl"


# --------------------------------------------------------------------------- configuration


def _v6(address: IPv6Address) -> str:
    return str(address).upper()


@dataclass(frozen=True)
class V4Match:
    """An IPv4 source or destination of a rule: an address and a wildcard (0 for a host)."""

    address: IPv4Address
    wildcard: IPv4Address

    def __str__(self) -> str:
        wildcard = "0" if int(self.wildcard) == 0 else str(self.wildcard)
        return f"{self.address} {wildcard}"


@dataclass(frozen=True)
class V6Match:
    network: IPv6Network

    def __str__(self) -> str:
        return f"{_v6(self.network.network_address)}/{self.network.prefixlen}"


Match = V4Match | V6Match


@dataclass(frozen=True)
class Rule:
    """One ACL rule; `protocol` is None in a basic ACL, a None match means any."""

    action: str
    protocol: str | None
    source: Match | None = None
    destination: Match | None = None
    time_range: str = ""  # in force only while this time-range is active (and exists)

    def text(self) -> str:
        words = [self.action]
        if self.protocol is not None:
            words.append(self.protocol)
        if self.source is not None:
            words.append(f"source {self.source}")
        if self.destination is not None:
            words.append(f"destination {self.destination}")
        if self.time_range:
            words.append(f"time-range {self.time_range}")
        return " ".join(words)

    def matches(self, source: IPv4Address | IPv6Address, destination: object) -> bool:
        """Whether a packet of any protocol matches (this model's rules are `ip`/`ipv6`)."""
        if self.protocol not in (None, "ip", "ipv6"):
            return False
        return _within(source, self.source) and _within(destination, self.destination)


def _within(address: object, match: Match | None) -> bool:
    if match is None:
        return True
    if isinstance(match, V6Match):
        return isinstance(address, IPv6Address) and address in match.network
    if not isinstance(address, IPv4Address):
        return False
    care = ~int(match.wildcard) & 0xFFFFFFFF
    return int(address) & care == int(match.address) & care


def _date_text(wall: datetime, day: datetime) -> str:
    """`HH:MM M/D/YYYY` on `day`: an end at the next midnight is that day's 24:00."""
    clock = "24:00" if wall.date() > day.date() else f"{wall:%H:%M}"
    return f"{clock} {day.month}/{day.day}/{day.year}"


@dataclass(frozen=True)
class TimeRange(AbsoluteTimeRange):
    """`time-range NAME from HH:MM M/D/YYYY to HH:MM M/D/YYYY`."""

    def statement_texts(self, seconds: bool = False) -> list[str]:
        texts = [f"from {_date_text(b, b)} to {_date_text(e, b)}" for b, e in self.statements]
        if seconds:  # `display time-range` prints HH:MM:SS
            texts = [re.sub(r"(\d{2}:\d{2}) ", r"\1:00 ", text) for text in texts]
        return texts


@dataclass
class Acl:
    family: int  # 4 or 6
    kind: str  # advanced | basic
    number: int | None
    name: str | None
    auto_order: bool = False
    description: str = ""
    rules: dict[int, Rule] = field(default_factory=dict)

    @property
    def view_id(self) -> str:
        return str(self.number) if self.number is not None else str(self.name)

    def header(self) -> str:
        words = ["acl"] + (["ipv6"] if self.family == 6 else []) + [self.kind]
        if self.number is not None:
            words.append(str(self.number))
        if self.name is not None:
            words += ["name", self.name]
        if self.auto_order:
            words += ["match-order", "auto"]
        return " ".join(words)

    def config_lines(self) -> list[str]:
        lines = [self.header()]
        if self.description:
            lines.append(f" description {self.description}")
        lines += [f" rule {rule_id} {self.rules[rule_id].text()}" for rule_id in sorted(self.rules)]
        return lines

    def next_id(self) -> int:
        """The nearest multiple of the step above the highest rule id, from 0."""
        if not self.rules:
            return 0
        return (max(self.rules) // RULE_STEP + 1) * RULE_STEP

    def same_name(self, name: str) -> bool:
        return self.name is not None and self.name.casefold() == name.casefold()


@dataclass(frozen=True)
class FilterRef:
    """The ACL a packet-filter names: by number, or by name as typed."""

    number: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        return str(self.number) if self.number is not None else f"name {self.name}"

    def matches(self, other: FilterRef) -> bool:
        if self.number is not None or other.number is not None:
            return self.number == other.number
        return str(self.name).casefold() == str(other.name).casefold()


@dataclass
class Interface:
    name: str
    description: str = ""
    shutdown: bool = False
    ipv4: list[tuple[IPv4Interface, bool]] = field(default_factory=list)  # address, secondary
    ipv6: list[IPv6Interface] = field(default_factory=list)
    # (family, direction) -> the ACL bound there; one per family and direction
    filters: dict[tuple[int, str], tuple[FilterRef, bool]] = field(default_factory=dict)

    def config_lines(self) -> list[str]:
        lines = [f"interface {self.name}"]
        if self.description:
            lines.append(f" description {self.description}")
        if self.shutdown:
            lines.append(" shutdown")
        for address, secondary in sorted(self.ipv4, key=lambda a: a[1]):
            lines.append(
                f" ip address {address.ip} {address.netmask}" + (" sub" if secondary else "")
            )
        for address6 in self.ipv6:
            lines.append(f" ipv6 address {_v6(address6.ip)}/{address6.network.prefixlen}")
        for family in (4, 6):
            for direction in DIRECTIONS:
                bound = self.filters.get((family, direction))
                if bound is not None:
                    ref, counting = bound
                    kind = "ipv6 " if family == 6 else ""
                    extra = " hardware-count" if counting else ""
                    lines.append(f" packet-filter {kind}{ref} {direction}{extra}")
        return lines


@dataclass(frozen=True)
class StaticRoute:
    prefix: IPv4Network | IPv6Network
    interface: str | None
    next_hop: IPv4Address | IPv6Address | None
    preference: int | None = None

    def key(self) -> tuple[object, ...]:
        return (self.prefix, self.interface, self.next_hop)

    def text(self) -> str:
        command = "ip route-static" if self.prefix.version == 4 else "ipv6 route-static"
        address = self.prefix.network_address
        shown = _v6(address) if isinstance(address, IPv6Address) else str(address)
        words = [command, shown, str(self.prefix.prefixlen)]
        if self.interface is not None:
            words.append(self.interface)
        if self.next_hop is not None:
            hop = self.next_hop
            words.append(_v6(hop) if isinstance(hop, IPv6Address) else str(hop))
        if self.preference is not None:
            words += ["preference", str(self.preference)]
        return " ".join(words)


def _split_interface(text: str) -> tuple[str, str] | None:
    match = _IFACE_SPLIT.fullmatch(text)
    return (match.group(1), match.group(2)) if match else None


class ComwareRouter(KeepsTime):
    """One router's shared state. Sessions are created with `open_session()`."""

    def __init__(
        self,
        hostname: str = "H3C",
        interfaces: Iterable[str] = ("GigabitEthernet1/0/1", "GigabitEthernet1/0/2"),
    ) -> None:
        if not _SYSNAME.fullmatch(hostname):
            raise ValueError(f"invalid sysname {hostname!r}")
        self.hostname = hostname
        self.interfaces: dict[str, Interface] = {}
        for name in interfaces:
            parts = _split_interface(name)
            if parts is None or parts[0] not in INTERFACE_TYPES or name in self.interfaces:
                raise ValueError(f"invalid or duplicate interface name {name!r}")
            self.interfaces[name] = Interface(name)
        self.acls: list[Acl] = []
        self.routes: list[StaticRoute] = []
        self.global_lines: list[str] = []
        self.startup_config = ""
        # The router's clock (`KeepsTime`). NTP is synchronised while an `ntp-service
        # unicast-server` is configured, unless a test breaks it.
        self._start_clock()
        self.time_ranges: dict[str, TimeRange] = {}
        self.hits: dict[tuple[int, int], int] = {}  # (id of the ACL object, rule id) -> matches
        # Sessions run in the lab's event loop; tests read and edit state from their own thread.
        self.lock = threading.RLock()
        self.console = CliSession(self)

    def open_session(self) -> CliSession:
        return CliSession(self)

    def execute(self, line: str) -> Reply:
        """Run one line on the router's console session."""
        return self.console.execute(line)

    def configure(self, lines: Iterable[str]) -> None:
        """Load lines as Comware loads a configuration file; any rejected line raises.

        A line that starts in the first column is a system-view command (it leaves any
        sub-view); an indented line belongs to the view the last unindented line entered.
        `#` separators and a trailing `return` are skipped, as in `display` output.
        """
        session = CliSession(self, View.SYSTEM)
        with self.lock:
            for raw in lines:
                text = raw.rstrip()
                command = text.strip()
                if not command or command == "#":
                    continue
                if command == "return":
                    break
                if not text[0].isspace():
                    session.leave_to(View.SYSTEM)
                if command == "quit" and session.view is View.SYSTEM:
                    continue
                try:
                    session.run(command)
                except CliError as error:
                    message = COMWARE.text(error, session.prompt).strip()
                    raise ValueError(f"{self.hostname}: {command!r} rejected: {message}") from None

    # ------------------------------------------------------------------ the clock

    @property
    def ntp_synchronised(self) -> bool:
        with self.lock:
            configured = any(
                line.startswith("ntp-service unicast-server ") for line in self.global_lines
            )
            return configured and not self.ntp_lost

    def zone(self) -> ClockZone:
        """The zone the `clock` lines of the configuration set (checked when typed)."""
        with self.lock:
            found = ClockZone()
            for line in self.global_lines:
                words = line.split()
                if words[:2] == ["clock", "timezone"]:
                    offset = _offset(words[4])
                    offset = -offset if words[3] == "minus" else offset
                    found = replace(found, name=words[2], offset=offset)
                elif words[:2] == ["clock", "summer-time"]:
                    start = _summer_rule(words[3], words[4:7])
                    end = _summer_rule(words[7], words[8:11])
                    found = replace(
                        found,
                        summer_name=words[2],
                        summer_start=start,
                        summer_end=end,
                        summer_offset=_offset(words[11]),
                    )
            return found

    def local_now(self) -> tuple[datetime, str]:
        return self.zone().local(self.now())

    def time_range_active(self, name: str) -> bool:
        """Whether rules naming this time-range are in force now on the router's clock; one
        that does not exist holds no rule in force (Comware: the rule takes effect once the
        time range is configured)."""
        with self.lock:
            found = next(
                (t for key, t in self.time_ranges.items() if key.casefold() == name.casefold()),
                None,
            )
            return found is not None and found.active(self.local_now()[0])

    def permits(
        self,
        interface: str,
        direction: str,
        source: IPv4Address | IPv6Address,
        destination: IPv4Address | IPv6Address,
    ) -> bool:
        """Whether a packet passes the packet-filter on the interface in that direction
        (`inbound`/`outbound`, or `in`/`out`), now, on the router's clock: the first rule in
        force that matches decides (its match is counted); a packet no rule matches passes."""
        direction = {"in": "inbound", "out": "outbound"}.get(direction, direction)
        with self.lock:
            family = 4 if isinstance(source, IPv4Address) else 6
            bound = self.interfaces[interface].filters.get((family, direction))
            if bound is None:
                return True
            ref = bound[0]
            acl = self.find_acl(family, ref.number, ref.name)
            if acl is None:
                return True
            for number, rule in sorted(acl.rules.items()):
                if rule.time_range and not self.time_range_active(rule.time_range):
                    continue
                if rule.matches(source, destination):
                    key = (id(acl), number)
                    self.hits[key] = self.hits.get(key, 0) + 1
                    return rule.action == "permit"
            return True

    def display_clock(self) -> str:
        local, name = self.local_now()
        zone = self.zone()
        sign = "minus" if zone.offset < timedelta(0) else "add"
        seconds = abs(int(zone.offset.total_seconds()))
        offset = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        return (
            f"{local:%H:%M:%S}.{local.microsecond // 1000:03d} {name} {local:%a} "
            f"{local:%m/%d/%Y}\nTime Zone : {zone.name} {sign} {offset}\n"
        )

    def display_ntp_status(self) -> str:
        if not self.ntp_synchronised:
            return (
                " Clock status: unsynchronized\n Clock stratum: 16\n Reference clock ID: none\n"
                " Clock offset: 0.0000 ms\n"
            )
        server = next(
            line.split()[-1]
            for line in self.global_lines
            if line.startswith("ntp-service unicast-server ")
        )
        return (
            f" Clock status: synchronized\n Clock stratum: 3\n Reference clock ID: {server}\n"
            f" Clock offset: {self.ntp_offset_ms:.4f} ms\n Root delay: 1.00 ms\n"
        )

    def display_time_range(self, name: str | None) -> str:
        local, _ = self.local_now()
        out = [f"Current time is {local:%H:%M:%S} {local:%m/%d/%Y} {local:%A}"]
        for found in self.time_ranges.values():
            if name is not None and found.name.casefold() != name.casefold():
                continue
            state = "Active" if found.active(local) else "Inactive"
            out += ["", f"Time-range : {found.name} ({state})"]
            out += [f" {text}" for text in found.statement_texts(seconds=True)]
        return "\n".join(out) + "\n"

    def display_acl(self, family: int, name: str) -> str:
        acl = self.find_acl(family, None, name)
        if acl is None:
            return "ACL doesn't exist.\n"
        six = "IPv6" if family == 6 else "IPv4"
        out = [
            f"{acl.kind.capitalize()} {six} ACL named {acl.name}, {len(acl.rules)} rules,",
            f"ACL's step is {RULE_STEP}, start ID is 0",
        ]
        for number, rule in sorted(acl.rules.items()):
            text = f" rule {number} {rule.text()}"
            if rule.time_range:
                state = "Active" if self.time_range_active(rule.time_range) else "Inactive"
                text += f" ({state})"
            hits = self.hits.get((id(acl), number), 0)
            if hits:
                text += f" ({hits} times matched)"
            out.append(text)
        return "\n".join(out) + "\n"

    # ------------------------------------------------------------------ lookups

    def find_acl(self, family: int, number: int | None, name: str | None) -> Acl | None:
        for acl in self.acls:
            if acl.family != family:
                continue
            if number is not None and acl.number == number:
                return acl
            if number is None and name is not None and acl.same_name(name):
                return acl
        return None

    # ------------------------------------------------------------------ display

    def running_config(self) -> str:
        """The configuration as `display current-configuration` prints it, `#` to `return`."""
        with self.lock:
            ranks: dict[int, list[str]] = {0: [], 1: [], 2: []}
            for line in self.global_lines:
                ranks[_VERBATIM[line.split()[0]]].append(f" {line}")
            out = ["#", f" version {VERSION}", "#", f" sysname {self.hostname}", "#"]
            out += _section(ranks[0])
            out += _section(
                [
                    f" time-range {found.name} {text}"
                    for found in self.time_ranges.values()
                    for text in found.statement_texts()
                ]
            )
            for interface in self.interfaces.values():
                out += interface.config_lines() + ["#"]
            out += _section([f" {route.text()}" for route in self.routes])
            out += _section(ranks[1])
            for family in (4, 6):
                numbered = sorted(
                    (a for a in self.acls if a.family == family and a.number is not None),
                    key=lambda a: a.number or 0,
                )
                named = sorted(
                    (a for a in self.acls if a.family == family and a.number is None),
                    key=lambda a: str(a.name).casefold(),
                )
                for acl in numbered + named:
                    out += acl.config_lines() + ["#"]
            out += [
                "line vty 0 63",
                " authentication-mode scheme",
                " user-role network-operator",
                "#",
            ]
            out += _section(ranks[2])
            out.append("return")
            return "\n".join(out) + "\n"

    def display_ip_interface_brief(self) -> str:
        rows = [
            "*down: administratively down",
            "(s): spoofing  (l): loopback",
            f"{'Interface':<21}{'Physical':<9}{'Protocol':<9}{'IP address/Mask':<19}"
            f"{'VPN instance':<13}Description",
        ]
        for interface in self.interfaces.values():
            kind, number = _split_interface(interface.name) or (interface.name, "")
            short = INTERFACE_TYPES.get(kind, kind) + number
            physical = "*down" if interface.shutdown else "up"
            protocol = "down" if interface.shutdown else "up"
            primary = next((a for a, secondary in interface.ipv4 if not secondary), None)
            address = str(primary.with_prefixlen) if primary else "--"
            description = interface.description or "--"
            rows.append(
                f"{short:<21}{physical:<9}{protocol:<9}{address:<19}{'--':<13}{description}"
            )
        return "\n".join(rows) + "\n"


def _section(lines: list[str]) -> list[str]:
    return [*lines, "#"] if lines else []


# --------------------------------------------------------------------------- parsing


COMWARE = Dialect(
    {
        Unknown: UNRECOGNIZED,
        WrongParameter: WRONG_PARAMETER,
        Incomplete: INCOMPLETE,
        TooMany: TOO_MANY,
        Ambiguous: AMBIGUOUS,
    },
    indent=" ",
)


def _ipv4(token: Token) -> IPv4Address:
    try:
        return IPv4Address(token.text)
    except ValueError:
        raise WrongParameter(token.pos) from None


def _mask_length(token: Token) -> int:
    """A mask as dotted decimal or as a length."""
    if token.text.isdigit():
        if int(token.text) > 32:
            raise WrongParameter(token.pos)
        return int(token.text)
    try:
        return IPv4Network(f"0.0.0.0/{token.text}").prefixlen
    except ValueError:
        raise WrongParameter(token.pos) from None


def _wildcard(token: Token) -> IPv4Address:
    return IPv4Address(0) if token.text == "0" else _ipv4(token)


def _v6_prefix(cur: Cursor) -> IPv6Network:
    """`X/len` or `X len`; host bits are cleared."""
    token = cur.next()
    text = token.text
    if "/" not in text:
        length = cur.next()
        if not length.text.isdigit():
            raise WrongParameter(length.pos)
        text = f"{text}/{length.text}"
    try:
        network = ip_network(text, strict=False)
    except ValueError:
        raise WrongParameter(token.pos) from None
    if not isinstance(network, IPv6Network):
        raise WrongParameter(token.pos)
    return network


def _acl_name(token: Token) -> str:
    if not _ACL_NAME.fullmatch(token.text) or token.text.lower() == "all":
        raise WrongParameter(token.pos)
    return token.text


_COMMON_WORDS = ("display", "save", "quit")
# The first words each view knows (display, save and quit work in every view).
_VIEW_WORDS = {
    View.USER: sorted([*_COMMON_WORDS, "system-view", "screen-length"]),
    View.SYSTEM: sorted(
        [
            *_COMMON_WORDS,
            "return",
            "undo",
            "sysname",
            "interface",
            "acl",
            "ip",
            "ipv6",
            "time-range",
            *_VERBATIM,
        ]
    ),  # fmt: skip
    View.INTERFACE: sorted(
        [*_COMMON_WORDS, "return", "undo", "description", "shutdown", "ip", "ipv6", "packet-filter"]
    ),
    View.ACL: sorted([*_COMMON_WORDS, "return", "undo", "rule", "description"]),
}


class CliSession:
    """One user's CLI on a router: a view and the object that view edits."""

    def __init__(self, router: ComwareRouter, view: View = View.USER) -> None:
        self.router = router
        self.view = view
        self.interface = ""
        self.acl: Acl | None = None

    @property
    def prompt(self) -> str:
        host = self.router.hostname
        if self.view is View.USER:
            return f"<{host}>"
        if self.view is View.SYSTEM:
            return f"[{host}]"
        if self.view is View.INTERFACE:
            return f"[{host}-{self.interface}]"
        acl = self.acl
        assert acl is not None
        family = "ipv4" if acl.family == 4 else "ipv6"
        kind = "adv" if acl.kind == "advanced" else "basic"
        return f"[{host}-acl-{family}-{kind}-{acl.view_id}]"

    @property
    def echo(self) -> bool:
        return True

    @property
    def in_config(self) -> bool:
        return self.view is not View.USER

    def reject(self, line: str) -> Reply:
        """Answer a line as unrecognized without touching any state."""
        first = Cursor(line).peek()
        return Reply(COMWARE.text(Unknown(first.pos if first else 0), self.prompt), self.prompt)

    def execute(self, line: str) -> Reply:
        with self.router.lock:
            if line == CTRL_Z:
                self.leave_to(View.USER)
                return Reply("", self.prompt)
            if line == CTRL_C:
                return Reply("", self.prompt)
            prompt = self.prompt
            try:
                output = self.run(line)
            except CliError as error:
                return Reply(COMWARE.text(error, prompt), self.prompt)
            except Close:
                return Reply("", "", close=True)
            return Reply(output, self.prompt)

    def leave_to(self, view: View) -> None:
        if self.view is View.USER:
            return
        self.view, self.interface, self.acl = view, "", None

    def run(self, line: str) -> str:
        """Parse the whole line, then act: a refused line changes nothing."""
        cur = Cursor(line)
        if cur.at_end():
            return ""
        return self._parse(cur)()

    # ------------------------------------------------------------------ dispatch

    def _parse(self, cur: Cursor) -> Action:
        start = cur.i
        word = cur.keyword(_VIEW_WORDS[self.view])
        if word == "display":
            return self._display(cur)
        if word == "save":
            cur.optional_keyword(["force"])
            cur.done()
            return self._save
        if word == "quit":
            cur.done()
            return self._quit
        if word == "return":
            cur.done()
            return lambda: then(self.leave_to, View.USER)
        if word == "system-view":
            cur.done()
            return self._system_view
        if word == "screen-length":
            cur.keyword(["disable"])
            cur.done()
            return lambda: ""
        cur.i = start
        if self.view is View.SYSTEM:
            return self._system(cur)
        if self.view is View.INTERFACE:
            return self._interface(cur)
        return self._acl_view(cur)

    def _quit(self) -> str:
        if self.view is View.USER:
            raise Close
        self.leave_to(View.SYSTEM if self.view is not View.SYSTEM else View.USER)
        return ""

    def _system_view(self) -> str:
        self.view = View.SYSTEM
        return SYSTEM_VIEW_BANNER + "\n"

    def _save(self) -> str:
        self.router.startup_config = self.router.running_config()
        return SAVED

    def _display(self, cur: Cursor) -> Action:
        router = self.router
        what = cur.keyword(
            ["acl", "clock", "current-configuration", "ip", "ntp-service", "time-range"]
        )
        shown = display_time(what, cur, router)
        if shown is not None:
            return shown
        if what == "acl":
            family = 4
            if cur.peek_word() == "ipv6":
                cur.next()
                family = 6
            cur.keyword(["name"])
            name = _acl_name(cur.next())
            cur.done()
            return lambda: router.display_acl(family, name)
        pipe = cur.pipe()
        end = len(cur.tokens) if pipe is None else pipe
        if what == "ip":
            cur.keyword(["interface"])
            cur.keyword(["brief"])
            render = self.router.display_ip_interface_brief
        else:
            render = self.router.running_config
        cur.done_before(end)
        if pipe is None:
            return render
        cur.i = pipe + 1
        kind = cur.keyword(["begin", "exclude", "include"])
        pattern = cur.pattern()
        return lambda: filter_output(render(), kind, pattern)

    # ------------------------------------------------------------------ system view

    def _system(self, cur: Cursor) -> Action:
        negate = cur.negated("undo")
        start = cur.i
        word = cur.keyword(
            sorted(["sysname", "interface", "acl", "ip", "ipv6", "time-range", *_VERBATIM])
        )
        router = self.router
        if word == "time-range":
            return self._time_range(cur, negate)
        if word == "clock" and not negate:
            return self._clock(cur)
        if word == "sysname":
            if negate:
                cur.done()
                return lambda: set_to(router, "hostname", "H3C")
            token = cur.next()
            cur.done()
            if not _SYSNAME.fullmatch(token.text):
                raise WrongParameter(token.pos)
            return lambda: set_to(router, "hostname", token.text)
        if word == "interface":
            if negate:
                raise Unknown(cur.tokens[start].pos)
            name, create = self._interface_name(cur)
            return lambda: self._enter_interface(name, create)
        if word == "acl":
            return self._acl_command(cur, negate)
        if word in ("ip", "ipv6"):
            cur.keyword(["route-static"])
            route = self._route(cur, 4 if word == "ip" else 6, negate)
            if negate:
                return lambda: then(_drop_routes, router.routes, route)
            return lambda: then(_add_route, router.routes, route)
        # anything else the whitelist knows is kept verbatim, so tests can see it untouched
        if cur.at_end():
            raise Incomplete(cur.end_depth())
        text = " ".join([word] + [t.text for t in cur.tokens[cur.i :]])
        lines = router.global_lines
        if negate:
            return lambda: then(remove, lines, text)
        return lambda: then(append_unique, lines, text)

    def _time_range(self, cur: Cursor, negate: bool) -> Action:
        """`time-range NAME from HH:MM M/D/YYYY to HH:MM M/D/YYYY` adds an absolute statement
        (its end, up to 24:00, after its start); `undo time-range NAME` deletes the range."""
        router = self.router
        token = cur.next()
        if not re.fullmatch(r"[A-Za-z][!-~]{0,31}", token.text) or token.text.lower() == "all":
            raise WrongParameter(token.pos)
        name = token.text
        if negate:
            cur.done()

            def delete() -> str:
                key = next((k for k in router.time_ranges if k.casefold() == name.casefold()), None)
                if key is None:
                    raise Refused(message="The time range does not exist.")
                del router.time_ranges[key]
                return ""

            return delete
        cur.keyword(["from"])
        begin = _wall_time(cur, end=False)
        cur.keyword(["to"])
        end = _wall_time(cur, end=True)
        cur.done()

        def add() -> str:
            if not begin < end:
                raise Refused(message="The end time must be greater than the start time.")
            key = next((k for k in router.time_ranges if k.casefold() == name.casefold()), name)
            found = router.time_ranges.get(key, TimeRange(key))
            if (begin, end) not in found.statements:
                found = TimeRange(key, (*found.statements, (begin, end)))
            router.time_ranges[key] = found
            return ""

        return add

    def _clock(self, cur: Cursor) -> Action:
        """`clock timezone NAME add|minus HH[:MM[:SS]]`, `clock summer-time NAME START Month
        week day END Month week day ADD`; kept verbatim, one of each."""
        what = cur.keyword(["summer-time", "timezone"])
        name = cur.next()
        if not re.fullmatch(r"[A-Za-z][!-~]{0,31}", name.text):
            raise WrongParameter(name.pos)
        # kept as Comware prints it: every keyword whole, every time HH:MM:SS
        words = ["clock", what, name.text]
        if what == "timezone":
            words.append(cur.keyword(["add", "minus"]))
            words.append(_hms(_offset_token(cur.next())))
        else:
            for _ in range(2):
                words.append(_hms(_offset_token(cur.next())))
                for names in (_MONTH_NAMES, _WEEK_WORDS, _DAY_NAMES):
                    typed = cur.keyword([n.lower() for n in names])
                    words.append(next(n for n in names if n.lower() == typed))
            words.append(_hms(_offset_token(cur.next())))
        cur.done()
        text = " ".join(words)
        kind = f"clock {what} "
        lines = self.router.global_lines

        def apply() -> str:
            lines[:] = [line for line in lines if not line.startswith(kind)] + [text]
            return ""

        return apply

    def _interface_name(self, cur: Cursor) -> tuple[str, bool]:
        """`GigabitEthernet1/0/1`, `gigabitethernet 1/0/1` or `g1/0/1`: (full name, create)."""
        token = cur.next()
        text = token.text
        if not any(c.isdigit() for c in text) and cur.peek() is not None:
            text += cur.next().text
        parts = _split_interface(text)
        if parts is None:
            raise WrongParameter(token.pos)
        typed = parts[0].lower()
        kinds = [k for k in INTERFACE_TYPES if k.lower().startswith(typed)]
        exact = [k for k in kinds if k.lower() == typed]
        kinds = exact or kinds
        if len(kinds) > 1:
            raise Ambiguous(token.pos)
        if not kinds:
            raise WrongParameter(token.pos)
        name = kinds[0] + parts[1]
        cur.done()
        if name in self.router.interfaces:
            return name, False
        if kinds[0] in _LOGICAL and parts[1].isdigit():
            return name, True
        raise WrongParameter(token.pos)

    def _enter_interface(self, name: str, create: bool) -> str:
        if create:
            self.router.interfaces.setdefault(name, Interface(name))
        self.view, self.interface = View.INTERFACE, name
        return ""

    def _acl_command(self, cur: Cursor, negate: bool) -> Action:
        """`acl [ipv6] {advanced|basic} {NUMBER [name NAME] | name NAME} [match-order ...]`."""
        family = 4
        extra = ["all"] if negate else []
        kind = cur.keyword(["advanced", "basic", "ipv6", *extra])
        if kind == "ipv6":
            family = 6
            kind = cur.keyword(["advanced", "basic", *extra])
        router = self.router
        if kind == "all":
            cur.done()
            return lambda: then(_drop_family, router.acls, family)
        number: int | None = None
        name: str | None = None
        token = cur.peek()
        if token is not None and token.text.isdigit():
            number = cur.number(_NUMBERS[kind])
        else:
            cur.keyword(["name"])
            name = _acl_name(cur.next())
        auto_order: bool | None = None
        while not negate and not cur.at_end():
            choices = ["match-order"] + (["name"] if name is None else [])
            if cur.keyword(choices) == "name":
                name = _acl_name(cur.next())
            else:
                auto_order = cur.keyword(["auto", "config"]) == "auto"
        cur.done()
        if negate:
            return lambda: then(self._delete_acl, family, kind, number, name)

        def enter() -> str:
            acl = router.find_acl(family, number, name)
            if acl is None:
                if name is not None and router.find_acl(family, None, name) is not None:
                    raise Refused(message="The ACL name already exists.")
                acl = Acl(family, kind, number, name, bool(auto_order))
                router.acls.append(acl)
            elif acl.kind != kind:
                raise Refused(message="The ACL name already exists.")
            elif number is not None and name is not None and not acl.same_name(name):
                raise Refused(message="The ACL name already exists.")
            elif auto_order is not None and acl.auto_order != auto_order:
                if acl.rules:
                    raise Refused(message="Can't change the match order of an ACL with rules.")
                acl.auto_order = auto_order
            self.view, self.acl = View.ACL, acl
            return ""

        return enter

    def _delete_acl(self, family: int, kind: str, number: int | None, name: str | None) -> None:
        acl = self.router.find_acl(family, number, name)
        if acl is not None and acl.kind == kind:
            self.router.acls.remove(acl)

    def _route(self, cur: Cursor, family: int, negate: bool) -> StaticRoute:
        """`ip route-static A MASK|LEN {INTERFACE [NEXT-HOP] | NEXT-HOP} [preference P]`."""
        token = cur.next()
        if family == 4:
            address = _ipv4(token)
            length = _mask_length(cur.next())
            prefix: IPv4Network | IPv6Network = IPv4Network((address, length), strict=False)
        else:
            length_token = cur.next()
            if not length_token.text.isdigit() or int(length_token.text) > 128:
                raise WrongParameter(length_token.pos)
            try:
                prefix = IPv6Network((IPv6Address(token.text), int(length_token.text)), False)
            except ValueError:
                raise WrongParameter(token.pos) from None
        interface: str | None = None
        hop: IPv4Address | IPv6Address | None = None
        following = cur.peek()
        if following is None:
            if negate:
                return StaticRoute(prefix, None, None)
            raise Incomplete(cur.end_depth())
        if _next_hop(following.text, family) is None and following.text.lower() != "preference":
            interface = self._route_interface(cur)
        following = cur.peek()
        if following is not None and following.text.lower() != "preference":
            cur.next()
            hop = _next_hop(following.text, family)
            if hop is None:
                raise WrongParameter(following.pos)
        if interface is None and hop is None:
            raise Incomplete(cur.end_depth())
        preference = None
        if cur.optional_keyword(["preference"]) is not None:
            preference = cur.number(range(1, 256))
        cur.done()
        return StaticRoute(prefix, interface, hop, preference)

    def _route_interface(self, cur: Cursor) -> str:
        token = cur.next()
        text = token.text
        if text.upper() == "NULL0":
            return "NULL0"
        parts = _split_interface(text)
        if parts is None and cur.peek() is not None:
            parts = _split_interface(text + cur.next().text)
        name = parts[0] + parts[1] if parts else ""
        if name not in self.router.interfaces:
            raise WrongParameter(token.pos)
        return name

    # ------------------------------------------------------------------ interface view

    def _interface(self, cur: Cursor) -> Action:
        negate = cur.negated("undo")
        word = cur.keyword(["description", "ip", "ipv6", "packet-filter", "shutdown"])
        interface = self._current_interface()
        if word == "shutdown":
            cur.done()
            return lambda: set_to(interface, "shutdown", not negate)
        if word == "description":
            if negate:
                cur.done()
                return lambda: set_to(interface, "description", "")
            start = cur.peek()
            text = cur.rest()
            if len(text) > _DESCRIPTION_MAX:
                raise WrongParameter((start.pos if start else 0) + _DESCRIPTION_MAX)
            return lambda: set_to(interface, "description", text)
        if word == "ip":
            cur.keyword(["address"])
            return self._ipv4_address(cur, interface, negate)
        if word == "ipv6":
            cur.keyword(["address"])
            if negate and cur.at_end():
                return lambda: then(interface.ipv6.clear)
            network = _v6_prefix_host(cur)
            cur.done()
            if negate:
                return lambda: then(remove, interface.ipv6, network)
            return lambda: then(append_unique, interface.ipv6, network)
        return self._packet_filter(cur, interface, negate)

    def _ipv4_address(self, cur: Cursor, interface: Interface, negate: bool) -> Action:
        if negate and cur.at_end():
            return lambda: then(interface.ipv4.clear)
        token = cur.next()
        address = _ipv4(token)
        length_token = cur.next()
        length = _mask_length(length_token)
        secondary = cur.optional_keyword(["sub"]) is not None
        cur.done()
        if length > 30 or length == 0:
            raise WrongParameter(length_token.pos)
        value = IPv4Interface((address, length))
        if value.ip in (value.network.network_address, value.network.broadcast_address):
            raise WrongParameter(token.pos)

        def apply() -> str:
            kept = [(a, s) for a, s in interface.ipv4 if a != value]
            if negate:
                interface.ipv4 = kept
                return ""
            if not secondary:
                kept = [(a, s) for a, s in kept if s]
            interface.ipv4 = kept + [(value, secondary)]
            return ""

        return apply

    def _packet_filter(self, cur: Cursor, interface: Interface, negate: bool) -> Action:
        """`packet-filter [ipv6] {NUMBER | name NAME} {inbound|outbound} [hardware-count]`.

        One ACL per family and direction: applying another replaces it. The undo form names
        the ACL, and removes the binding only if that is the ACL bound there.
        """
        family = 4
        token = cur.peek()
        if token is not None and not token.text.isdigit() and token.text.lower() != "name":
            cur.keyword(["ipv6"])
            family = 6
        token = cur.peek()
        if token is not None and token.text.isdigit():
            ref = FilterRef(number=cur.number(range(2000, 4000)))
        else:
            cur.keyword(["name"])
            ref = FilterRef(name=_acl_name(cur.next()))
        direction = cur.keyword(list(DIRECTIONS))
        counting = False
        if not negate:
            counting = cur.optional_keyword(["hardware-count"]) is not None
        cur.done()
        slot = (family, direction)
        if negate:

            def unbind() -> str:
                bound = interface.filters.get(slot)
                if bound is not None and bound[0].matches(ref):
                    del interface.filters[slot]
                return ""

            return unbind
        return lambda: then(interface.filters.__setitem__, slot, (ref, counting))

    def _current_interface(self) -> Interface:
        # Another session may not remove a physical interface; logical ones are kept too.
        return self.router.interfaces.setdefault(self.interface, Interface(self.interface))

    # ------------------------------------------------------------------ ACL view

    def _current_acl(self) -> Acl:
        """The ACL being edited; one deleted meanwhile by another session is recreated."""
        acl = self.acl
        assert acl is not None
        if not any(known is acl for known in self.router.acls):
            self.router.acls.append(acl)
        return acl

    def _acl_view(self, cur: Cursor) -> Action:
        negate = cur.negated("undo")
        word = cur.keyword(["description", "rule"])
        acl = self._current_acl()
        if word == "description":
            if negate:
                cur.done()
                return lambda: set_to(acl, "description", "")
            text = cur.rest()
            return lambda: set_to(acl, "description", text[:127])
        token = cur.peek()
        rule_id = None
        if token is not None and token.text.isdigit():
            rule_id = cur.number(range(RULE_ID_MAX + 1))
        if negate:
            if rule_id is None:
                raise Incomplete(cur.end_depth())
            cur.done()
            return lambda: then(acl.rules.pop, rule_id, None)
        action = cur.keyword(["deny", "permit"])
        protocol: str | None = None
        if acl.kind == "advanced":
            protocol = self._protocol(cur, acl.family)
        options = ["source"] if acl.kind == "basic" else ["destination", "source"]
        given: dict[str, Match | None] = {}
        time_range = ""
        while not cur.at_end():
            token = cur.peek()
            option = cur.keyword([*options, "time-range"])
            if option in given or (option == "time-range" and time_range):
                raise Unknown(token.pos if token else 0)
            if option == "time-range":
                named = cur.next()
                if not re.fullmatch(r"[A-Za-z][!-~]{0,31}", named.text):
                    raise WrongParameter(named.pos)
                time_range = named.text
                continue
            given[option] = self._match(cur, acl.family)
        return lambda: self._add_rule(acl, rule_id, action, protocol, given, time_range)

    @staticmethod
    def _protocol(cur: Cursor, family: int) -> str:
        token = cur.peek()
        if token is not None and token.text.isdigit():
            return str(cur.number(range(256)))
        return cur.keyword(_V4_PROTOCOLS if family == 4 else _V6_PROTOCOLS)

    @staticmethod
    def _match(cur: Cursor, family: int) -> Match | None:
        token = cur.peek()
        if token is not None and token.text.lower() == "any":
            cur.next()
            return None
        if family == 6:
            return V6Match(_v6_prefix(cur))
        address = _ipv4(cur.next())
        wildcard = _wildcard(cur.next())
        masked = IPv4Address(int(address) & ~int(wildcard) & 0xFFFFFFFF)
        return V4Match(masked, wildcard)

    @staticmethod
    def _add_rule(
        acl: Acl,
        rule_id: int | None,
        action: str,
        protocol: str | None,
        given: dict[str, Match | None],
        time_range: str = "",
    ) -> str:
        """Create a rule, or edit the one with that id (unnamed parts stay as they were)."""
        old = acl.rules.get(rule_id) if rule_id is not None else None
        rule = Rule(
            action,
            protocol,
            given["source"] if "source" in given else (old.source if old else None),
            given["destination"] if "destination" in given else (old.destination if old else None),
            time_range or (old.time_range if old else ""),
        )
        number = rule_id if rule_id is not None else acl.next_id()
        if any(other == rule and i != number for i, other in acl.rules.items()):
            raise Refused(message="The rule already exists.")
        if number > RULE_ID_MAX:
            raise Refused(message="The rule ID is out of range.")
        acl.rules[number] = rule
        return ""


_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_WEEK_WORDS = ("first", "second", "third", "fourth", "fifth", "last")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_HMS = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?")


def _offset(text: str) -> timedelta:
    match = _HMS.fullmatch(text)
    assert match is not None, text
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _hms(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _offset_token(token: Token) -> timedelta:
    match = _HMS.fullmatch(token.text)
    if match is None or int(match.group(1)) > 23 or int(match.group(2) or 0) > 59:
        raise WrongParameter(token.pos)
    return _offset(token.text)


def _summer_rule(at: str, words: Sequence[str]) -> SummerRule:
    """`Month week day` at a local time: `March last Sunday`."""
    month = [m.lower() for m in _MONTH_NAMES].index(words[0].lower()) + 1
    week = min(_WEEK_WORDS.index(words[1].lower()) + 1, 5)
    day = [d.lower() for d in _DAY_NAMES].index(words[2].lower())
    return SummerRule(week, day, month, _offset(at))


def _wall_time(cur: Cursor, end: bool) -> datetime:
    """`HH:MM M/D/YYYY` of an absolute statement (the router's wall clock); an end may be
    24:00, the next day's midnight."""
    at, day = cur.next(), cur.next()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", at.text)
    limit = 24 if end else 23
    if clock is None or int(clock.group(1)) > limit or int(clock.group(2)) > 59:
        raise WrongParameter(at.pos)
    if int(clock.group(1)) == 24 and int(clock.group(2)):
        raise WrongParameter(at.pos)
    found = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", day.text)
    if found is None:
        raise WrongParameter(day.pos)
    try:
        midnight = datetime(  # noqa: DTZ001 - the router's local wall clock
            int(found.group(3)), int(found.group(1)), int(found.group(2))
        )
    except ValueError:
        raise WrongParameter(day.pos) from None
    return midnight + timedelta(hours=int(clock.group(1)), minutes=int(clock.group(2)))


def _next_hop(text: str, family: int) -> IPv4Address | IPv6Address | None:
    try:
        return IPv4Address(text) if family == 4 else IPv6Address(text)
    except ValueError:
        return None


def _v6_prefix_host(cur: Cursor) -> IPv6Interface:
    """An interface IPv6 address: `X/len` or `X len`."""
    token = cur.next()
    text = token.text
    if "/" not in text:
        length = cur.next()
        text = f"{text}/{length.text}"
    try:
        return IPv6Interface(text)
    except ValueError:
        raise WrongParameter(token.pos) from None


def _drop_family(acls: list[Acl], family: int) -> None:
    acls[:] = [acl for acl in acls if acl.family != family]


def _add_route(routes: list[StaticRoute], route: StaticRoute) -> None:
    routes[:] = [r for r in routes if r.key() != route.key()] + [route]


def _drop_routes(routes: list[StaticRoute], route: StaticRoute) -> None:
    """`undo` with only a prefix removes every route to it; otherwise the one named."""

    def named(r: StaticRoute) -> bool:
        if route.interface is None and route.next_hop is None:
            return r.prefix == route.prefix
        return r.key() == route.key()

    routes[:] = [r for r in routes if not named(r)]


# --------------------------------------------------------------------------- the lab's view

UPLINK = "Ten-GigabitEthernet1/0/49"
FOREIGN_CONFIG = (
    "ntp-service unicast-server 192.0.2.123",
    "info-center loghost 192.0.2.50",
    "acl advanced name MGMT-ACCESS",
    " rule 5 permit ip source 192.0.2.0 0.0.0.255",
    " rule 10 deny ip source 203.0.113.0 0.0.0.255",
    " rule 15 permit ip",
)


def _build(spec: SpecLike) -> ComwareRouter:
    # Comware has no enable secret: `super` exists, but the lab's accounts log in as admins.
    router = ComwareRouter(spec.name, spec.interfaces)
    router.configure(spec.config)
    return router


def _base_config(uplink_address: str) -> list[str]:
    return [
        *FOREIGN_CONFIG,
        f"interface {UPLINK}",
        " description uplink",
        f" ip address {uplink_address} 255.255.255.252",
        " packet-filter name MGMT-ACCESS inbound",
    ]


def line_interface_config(interface: str, line_name: str, prefixes: Sequence[Prefix]) -> list[str]:
    """A venue interface: description, and the first host of its first v4 and v6 prefix."""
    config = [f"interface {interface}", f" description line {line_name}"]
    v4, v6 = venue_networks(prefixes)
    if v4 is not None:
        config.append(f" ip address {IPv4Address(int(v4.network_address) + 1)} {v4.netmask}")
    if v6 is not None:
        config.append(f" ipv6 address {v6.network_address + 1}/{v6.prefixlen}")
    return config


TWIN = TwinKind(
    platform="h3c_comware",
    build=_build,
    uplink=UPLINK,
    venue_interface=lambda k: f"GigabitEthernet1/0/{k}",
    base_config=_base_config,
    line_config=line_interface_config,
    netmiko_device_type="hp_comware",
)
