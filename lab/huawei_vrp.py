"""A simulated Huawei VRP5 router (AR/S series): its running configuration and the CLI editing it.

Pure state machine, no networking: lab/ssh.py feeds it one line at a time. The router holds the
shared state; every SSH session drives its own VrpSession (view, the interface or ACL being
edited, and a pending `[Y/N]` question).
"""

from __future__ import annotations

import enum
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
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
    filter_output,
    in_view_or_parent,
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

UNRECOGNIZED = "Error: Unrecognized command found at '^' position."
WRONG_PARAMETER = "Error: Wrong parameter found at '^' position."
INCOMPLETE = "Error: Incomplete command found at '^' position."
TOO_MANY = "Error: Too many parameters found at '^' position."
AMBIGUOUS = "Error: Ambiguous command found at '^' position."
CHOOSE_YES_OR_NO = "Error: Please choose 'YES' or 'NO' first before pressing 'Enter'. [Y/N]:"
SYSTEM_VIEW_BANNER = "Enter system view, return user view with Ctrl+Z."
SCREEN_LENGTH_INFO = (
    "Info: The configuration takes effect on the current user terminal interface only."
)

_SYSNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,245}")
_ACL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")
_IFACE_TYPE = r"(?:\d+GE|[A-Za-z][A-Za-z-]*)"
_IFACE_TYPE_ONLY = re.compile(_IFACE_TYPE)
_IFACE_SPLIT = re.compile(rf"({_IFACE_TYPE})(\d[\d/.]*)")
_RULE_ID_MAX = 4294967294
_DESCRIPTION_MAX = 242
_RULE_STEP = 5

# VRP interface types this model knows, for abbreviations such as `int g0/0/1`. Order matters
# for prefixes: `g` must mean GigabitEthernet, not a longer type.
INTERFACE_TYPES = (
    "GigabitEthernet",
    "XGigabitEthernet",
    "Ethernet",
    "Eth-Trunk",
    "Vlanif",
    "LoopBack",
    "25GE",
    "40GE",
    "100GE",
)

# Numbered ACL ranges per kind; a named ACL without a number gets the highest free one.
_RANGES = {"basic": range(2000, 3000), "adv": range(3000, 4000)}
_V4_PROTOCOLS = ("ip", "icmp", "tcp", "udp", "gre", "ospf")
_V6_PROTOCOLS = ("ipv6", "icmpv6", "tcp", "udp")


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
    """An IPv4 source or destination: an address and a wildcard (VRP allows any wildcard)."""

    address: IPv4Address
    wildcard: IPv4Address

    def __str__(self) -> str:
        wildcard = "0" if int(self.wildcard) == 0 else str(self.wildcard)
        return f"{self.address} {wildcard}"


Match = V4Match | IPv6Network


def _match_text(match: Match) -> str:
    if isinstance(match, IPv6Network):
        return f"{_v6(match.network_address)}/{match.prefixlen}"
    return str(match)


@dataclass(frozen=True)
class Rule:
    """One ACL rule; `protocol` is empty in basic ACLs, None matches mean `any`."""

    action: str
    protocol: str = ""
    source: Match | None = None
    destination: Match | None = None
    time_range: str = ""  # in force only while this time-range is active (and exists)

    def text(self) -> str:
        words = [self.action]
        if self.protocol:
            words.append(self.protocol)
        if self.source is not None:
            words += ["source", _match_text(self.source)]
        if self.destination is not None:
            words += ["destination", _match_text(self.destination)]
        if self.time_range:
            words += ["time-range", self.time_range]
        return " ".join(words)

    def matches(self, source: IPv4Address | IPv6Address, destination: object) -> bool:
        """Whether a packet of any protocol matches (this model's rules are `ip`/`ipv6`)."""
        if self.protocol not in ("", "ip", "ipv6"):
            return False
        return _within(source, self.source) and _within(destination, self.destination)

    def merged(self, other: Rule) -> Rule:
        """VRP's `rule N ...` on an existing N modifies it: given fields replace, others stay."""
        return Rule(
            other.action,
            other.protocol,
            other.source if other.source is not None else self.source,
            other.destination if other.destination is not None else self.destination,
            other.time_range or self.time_range,
        )


def _within(address: object, match: Match | None) -> bool:
    if match is None:
        return True
    if isinstance(match, IPv6Network):
        return isinstance(address, IPv6Address) and address in match
    if not isinstance(address, IPv4Address):
        return False
    care = ~int(match.wildcard) & 0xFFFFFFFF
    return int(address) & care == int(match.address) & care


@dataclass(frozen=True)
class TimeRange(AbsoluteTimeRange):
    """`time-range NAME from HH:MM Y/M/D to HH:MM Y/M/D`."""

    def statement_texts(self) -> list[str]:
        return [
            f"from {b:%H:%M} {b.year}/{b.month}/{b.day} to {e:%H:%M} {e.year}/{e.month}/{e.day}"
            for b, e in self.statements
        ]


@dataclass
class Acl:
    family: int  # 4 or 6
    number: int
    name: str | None = None
    rules: dict[int, Rule] = field(default_factory=dict)
    description: str = ""
    auto_order: bool = False

    @property
    def kind(self) -> str:
        return "basic" if self.number in _RANGES["basic"] else "adv"

    @property
    def key(self) -> str:
        return self.name if self.name is not None else str(self.number)

    def label(self) -> str:
        """The ACL's part of the prompt: `acl-adv-CURFEW-L42`, `acl6-basic-2000`."""
        return f"acl{'6' if self.family == 6 else ''}-{self.kind}-{self.key}"

    def header(self) -> str:
        family = "ipv6 " if self.family == 6 else ""
        if self.name is not None:
            text = f"acl {family}name {self.name} {self.number}"
        else:
            text = f"acl {family}number {self.number}"
        return text + (" match-order auto" if self.auto_order else "")

    def config_lines(self) -> list[str]:
        lines = [self.header()]
        if self.description:
            lines.append(f" description {self.description}")
        lines += [f" rule {number} {rule.text()}" for number, rule in sorted(self.rules.items())]
        return lines

    def next_rule_id(self) -> int:
        return max(self.rules, default=0) + _RULE_STEP


@dataclass(frozen=True)
class FilterRef:
    """What a `traffic-filter` names: an ACL number or `name X`, as typed."""

    number: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        return f"name {self.name}" if self.name is not None else str(self.number)


@dataclass
class Interface:
    name: str
    description: str = ""
    shutdown: bool = False
    ipv4: list[tuple[IPv4Interface, bool]] = field(default_factory=list)  # (address, sub)
    ipv6_enable: bool = False
    ipv6: list[IPv6Interface] = field(default_factory=list)
    # (family, "inbound" | "outbound") -> the ACL it filters with
    filters: dict[tuple[int, str], FilterRef] = field(default_factory=dict)

    def config_lines(self) -> list[str]:
        lines = [f"interface {self.name}"]
        if self.description:
            lines.append(f" description {self.description}")
        if self.shutdown:
            lines.append(" shutdown")
        if self.ipv6_enable:
            lines.append(" ipv6 enable")
        for address, sub in self.ipv4:
            lines.append(f" ip address {address.ip} {address.netmask}" + (" sub" if sub else ""))
        for address in self.ipv6:
            lines.append(f" ipv6 address {_v6(address.ip)}/{address.network.prefixlen}")
        for family in (4, 6):
            for direction in ("inbound", "outbound"):
                ref = self.filters.get((family, direction))
                if ref is not None:
                    ipv6 = "ipv6 " if family == 6 else ""
                    lines.append(f" traffic-filter {direction} acl {ipv6}{ref}")
        return lines


@dataclass(frozen=True)
class StaticRoute:
    destination: IPv4Network | IPv6Network
    interface: str | None
    nexthop: IPv4Address | IPv6Address | None

    def text(self) -> str:
        words: list[str]
        if isinstance(self.destination, IPv4Network):
            words = ["ip route-static", str(self.destination.network_address)]
            words.append(str(self.destination.netmask))
        else:
            words = ["ipv6 route-static", _v6(self.destination.network_address)]
            words.append(str(self.destination.prefixlen))
        if self.interface is not None:
            words.append(self.interface)
        if self.nexthop is not None:
            hop = self.nexthop
            words.append(_v6(hop) if isinstance(hop, IPv6Address) else str(hop))
        return " ".join(words)


class VrpRouter(KeepsTime):
    """One router's shared state. Sessions are created with `open_session()`."""

    def __init__(
        self,
        sysname: str = "Huawei",
        interfaces: Iterable[str] = ("GigabitEthernet0/0/0", "GigabitEthernet0/0/1"),
        username: str = "admin",
    ) -> None:
        if not _SYSNAME.fullmatch(sysname):
            raise ValueError(f"invalid sysname {sysname!r}")
        self.sysname = sysname
        self.username = username
        self.interfaces: dict[str, Interface] = {}
        for name in interfaces:
            if not _IFACE_SPLIT.fullmatch(name) or name in self.interfaces:
                raise ValueError(f"invalid or duplicate interface name {name!r}")
            self.interfaces[name] = Interface(name)
        self.acls: dict[int, dict[str, Acl]] = {4: {}, 6: {}}  # family -> key -> ACL
        self.routes: list[StaticRoute] = []
        self.info_center: list[str] = []
        self.ntp: list[str] = []
        self.startup_config: str = ""
        # The router's clock (`KeepsTime`). NTP is synchronised while an `ntp-service
        # unicast-server` is configured, unless a test breaks it.
        self._start_clock()
        self.zone = ClockZone()
        self.clock_lines: list[str] = []  # `clock timezone` / `clock daylight-saving-time`
        self.time_ranges: dict[str, TimeRange] = {}
        self.hits: dict[tuple[int, str, int], int] = {}  # (family, ACL key, rule id) -> matches
        # Sessions run in the lab's event loop; tests read and edit state from their own thread.
        self.lock = threading.RLock()
        self.console = VrpSession(self)

    def open_session(self) -> VrpSession:
        return VrpSession(self)

    def execute(self, line: str) -> Reply:
        """Run one line on the router's console session."""
        return self.console.execute(line)

    def configure(self, lines: Iterable[str]) -> None:
        """Apply system-view lines as an operator at the console would; any error raises."""
        session = VrpSession(self, View.SYSTEM)
        with self.lock:
            for line in lines:
                reply = session.execute(line)
                if "Error:" in reply.output or session.asking:
                    raise ValueError(f"{self.sysname}: {line.strip()!r} rejected: {reply.output}")
            session.execute("return")

    # ------------------------------------------------------------------ the clock

    @property
    def ntp_synchronised(self) -> bool:
        return bool(self.ntp) and not self.ntp_lost

    def local_now(self) -> tuple[datetime, str]:
        return self.zone.local(self.now())

    def time_range_active(self, name: str) -> bool:
        """Whether rules naming this time-range are in force now on the router's clock; one
        that does not exist holds no rule in force (as Huawei documents)."""
        with self.lock:
            found = self.time_ranges.get(name)
            return found is not None and found.active(self.local_now()[0])

    def permits(
        self,
        interface: str,
        direction: str,
        source: IPv4Address | IPv6Address,
        destination: IPv4Address | IPv6Address,
    ) -> bool:
        """Whether a packet passes the traffic-filter on the interface in that direction
        (`inbound`/`outbound`, or `in`/`out`), now, on the router's clock: the first rule in
        force that matches decides (its match is counted); a packet no rule matches passes."""
        direction = {"in": "inbound", "out": "outbound"}.get(direction, direction)
        with self.lock:
            family = 4 if isinstance(source, IPv4Address) else 6
            ref = self.interfaces[interface].filters.get((family, direction))
            acl = self.resolve(family, ref) if ref is not None else None
            if acl is None:
                return True
            for number, rule in sorted(acl.rules.items()):
                if rule.time_range and not self.time_range_active(rule.time_range):
                    continue
                if rule.matches(source, destination):
                    key = (family, acl.key, number)
                    self.hits[key] = self.hits.get(key, 0) + 1
                    return rule.action == "permit"
            return True

    def display_clock(self) -> str:
        local, name = self.local_now()
        summer = name == self.zone.summer_name and self.zone.summer_start is not None
        stamp = f"{local:%Y-%m-%d %H:%M:%S}"
        if summer:
            total = self.zone.offset + self.zone.summer_offset
            sign = "-" if total < timedelta(0) else "+"
            minutes = abs(int(total.total_seconds())) // 60
            stamp += f"{sign}{minutes // 60:02d}:{minutes % 60:02d} DST"
        sign = "-" if self.zone.offset < timedelta(0) else "+"
        minutes = abs(int(self.zone.offset.total_seconds())) // 60
        return (
            f"{stamp}\n{local:%A}\n"
            f"Time Zone({self.zone.name}) : UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}\n"
        )

    def display_ntp_status(self) -> str:
        if not self.ntp_synchronised:
            return (
                " clock status: unsynchronized\n clock stratum: 16\n reference clock ID: none\n"
                " clock offset: 0.0000 ms\n"
            )
        server = self.ntp[0].split()[-1]
        return (
            f" clock status: synchronized\n clock stratum: 3\n reference clock ID: {server}\n"
            f" clock offset: {self.ntp_offset_ms:.4f} ms\n root delay: 1.00 ms\n"
        )

    def display_time_range(self, name: str | None) -> str:
        local, _ = self.local_now()
        out = [
            f"Current time is {local:%H:%M:%S} {local.year}/{local.month}/{local.day} {local:%A}"
        ]
        for found in self.time_ranges.values():
            if name is not None and found.name != name:
                continue
            state = "Active" if found.active(local) else "Inactive"
            out += ["", f"Time-range : {found.name} ( {state} )"]
            out += [f" {text}" for text in found.statement_texts()]
        return "\n".join(out) + "\n"

    def display_acl(self, family: int, name: str) -> str:
        acl = self.acls[family].get(name)
        if acl is None:
            return "Error: The ACL does not exist.\n"
        kind = "Advanced" if acl.kind == "adv" else "Basic"
        six = "IPv6 " if family == 6 else ""
        out = [f"{kind} {six}ACL {acl.key} {acl.number}, {len(acl.rules)} rules"]
        for number, rule in sorted(acl.rules.items()):
            text = f" rule {number} {rule.text()}"
            if rule.time_range:
                state = "Active" if self.time_range_active(rule.time_range) else "Inactive"
                text += f" ({state})"
            hits = self.hits.get((family, acl.key, number), 0)
            if hits:
                text += f" ({hits} matches)"
            out.append(text)
        return "\n".join(out) + "\n"

    # ------------------------------------------------------------------ ACL bookkeeping

    def acl_by_number(self, family: int, number: int) -> Acl | None:
        return next((a for a in self.acls[family].values() if a.number == number), None)

    def resolve(self, family: int, ref: FilterRef) -> Acl | None:
        if ref.name is not None:
            return self.acls[family].get(ref.name)
        assert ref.number is not None
        return self.acl_by_number(family, ref.number)

    def free_number(self, family: int, kind: str) -> int | None:
        used = {a.number for a in self.acls[family].values()}
        return next((n for n in reversed(_RANGES[kind]) if n not in used), None)

    def bound_at(self, acl: Acl) -> list[str]:
        """Interfaces whose traffic-filter names this ACL, by name or number."""
        return [
            i.name
            for i in self.interfaces.values()
            for (family, _), ref in i.filters.items()
            if family == acl.family and self.resolve(family, ref) is acl
        ]

    # ------------------------------------------------------------------ rendering

    def running_config(self) -> str:
        """The configuration as `display current-configuration` prints it, up to `return`."""
        with self.lock:
            out = ["!Software Version V200R010C00SPC600", "#", f" sysname {self.sysname}", "#"]
            if self.clock_lines:
                out += [f" {line}" for line in self.clock_lines] + ["#"]
            if self.time_ranges:
                out += [
                    f" time-range {found.name} {text}"
                    for found in self.time_ranges.values()
                    for text in found.statement_texts()
                ] + ["#"]
            if self.info_center:
                out += [f" {line}" for line in self.info_center] + ["#"]
            for family in (4, 6):
                for acl in sorted(self.acls[family].values(), key=lambda a: a.number):
                    out += acl.config_lines() + ["#"]
            out += [
                "aaa",
                " authentication-scheme default",
                " authorization-scheme default",
                " accounting-scheme default",
                " domain default",
                f" local-user {self.username} password irreversible-cipher "
                f"{_fake_cipher(self.username)}",
                f" local-user {self.username} privilege level 15",
                f" local-user {self.username} service-type ssh",
                "#",
            ]
            for interface in self.interfaces.values():
                out += interface.config_lines() + ["#"]
            out += ["interface NULL0", "#"]
            if self.ntp:
                out += [f" {line}" for line in self.ntp] + ["#"]
            if self.routes:
                out += [route.text() for route in self.routes] + ["#"]
            out += [
                " stelnet server enable",
                " ssh user curfew authentication-type password",
                "#",
                "user-interface con 0",
                " authentication-mode password",
                "user-interface vty 0 4",
                " authentication-mode aaa",
                " protocol inbound ssh",
                "#",
                "return",
            ]
            return "\n".join(out) + "\n"

    def display_ip_interface_brief(self) -> str:
        up = sum(1 for i in self.interfaces.values() if not i.shutdown) + 1
        down = len(self.interfaces) + 1 - up
        rows = [
            "*down: administratively down",
            "^down: standby",
            "(l): loopback",
            "(s): spoofing",
            "(E): E-Trunk down",
            f"The number of interface that is UP in Physical is {up}",
            f"The number of interface that is DOWN in Physical is {down}",
            f"The number of interface that is UP in Protocol is {up}",
            f"The number of interface that is DOWN in Protocol is {down}",
            "",
            f"{'Interface':<34}{'IP Address/Mask':<21}{'Physical':<11}{'Protocol':<10}",
        ]
        for i in self.interfaces.values():
            primary = next((a for a, sub in i.ipv4 if not sub), None)
            address = f"{primary.ip}/{primary.network.prefixlen}" if primary else "unassigned"
            state = ("*down", "down") if i.shutdown else ("up", "up")
            rows.append(f"{i.name:<34}{address:<21}{state[0]:<11}{state[1]:<10}")
        rows.append(f"{'NULL0':<34}{'unassigned':<21}{'up':<11}{'up(s)':<10}")
        return "\n".join(rows) + "\n"

    def display_version(self) -> str:
        uptime = int(time.monotonic() - self.booted)
        return (
            "Huawei Versatile Routing Platform Software\n"
            "VRP (R) software, Version 5.160 (AR2200 V200R010C00SPC600)\n"
            "Copyright (C) 2011-2020 HUAWEI TECH CO., LTD\n"
            f"Huawei AR2220 Router uptime is 0 week, 0 day, {uptime // 3600} hours, "
            f"{uptime // 60 % 60} minutes\n"
        )


def _fake_cipher(text: str) -> str:
    digest = hashlib.sha256(b"lab:" + text.encode()).hexdigest()
    return f"%^%#{digest[:40]}%^%#"


# --------------------------------------------------------------------------- parsing


VRP = Dialect(
    {
        Unknown: UNRECOGNIZED,
        WrongParameter: WRONG_PARAMETER,
        Incomplete: INCOMPLETE,
        TooMany: TOO_MANY,
        Ambiguous: AMBIGUOUS,
    }
)


def _ipv4(token: Token) -> IPv4Address:
    try:
        return IPv4Address(token.text)
    except ValueError:
        raise WrongParameter(token.pos) from None


def _ipv6(token: Token) -> IPv6Address:
    try:
        return IPv6Address(token.text)
    except ValueError:
        raise WrongParameter(token.pos) from None


def _integer(token: Token, low: int, high: int) -> int:
    if not token.text.isdigit() or not low <= int(token.text) <= high:
        raise WrongParameter(token.pos)
    return int(token.text)


def _mask_or_length(token: Token) -> int:
    """A dotted netmask or a prefix length, as `ip address` and `ip route-static` take."""
    if token.text.isdigit():
        return _integer(token, 0, 32)
    mask = _ipv4(token)
    try:
        return IPv4Network(f"0.0.0.0/{mask}").prefixlen
    except ValueError:
        raise WrongParameter(token.pos) from None


def _v4_match(cur: Cursor) -> V4Match | None:
    """`any`, or an address and a wildcard (`0` for a host)."""
    token = cur.next()
    if token.text.lower() == "any":
        return None
    address = _ipv4(token)
    wild_token = cur.next()
    wildcard = IPv4Address(0) if wild_token.text == "0" else _ipv4(wild_token)
    # VRP keeps only the address bits the wildcard does not ignore.
    masked = IPv4Address(int(address) & ~int(wildcard) & 0xFFFFFFFF)
    return V4Match(masked, wildcard)


def _v6_match(cur: Cursor) -> IPv6Network | None:
    """`any`, `P/L`, or an address and a prefix length."""
    token = cur.next()
    if token.text.lower() == "any":
        return None
    if "/" in token.text:
        try:
            network = ip_network(token.text, strict=False)
        except ValueError:
            raise WrongParameter(token.pos) from None
        if not isinstance(network, IPv6Network):
            raise WrongParameter(token.pos)
        return network
    address = _ipv6(token)
    length = _integer(cur.next(), 1, 128)
    return IPv6Network((address, length), strict=False)


def _clock_time(token: Token, max_hours: int) -> timedelta:
    """`HH:MM[:SS]` (`8` for 08:00:00)."""
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?", token.text)
    if match is None:
        raise WrongParameter(token.pos)
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    if hours > max_hours or minutes > 59 or seconds > 59:
        raise WrongParameter(token.pos)
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _hms(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


_WEEK_WORDS = ("first", "second", "third", "fourth", "last")
_DAY_WORDS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_WORDS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


def _summer_day(cur: Cursor, at: timedelta) -> SummerRule:
    """`W D M` of a repeating daylight-saving rule: `last Sun Mar`."""
    week = _WEEK_WORDS.index(cur.keyword(_WEEK_WORDS)) + 1
    day = [d.lower() for d in _DAY_WORDS].index(cur.keyword([d.lower() for d in _DAY_WORDS]))
    month_words = [m.lower() for m in _MONTH_WORDS]
    month = month_words.index(cur.keyword(month_words)) + 1
    return SummerRule(week, day, month, at)


def _wall_time(cur: Cursor) -> datetime:
    """`HH:MM YYYY/M/D` of an absolute time-range statement (the router's wall clock)."""
    at, day = cur.next(), cur.next()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", at.text)
    if clock is None or int(clock.group(1)) > 23 or int(clock.group(2)) > 59:
        raise WrongParameter(at.pos)
    found = re.fullmatch(r"(\d{4})/(\d{1,2})/(\d{1,2})", day.text)
    if found is None:
        raise WrongParameter(day.pos)
    try:
        return datetime(  # noqa: DTZ001 - the router's local wall clock
            int(found.group(1)), int(found.group(2)), int(found.group(3)),
            int(clock.group(1)), int(clock.group(2)),
        )  # fmt: skip
    except ValueError:
        raise WrongParameter(day.pos) from None


def _acl_name(token: Token) -> str:
    if not _ACL_NAME.fullmatch(token.text) or token.text.isdigit():
        raise WrongParameter(token.pos)
    return token.text


_COMMON = ("display", "quit", "return")
_USER_COMMON = ("display", "quit")


class VrpSession:
    """One user's CLI on a router: a view, the object being edited, and a pending question."""

    def __init__(self, router: VrpRouter, view: View = View.USER) -> None:
        self.router = router
        self.view = view
        self.interface = ""  # in the interface view
        self.acl: tuple[int, str] = (4, "")  # (family, key) in an ACL view
        self._question: Callable[[bool], str] | None = None

    # ------------------------------------------------------------------ the lab/ssh.py face

    @property
    def asking(self) -> bool:
        return self._question is not None

    @property
    def prompt(self) -> str:
        if self._question is not None:
            return ""
        name = self.router.sysname
        if self.view is View.USER:
            return f"<{name}>"
        if self.view is View.SYSTEM:
            return f"[{name}]"
        if self.view is View.INTERFACE:
            return f"[{name}-{self.interface}]"
        return f"[{name}-{self._current_acl().label()}]"

    @property
    def echo(self) -> bool:
        return True

    @property
    def in_config(self) -> bool:
        return self.view is not View.USER and self._question is None

    def reject(self, line: str) -> Reply:
        """Answer a line as unrecognized without touching any state."""
        first = Cursor(line).peek()
        return Reply(self._error_text(Unknown(first.pos if first else 0)), self.prompt)

    def execute(self, line: str) -> Reply:
        with self.router.lock:
            if self._question is not None:
                return self._answer(line)
            if line == CTRL_Z:
                if self.view is not View.USER:
                    self.view = View.USER
                return Reply("", self.prompt)
            if line == CTRL_C:
                return Reply("", self.prompt)
            try:
                output = self._run(line)
            except CliError as error:
                return Reply(self._error_text(error), self.prompt)
            except Close:
                return Reply("", "", close=True)
            return Reply(output, self.prompt)

    def _answer(self, line: str) -> Reply:
        word = line.strip().lower()
        if word not in ("y", "yes", "n", "no"):
            return Reply(CHOOSE_YES_OR_NO, "")
        question, self._question = self._question, None
        assert question is not None
        return Reply(question(word.startswith("y")), self.prompt)

    def _ask(self, text: str, then: Callable[[bool], str]) -> str:
        self._question = then
        return text

    def _error_text(self, error: CliError) -> str:
        return VRP.text(error, self.prompt)

    # ------------------------------------------------------------------ dispatch

    def _run(self, line: str) -> str:
        cur = Cursor(line)
        if cur.at_end():
            return ""
        if self.view is View.USER:
            return self._parse_user(cur)()
        if self.view is View.SYSTEM:
            return self._parse_system(cur)()
        sub_parser = self._parse_interface if self.view is View.INTERFACE else self._parse_acl
        # VRP runs a system-view command typed in a sub-view, in that sub-view.
        action, _ = in_view_or_parent(cur, sub_parser, self._parse_system)
        return action()

    def _command(self, cur: Cursor, own: Sequence[str], common: Sequence[str]) -> tuple[bool, str]:
        """(negated, command word): `undo` first, then a word of the view or a common one.

        Common words (`display`, `quit`, `return`) share the view's keyword space, so an
        abbreviation is judged against everything the view knows.
        """
        negate = cur.peek_word() == "undo" and "undo" in own
        if negate:
            cur.next()
            return True, cur.keyword([w for w in own if w != "undo"])
        return False, cur.keyword([*own, *common])

    def _common(self, command: str, cur: Cursor) -> Action:
        """`display`, `quit` and `return`, which every view has."""
        if command == "display":
            return self._parse_display(cur)
        cur.done()
        if command == "return":
            return lambda: set_to(self, "view", View.USER)

        def leave() -> str:
            if self.view is View.USER:
                raise Close
            self.view = View.SYSTEM if self.view is not View.SYSTEM else View.USER
            return ""

        return leave

    # ------------------------------------------------------------------ user view

    def _parse_user(self, cur: Cursor) -> Action:
        own = ["clock", "save", "screen-length", "system-view"]
        _, command = self._command(cur, own, _USER_COMMON)
        if command in _USER_COMMON:
            return self._common(command, cur)
        if command == "clock":
            return self._parse_clock(cur)
        if command == "system-view":
            cur.done()

            def enter() -> str:
                self.view = View.SYSTEM
                return SYSTEM_VIEW_BANNER + "\n"

            return enter
        if command == "screen-length":
            _integer(cur.next(), 0, 512)
            cur.keyword(["temporary"])
            cur.done()
            return lambda: SCREEN_LENGTH_INFO + "\n"
        cur.done()
        return self._save

    def _parse_clock(self, cur: Cursor) -> Action:
        """`clock timezone NAME add|minus HH:MM[:SS]` and `clock daylight-saving-time NAME
        repeating HH:MM W D M HH:MM W D M HH:MM`, in the user view as on VRP."""
        router = self.router
        what = cur.keyword(["daylight-saving-time", "timezone"])
        name = cur.next()
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+-]{0,31}", name.text):
            raise WrongParameter(name.pos)
        if what == "timezone":
            sign = cur.keyword(["add", "minus"])
            offset = _clock_time(cur.next(), 14)
            cur.done()
            text = f"clock timezone {name.text} {sign} {_hms(offset)}"

            def zone() -> str:
                signed = -offset if sign == "minus" else offset
                router.zone = replace(router.zone, name=name.text, offset=signed)
                router.clock_lines = [
                    line for line in router.clock_lines if "timezone" not in line
                ] + [text]
                return ""

            return zone
        cur.keyword(["repeating"])
        start_at = _clock_time(cur.next(), 23)
        start = _summer_day(cur, start_at)
        end_at = _clock_time(cur.next(), 23)
        end = _summer_day(cur, end_at)
        saving = _clock_time(cur.next(), 23)
        cur.done()
        text = f"clock daylight-saving-time {name.text} repeating {cur.line.split(None, 4)[4]}"

        def summer() -> str:
            router.zone = replace(
                router.zone,
                summer_name=name.text,
                summer_start=start,
                summer_end=end,
                summer_offset=saving,
            )
            router.clock_lines = [line for line in router.clock_lines if "daylight" not in line] + [
                " ".join(text.split())
            ]
            return ""

        return summer

    def _save(self) -> str:
        def decide(yes: bool) -> str:
            if not yes:
                return ""
            self.router.startup_config = self.router.running_config()
            return (
                "Now saving the current configuration to the slot 0.\n"
                "Save the configuration successfully.\n"
            )

        return self._ask(
            "The current configuration will be written to the device.\n"
            "Are you sure to continue?[Y/N]",
            decide,
        )

    def _parse_display(self, cur: Cursor) -> Action:
        router = self.router
        what = cur.keyword(
            ["acl", "clock", "current-configuration", "ip", "ntp-service", "this", "time-range",
             "version"]
        )  # fmt: skip
        shown = display_time(what, cur, router)
        if shown is not None:
            return shown
        if what == "acl":
            family = 4
            if cur.peek_word() == "ipv6":
                cur.next()
                family = 6
            cur.keyword(["name"])
            acl = _acl_name(cur.next())
            cur.done()
            return lambda: router.display_acl(family, acl)
        if what == "version":
            cur.done()
            return router.display_version
        if what == "ip":
            cur.keyword(["interface"])
            cur.keyword(["brief"])
            cur.done()
            return router.display_ip_interface_brief
        if what == "this":
            cur.done()
            return self._display_this
        if cur.peek_word() == "|" or cur.at_end():
            return self._filtered(cur, router.running_config)
        cur.keyword(["interface"])
        name = self._interface_name(cur)
        interface = router.interfaces[name]

        def one_interface() -> str:
            return "#\n" + "\n".join(interface.config_lines()) + "\n#\nreturn\n"

        return self._filtered(cur, one_interface)

    def _filtered(self, cur: Cursor, produce: Callable[[], str]) -> Action:
        if cur.at_end():
            return produce
        cur.next()  # the `|`
        kind = cur.keyword(["begin", "exclude", "include"])
        pattern = cur.pattern()
        return lambda: filter_output(produce(), kind, pattern)

    def _display_this(self) -> str:
        if self.view is View.INTERFACE:
            lines = self.router.interfaces[self.interface].config_lines()
        elif self.view is View.ACL:
            lines = self._current_acl().config_lines()
        else:
            body = self.router.running_config().splitlines()
            return "\n".join(body[1:]) + "\n"
        return "#\n" + "\n".join(lines) + "\n#\nreturn\n"

    # ------------------------------------------------------------------ system view

    def _parse_system(self, cur: Cursor) -> Action:
        words = ["acl", "info-center", "interface", "ip", "ipv6", "ntp-service", "sysname"]
        negate, command = self._command(cur, [*words, "save", "time-range", "undo"], _COMMON)
        if command in _COMMON:
            return self._common(command, cur)
        router = self.router
        if command == "save":
            if negate:
                raise Unknown(cur.tokens[1].pos)
            cur.done()
            return self._save
        if command == "sysname":
            if negate:
                cur.done()
                return lambda: set_to(router, "sysname", "Huawei")
            token = cur.next()
            cur.done()
            if not _SYSNAME.fullmatch(token.text):
                raise WrongParameter(token.pos)
            return lambda: set_to(router, "sysname", token.text)
        if command == "interface":
            start = cur.tokens[cur.i - 1].pos
            name = self._interface_name(cur)
            if negate:
                raise Refused(start, "Error: The physical interface cannot be deleted.")
            return lambda: self._enter_interface(name)
        if command == "acl":
            return self._parse_acl_command(cur, negate)
        if command == "time-range":
            return self._parse_time_range(cur, negate)
        if command in ("ip", "ipv6"):
            cur.keyword(["route-static"])
            return self._parse_route(cur, 4 if command == "ip" else 6, negate)
        if command == "ntp-service":
            cur.keyword(["unicast-server"])
            address = _ipv4(cur.next())
            cur.done()
            return self._verbatim(router.ntp, f"ntp-service unicast-server {address}", negate)
        cur.keyword(["loghost"])
        address = _ipv4(cur.next())
        cur.done()
        return self._verbatim(router.info_center, f"info-center loghost {address}", negate)

    def _parse_time_range(self, cur: Cursor, negate: bool) -> Action:
        """`time-range NAME from HH:MM Y/M/D to HH:MM Y/M/D` adds an absolute statement (the
        end must follow the start); `undo time-range NAME` deletes the range."""
        router = self.router
        token = cur.next()
        if not _ACL_NAME.fullmatch(token.text) or token.text.lower() == "all":
            raise WrongParameter(token.pos)
        name = token.text
        if negate:
            cur.done()

            def delete() -> str:
                if router.time_ranges.pop(name, None) is None:
                    return "Error: The time range does not exist.\n"
                return ""

            return delete
        cur.keyword(["from"])
        begin = _wall_time(cur)
        cur.keyword(["to"])
        end = _wall_time(cur)
        cur.done()

        def add() -> str:
            if not begin < end:
                return "Error: The end time must be later than the start time.\n"
            found = router.time_ranges.get(name, TimeRange(name))
            if (begin, end) not in found.statements:
                found = TimeRange(name, (*found.statements, (begin, end)))
            router.time_ranges[name] = found
            return ""

        return add

    @staticmethod
    def _verbatim(lines: list[str], text: str, negate: bool) -> Action:
        def apply() -> str:
            if negate and text in lines:
                lines.remove(text)
            elif not negate and text not in lines:
                lines.append(text)
            return ""

        return apply

    def _enter_interface(self, name: str) -> str:
        self.view, self.interface = View.INTERFACE, name
        return ""

    def _interface_name(self, cur: Cursor) -> str:
        """`GigabitEthernet0/0/1`, `g0/0/1` or `GigabitEthernet 0/0/1`; only existing ones."""
        token = cur.next()
        text = token.text
        following = cur.peek()
        if _IFACE_TYPE_ONLY.fullmatch(text):
            if following is not None and following.text[:1].isdigit():
                text += following.text
                cur.next()
        match = _IFACE_SPLIT.fullmatch(text)
        if match is None:
            raise WrongParameter(token.pos)
        kind = match.group(1).lower()
        exact = [t for t in INTERFACE_TYPES if t.lower() == kind]
        prefixed = [t for t in INTERFACE_TYPES if t.lower().startswith(kind)]
        types = exact or prefixed[:1]
        if not types:
            raise WrongParameter(token.pos)
        wanted = (types[0] + match.group(2)).lower()
        name = next((n for n in self.router.interfaces if n.lower() == wanted), None)
        if name is None:
            raise WrongParameter(token.pos)
        return name

    def _parse_route(self, cur: Cursor, family: int, negate: bool) -> Action:
        token = cur.next()
        if family == 4:
            address: IPv4Address | IPv6Address = _ipv4(token)
            length = _mask_or_length(cur.next())
        else:
            address = _ipv6(token)
            length = _integer(cur.next(), 0, 128)
        destination = ip_network((address, length), strict=False)
        interface: str | None = None
        nexthop: IPv4Address | IPv6Address | None = None
        following = cur.peek()
        if following is None:
            raise Incomplete(cur.end_depth())
        if following.text[:1].isalpha() and ":" not in following.text:
            interface = self._interface_name(cur)
        if not cur.at_end():
            hop = cur.next()
            nexthop = _ipv4(hop) if family == 4 else _ipv6(hop)
        cur.done()
        if interface is None and nexthop is None:
            raise Incomplete(cur.end_depth())
        route = StaticRoute(destination, interface, nexthop)
        routes = self.router.routes

        def apply() -> str:
            if negate:
                if route not in routes:
                    return "Error: The route does not exist.\n"
                routes.remove(route)
            elif route not in routes:
                routes.append(route)
            return ""

        return apply

    # ------------------------------------------------------------------ ACLs

    def _parse_acl_command(self, cur: Cursor, negate: bool) -> Action:
        """`acl [ipv6] [number] N` and `acl [ipv6] name NAME [advance | basic | N]`."""
        family = 4
        if cur.peek_word() == "ipv6":
            cur.next()
            family = 6
        token = cur.peek()
        if token is None:
            raise Incomplete(cur.end_depth())
        name: str | None = None
        number: int | None = None
        kind: str | None = None
        if token.text[:1].isdigit():
            number = _integer(cur.next(), 2000, 3999)
        else:
            word = cur.keyword(["name", "number"])
            if word == "number":
                number = _integer(cur.next(), 2000, 3999)
            else:
                name = _acl_name(cur.next())
                if not negate and not cur.at_end() and cur.peek_word() != "match-order":
                    following = cur.peek()
                    if following is not None and following.text.isdigit():
                        number = _integer(cur.next(), 2000, 3999)
                    else:
                        kind = "adv" if cur.keyword(["advance", "basic"]) == "advance" else "basic"
        auto_order = False
        if not negate and cur.peek_word() == "match-order":
            cur.next()
            auto_order = cur.keyword(["auto", "config"]) == "auto"
        cur.done()
        if negate:
            return lambda: self._delete_acl(family, name, number)
        return lambda: self._open_acl(family, name, number, kind, auto_order)

    def _open_acl(
        self, family: int, name: str | None, number: int | None, kind: str | None, auto: bool
    ) -> str:
        router = self.router
        acls = router.acls[family]
        if name is None:
            assert number is not None
            acl = router.acl_by_number(family, number)
            if acl is None:
                acl = acls.setdefault(str(number), Acl(family, number, auto_order=auto))
        else:
            acl = acls.get(name)
            if acl is None:
                if number is None:
                    number = router.free_number(family, kind or "adv")
                    if number is None:
                        return "Error: The number of ACLs reaches the upper limit.\n"
                elif router.acl_by_number(family, number) is not None:
                    return "Error: The ACL number has been used by another ACL.\n"
                acl = acls.setdefault(name, Acl(family, number, name, auto_order=auto))
            elif number is not None and number != acl.number:
                return "Error: The ACL name has been used by another ACL.\n"
            elif kind is not None and kind != acl.kind:
                return "Error: The ACL type does not match the existing ACL.\n"
        self.view, self.acl = View.ACL, (family, acl.key)
        return ""

    def _delete_acl(self, family: int, name: str | None, number: int | None) -> str:
        router = self.router
        if name is not None:
            acl = router.acls[family].get(name)
        else:
            assert number is not None
            acl = router.acl_by_number(family, number)
        if acl is None:
            return "Error: The ACL does not exist.\n"
        target = acl

        def delete(yes: bool = True) -> str:
            if yes:
                router.acls[family].pop(target.key, None)
            return ""

        if router.bound_at(acl):
            # The traffic-filter stays, naming an ACL that no longer exists.
            return self._ask(
                "Warning: The ACL is being used by traffic-filter. Deleting it will cancel "
                "the packet filtering. Continue? [Y/N]:",
                delete,
            )
        return delete()

    def _current_acl(self) -> Acl:
        family, key = self.acl
        acls = self.router.acls[family]
        acl = acls.get(key)
        if acl is None:
            # Another session deleted it meanwhile; editing it recreates it, as VRP does.
            if key.isdigit():
                acl = Acl(family, int(key))
            else:
                number = self.router.free_number(family, "adv") or 3000
                acl = Acl(family, number, key)
            acls[key] = acl
        return acl

    def _parse_acl(self, cur: Cursor) -> Action:
        negate, command = self._command(cur, ["description", "rule", "undo"], _COMMON)
        if command in _COMMON:
            return self._common(command, cur)
        acl = self._current_acl()
        if command == "description":
            if negate:
                cur.done()
                return lambda: set_to(acl, "description", "")
            text = cur.rest()
            if len(text) > 127:
                raise WrongParameter(cur.tokens[0].pos)
            return lambda: set_to(acl, "description", text)
        rule_id: int | None = None
        token = cur.peek()
        if token is not None and token.text[:1].isdigit():
            rule_id = _integer(cur.next(), 0, _RULE_ID_MAX)
            if negate:
                cur.done()
                return lambda: self._delete_rule(acl, rule_id)
        elif negate and token is not None and token.text.lower() not in ("deny", "permit"):
            raise WrongParameter(token.pos)
        rule = self._parse_rule(cur, acl)
        if negate:
            return lambda: self._delete_rule(acl, None, rule)
        return lambda: self._add_rule(acl, rule_id, rule)

    def _parse_rule(self, cur: Cursor, acl: Acl) -> Rule:
        action = cur.keyword(["deny", "permit"])
        protocol = ""
        if acl.kind == "adv":
            token = cur.next()
            protocols = _V4_PROTOCOLS if acl.family == 4 else _V6_PROTOCOLS
            if token.text.isdigit():
                protocol = str(_integer(token, 0, 255))
            else:
                cur.i -= 1
                protocol = cur.keyword(protocols)
        source: Match | None = None
        destination: Match | None = None
        seen: set[str] = set()
        allowed = ["source"] if acl.kind == "basic" else ["destination", "source"]
        parse = _v4_match if acl.family == 4 else _v6_match
        time_range = ""
        while not cur.at_end():
            token = cur.peek()
            assert token is not None
            word = cur.keyword([*allowed, "time-range"])
            if word in seen:
                raise TooMany(token.pos)
            seen.add(word)
            if word == "source":
                source = parse(cur)
            elif word == "destination":
                destination = parse(cur)
            else:
                named = cur.next()
                if not _ACL_NAME.fullmatch(named.text) or named.text.lower() == "all":
                    raise WrongParameter(named.pos)
                time_range = named.text
        return Rule(action, protocol, source, destination, time_range)

    @staticmethod
    def _add_rule(acl: Acl, rule_id: int | None, rule: Rule) -> str:
        existing = acl.rules.get(rule_id) if rule_id is not None else None
        updated = existing.merged(rule) if existing is not None else rule
        if any(r == updated and n != rule_id for n, r in acl.rules.items()):
            return "Error: The rule already exists.\n"
        acl.rules[rule_id if rule_id is not None else acl.next_rule_id()] = updated
        return ""

    @staticmethod
    def _delete_rule(acl: Acl, rule_id: int | None, rule: Rule | None = None) -> str:
        if rule_id is None:
            rule_id = next((n for n, r in acl.rules.items() if r == rule), None)
        if rule_id is None or rule_id not in acl.rules:
            return "Error: The rule does not exist.\n"
        del acl.rules[rule_id]
        return ""

    # ------------------------------------------------------------------ interface view

    def _parse_interface(self, cur: Cursor) -> Action:
        words = ["description", "ip", "ipv6", "shutdown", "traffic-filter", "undo"]
        negate, command = self._command(cur, words, _COMMON)
        if command in _COMMON:
            return self._common(command, cur)
        interface = self.router.interfaces[self.interface]
        if command == "shutdown":
            cur.done()
            return lambda: set_to(interface, "shutdown", not negate)
        if command == "description":
            if negate:
                cur.done()
                return lambda: set_to(interface, "description", "")
            start = cur.peek()
            text = cur.rest()
            if len(text) > _DESCRIPTION_MAX:
                raise WrongParameter((start.pos if start else 0) + _DESCRIPTION_MAX)
            return lambda: set_to(interface, "description", text)
        if command == "ip":
            cur.keyword(["address"])
            return self._parse_ipv4_address(cur, interface, negate)
        if command == "ipv6":
            sub = cur.keyword(["address", "enable"])
            if sub == "enable":
                cur.done()
                return lambda: set_to(interface, "ipv6_enable", not negate)
            return self._parse_ipv6_address(cur, interface, negate)
        return self._parse_traffic_filter(cur, interface, negate)

    def _parse_ipv4_address(self, cur: Cursor, interface: Interface, negate: bool) -> Action:
        if negate and cur.at_end():
            return lambda: then(interface.ipv4.clear)
        address = _ipv4(cur.next())
        length = _mask_or_length(cur.next())
        sub = cur.optional_keyword(["sub"]) is not None
        cur.done()
        value = IPv4Interface((address, length))

        def apply() -> str:
            entries = interface.ipv4
            if negate:
                if (value, sub) not in entries:
                    return "Error: The address does not exist.\n"
                entries.remove((value, sub))
            elif sub:
                if (value, True) not in entries:
                    entries.append((value, True))
            else:
                # a new primary address replaces the old one
                interface.ipv4 = [(value, False)] + [e for e in entries if e[1]]
            return ""

        return apply

    def _parse_ipv6_address(self, cur: Cursor, interface: Interface, negate: bool) -> Action:
        if negate and cur.at_end():
            return lambda: then(interface.ipv6.clear)
        token = cur.next()
        try:
            if "/" in token.text:
                address = IPv6Interface(token.text)
            else:
                address = IPv6Interface((_ipv6(token), _integer(cur.next(), 1, 128)))
        except ValueError:
            raise WrongParameter(token.pos) from None
        cur.done()

        def apply() -> str:
            if negate:
                if address in interface.ipv6:
                    interface.ipv6.remove(address)
                return ""
            if not interface.ipv6_enable:
                return "Error: Please enable IPv6 on the interface first.\n"
            if address not in interface.ipv6:
                interface.ipv6.append(address)
            return ""

        return apply

    def _parse_traffic_filter(self, cur: Cursor, interface: Interface, negate: bool) -> Action:
        """`traffic-filter inbound|outbound acl [ipv6] {N | name NAME}`.

        One filter per family and direction: binding another replaces it (VRP keeps the latest
        `traffic-filter` of a direction). The `undo` form names the ACL and removes only that.
        """
        direction = cur.keyword(["inbound", "outbound"])
        cur.keyword(["acl"])
        family = 4
        if cur.peek_word() == "ipv6":
            cur.next()
            family = 6
        token = cur.peek()
        if token is None:
            raise Incomplete(cur.end_depth())
        if token.text[:1].isdigit():
            ref = FilterRef(number=_integer(cur.next(), 2000, 3999))
        else:
            cur.keyword(["name"])
            ref = FilterRef(name=_acl_name(cur.next()))
        cur.done()
        router = self.router
        slot = (family, direction)

        def apply() -> str:
            if negate:
                if interface.filters.get(slot) != ref:
                    return "Error: The ACL is not applied in this direction.\n"
                del interface.filters[slot]
                return ""
            if ref.name is not None and router.resolve(family, ref) is None:
                return "Error: The ACL does not exist.\n"
            interface.filters[slot] = ref
            return ""

        return apply


# --------------------------------------------------------------------------- the lab's view

UPLINK = "GigabitEthernet0/0/0"
FOREIGN_CONFIG = (
    "info-center loghost 192.0.2.50",
    "ntp-service unicast-server 192.0.2.123",
    "acl number 3000",
    " description management access",
    " rule 5 permit ip source 192.0.2.0 0.0.0.255",
    " rule 10 deny ip source 203.0.113.0 0.0.0.255",
    " quit",
)


def _build(spec: SpecLike) -> VrpRouter:
    # VRP has no enable mode: the spec's secret has nothing to protect here.
    router = VrpRouter(spec.name, spec.interfaces, spec.username)
    router.configure(spec.config)
    return router


def _base_config(uplink_address: str) -> list[str]:
    gateway = IPv4Address(int(IPv4Address(uplink_address)) + 1)
    return [
        *FOREIGN_CONFIG,
        f"interface {UPLINK}",
        " description uplink",
        f" ip address {uplink_address} 255.255.255.252",
        " traffic-filter inbound acl 3000",
        " quit",
        f"ip route-static 0.0.0.0 0.0.0.0 {gateway}",
    ]


def line_interface_config(interface: str, line_name: str, prefixes: Sequence[Prefix]) -> list[str]:
    """A venue interface: description, and the first host of its first v4 and v6 prefix."""
    config = [f"interface {interface}", f" description line {line_name}"]
    v4, v6 = venue_networks(prefixes)
    if v4 is not None:
        config.append(f" ip address {IPv4Address(int(v4.network_address) + 1)} {v4.netmask}")
    if v6 is not None:
        config += [" ipv6 enable", f" ipv6 address {v6.network_address + 1}/{v6.prefixlen}"]
    config.append(" quit")
    return config


TWIN = TwinKind(
    platform="huawei_vrp",
    build=_build,
    uplink=UPLINK,
    venue_interface=lambda k: f"GigabitEthernet0/0/{k}",
    base_config=_base_config,
    line_config=line_interface_config,
    netmiko_device_type="huawei",
)
