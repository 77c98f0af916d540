"""H3C Comware 7 driver: a cut is a pair of named advanced ACLs, CURFEW-L<id> and CURFEW6-L<id>,
applied by `packet-filter` inbound and outbound on the venue's interface; a restore removes them.

Named ACLs, not numbered ones: Comware 7 takes `acl [ipv6] advanced name NAME` and
`packet-filter [ipv6] name NAME {inbound|outbound}` (HPE/H3C Comware 7 ACL command reference:
`acl`, `packet-filter`), so the line id is the name and a router may carry any number of lines;
numbered advanced ACLs stop at 1,000 (3000-3999). Comware 5 has no named advanced ACLs and is
not this driver's platform. Changes go to the running configuration and are never saved.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import ClassVar

from drivers.acl import (
    AclDriver,
    AclOwnedLine,
    Binding,
    BoundFilters,
    Entry,
    Family,
    acl_name,
    family_of,
    owned_lines,
    owner_of,
)
from drivers.base import (
    DeviceFacts,
    LineTarget,
    OwnedLine,
    Prefix,
    Rejected,
)
from drivers.cli import NOT_ECHOED, EchoScanned
from drivers.timing import (
    NAMES_OWNED_TIME_RANGE,
    DeviceClock,
    DeviceZone,
    RuleDay,
    SummerTime,
    TimedAclLine,
    UndoStyleTimeRanges,
    clock_from_answers,
    parse_display_time_ranges,
    parse_ntp_service_status,
    split_time_range,
    wall_parts,
    with_time_ranges,
    without_echo,
)

PLATFORM = "h3c_comware"
NETMIKO_DEVICE_TYPE = "hp_comware"
# Rule ids are explicit, so that what is read back is exactly what was rendered.
RULE_STEP = 5


class Direction(enum.StrEnum):
    IN = "inbound"
    OUT = "outbound"


DIRECTIONS = (Direction.IN, Direction.OUT)

_ACL_HEADER = {Family.IPV4: "acl advanced name", Family.IPV6: "acl ipv6 advanced name"}
_BINDING = {Family.IPV4: "packet-filter name", Family.IPV6: "packet-filter ipv6 name"}
_FAMILY_WORD = {Family.IPV4: "IPv4", Family.IPV6: "IPv6"}
# The read: every ACL header with its rules and description (ours are read whole; every name
# is seen, Comware's names being case-insensitive), every interface with the packet-filters it
# applies (foreign ones included: applying ours over one would replace it). What the parser
# does not use (addresses, routes, the rest) stays on the router.
OWNED_READ = (
    "display current-configuration | include ^acl|^ rule|^ description|^interface|^ packet-filter"
)
# Device-timed cuts (drivers.timing): every time-range with the device's word on whether its
# clock has it in force now; and the clock: its time, its NTP state, the lines setting its zone.
TIME_RANGE_READ = "display time-range all"
CLOCK_READ = (
    "display clock",
    "display ntp-service status",
    "display current-configuration | include clock",
)


# --------------------------------------------------------------------------------------------
# What read finds


# An owned line as the parser finds it: which ACLs and bindings exist.
ComwareOwnedLine = AclOwnedLine


Slot = tuple[Family, Direction]


class ParsedConfig(BoundFilters[Direction]):
    """Owned lines by id (what `read()` returns), plus what a cut must not disturb.

    Comware applies one ACL per family and direction on an interface, and a second
    `packet-filter` replaces the first: rendering a cut needs every ACL applied (`filters`).
    ACL names are case-insensitive on Comware, so `acl advanced name CURFEW-L42` would enter an
    ACL someone created as `curfew-l42`: `names` keeps every ACL header by folded name.
    `interfaces` lists every interface the device has: entering one that does not exist fails
    and leaves the session in the wrong view, so no command is rendered for one.
    """

    def __init__(
        self,
        lines: Mapping[int, OwnedLine] | None = None,
        filters: Mapping[str, Mapping[Slot, str]] | None = None,
        names: Mapping[tuple[Family, str], str] | None = None,
        interfaces: frozenset[str] | None = None,
    ) -> None:
        super().__init__(lines, filters)
        self.names: dict[tuple[Family, str], str] = dict(names or {})
        # None: not known (an OwnedLine mapping handed in by a caller), so not checked
        self.interfaces = interfaces

    def name_taken(self, family: Family, line_id: int) -> str | None:
        """The header of an ACL that is not ours but answers to our name, if any."""
        name = acl_name(family, line_id)
        line = self.names.get((family, name.casefold()))
        header = _parse_header(line) if line is not None else None
        if header is None or (header.named_advanced and header.name == name):
            return None  # free, or ours (perhaps with a match-order of its own: rewritten)
        return line


_SYSLOG = re.compile(r"%[A-Z][a-z]{2} +\d")  # %Nov 24 00:00:01:123 2026 R1 MOD/5/X: ...
_ERROR = re.compile(r"%\s")  # " % Unrecognized command found at '^' position."


def _wildcard_network(address: str, wildcard: str) -> IPv4Network:
    base = int(ip_address(address))
    bits = 0 if wildcard == "0" else int(IPv4Address(wildcard))
    if bits & (bits + 1):
        raise ValueError(f"non-contiguous wildcard {wildcard}")
    if base & bits:
        raise ValueError(f"{address} has bits set under wildcard {wildcard}")
    return IPv4Network((base, 32 - bits.bit_length()))


def _take_address(family: Family, words: list[str]) -> Prefix:
    """One rule address (`A W` for IPv4, `P/L` for IPv6) from the front of `words`."""
    head = words.pop(0)
    if family is Family.IPV4:
        network: Prefix = _wildcard_network(head, words.pop(0))
    else:
        network = ip_network(head, strict=True)
        if not isinstance(network, IPv6Network):
            raise ValueError(f"{head} is not IPv6")
    if network.prefixlen == 0:
        raise ValueError("a /0 is written as no address at all")
    return network


def parse_rule(family: Family, text: str) -> tuple[int, Entry] | None:
    """`rule N deny|permit ip [source A] [destination A]` for all traffic of the family, as
    (N, entry); None for anything else (other protocols, counting, logging, comments)."""
    words = text.split()
    if len(words) < 4 or words[0] != "rule" or not words[1].isdigit():
        return None
    if words[2] not in ("deny", "permit") or words[3] != family.value:
        return None
    rest = words[4:]
    found: dict[str, Prefix] = {}
    try:
        while rest:
            key = rest.pop(0)
            if key not in ("source", "destination") or key in found:
                return None
            found[key] = _take_address(family, rest)
    except (IndexError, ValueError):
        return None
    return int(words[1]), Entry(words[2], found.get("source"), found.get("destination"))


# `acl number N [name X]` is how early Comware 7 releases print a numbered ACL
_HEADER_RE = re.compile(
    r"acl(?: (ipv6))? (advanced|basic|number|mac|user-defined)(?: (\d+))?(?: name (\S+))?(.*)"
)
_INTERFACE_RE = re.compile(r"interface (\S+)")
_FILTER_RE = re.compile(
    r"packet-filter(?: (ipv6|mac|user-defined))? (?:name (\S+)|(\d+)) (inbound|outbound)\b.*"
)


@dataclass(frozen=True)
class _Header:
    """An IPv4 or IPv6 ACL header line: `acl [ipv6] advanced|basic|number [N] [name X] ...`."""

    family: Family
    name: str | None
    # an unnumbered advanced ACL: the only form this driver creates
    named_advanced: bool
    # words after the name (`match-order auto`)
    extra: bool


def _parse_header(line: str) -> _Header | None:
    """None for MAC and user-defined ACLs (their names are another name space) and non-ACLs."""
    match = _HEADER_RE.fullmatch(line)
    if match is None or match.group(2) in ("mac", "user-defined"):
        return None
    ipv6, kind, number, name, rest = match.groups()
    family = Family.IPV6 if ipv6 else Family.IPV4
    return _Header(family, name, kind == "advanced" and number is None, bool(rest.strip()))


def parse_current_configuration(
    text: str, time_ranges: Mapping[str, tuple[bool, tuple[str, ...]]] | None = None
) -> ParsedConfig:
    """Find owned ACLs and their bindings in `display current-configuration`, every ACL applied
    on every interface, every ACL name, and every interface; with `time_ranges`
    (`parse_time_ranges`), the owned time-ranges and whether each line's device-timed cut is in
    force now."""
    acls: dict[tuple[Family, int], list[Entry | None]] = {}
    exact_header: dict[tuple[Family, int], bool] = {}
    filters: dict[str, dict[Slot, str]] = {}
    names: dict[tuple[Family, str], str] = {}
    interfaces: set[str] = set()
    current_acl: list[tuple[int, Entry | None]] | None = None
    ordered: dict[tuple[Family, int], list[tuple[int, Entry | None]]] = {}
    timed: dict[int, set[str | None]] = {}
    current_line = 0
    acl_family = Family.IPV4
    current_interface: str | None = None

    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if line[0] in " \t":
            body = line.strip()
            if current_acl is not None:
                body, time_range = split_time_range(body)
                parsed = parse_rule(acl_family, body)
                if parsed is not None and parsed[1].action == "deny":
                    timed.setdefault(current_line, set()).add(time_range)
                elif time_range is not None:
                    timed.setdefault(current_line, set()).add(f"{time_range} (on a permit)")
                # anything but a plain rule (a description, a comment) makes the ACL inexact
                current_acl.append(parsed if parsed is not None else (-1, None))
            elif current_interface is not None:
                match = _FILTER_RE.fullmatch(body)
                if match and match.group(1) in (None, "ipv6"):
                    family = Family.IPV6 if match.group(1) else Family.IPV4
                    holder = match.group(2) or f"ACL {match.group(3)}"
                    slot = (family, Direction(match.group(4)))
                    filters.setdefault(current_interface, {})[slot] = holder
            continue

        current_acl, current_interface = None, None
        if line.startswith("acl "):
            header = _parse_header(line)
            if header is None or header.name is None:
                continue
            names[(header.family, header.name.casefold())] = line
            line_id = owner_of(header.family, header.name) if header.named_advanced else None
            if line_id is not None:
                current_acl = ordered.setdefault((header.family, line_id), [])
                current_line = line_id
                exact_header[(header.family, line_id)] = not header.extra
                acl_family = header.family
            continue
        match = _INTERFACE_RE.fullmatch(line)
        if match:
            current_interface = match.group(1)
            interfaces.add(current_interface)

    for key, rules in ordered.items():
        # Comware prints rules in id order already; sort anyway, ids decide the match order
        acls[key] = [entry for _, entry in sorted(rules, key=lambda r: r[0])]
        if not exact_header[key]:
            acls[key].append(None)

    lines = owned_lines(acls, filters, DIRECTIONS)
    if any(names != {None} for names in timed.values()) or time_ranges:
        lines = with_time_ranges(lines, timed, time_ranges or {})
    return ParsedConfig(lines, filters, names, frozenset(interfaces))


_ADDRESS_RE = re.compile(r"ip address (\S+) (\S+)(?: sub)?")
_ADDRESS6_RE = re.compile(r"ipv6 address (\S+/\d+)")
_ROUTE_RE = re.compile(r"(ip|ipv6) route-static (\S+) (\S+) (.*)")


def parse_facts(text: str) -> DeviceFacts:
    """Interfaces with their addresses and static routes from `display current-configuration`.

    A route names its interface, or only a next hop, which is resolved to the interface whose
    connected network holds it; routes in a VPN instance and unresolvable ones are left out.
    """
    interfaces: dict[str, list[IPv4Interface | IPv6Interface]] = {}
    routes: list[tuple[Prefix, str | None, IPv4Address | IPv6Address | None]] = []
    current: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        body = line.strip()
        if line[0] not in " \t":
            match = _INTERFACE_RE.fullmatch(line)
            current = match.group(1) if match else None
            if current is not None:
                interfaces.setdefault(current, [])
            continue
        if current is not None:
            try:
                match = _ADDRESS_RE.fullmatch(body)
                if match:
                    interfaces[current].append(IPv4Interface(f"{match[1]}/{match[2]}"))
                match = _ADDRESS6_RE.fullmatch(body)
                if match:
                    interfaces[current].append(IPv6Interface(match[1]))
            except ValueError:
                continue
            continue
        match = _ROUTE_RE.fullmatch(body)
        if match:
            route = _route(match[1], match[2], match[3], match[4].split())
            if route is not None:
                routes.append(route)

    resolved: dict[Prefix, str] = {}
    for prefix, interface, hop in routes:
        if interface is None and hop is not None:
            interface = next(
                (
                    name
                    for name, addresses in interfaces.items()
                    for address in addresses
                    if address.version == hop.version and hop in address.network
                ),
                None,
            )
        if interface is not None:
            resolved.setdefault(prefix, interface)
    return DeviceFacts({name: tuple(a) for name, a in interfaces.items()}, resolved)


def _route(
    kind: str, address: str, length: str, words: list[str]
) -> tuple[Prefix, str | None, IPv4Address | IPv6Address | None] | None:
    try:
        prefix = ip_network(f"{address}/{length}", strict=False)
    except ValueError:
        return None
    if (prefix.version == 4) != (kind == "ip") or not words or words[0] == "vpn-instance":
        return None
    interface: str | None = None
    hop: IPv4Address | IPv6Address | None = None
    for word in words[:2]:
        try:
            hop = ip_address(word)
            break
        except ValueError:
            if interface is not None or word in ("preference", "tag", "description"):
                break
            interface = word
    return prefix, interface, hop


# --------------------------------------------------------------------------------------------
# What render sends


def _address(prefix: Prefix) -> str:
    if isinstance(prefix, IPv4Network):
        wildcard = "0" if prefix.prefixlen == 32 else str(prefix.hostmask)
        return f"{prefix.network_address} {wildcard}"
    return prefix.compressed


def find_rejections(commands: Sequence[str], output: str) -> list[tuple[int | None, str]]:
    """(index of the command, problem) for every `%` error the device answered, and
    `NOT_ECHOED` for the first command the device never echoed (input lost: nothing after it
    can be trusted to have run).

    Comware echoes each command after its prompt (`[R1-acl-ipv4-adv-CURFEW-L42]rule 5 ...`);
    an error (` % Unrecognized command found at '^' position.`, under a caret line) belongs to
    the last command echoed before it. Log messages (`%Nov 24 00:00:01:123 2026 R1 ...`) are
    not errors.
    """
    found: list[tuple[int | None, str]] = []
    current: int | None = None
    upcoming = 0
    for raw in output.splitlines():
        line = raw.strip()
        if line.startswith("%"):
            if _ERROR.match(line) and not _SYSLOG.match(line):
                found.append((current, line))
            continue
        if upcoming < len(commands):
            command = commands[upcoming].strip()
            if line == command or line.endswith(("]" + command, ">" + command)):
                current = upcoming
                upcoming += 1
    if upcoming < len(commands):
        found.append((upcoming, NOT_ECHOED))
    return found


# --------------------------------------------------------------------------------------------
# The session


class H3cComwareDriver(UndoStyleTimeRanges, AclDriver, EchoScanned):
    """One Comware 7 router over SSH through netmiko's `hp_comware` (wrapped, not subclassed).

    Comware has no enable mode to enter (`super` raises a user role, which an account that may
    configure does not need): `secret` is not used. Echo checking is done here, not by
    netmiko: its `hp_comware` turns command verification off and reads with a 2 s timer.
    """

    platform: ClassVar[str] = PLATFORM
    device_type: ClassVar[str] = NETMIKO_DEVICE_TYPE
    frame = ("system-view", "return")
    directions = DIRECTIONS
    leave = "quit"
    _bound_word = "applied on"  # Comware applies a packet-filter

    # -- syntax ----------------------------------------------------------------------------

    def _acl_lines(self, family: Family, target: LineTarget) -> list[str]:
        """The ACLs end with a permit-all of their own: what a packet matching none of our
        rules meets must not depend on a `packet-filter default deny` elsewhere."""
        lines = [f"{_ACL_HEADER[family]} {acl_name(family, target.line_id)}"]
        rule_id = 0
        for prefix in dict.fromkeys(p for p in target.prefixes if family_of(p) is family):
            for side in ("source", "destination"):
                rule_id += RULE_STEP
                lines.append(f"rule {rule_id} deny {family} {side} {_address(prefix)}")
        return [*lines, f"rule {rule_id + RULE_STEP} permit {family}"]

    def _binding_lines(self, family: Family, target: LineTarget) -> list[str]:
        name = acl_name(family, target.line_id)
        return [f"{_BINDING[family]} {name} {direction}" for direction in DIRECTIONS]

    def _unbinding(self, binding: Binding, line_id: int) -> str:
        """Comware's `undo packet-filter` names the ACL it removes; still, one is only
        rendered for a binding read-back saw."""
        name = acl_name(binding.family, line_id)
        return f"undo {_BINDING[binding.family]} {name} {binding.direction}"

    def _deletion(self, family: Family, line_id: int) -> str:
        return f"undo {_ACL_HEADER[family]} {acl_name(family, line_id)}"

    def _held(self, target: LineTarget, family: Family, direction: Direction) -> str:
        return f"{target.interface} already filters {_FAMILY_WORD[family]} {direction}"

    def _family_refusal(
        self, target: LineTarget, family: Family, config: BoundFilters[Direction]
    ) -> Rejected | None:
        if not isinstance(config, ParsedConfig):
            return None
        taken = config.name_taken(family, target.line_id)
        if taken is None:
            return None
        return Rejected(
            f"ACL name {acl_name(family, target.line_id)} (case-insensitive on Comware) "
            f"is held by {taken!r}; not editing an ACL this driver did not create"
        )

    def _occupied(
        self,
        target: LineTarget,
        found: Mapping[int, OwnedLine],
        restored: set[int],
        claimed: dict[Hashable, int],
    ) -> Rejected | None:
        """Entering an interface that does not exist fails and leaves the session in the
        wrong view: no command is rendered for one."""
        config = self._as_found(found)
        if config.interfaces is not None and target.interface not in config.interfaces:
            return Rejected(f"{target.interface} does not exist on the device")
        return super()._occupied(target, config, restored, claimed)

    def _as_found(self, owned: Mapping[int, OwnedLine]) -> ParsedConfig:
        return owned if isinstance(owned, ParsedConfig) else ParsedConfig(owned)

    # -- device exchanges ------------------------------------------------------------------

    def _prompt(self) -> re.Pattern[str]:
        """Any view's prompt: `<R1>`, `[R1]`, `[R1-GigabitEthernet1/0/1]`, at a line start."""
        base = re.escape(self._cli.connection.base_prompt)
        return re.compile(rf"(?m)^[<\[]{base}(?:-[^\]\n]*)?[>\]]")

    def _read_commands(self) -> list[str]:
        """The owned configuration and, on a device opted in to device timing, every
        time-range with the device's word on each: other devices pay no extra command."""
        if self.credentials.extra.get("timing") == "device":
            return self._asking_wall([OWNED_READ, TIME_RANGE_READ])
        return [OWNED_READ]

    def _parse(self, answers: Sequence[str]) -> ParsedConfig:
        config = answers[0] if answers else ""
        if len(answers) > 1:
            time_ranges = "".join(answers[1:])
        elif NAMES_OWNED_TIME_RANGE.search(config):
            # a device-timed cut on a device not (or no longer) opted in: ask the device
            time_ranges = "".join(
                self._cli.converse([TIME_RANGE_READ], self._prompt(), TIME_RANGE_READ)
            )
        else:
            time_ranges = ""
        return parse_current_configuration(config, parse_time_ranges(time_ranges))

    def _parsed(self, answers: Sequence[str]) -> Mapping[int, OwnedLine]:
        """The cached parse, but never for a configuration naming an owned time-range that
        the answers do not say the state of (the device is asked again), and the last read
        kept for the device-timed steps; the device's wall clock kept apart when the read
        asked for it."""
        answers = self._taking_wall(self._read_commands(), answers)
        if len(answers) == 1 and NAMES_OWNED_TIME_RANGE.search(answers[0]):
            parsed: Mapping[int, OwnedLine] = self._parse(answers)
        else:
            parsed = super()._parsed(answers)
        self._last_read = parsed
        return parsed

    def find_rejections(self, sent: Sequence[str], output: str) -> list[tuple[int | None, str]]:
        return find_rejections(sent, output)

    # -- device-timed windows (drivers.timing.DeviceTimed) ----------------------------------

    def read_clock(self) -> DeviceClock:
        """The device's time (`display clock`), NTP state (`display ntp-service status`) and
        zone (its `clock timezone` / `clock summer-time` lines), in one exchange."""
        return read_device_clock(*self._answers_to(CLOCK_READ, "the device clock"))

    def _answers_to(self, commands: Sequence[str], what: str) -> list[str]:
        with self._cli.opened():
            answers = self._cli.converse(list(commands), self._prompt(), what)
        return [without_echo(answer) for answer in answers]

    _wall_read = CLOCK_READ[0]

    def _wall_of(self, answer: str) -> datetime:
        return display_clock_wall(answer)[0]

    def _statement_end(self, statement: str) -> datetime | None:
        return statement_end(statement)

    def _window_statements(self, start: datetime, end: datetime, zone: DeviceZone) -> list[str]:
        """One absolute statement per local day: Comware wants a range's end after its start
        within a statement's day, so a window across the device's midnight is split there
        (`from 22:00 11/24/2026 to 24:00 11/24/2026`, `from 00:00 11/25/2026 to 06:00 ...`)."""
        return [absolute_statement(begin, end) for begin, end in wall_parts(start, end, zone)]

    def _timed_reads(self, line: TimedAclLine) -> list[str]:
        return [
            f"display acl {'ipv6 ' if family is Family.IPV6 else ''}name "
            f"{acl_name(family, line.line_id)}"
            for family in (Family.IPV4, Family.IPV6)
            if family in line.acls
        ]

    def facts(self) -> DeviceFacts:
        """Interfaces, their addresses and static routes (the `Inspects` ability)."""
        with self._cli.opened():
            # the closing `return`, then a prompt: a description or a hostname that contains
            # the prompt's text cannot end the read early
            base = re.escape(self._cli.connection.base_prompt)
            finished = re.compile(rf"\nreturn[ \t]*\n\s*[<\[]{base}[^\n]*[>\]]")
            text = self._cli.show(
                "display current-configuration", lambda t: finished.search(t) is not None
            )
            return parse_facts(text)


# --------------------------------------------------------------------------------------------
# Device-timed windows: the clock, the zone and the time-ranges as Comware says them

_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": 5}
_AT = re.compile(r"([01]?\d|2[0-3])(?::([0-5]\d))?(?::([0-5]\d))?")
_ABSOLUTE = re.compile(
    r"from\s+(\d{1,2}):(\d{2})(?::\d{2})?\s+(\d{1,2})/(\d{1,2})/(\d{4})\s+"
    r"to\s+(\d{1,2}):(\d{2})(?::\d{2})?\s+(\d{1,2})/(\d{1,2})/(\d{4})",
    re.I,
)
# `display clock`: `00:00:01.123 CST Wed 11/25/2026`
_DISPLAY_CLOCK = re.compile(
    r"(?m)^\s*(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\s+(\S+)\s+[A-Za-z]{3}\s+"
    r"(\d{1,2})/(\d{1,2})/(\d{4})\s*$"
)


def _clock_offset(text: str, what: str) -> timedelta:
    match = _AT.fullmatch(text)
    if match is None:
        raise ValueError(f"{what} {text!r} is not HH[:MM[:SS]]")
    return timedelta(hours=int(match.group(1)), minutes=int(match.group(2) or 0))


def _named(word: str, names: Sequence[str], what: str) -> int:
    """The index of a month or day name, written whole or by its first three letters."""
    lowered = word.lower()
    for i, name in enumerate(names):
        if len(lowered) >= 3 and name.startswith(lowered):
            return i
    raise ValueError(f"{what} {word!r} not understood")


def _summer_day(at: str, words: Sequence[str]) -> RuleDay:
    """`HH:MM[:SS] Month week day` (`02:00:00 March last Sunday`)."""
    month_word, week_word, day_word = words
    week = _WEEKS.get(week_word.lower())
    if week is None:
        raise ValueError(f"summer-time week {week_word!r} not understood (a date is not taken)")
    minutes = int(_clock_offset(at, "summer-time").total_seconds()) // 60
    month = _named(month_word, _MONTH_NAMES, "month") + 1
    return RuleDay(week, _named(day_word, _DAY_NAMES, "day"), month, minutes)


def parse_clock_config(lines: Sequence[str]) -> DeviceZone:
    """The zone set by `clock timezone NAME add|minus HH[:MM[:SS]]` and `clock summer-time NAME
    START Month week day END Month week day ADD`; raises ValueError for any clock line it does
    not understand (a summer time by dates), which leaves the clock untrusted."""
    name, standard, summer = "UTC", timedelta(0), None
    for raw in lines:
        words = raw.split()
        if words[:1] != ["clock"] or len(words) < 2:
            continue
        if words[1] == "timezone" and len(words) == 5 and words[3] in ("add", "minus"):
            sign = -1 if words[3] == "minus" else 1
            name, standard = words[2], sign * _clock_offset(words[4], "zone offset")
        elif words[1] == "summer-time" and len(words) == 12:
            start = _summer_day(words[3], words[4:7])
            end = _summer_day(words[7], words[8:11])
            summer = SummerTime(words[2], start, end, _clock_offset(words[11], "summer-time"))
        elif words[1] in ("timezone", "summer-time"):
            raise ValueError(f"{raw.strip()!r}: not understood")
    return DeviceZone(name, standard, summer)


def parse_display_clock(text: str, zone: DeviceZone) -> datetime:
    """The UTC instant in `display clock` (`00:00:01.123 CST Wed 11/25/2026`)."""
    wall, shown = display_clock_wall(text)
    return zone.to_utc(wall, shown)


def display_clock_wall(text: str) -> tuple[datetime, str]:
    """The device's wall clock in `display clock` (naive) and the zone name it shows."""
    match = _DISPLAY_CLOCK.search(text)
    if match is None:
        raise ValueError("no time in the answer to `display clock`")
    hour, minute, second, fraction, shown, month, day, year = match.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    wall = datetime(  # noqa: DTZ001 - the device's wall clock: its zone is the caller's
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro
    )
    return wall, shown


def statement_end(statement: str) -> datetime | None:
    """Where an absolute statement (`from 00:00 11/25/2026 to 08:00 11/25/2026`) ends, on
    the device's wall clock (24:00 is the next midnight); None for any other statement."""
    match = _ABSOLUTE.fullmatch(statement.strip())
    if match is None:
        return None
    hour, minute, month, day, year = (int(g) for g in match.groups()[5:])
    try:
        if (hour, minute) == (24, 0):
            return datetime(year, month, day) + timedelta(days=1)  # noqa: DTZ001
        return datetime(year, month, day, hour, minute)  # noqa: DTZ001 - device wall clock
    except ValueError:
        return None


def read_device_clock(display_clock: str, ntp_status: str, clock_config: str) -> DeviceClock:
    """A Comware router's clock from its answers to `display clock`, `display ntp-service
    status` and its `clock` configuration lines; what cannot be understood is its `problem`."""
    return clock_from_answers(
        display_clock,
        ntp_status,
        clock_config,
        ntp=parse_ntp_service_status,
        zone_of=parse_clock_config,
        instant_of=parse_display_clock,
    )


def _edge(wall: datetime, day: datetime) -> str:
    """`HH:MM M/D/YYYY` on `day`: an end at the next midnight is that day's 24:00."""
    clock = "24:00" if wall.date() > day.date() else f"{wall:%H:%M}"
    return f"{clock} {day.month}/{day.day}/{day.year}"


def absolute_statement(begin: datetime, end: datetime) -> str:
    """`from 00:00 11/25/2026 to 08:00 11/25/2026` within one local day (device wall clock)."""
    return f"from {_edge(begin, begin)} to {_edge(end, begin)}"


def normalise_statement(text: str) -> str:
    """An absolute statement as `absolute_statement` writes it (the device prints seconds);
    anything else as it stands."""
    match = _ABSOLUTE.fullmatch(text.strip())
    if match is None:
        return " ".join(text.split())
    h1, m1, mo1, d1, y1, h2, m2, mo2, d2, y2 = (int(g) for g in match.groups())
    return f"from {h1:02d}:{m1:02d} {mo1}/{d1}/{y1} to {h2:02d}:{m2:02d} {mo2}/{d2}/{y2}"


def parse_time_ranges(text: str) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """`display time-range all`: each time-range's name -> (active now, its statements)."""
    return parse_display_time_ranges(text, normalise_statement)
