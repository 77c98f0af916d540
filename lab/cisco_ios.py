"""A simulated Cisco IOS router: its running configuration and the CLI that edits it.

Pure state machine, no networking: lab/ssh.py feeds it one line at a time. The router holds the
shared state; every SSH session drives its own CliSession (mode, current interface or ACL).
"""

from __future__ import annotations

import enum
import hashlib
import re
import threading
import time
from calendar import monthrange
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from ipaddress import (
    IPv4Address,
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
    in_view_or_parent,
    remove,
    set_to,
    then,
)
from lab.timekeeping import ClockZone, KeepsTime, SummerRule
from lab.twin import Prefix, Reply, SpecLike, TwinKind, venue_networks

INVALID = "% Invalid input detected at '^' marker."
INCOMPLETE = "% Incomplete command."
CONFIG_BANNER = "Enter configuration commands, one per line.  End with CNTL/Z."

_HOSTNAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_ACL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
_IFACE_SPLIT = re.compile(r"([A-Za-z-]+)\s*(\d.*)")
_SEQ_MAX = 2147483647
_DESCRIPTION_MAX = 240

# IOS interface types this model knows, for abbreviations such as `int gi0/1`.
INTERFACE_TYPES = (
    "GigabitEthernet",
    "FastEthernet",
    "TenGigabitEthernet",
    "Ethernet",
    "Loopback",
    "Vlan",
    "Port-channel",
)


class Mode(enum.Enum):
    USER = ">"
    PRIVILEGED = "#"
    CONFIG = "(config)#"
    INTERFACE = "(config-if)#"
    EXTENDED_ACL = "(config-ext-nacl)#"
    IPV6_ACL = "(config-ipv6-acl)#"
    TIME_RANGE = "(config-time-range)#"

    @property
    def is_config(self) -> bool:
        return self not in (Mode.USER, Mode.PRIVILEGED)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class V4Match:
    """Source or destination of an extended ACE: an address and an IOS wildcard."""

    address: IPv4Address
    wildcard: IPv4Address

    def __str__(self) -> str:
        if int(self.wildcard) == 0xFFFFFFFF:
            return "any"
        if int(self.wildcard) == 0:
            return f"host {self.address}"
        return f"{self.address} {self.wildcard}"


@dataclass(frozen=True)
class V6Match:
    network: IPv6Network

    def __str__(self) -> str:
        if self.network.prefixlen == 0:
            return "any"
        if self.network.prefixlen == 128:
            return f"host {_v6(self.network.network_address)}"
        return f"{_v6(self.network.network_address)}/{self.network.prefixlen}"


@dataclass(frozen=True)
class Ace:
    """One access-control entry; `remark` entries carry text instead of matches."""

    seq: int
    action: str  # permit | deny | remark
    source: V4Match | V6Match | None = None
    destination: V4Match | V6Match | None = None
    remark: str = ""
    time_range: str = ""  # in force only while this time-range is (or when it does not exist)

    def body(self) -> tuple[str, object, object, str, str]:
        return (self.action, self.source, self.destination, self.remark, self.time_range)

    def text(self, protocol: str) -> str:
        if self.action == "remark":
            return f"remark {self.remark}"
        timed = f" time-range {self.time_range}" if self.time_range else ""
        return f"{self.action} {protocol} {self.source} {self.destination}{timed}"

    def matches(self, source: IPv4Address | IPv6Address, destination: object) -> bool:
        if self.action == "remark":
            return False
        return _within(source, self.source) and _within(destination, self.destination)


def _within(address: object, match: V4Match | V6Match | None) -> bool:
    if match is None:
        return True
    if isinstance(match, V4Match):
        if not isinstance(address, IPv4Address):
            return False
        care = ~int(match.wildcard) & 0xFFFFFFFF
        return int(address) & care == int(match.address) & care
    return isinstance(address, IPv6Address) and address in match.network


@dataclass
class Acl:
    name: str
    family: int  # 4 or 6
    entries: list[Ace] = field(default_factory=list)
    hits: dict[int, int] = field(default_factory=dict)  # matches counted per entry's seq

    def next_seq(self) -> int:
        return max((e.seq for e in self.entries), default=0) + 10

    def add(self, ace: Ace) -> str:
        """Insert in sequence order; a duplicate entry is ignored, as IOS does."""
        if any(e.body() == ace.body() for e in self.entries):
            return ""
        if any(e.seq == ace.seq for e in self.entries):
            return "% Duplicate sequence number\n"
        self.entries.append(ace)
        self.entries.sort(key=lambda e: e.seq)
        return ""

    def config_lines(self) -> list[str]:
        lines = []
        for e in self.entries:
            if e.action == "remark":
                lines.append(f" remark {e.remark}")
            elif self.family == 4:
                timed = f" time-range {e.time_range}" if e.time_range else ""
                lines.append(f" {e.action:<6} ip {e.source} {e.destination}{timed}")
            else:
                timed = f" time-range {e.time_range}" if e.time_range else ""
                lines.append(f" {e.action} ipv6 {e.source} {e.destination}{timed}")
        return lines


MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _wall(instant: datetime) -> str:
    return f"{instant:%H:%M} {instant.day:02d} {MONTHS[instant.month - 1]} {instant.year}"


@dataclass
class TimeRange:
    """`time-range NAME` with its `absolute` bounds, in the router's local wall-clock time."""

    name: str
    start: datetime | None = None
    end: datetime | None = None

    def active(self, local: datetime) -> bool:
        return (self.start is None or self.start <= local) and (
            self.end is None or local < self.end
        )

    def absolute(self) -> str | None:
        if self.start is None and self.end is None:
            return None
        words = ["absolute"]
        if self.start is not None:
            words.append(f"start {_wall(self.start)}")
        if self.end is not None:
            words.append(f"end {_wall(self.end)}")
        return " ".join(words)

    def config_lines(self) -> list[str]:
        absolute = self.absolute()
        return [f"time-range {self.name}", *([f" {absolute}"] if absolute else [])]


@dataclass
class Interface:
    name: str
    description: str = ""
    ipv4: tuple[IPv4Address, IPv4Address] | None = None  # address, mask
    ipv6: list[IPv6Interface] = field(default_factory=list)
    ipv6_enable: bool = False
    shutdown: bool = False
    access_group: dict[str, str] = field(default_factory=dict)  # direction -> ACL name
    traffic_filter: dict[str, str] = field(default_factory=dict)

    def config_lines(self) -> list[str]:
        lines = [f"interface {self.name}"]
        if self.description:
            lines.append(f" description {self.description}")
        if self.ipv4 is None:
            lines.append(" no ip address")
        else:
            lines.append(f" ip address {self.ipv4[0]} {self.ipv4[1]}")
        for direction in ("in", "out"):
            if direction in self.access_group:
                lines.append(f" ip access-group {self.access_group[direction]} {direction}")
        if self.shutdown:
            lines.append(" shutdown")
        for address in self.ipv6:
            lines.append(f" ipv6 address {_v6(address.ip)}/{address.network.prefixlen}")
        if self.ipv6_enable:
            lines.append(" ipv6 enable")
        for direction in ("in", "out"):
            if direction in self.traffic_filter:
                lines.append(f" ipv6 traffic-filter {self.traffic_filter[direction]} {direction}")
        return lines


def _v6(address: IPv6Address) -> str:
    return str(address).upper()


# Global lines the model stores verbatim, and where IOS prints them in the running-config:
# rank 0 before the interfaces, 1 after them, 2 after the IPv4 ACLs, 3 after the IPv6 ACLs,
# 4 after the line blocks.
_VERBATIM_FIRST = {
    "service": 0,
    "username": 0,
    "clock": 0,
    "aaa": 0,
    "ntp": 4,
    "logging": 2,
    "snmp-server": 3,
    "ip": 0,
    "ipv6": 0,
}
_VERBATIM_IP = {
    "domain": 0,
    "domain-name": 0,
    "name-server": 0,
    "cef": 0,
    "ssh": 0,
    "forward-protocol": 1,
    "http": 1,
    "route": 1,
    "tftp": 1,
    "scp": 1,
}
_VERBATIM_IPV6 = {"unicast-routing": 0, "cef": 0, "route": 1}
_NO_ARGUMENT_OK = {("ip", "cef"), ("ipv6", "unicast-routing"), ("ipv6", "cef")}
_GLOBAL_WORDS = sorted({"hostname", "interface", "time-range", *_VERBATIM_FIRST})
_IP_WORDS = sorted({"access-list", *_VERBATIM_IP})
_IPV6_WORDS = sorted({"access-list", *_VERBATIM_IPV6})
_FILTERS = ("include", "exclude", "begin", "section")


def _global_rank(line: str) -> int:
    words = line.split()
    first = words[0]
    if first == "ip":
        return _VERBATIM_IP[words[1]]
    if first == "ipv6":
        return _VERBATIM_IPV6[words[1]]
    return _VERBATIM_FIRST[first]


class IosRouter(KeepsTime):
    """One router's shared state. Sessions are created with `open_session()`."""

    def __init__(
        self,
        hostname: str = "Router",
        secret: str = "",
        interfaces: Iterable[str] = ("GigabitEthernet0/0", "GigabitEthernet0/1"),
    ) -> None:
        if not _HOSTNAME.fullmatch(hostname):
            raise ValueError(f"invalid hostname {hostname!r}")
        self.hostname = hostname
        self.secret = secret
        self.interfaces: dict[str, Interface] = {}
        for name in interfaces:
            if not _IFACE_SPLIT.fullmatch(name) or name in self.interfaces:
                raise ValueError(f"invalid or duplicate interface name {name!r}")
            self.interfaces[name] = Interface(name)
        self.ipv4_acls: dict[str, Acl] = {}
        self.ipv6_acls: dict[str, Acl] = {}
        self.global_lines: list[str] = []
        self.time_ranges: dict[str, TimeRange] = {}
        self.startup_config: str = ""
        # The router's clock (`KeepsTime`). NTP is synchronised while an `ntp server` is
        # configured, unless a test breaks it (`ntp_lost`).
        self._start_clock()
        # Sessions run in the lab's event loop; tests read and edit state from their own thread.
        self.lock = threading.RLock()
        self.console = CliSession(self)

    def open_session(self) -> CliSession:
        return CliSession(self)

    # ------------------------------------------------------------------ the clock

    @property
    def ntp_synchronised(self) -> bool:
        with self.lock:
            configured = any(line.startswith("ntp server ") for line in self.global_lines)
            return configured and not self.ntp_lost

    def zone(self) -> ClockZone:
        """The zone the `clock` lines of the configuration set."""
        with self.lock:
            found = ClockZone()
            for line in self.global_lines:
                words = line.split()
                if words[:2] == ["clock", "timezone"]:
                    hours = int(words[3])
                    minutes = int(words[4]) if len(words) > 4 else 0
                    sign = -1 if words[3].startswith("-") else 1
                    offset = timedelta(hours=hours) + sign * timedelta(minutes=minutes)
                    found = _replace_zone(found, name=words[2], offset=offset)
                elif words[:2] == ["clock", "summer-time"]:
                    start, end, offset = _summer_rules(words[4:])
                    found = _replace_zone(
                        found,
                        summer_name=words[2],
                        summer_start=start,
                        summer_end=end,
                        summer_offset=offset,
                    )
            return found

    def local_now(self) -> tuple[datetime, str]:
        return self.zone().local(self.now())

    def time_range_active(self, name: str) -> bool:
        """Whether entries naming this time-range are in force now on the router's clock. An
        entry naming a time-range that does not exist is always in force, as on IOS."""
        with self.lock:
            found = self.time_ranges.get(name)
            return found is None or found.active(self.local_now()[0])

    def permits(
        self,
        interface: str,
        direction: str,
        source: IPv4Address | IPv6Address,
        destination: IPv4Address | IPv6Address,
    ) -> bool:
        """Whether a packet passes the filter bound on the interface in that direction, now,
        on the router's clock: the first entry in force that matches decides (its match is
        counted); an ACL that matches nothing denies; a bound ACL that does not exist, and no
        binding at all, let everything pass."""
        with self.lock:
            port = self.interfaces[interface]
            v4 = isinstance(source, IPv4Address)
            name = (port.access_group if v4 else port.traffic_filter).get(direction)
            acl = (self.ipv4_acls if v4 else self.ipv6_acls).get(name or "")
            if acl is None:
                return True
            for entry in acl.entries:
                if entry.time_range and not self.time_range_active(entry.time_range):
                    continue
                if entry.matches(source, destination):
                    acl.hits[entry.seq] = acl.hits.get(entry.seq, 0) + 1
                    return entry.action == "permit"
            return False

    def show_clock(self) -> str:
        local, name = self.local_now()
        mark = "" if self.ntp_synchronised else "*"
        day, month = DAYS[local.weekday()][:3], MONTHS[local.month - 1][:3]
        return (
            f"{mark}{local:%H:%M:%S}.{local.microsecond // 1000:03d} {name} "
            f"{day} {month} {local.day} {local.year}\n"
        )

    def show_ntp_status(self) -> str:
        if not self.ntp_synchronised:
            return (
                "Clock is unsynchronized, stratum 16, no reference clock\n"
                "nominal freq is 250.0000 Hz, actual freq is 250.0000 Hz, precision is 2**10\n"
                "reference time is 00000000.00000000 (00:00:00.000 UTC Mon Jan 1 1900)\n"
                "clock offset is 0.0000 msec, root delay is 0.00 msec\n"
            )
        server = next(
            line.split()[2] for line in self.global_lines if line.startswith("ntp server ")
        )
        return (
            f"Clock is synchronized, stratum 3, reference is {server}\n"
            "nominal freq is 250.0000 Hz, actual freq is 250.0000 Hz, precision is 2**10\n"
            f"clock offset is {self.ntp_offset_ms:.4f} msec, root delay is 1.00 msec\n"
            "root dispersion is 2.10 msec, peer dispersion is 0.50 msec\n"
        )

    def show_ntp_associations(self) -> str:
        rows = ["  address         ref clock       st   when   poll reach  delay  offset   disp"]
        for line in self.global_lines:
            if line.startswith("ntp server "):
                mark = "*~" if self.ntp_synchronised else " ~"
                reach = 377 if self.ntp_synchronised else 0
                stratum = 2 if self.ntp_synchronised else 16
                offset = self.ntp_offset_ms if self.ntp_synchronised else 0.0
                rows.append(
                    f"{mark}{line.split()[2]:<15} .GPS.           {stratum:>2}     12     64   "
                    f"{reach:>3}  1.000  {offset:6.3f}  0.500"
                )
        rows.append(" * sys.peer, # selected, + candidate, - outlyer, x falseticker, ~ configured")
        return "\n".join(rows) + "\n"

    def show_time_range(self, name: str | None) -> str:
        out = []
        for found in self.time_ranges.values():
            if name is not None and found.name != name:
                continue
            state = "active" if found.active(self.local_now()[0]) else "inactive"
            out.append(f"time-range entry: {found.name} ({state})")
            absolute = found.absolute()
            if absolute:
                out.append(f"   {absolute}")
            for acls, kind in ((self.ipv4_acls, "IP"), (self.ipv6_acls, "IPv6")):
                if any(e.time_range == found.name for a in acls.values() for e in a.entries):
                    out.append(f"   used in: {kind} ACL entry")
        return "".join(line + "\n" for line in out)

    def execute(self, line: str) -> Reply:
        """Run one line on the router's console session."""
        return self.console.execute(line)

    def configure(self, lines: Iterable[str]) -> None:
        """Apply config lines as an operator at the console would; any error raises."""
        session = CliSession(self, Mode.PRIVILEGED)
        with self.lock:
            session.execute("configure terminal")
            for line in lines:
                reply = session.execute(line)
                if reply.output.lstrip(" ^\n").startswith("%"):
                    raise ValueError(f"{self.hostname}: {line.strip()!r} rejected: {reply.output}")
            session.execute("end")

    # ------------------------------------------------------------------ rendering

    def running_config(self) -> str:
        """The configuration as `show running-config` prints it, from `!` to `end`."""
        with self.lock:
            ranks: dict[int, list[str]] = {r: [] for r in range(5)}
            for line in self.global_lines:
                ranks[_global_rank(line)].append(line)
            out = [
                "!",
                "version 15.9",
                "service timestamps debug datetime msec",
                "service timestamps log datetime msec",
                "no service password-encryption",
                "!",
                f"hostname {self.hostname}",
                "!",
                "boot-start-marker",
                "boot-end-marker",
                "!",
            ]
            if self.secret:
                out += [f"enable secret 9 {_fake_hash(self.secret)}", "!"]
            out += ["no aaa new-model", "!"]
            out += _group(ranks[0])
            for interface in self.interfaces.values():
                out += interface.config_lines() + ["!"]
            out += _group(ranks[1])
            for acl in self.ipv4_acls.values():
                out += [f"ip access-list extended {acl.name}"] + acl.config_lines() + ["!"]
            out += _group(ranks[2])
            for acl in self.ipv6_acls.values():
                out += [f"ipv6 access-list {acl.name}"] + acl.config_lines() + ["!"]
            for found in self.time_ranges.values():
                out += found.config_lines() + ["!"]
            out += _group(ranks[3])
            out += [
                "control-plane",
                "!",
                "line con 0",
                "line aux 0",
                "line vty 0 4",
                " login local",
                " transport input ssh",
                "!",
            ]
            out += _group(ranks[4])
            out.append("end")
            return "\n".join(out) + "\n"

    def show_running_config(self, interface: str | None = None) -> str:
        if interface is None:
            body = self.running_config()
        else:
            body = "\n".join(["!", *self.interfaces[interface].config_lines(), "end"]) + "\n"
        return (
            f"Building configuration...\n\nCurrent configuration : {len(body.encode())} bytes\n"
            + body
        )

    def show_version(self) -> str:
        uptime = int(time.monotonic() - self.booted)
        hours, minutes = uptime // 3600, uptime // 60 % 60
        board = hashlib.sha256(self.hostname.encode()).hexdigest()[:11].upper()
        gig = sum(1 for n in self.interfaces if n.startswith("GigabitEthernet"))
        return (
            "Cisco IOS Software, IOSv Software (VIOS-ADVENTERPRISEK9-M), Version 15.9(3)M6, "
            "RELEASE SOFTWARE (fc1)\n"
            "Technical Support: http://www.cisco.com/techsupport\n"
            "Copyright (c) 1986-2022 by Cisco Systems, Inc.\n"
            "Compiled Thu 11-Aug-22 10:00 by prod_rel_team\n"
            "\n"
            "ROM: Bootstrap program is IOSv\n"
            "\n"
            f"{self.hostname} uptime is {hours} hours, {minutes} minutes\n"
            "System returned to ROM by reload\n"
            'System image file is "flash0:/vios-adventerprisek9-m"\n'
            "Last reload reason: Unknown reason\n"
            "\n"
            "cisco IOSv (revision 1.0) processor with 460137K/62464K bytes of memory.\n"
            f"Processor board ID {board}\n"
            f"{gig} Gigabit Ethernet interfaces\n"
            "DRAM configuration is 72 bits wide with parity disabled.\n"
            "256K bytes of non-volatile configuration memory.\n"
            "2097152K bytes of ATA System CompactFlash 0 (Read/Write)\n"
            "\n"
            "Configuration register is 0x0\n"
        )

    def show_ip_interface_brief(self) -> str:
        rows = [
            f"{'Interface':<27}{'IP-Address':<16}OK? Method {'Status':<22}Protocol",
        ]
        for i in self.interfaces.values():
            address = str(i.ipv4[0]) if i.ipv4 else "unassigned"
            method = "NVRAM" if i.ipv4 else "unset"
            status, proto = ("administratively down", "down") if i.shutdown else ("up", "up")
            rows.append(f"{i.name:<27}{address:<16}YES {method:<7}{status:<22}{proto}")
        return "\n".join(rows) + "\n"

    def show_access_lists(self, family: int | None, name: str | None) -> str:
        out = []
        if family in (None, 4):
            for acl in self.ipv4_acls.values():
                if name is None or acl.name == name:
                    out.append(f"Extended IP access list {acl.name}")
                    out += [f"    {e.seq} {e.text('ip')}{self._state(acl, e)}" for e in acl.entries]
        if family in (None, 6):
            for acl in self.ipv6_acls.values():
                if name is None or acl.name == name:
                    out.append(f"IPv6 access list {acl.name}")
                    out += [
                        f"    {e.text('ipv6')}{self._state(acl, e)} sequence {e.seq}"
                        for e in acl.entries
                    ]
        return "".join(line + "\n" for line in out)

    def _state(self, acl: Acl, entry: Ace) -> str:
        """What `show access-lists` adds to an entry: its time-range's state, its matches."""
        text = ""
        if entry.time_range:
            text += " (active)" if self.time_range_active(entry.time_range) else " (inactive)"
        hits = acl.hits.get(entry.seq, 0)
        if hits:
            text += f" ({hits} match{'es' if hits > 1 else ''})"
        return text


def _group(lines: list[str]) -> list[str]:
    return [*lines, "!"] if lines else []


def _fake_hash(secret: str) -> str:
    digest = hashlib.sha256(b"lab:" + secret.encode()).hexdigest()
    return f"$9${digest[:14]}${digest[14:57]}"


def _replace_zone(zone: ClockZone, **changes: object) -> ClockZone:
    return replace(zone, **changes)  # type: ignore[arg-type]


_WEEKS = {"first": 1, "last": 5, "1": 1, "2": 2, "3": 3, "4": 4}


def _summer_rules(words: Sequence[str]) -> tuple[SummerRule, SummerRule, timedelta]:
    """`W D M HH:MM W D M HH:MM [MINUTES]` of a recurring summer-time, or nothing: IOS then
    takes the United States' rule (second Sunday of March to first Sunday of November, 2:00);
    ValueError otherwise."""
    if not words:
        words = ("2", "Sun", "Mar", "2:00", "1", "Sun", "Nov", "2:00")
    if len(words) not in (8, 9):
        raise ValueError("a recurring summer-time needs its start and end")

    def rule(week: str, day: str, month: str, at: str) -> SummerRule:
        days = [i for i, d in enumerate(DAYS) if d.lower().startswith(day.lower())]
        months = [i + 1 for i, m in enumerate(MONTHS) if m.lower().startswith(month.lower())]
        clock = re.fullmatch(r"(\d{1,2}):(\d{2})", at)
        if (
            week.lower() not in _WEEKS
            or len(day) < 3
            or len(days) != 1
            or len(month) < 3
            or len(months) != 1
            or clock is None
            or int(clock.group(1)) > 23
            or int(clock.group(2)) > 59
        ):
            raise ValueError("not a summer-time rule")
        at_time = timedelta(hours=int(clock.group(1)), minutes=int(clock.group(2)))
        return SummerRule(_WEEKS[week.lower()], days[0], months[0], at_time)

    offset = timedelta(minutes=int(words[8])) if len(words) == 9 else timedelta(hours=1)
    if len(words) == 9 and not 1 <= int(words[8]) <= 1440:
        raise ValueError("summer-time offset out of range")
    return rule(*words[0:4]), rule(*words[4:8]), offset


def _check_clock_line(cur: Cursor, words: list[str]) -> None:
    """Refuse a `clock` line the twin cannot keep a zone from (as IOS refuses bad input)."""
    tokens = cur.tokens[cur.i :]
    if words[1] == "timezone":
        if len(tokens) not in (2, 3) or not re.fullmatch(
            r"[A-Za-z][A-Za-z0-9+-]{0,6}", tokens[0].text
        ):
            raise WrongParameter(tokens[0].pos if tokens else cur.end_depth())
        hours = tokens[1].text
        if not re.fullmatch(r"-?\d{1,2}", hours) or abs(int(hours)) > 23:
            raise WrongParameter(tokens[1].pos)
        if len(tokens) == 3 and (not tokens[2].text.isdigit() or int(tokens[2].text) > 59):
            raise WrongParameter(tokens[2].pos)
        return
    if words[1] == "summer-time":
        if len(tokens) < 2 or tokens[1].text.lower() != "recurring":
            raise WrongParameter(tokens[1].pos if len(tokens) > 1 else cur.end_depth())
        try:
            _summer_rules([t.text for t in tokens[2:]])
        except ValueError:
            raise WrongParameter(tokens[2].pos if len(tokens) > 2 else cur.end_depth()) from None
        return
    raise Unknown(cur.tokens[cur.i - 1].pos)


def _wall_time(cur: Cursor) -> datetime:
    """`HH:MM D Month YYYY` of an `absolute` time-range bound."""
    at, day, month, year = cur.next(), cur.next(), cur.next(), cur.next()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", at.text)
    if clock is None or int(clock.group(1)) > 23 or int(clock.group(2)) > 59:
        raise WrongParameter(at.pos)
    months = [i + 1 for i, m in enumerate(MONTHS) if m.lower().startswith(month.text.lower())]
    if len(month.text) < 3 or len(months) != 1:
        raise WrongParameter(month.pos)
    if not year.text.isdigit() or not 1993 <= int(year.text) <= 2035:
        raise WrongParameter(year.pos)
    if not day.text.isdigit() or not 1 <= int(day.text) <= monthrange(int(year.text), months[0])[1]:
        raise WrongParameter(day.pos)
    return datetime(  # noqa: DTZ001 - the router's local wall clock
        int(year.text), months[0], int(day.text), int(clock.group(1)), int(clock.group(2))
    )


# --------------------------------------------------------------------------- parsing


IOS = Dialect({Unknown: INVALID, WrongParameter: INVALID, TooMany: INVALID}, trailer="\n")


class _Cursor(Cursor):
    """IOS points an ambiguous abbreviation's refusal past the word, and an incomplete line's
    past its trailing spaces."""

    ambiguous_past_word = True
    trailing_spaces_count = True


def _ipv4(token: Token) -> IPv4Address:
    try:
        return IPv4Address(token.text)
    except ValueError:
        raise WrongParameter(token.pos) from None


def _netmask(token: Token) -> IPv4Address:
    mask = _ipv4(token)
    try:
        IPv4Network(f"0.0.0.0/{mask}")
    except ValueError:
        raise WrongParameter(token.pos) from None
    return mask


def _v4_match(cur: _Cursor) -> V4Match:
    token = cur.next()
    word = token.text.lower()
    if word == "any":
        return V4Match(IPv4Address(0), IPv4Address(0xFFFFFFFF))
    if word == "host":
        return V4Match(_ipv4(cur.next()), IPv4Address(0))
    address = _ipv4(token)
    wildcard = _ipv4(cur.next())
    # IOS clears the address bits the wildcard ignores.
    masked = IPv4Address(int(address) & ~int(wildcard) & 0xFFFFFFFF)
    return V4Match(masked, wildcard)


def _v6_match(cur: _Cursor) -> V6Match:
    token = cur.next()
    word = token.text.lower()
    if word == "any":
        return V6Match(IPv6Network("::/0"))
    if word == "host":
        host = cur.next()
        try:
            return V6Match(IPv6Network(IPv6Address(host.text)))
        except ValueError:
            raise WrongParameter(host.pos) from None
    if "/" not in token.text:
        raise WrongParameter(token.pos)
    try:
        network = ip_network(token.text, strict=False)
    except ValueError:
        raise WrongParameter(token.pos) from None
    if not isinstance(network, IPv6Network):
        raise WrongParameter(token.pos)
    return V6Match(network)


def _seq(token: Token) -> int:
    if not token.text.isdigit() or not 1 <= int(token.text) <= _SEQ_MAX:
        raise WrongParameter(token.pos)
    return int(token.text)


def _acl_name(token: Token) -> str:
    if not _ACL_NAME.fullmatch(token.text):
        raise WrongParameter(token.pos)
    return token.text


class CliSession:
    """One user's CLI on a router: a mode, the object being edited, and the enable dialogue."""

    def __init__(self, router: IosRouter, mode: Mode = Mode.USER) -> None:
        self.router = router
        self.mode = mode
        self.context = ""  # interface or ACL name in a sub-mode
        self.awaiting_secret = False

    @property
    def prompt(self) -> str:
        if self.awaiting_secret:
            return "Password: "
        return self.router.hostname + self.mode.value

    @property
    def echo(self) -> bool:
        """False while the router reads the enable secret, which IOS does not echo."""
        return not self.awaiting_secret

    @property
    def in_config(self) -> bool:
        return self.mode.is_config and not self.awaiting_secret

    def reject(self, line: str) -> Reply:
        """Answer a line as invalid input without touching any state."""
        first = _Cursor(line).peek()
        return Reply(self._error_text(Unknown(first.pos if first else 0), line), self.prompt)

    def execute(self, line: str) -> Reply:
        with self.router.lock:
            if self.awaiting_secret:
                return self._check_secret(line)
            if line in (CTRL_Z, CTRL_C):
                if self.mode.is_config:
                    self._leave_config()
                return Reply("", self.prompt)
            prompt = self.prompt
            try:
                if self.mode.is_config:
                    output = self._config(line)
                else:
                    output = self._exec(line, self.mode)
            except CliError as error:
                return Reply(self._error_text(error, line, prompt), self.prompt)
            except Close:
                return Reply("", "", close=True)
            return Reply(output, self.prompt)

    def _error_text(self, error: CliError, line: str, prompt: str | None = None) -> str:
        if isinstance(error, Incomplete):
            return f"{INCOMPLETE}\n\n"
        if isinstance(error, Ambiguous):
            return f'% Ambiguous command:  "{line.strip()}"\n'
        return IOS.text(error, prompt if prompt is not None else self.prompt)

    def _check_secret(self, line: str) -> Reply:
        self.awaiting_secret = False
        if self.router.secret and line == self.router.secret:
            self.mode = Mode.PRIVILEGED
            return Reply("", self.prompt)
        return Reply("% Access denied\n\n", self.prompt)

    def _leave_config(self) -> None:
        self.mode = Mode.PRIVILEGED
        self.context = ""

    # ------------------------------------------------------------------ exec modes

    def _exec(self, line: str, mode: Mode, from_config: bool = False) -> str:
        cur = _Cursor(line)
        if cur.at_end():
            return ""
        privileged = mode is Mode.PRIVILEGED
        words = ["show", "terminal"]
        if not from_config:
            words += ["enable", "disable", "exit", "logout", "quit"]
        if privileged:
            words += ["write"] if from_config else ["configure", "write"]
        command = cur.keyword(words)
        if command in ("exit", "logout", "quit"):
            cur.done()
            raise Close
        if command == "enable":
            cur.done()
            if privileged:
                return ""
            if not self.router.secret:
                return "% No password set\n\n"
            self.awaiting_secret = True
            return ""
        if command == "disable":
            cur.done()
            self.mode = Mode.USER
            return ""
        if command == "terminal":
            setting = cur.keyword(["length", "width"])
            value = cur.next()
            limit = 512 if setting == "length" else 511
            if not value.text.isdigit() or int(value.text) > limit:
                raise WrongParameter(value.pos)
            cur.done()
            return ""
        if command == "configure":
            cur.keyword(["terminal"])
            cur.done()
            self.mode = Mode.CONFIG
            return CONFIG_BANNER + "\n"
        if command == "write":
            if cur.optional_keyword(["memory"]) is not None:
                cur.done()
            self.router.startup_config = self.router.running_config()
            return "Building configuration...\n[OK]\n"
        return self._show(cur, privileged)

    def _show(self, cur: _Cursor, privileged: bool) -> str:
        words = ["version", "ip", "ipv6", "access-lists", "clock", "ntp", "time-range"]
        if privileged:
            words += ["running-config", "startup-config"]
        what = cur.keyword(words)
        pipe = cur.pipe()
        tokens_end = len(cur.tokens) if pipe is None else pipe
        if what == "version":
            cur.done_before(tokens_end)
            output = self.router.show_version()
        elif what == "clock":
            cur.done_before(tokens_end)
            output = self.router.show_clock()
        elif what == "ntp":
            sub = cur.keyword(["status", "associations"])
            cur.done_before(tokens_end)
            ntp = self.router
            output = ntp.show_ntp_status() if sub == "status" else ntp.show_ntp_associations()
        elif what == "time-range":
            name = cur.next().text if cur.i < tokens_end else None
            cur.done_before(tokens_end)
            output = self.router.show_time_range(name)
        elif what == "running-config":
            interface = None
            if cur.i < tokens_end:
                cur.keyword(["interface"])
                interface = self._interface_name(cur, tokens_end)
            cur.done_before(tokens_end)
            output = self.router.show_running_config(interface)
        elif what == "startup-config":
            cur.done_before(tokens_end)
            output = self.router.startup_config or "startup-config is not present\n"
        elif what == "access-lists":
            name = cur.next().text if cur.i < tokens_end else None
            cur.done_before(tokens_end)
            output = self.router.show_access_lists(None, name)
        elif what == "ip":
            sub = cur.keyword(["interface", "access-lists"])
            if sub == "interface":
                cur.keyword(["brief"])
                cur.done_before(tokens_end)
                output = self.router.show_ip_interface_brief()
            else:
                name = cur.next().text if cur.i < tokens_end else None
                cur.done_before(tokens_end)
                output = self.router.show_access_lists(4, name)
        else:
            cur.keyword(["access-list"])
            name = cur.next().text if cur.i < tokens_end else None
            cur.done_before(tokens_end)
            output = self.router.show_access_lists(6, name)
        if pipe is None:
            return output
        cur.i = pipe + 1
        kind = cur.keyword(_FILTERS)
        return filter_output(output, kind, cur.pattern())

    # ------------------------------------------------------------------ config modes

    def _config(self, line: str) -> str:
        cur = _Cursor(line)
        if cur.at_end():
            return ""
        sub_parser = {
            Mode.INTERFACE: self._parse_interface,
            Mode.EXTENDED_ACL: self._parse_ipv4_ace,
            Mode.IPV6_ACL: self._parse_ipv6_ace,
            Mode.TIME_RANGE: self._parse_time_range,
        }.get(self.mode)
        if sub_parser is None:
            return self._parse_global(cur)()
        # IOS takes a line the sub-mode does not know in the global mode, and stays there.
        action, in_global = in_view_or_parent(cur, sub_parser, self._parse_global)
        if in_global:
            self.mode, self.context = Mode.CONFIG, ""
        return action()

    def _common(self, cur: _Cursor) -> Action | None:
        """`end`, `exit` and `do`, valid in every config mode."""
        token = cur.peek()
        if token is None or token.text.lower() not in ("end", "exit", "do"):
            return None
        word = cur.keyword(["end", "exit", "do"])
        if word == "do":
            start = cur.peek()
            # Blank out `do` so that a caret still points into the line as typed.
            command = " " * (start.pos if start else 0) + cur.rest()

            def run_exec() -> str:
                return self._exec(command, Mode.PRIVILEGED, from_config=True)

            return run_exec
        cur.done()

        def leave() -> str:
            if word == "end" or self.mode is Mode.CONFIG:
                self._leave_config()
            else:
                self.mode, self.context = Mode.CONFIG, ""
            return ""

        return leave

    def _enter(self, mode: Mode, context: str) -> None:
        self.mode, self.context = mode, context

    def _parse_global(self, cur: _Cursor) -> Action:
        common = self._common(cur)
        if common is not None:
            return common
        negate = cur.negated("no")
        start = cur.i
        first = cur.keyword(_GLOBAL_WORDS)
        router = self.router
        if first == "hostname":
            if negate:
                cur.done()
                return lambda: set_to(router, "hostname", "Router")
            token = cur.next()
            cur.done()
            if not _HOSTNAME.fullmatch(token.text):
                raise Refused(token.pos, "% Hostname contains one or more illegal characters.")
            return lambda: set_to(router, "hostname", token.text)
        if first == "interface":
            name = self._interface_name(cur, len(cur.tokens))
            if negate:
                raise Unknown(cur.tokens[start].pos)
            return lambda: then(self._enter, Mode.INTERFACE, name)
        if first == "time-range":
            name = _acl_name(cur.next())
            cur.done()
            if negate:
                # allowed while entries name it: they are then always in force (IOS's trap)
                return lambda: then(router.time_ranges.pop, name, None)
            return lambda: self._open_time_range(name)
        words = [first]
        if first == "clock":
            words.append(cur.keyword(["timezone", "summer-time"]))
            if negate:
                cur.i = len(cur.tokens)
                prefix = " ".join(words) + " "
                return lambda: then(_drop_lines, router.global_lines, prefix)
            _check_clock_line(cur, words)
            text = " ".join(words + [t.text for t in cur.tokens[cur.i :]])
            prefix = " ".join(words) + " "

            def set_clock() -> str:
                _drop_lines(router.global_lines, prefix)
                router.global_lines.append(text)
                return ""

            return set_clock
        if first in ("ip", "ipv6"):
            words.append(cur.keyword(_IP_WORDS if first == "ip" else _IPV6_WORDS))
        if words == ["ip", "access-list"]:
            cur.keyword(["extended"])
            name = _acl_name(cur.next())
            cur.done()
            if negate:
                return lambda: _drop(router.ipv4_acls, name)
            return lambda: self._open_acl(router.ipv4_acls, name, 4, Mode.EXTENDED_ACL)
        if words == ["ipv6", "access-list"]:
            name = _acl_name(cur.next())
            cur.done()
            if negate:
                return lambda: _drop(router.ipv6_acls, name)
            return lambda: self._open_acl(router.ipv6_acls, name, 6, Mode.IPV6_ACL)
        # Anything else the whitelist knows is kept verbatim, so tests can see it untouched.
        if cur.at_end() and tuple(words) not in _NO_ARGUMENT_OK:
            raise Incomplete(cur.end_depth())
        text = " ".join(words + [t.text for t in cur.tokens[cur.i :]])
        lines = router.global_lines
        if negate:
            return lambda: then(remove, lines, text)
        return lambda: then(append_unique, lines, text)

    def _interface_name(self, cur: _Cursor, end: int) -> str:
        """`GigabitEthernet0/1`, `gi0/1` or `GigabitEthernet 0/1`; only existing ones."""
        if cur.i >= end:
            raise Incomplete(cur.end_depth())
        token = cur.tokens[cur.i]
        text = token.text
        consumed = 1
        if text.isalpha() and cur.i + 1 < end:
            text += cur.tokens[cur.i + 1].text
            consumed = 2
        match = _IFACE_SPLIT.fullmatch(text)
        if match is None:
            raise WrongParameter(token.pos)
        kind = match.group(1).lower()
        types = [t for t in INTERFACE_TYPES if t.lower().startswith(kind)]
        exact = [t for t in types if t.lower() == kind]
        types = exact or types
        if len(types) != 1:
            raise WrongParameter(token.pos)
        name = types[0] + match.group(2)
        if name not in self.router.interfaces:
            raise WrongParameter(token.pos)
        cur.i += consumed
        cur.done_before(end)
        return name

    def _open_time_range(self, name: str) -> str:
        self.router.time_ranges.setdefault(name, TimeRange(name))
        self._enter(Mode.TIME_RANGE, name)
        return ""

    def _parse_time_range(self, cur: _Cursor) -> Action:
        """`absolute [start HH:MM D Month YYYY] [end HH:MM D Month YYYY]`, `no absolute`: one
        absolute entry per time-range, a new one replacing it."""
        common = self._common(cur)
        if common is not None:
            return common
        negate = cur.negated("no")
        cur.keyword(["absolute"])
        router = self.router

        def current() -> TimeRange:
            return router.time_ranges.setdefault(self.context, TimeRange(self.context))

        if negate:
            cur.i = len(cur.tokens)

            def unset() -> str:
                found = current()
                found.start = found.end = None
                return ""

            return unset
        start = end = None
        if cur.peek_word() == "start":
            cur.next()
            start = _wall_time(cur)
        if cur.peek_word() == "end":
            cur.next()
            end = _wall_time(cur)
        if start is None and end is None:
            raise Incomplete(cur.end_depth())
        cur.done()

        def set_bounds() -> str:
            if start is not None and end is not None and end <= start:
                return "% The end time must be later than the start time\n"
            found = current()
            found.start, found.end = start, end
            return ""

        return set_bounds

    def _open_acl(self, acls: dict[str, Acl], name: str, family: int, mode: Mode) -> str:
        acls.setdefault(name, Acl(name, family))
        self._enter(mode, name)
        return ""

    def _current_acl(self, acls: dict[str, Acl], family: int) -> Acl:
        # Another session may have deleted the ACL meanwhile; editing it recreates it.
        return acls.setdefault(self.context, Acl(self.context, family))

    # ------------------------------------------------------------------ interface mode

    def _parse_interface(self, cur: _Cursor) -> Action:
        common = self._common(cur)
        if common is not None:
            return common
        negate = cur.negated("no")
        word = cur.keyword(["description", "ip", "ipv6", "shutdown"])
        interface = self.router.interfaces[self.context]
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
            sub = cur.keyword(["address", "access-group"])
            if sub == "address":
                if negate:
                    if not cur.at_end():
                        _ipv4(cur.next())
                        _netmask(cur.next())
                    cur.done()
                    return lambda: set_to(interface, "ipv4", None)
                address, mask = _ipv4(cur.next()), _netmask(cur.next())
                cur.done()
                return lambda: set_to(interface, "ipv4", (address, mask))
            return self._parse_binding(cur, interface.access_group, negate)
        sub = cur.keyword(["address", "enable", "traffic-filter"])
        if sub == "enable":
            cur.done()
            return lambda: set_to(interface, "ipv6_enable", not negate)
        if sub == "address":
            if negate and cur.at_end():
                return lambda: then(interface.ipv6.clear)
            token = cur.next()
            cur.done()
            try:
                address = IPv6Interface(token.text)
            except ValueError:
                raise WrongParameter(token.pos) from None
            if "/" not in token.text:
                raise WrongParameter(token.pos)
            if negate:
                return lambda: then(remove, interface.ipv6, address)
            return lambda: then(append_unique, interface.ipv6, address)
        return self._parse_binding(cur, interface.traffic_filter, negate)

    def _parse_binding(self, cur: _Cursor, bindings: dict[str, str], negate: bool) -> Action:
        """`NAME in|out`: one ACL per direction; binding another replaces it, as on IOS.

        The `no` form removes whatever is bound in that direction: IOS does not check the
        name, so a `no ip access-group OURS in` removes a foreign ACL bound there too.
        """
        token = cur.next()
        if negate and token.text.lower() in ("in", "out"):
            direction = token.text.lower()
        else:
            name = _acl_name(token)
            direction = cur.keyword(["in", "out"])
        cur.done()
        if negate:
            return lambda: then(bindings.pop, direction, None)
        return lambda: then(bindings.__setitem__, direction, name)

    # ------------------------------------------------------------------ ACL modes

    def _parse_ipv4_ace(self, cur: _Cursor) -> Action:
        common = self._common(cur)
        if common is not None:
            return common
        negate = cur.negated("no")
        first = cur.peek()
        seq = None
        if first is not None and first.text.isdigit():
            seq = _seq(cur.next())
            if negate:
                cur.done()
                return lambda: self._delete_seq(4, seq)
        action = cur.keyword(["permit", "deny", "remark"])
        if action == "remark":
            text = cur.rest()
            return self._ace_action(4, negate, seq, Ace(0, "remark", remark=text))
        cur.keyword(["ip"])
        source = _v4_match(cur)
        destination = _v4_match(cur)
        timed = _time_range_option(cur)
        cur.done()
        return self._ace_action(4, negate, seq, Ace(0, action, source, destination, "", timed))

    def _parse_ipv6_ace(self, cur: _Cursor) -> Action:
        common = self._common(cur)
        if common is not None:
            return common
        negate = cur.negated("no")
        seq = None
        if cur.peek() is not None and cur.peek().text.lower() == "sequence":
            cur.next()
            seq = _seq(cur.next())
            if negate:
                cur.done()
                return lambda: self._delete_seq(6, seq)
        action = cur.keyword(["permit", "deny", "remark"])
        if action == "remark":
            text = cur.rest()
            return self._ace_action(6, negate, seq, Ace(0, "remark", remark=text))
        cur.keyword(["ipv6"])
        source = _v6_match(cur)
        destination = _v6_match(cur)
        timed = _time_range_option(cur)
        cur.done()
        return self._ace_action(6, negate, seq, Ace(0, action, source, destination, "", timed))

    def _acls(self, family: int) -> dict[str, Acl]:
        return self.router.ipv4_acls if family == 4 else self.router.ipv6_acls

    def _delete_seq(self, family: int, seq: int) -> str:
        acl = self._current_acl(self._acls(family), family)
        acl.entries = [e for e in acl.entries if e.seq != seq]
        return ""

    def _ace_action(self, family: int, negate: bool, seq: int | None, ace: Ace) -> Action:
        def apply() -> str:
            acl = self._current_acl(self._acls(family), family)
            if negate:
                acl.entries = [e for e in acl.entries if e.body() != ace.body()]
                return ""
            number = seq if seq is not None else acl.next_seq()
            return acl.add(
                Ace(number, ace.action, ace.source, ace.destination, ace.remark, ace.time_range)
            )

        return apply


def _drop(acls: dict[str, Acl], name: str) -> str:
    acls.pop(name, None)
    return ""


def _drop_lines(lines: list[str], prefix: str) -> None:
    lines[:] = [line for line in lines if not line.startswith(prefix)]


def _time_range_option(cur: _Cursor) -> str:
    """An entry's optional `time-range NAME` (which need not exist)."""
    if cur.at_end():
        return ""
    cur.keyword(["time-range"])
    return _acl_name(cur.next())


# --------------------------------------------------------------------------- the lab's view

FOREIGN_CONFIG = (
    "ntp server 192.0.2.123",
    "logging host 192.0.2.50",
    "ip access-list extended MGMT-ACCESS",
    " permit ip 192.0.2.0 0.0.0.255 any",
    " deny ip 203.0.113.0 0.0.0.255 any",
    " permit ip any any",
)
UPLINK = "GigabitEthernet0/0"


def _build(spec: SpecLike) -> IosRouter:
    router = IosRouter(spec.name, spec.secret, spec.interfaces)
    router.configure(spec.config)
    return router


def _base_config(uplink_address: str) -> list[str]:
    return [
        *FOREIGN_CONFIG,
        f"interface {UPLINK}",
        " description uplink",
        f" ip address {uplink_address} 255.255.255.252",
        " ip access-group MGMT-ACCESS in",
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
    platform="cisco_ios",
    build=_build,
    uplink=UPLINK,
    venue_interface=lambda k: f"GigabitEthernet0/{k}",
    base_config=_base_config,
    line_config=line_interface_config,
    netmiko_device_type="cisco_ios",
)
