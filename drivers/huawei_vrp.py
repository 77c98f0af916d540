"""Huawei VRP5 (AR/S series) driver: a cut is a pair of named advanced ACLs, CURFEW-L<id> and
CURFEW6-L<id>, bound by `traffic-filter` inbound and outbound on the venue's interface.

Named rather than numbered ACLs: the name carries ownership and any line id maps to one without
collisions, where numbers (3000-3999) would need a mapping from ids up to 10^9 into 1,000 slots
shared with the carrier's own ACLs. VRP5 still gives each named ACL a number (the highest free
one, from 3999 down) and prints it (`acl name CURFEW-L42 3999`), so a router holds at most 1,000
advanced ACLs per family, named or not; ours are found by name only and the number is ignored.

Changes go to the running configuration only (no `save`): a router that reboots mid-curfew comes
back with its venues open, the safe way to fail, and the next reconcile pass cuts them again.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import Any, ClassVar

from drivers.acl import (
    FAMILIES,
    AclDriver,
    AclOwnedLine,
    BoundFilters,
    Entry,
    Family,
    acl_name,
    family_of,
    owner_of,
)
from drivers.base import (
    DeviceFacts,
    DriverError,
    LineTarget,
    OwnedLine,
    Prefix,
    Rejected,
)
from drivers.cli import CliDriver
from drivers.lifecycle import Progress, Pushed, Replan, Sendable, Step
from drivers.outcomes import rejected
from drivers.timing import (
    MONTHS,
    NAMES_OWNED_TIME_RANGE,
    WEEKDAYS,
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

PLATFORM = "huawei_vrp"
NETMIKO_DEVICE_TYPE = "huawei"
CONFIG_ENTER = "system-view"
CONFIG_LEAVE = "return"


class Direction(enum.StrEnum):
    IN = "inbound"
    OUT = "outbound"


DIRECTIONS = (Direction.IN, Direction.OUT)

# `acl name X advance` / `acl ipv6 name X advance`; `traffic-filter D acl [ipv6] name X`
_ACL_WORDS = {Family.IPV4: "acl", Family.IPV6: "acl ipv6"}
_FAMILY_WORD = {Family.IPV4: "IPv4", Family.IPV6: "IPv6"}
# Rule ids of a cut: 5, 10, 15, ... as VRP numbers rules by itself.
RULE_STEP = 5
_ADVANCED = range(3000, 4000)
# The read: every ACL header with its rules (numbered filters are resolved through them), every
# interface with its traffic-filters (foreign ones included: binding ours over one would replace
# it). Nothing else the parser would only skip leaves the router.
OWNED_READ = "display current-configuration | include ^acl|^ rule|^interface|^ traffic-filter"
# The owner of a line written after a push: a read, not any plan's command.
_READ = -1
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


@dataclass(frozen=True, order=True)
class Binding:
    """One owned ACL bound by `traffic-filter` on an interface. `spelling` is the command's
    text after `traffic-filter` as the device prints it (`inbound acl name CURFEW-L42`, or a
    number in place of the name): its `undo` must say the same."""

    interface: str
    family: Family
    direction: Direction
    spelling: str


def canonical_spelling(family: Family, direction: Direction, line_id: int) -> str:
    """How this driver binds: `inbound acl name CURFEW-L42`, `outbound acl ipv6 name ...`."""
    ipv6 = "ipv6 " if family is Family.IPV6 else ""
    return f"{direction} acl {ipv6}name {acl_name(family, line_id)}"


# An owned line as the parser finds it: which ACLs and bindings (with their spelling) exist.
VrpOwnedLine = AclOwnedLine


Slot = tuple[Family, Direction]


class ParsedConfig(BoundFilters[Direction]):
    """Owned lines by id (what `read()` returns), plus every filter bound on each interface
    and what the device says of its interfaces and routes.

    VRP holds one traffic-filter per family and direction on an interface and binding another
    replaces it, so rendering a cut needs to see the foreign ones too.
    """

    def __init__(
        self,
        lines: Mapping[int, OwnedLine] | None = None,
        filters: Mapping[str, Mapping[Slot, str]] | None = None,
        facts: DeviceFacts | None = None,
    ) -> None:
        super().__init__(lines, filters)
        self.facts = facts if facts is not None else DeviceFacts({})


def _wildcard_network(address: str, wildcard: str) -> IPv4Network:
    base = int(IPv4Address(address))
    bits = 0 if wildcard == "0" else int(IPv4Address(wildcard))
    if bits & (bits + 1):
        raise ValueError(f"non-contiguous wildcard {wildcard}")
    if base & bits:
        raise ValueError(f"{address} has bits set under wildcard {wildcard}")
    return IPv4Network((base, 32 - bits.bit_length()))


def parse_rule(family: Family, text: str) -> Entry | None:
    """`rule N deny|permit ip|ipv6 [source X] [destination Y]` with nothing else, or None."""
    words = text.split()
    if len(words) < 4 or words[0].lower() != "rule" or not words[1].isdigit():
        return None
    action, protocol, rest = words[2].lower(), words[3].lower(), words[4:]
    if action not in ("deny", "permit") or protocol != family.value:
        return None
    found: dict[str, Prefix] = {}
    try:
        while rest:
            key = rest.pop(0).lower()
            if key not in ("source", "destination") or key in found:
                return None
            if family is Family.IPV4:
                network: Prefix = _wildcard_network(rest.pop(0), rest.pop(0))
            else:
                network = ip_network(rest.pop(0), strict=True)
                if not isinstance(network, IPv6Network):
                    return None
            if network.prefixlen == 0:
                return None
            found[key] = network
    except (IndexError, ValueError):
        return None
    return Entry(action, found.get("source"), found.get("destination"))


def _acl_prefixes(entries: Sequence[Entry | None]) -> frozenset[Prefix]:
    found: set[Prefix] = set()
    for entry in entries:
        if entry is not None and entry.action == "deny":
            found.update(p for p in (entry.source, entry.destination) if p is not None)
    return frozenset(found)


def _acl_is_exact(entries: Sequence[Entry | None]) -> bool:
    """Exactly a deny-source and a deny-destination rule per prefix; unmatched packets pass."""
    if not entries or any(entry is None for entry in entries) or len(set(entries)) != len(entries):
        return False
    prefixes = _acl_prefixes(entries)
    expected = {Entry("deny", p, None) for p in prefixes} | {
        Entry("deny", None, p) for p in prefixes
    }
    return bool(prefixes) and set(entries) == expected


# `acl number 3000`, `acl name X 3999` (VRP5 numbers named ACLs), `acl name X advance` (VRP8)
_ACL_HEADER_RE = re.compile(
    r"acl\s+(?P<ipv6>ipv6\s+)?(?:name\s+(?P<name>\S+)(?:\s+(?P<named>\d+|advance|basic))?"
    r"|(?:number\s+)?(?P<number>\d+))(?:\s+match-order\s+\S+)?",
    re.IGNORECASE,
)
_INTERFACE_RE = re.compile(r"interface\s+(\S+)", re.IGNORECASE)
_FILTER_RE = re.compile(r"traffic-filter\s+(?P<direction>inbound|outbound)\s+(?P<rest>.*\S)", re.I)
_ADDRESS_RE = re.compile(r"ip\s+address\s+(\S+)\s+(\S+)(?:\s+sub)?", re.IGNORECASE)
_ADDRESS6_RE = re.compile(r"ipv6\s+address\s+(\S+/\d+)(?:\s+\S+)?", re.IGNORECASE)
# an interface as a route names it: a type word then numbers (GigabitEthernet0/0/1, NULL0)
_INTERFACE_WORD = re.compile(r"(?:\d+GE|[A-Za-z][A-Za-z-]*)\d[\d/.:]*")
_ROUTE_RE = re.compile(
    r"(?P<family>ip|ipv6)\s+route-static\s+(?P<destination>\S+)\s+(?P<mask>\S+)"
    r"(?P<rest>(?:\s+\S+)*)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Filter:
    """One `traffic-filter` line of an interface: its text, and the ACL it names if it says."""

    spelling: str
    name: str | None
    number: int | None


def parse_filter(body: str) -> tuple[Family, Direction, _Filter] | None:
    """A `traffic-filter` line in any spelling VRP prints (`inbound acl ipv6 name X` on S
    switches, `inbound ipv6 acl name X` on AR routers, `... acl 3000 rule 5`): a filter it
    cannot name still holds its slot."""
    match = _FILTER_RE.fullmatch(body)
    if match is None:
        return None
    words = match.group("rest").split()
    family = Family.IPV6 if "ipv6" in (w.lower() for w in words[:2]) else Family.IPV4
    name: str | None = None
    number: int | None = None
    lowered = [w.lower() for w in words]
    if "acl" in lowered:
        after = words[lowered.index("acl") + 1 :]
        if after and after[0].lower() == "ipv6":
            after = after[1:]
        if len(after) >= 2 and after[0].lower() == "name":
            name = after[1]
        elif after and after[0].isdigit():
            number = int(after[0])
    direction = Direction(match.group("direction").lower())
    return family, direction, _Filter(f"{direction} {' '.join(words)}", name, number)


@dataclass
class _AclSeen:
    family: Family
    number: int | None
    name: str | None
    advanced: bool
    rules: list[Entry | None]
    # the time-range each deny rule names (None: none)
    timed: set[str | None] = field(default_factory=set)


def _acl_header(line: str) -> _AclSeen | None:
    header = _ACL_HEADER_RE.fullmatch(line)
    if header is None:
        return None
    family = Family.IPV6 if header.group("ipv6") else Family.IPV4
    kind = (header.group("named") or header.group("number") or "advance").lower()
    number = int(kind) if kind.isdigit() else None
    advanced = number in _ADVANCED if number is not None else kind == "advance"
    return _AclSeen(family, number, header.group("name"), advanced, [])


def parse_current_configuration(
    text: str, time_ranges: Mapping[str, tuple[bool, tuple[str, ...]]] | None = None
) -> ParsedConfig:
    """Owned ACLs and bindings in `display current-configuration`, every filter bound, and the
    interfaces' addresses and static routes; with `time_ranges` (`parse_time_ranges`), the
    owned time-ranges and whether each line's device-timed cut is in force now.

    VRP separates blocks with `#`; a block is a top-level line and its indented children.
    """
    acls: list[_AclSeen] = []
    bound: dict[str, list[tuple[Family, Direction, _Filter]]] = {}
    addresses: dict[str, list[IPv4Interface | IPv6Interface]] = {}
    routes: list[tuple[Prefix, str | None, str | None]] = []
    current_acl: _AclSeen | None = None
    current_interface: str | None = None

    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if line[0] in " \t":
            body = line.strip()
            if current_acl is not None:
                if body.lower().startswith("rule "):
                    body, time_range = split_time_range(body)
                    rule = parse_rule(current_acl.family, body)
                    current_acl.rules.append(rule)
                    if rule is not None and rule.action == "deny":
                        current_acl.timed.add(time_range)
                    elif time_range is not None:
                        current_acl.timed.add(f"{time_range} (on a permit)")
            elif current_interface is not None:
                _interface_child(body, current_interface, bound, addresses)
            continue
        current_acl, current_interface = None, None
        current_acl = _acl_header(line)
        if current_acl is not None:
            acls.append(current_acl)
            continue
        match = _INTERFACE_RE.fullmatch(line)
        if match:
            current_interface = match.group(1)
            addresses.setdefault(current_interface, [])
            continue
        route = _parse_route(line)
        if route is not None:
            routes.append(route)

    parsed = _assemble(acls, bound, addresses, routes)
    timed: dict[int, set[str | None]] = {}
    for acl in acls:
        line_id = owner_of(acl.family, acl.name) if acl.name is not None else None
        if line_id is not None and acl.timed:
            timed.setdefault(line_id, set()).update(acl.timed)
    if not timed and not time_ranges:
        return parsed
    lines = with_time_ranges(parsed, timed, time_ranges or {})
    return ParsedConfig(lines, parsed.filters, parsed.facts)


def _interface_child(
    body: str,
    interface: str,
    bound: dict[str, list[tuple[Family, Direction, _Filter]]],
    addresses: dict[str, list[IPv4Interface | IPv6Interface]],
) -> None:
    found = parse_filter(body)
    if found is not None:
        bound.setdefault(interface, []).append(found)
        return
    try:
        match = _ADDRESS_RE.fullmatch(body)
        if match:
            addresses[interface].append(IPv4Interface(f"{match.group(1)}/{match.group(2)}"))
            return
        match = _ADDRESS6_RE.fullmatch(body)
        if match:
            addresses[interface].append(IPv6Interface(match.group(1)))
    except ValueError:
        return


def _parse_route(line: str) -> tuple[Prefix, str | None, str | None] | None:
    """(destination, interface, next hop) of an `ip route-static`/`ipv6 route-static` line."""
    match = _ROUTE_RE.fullmatch(line)
    if not match:
        return None
    try:
        if match.group("family").lower() == "ipv6":
            destination: Prefix = IPv6Network(
                f"{match.group('destination')}/{match.group('mask')}", strict=False
            )
        else:
            destination = IPv4Network(
                f"{match.group('destination')}/{match.group('mask')}", strict=False
            )
    except ValueError:
        return None
    interface: str | None = None
    nexthop: str | None = None
    for word in match.group("rest").split():
        try:
            ip_address(word)
        except ValueError:
            if interface is None and nexthop is None and _INTERFACE_WORD.fullmatch(word):
                interface = word
            continue
        if nexthop is None:
            nexthop = word
    return destination, interface, nexthop


def _assemble(
    acls: Sequence[_AclSeen],
    bound: Mapping[str, Sequence[tuple[Family, Direction, _Filter]]],
    addresses: Mapping[str, Sequence[IPv4Interface | IPv6Interface]],
    routes: Sequence[tuple[Prefix, str | None, str | None]],
) -> ParsedConfig:
    by_number = {(a.family, a.number): a for a in acls if a.number is not None}
    owned_acls: dict[tuple[Family, int], _AclSeen] = {}
    for acl in acls:
        line_id = owner_of(acl.family, acl.name) if acl.name is not None else None
        if line_id is not None:
            owned_acls[(acl.family, line_id)] = acl

    # Every filter by the name of what it filters with (a number is resolved); where a slot
    # shows several, a foreign one is what counts.
    filters: dict[str, dict[Slot, str]] = {}
    owned_filters: dict[int, set[Binding]] = {}
    for interface, found in bound.items():
        for family, direction, seen in found:
            name = seen.name
            if name is None and seen.number is not None:
                numbered = by_number.get((family, seen.number))
                name = numbered.name if numbered is not None else None
            if name is not None:
                holder = name
            elif seen.number is not None:
                holder = f"ACL {seen.number}"
            else:
                holder = f"'traffic-filter {seen.spelling}'"
            line_id = owner_of(family, name) if name is not None else None
            slots = filters.setdefault(interface, {})
            present = slots.get((family, direction))
            if present is None or owner_of(family, present) is not None:
                slots[(family, direction)] = holder
            if line_id is not None:
                binding = Binding(interface, family, direction, seen.spelling)
                owned_filters.setdefault(line_id, set()).add(binding)

    lines: dict[int, OwnedLine] = {}
    for line_id in sorted({line_id for _, line_id in owned_acls} | set(owned_filters)):
        entries = {f: owned_acls[(f, line_id)] for f in FAMILIES if (f, line_id) in owned_acls}
        found = frozenset(owned_filters.get(line_id, ()))
        interfaces = frozenset(b.interface for b in found)
        expected = {
            Binding(i, family, d, canonical_spelling(family, d, line_id))
            for i in interfaces
            for family in entries
            for d in DIRECTIONS
        }
        exact = bool(entries) and all(
            a.advanced and _acl_is_exact(a.rules) for a in entries.values()
        )
        lines[line_id] = VrpOwnedLine(
            line_id=line_id,
            prefixes=frozenset().union(*(_acl_prefixes(a.rules) for a in entries.values())),
            bindings=interfaces,
            complete=exact and bool(interfaces) and found == expected,
            exact=exact,
            acls=frozenset(entries),
            filters=found,
        )
    return ParsedConfig(lines, filters, _facts(addresses, routes))


def _facts(
    addresses: Mapping[str, Sequence[IPv4Interface | IPv6Interface]],
    routes: Sequence[tuple[Prefix, str | None, str | None]],
) -> DeviceFacts:
    """Interfaces with their addresses; each static route by the interface it leaves through
    (named in the route, or the one whose connected network holds the next hop)."""
    interfaces = {name: tuple(found) for name, found in addresses.items()}
    routed: dict[Prefix, str] = {}
    for destination, interface, nexthop in routes:
        if interface is None and nexthop is not None:
            hop = ip_address(nexthop)
            interface = next(
                (
                    name
                    for name, found in interfaces.items()
                    for address in found
                    if address.version == hop.version and hop in address.network
                ),
                None,
            )
        if interface is not None:
            routed.setdefault(destination, interface)
    return DeviceFacts(interfaces, routed)


# --------------------------------------------------------------------------------------------
# What render sends


def _address(prefix: Prefix) -> str:
    if isinstance(prefix, IPv4Network):
        return f"{prefix.network_address} {prefix.hostmask}"
    return prefix.compressed


# --------------------------------------------------------------------------------------------
# What the device answers


class Kind(enum.StrEnum):
    PROMPT = "prompt"  # the command ran (or failed) and the device waits for the next
    QUESTION = "question"  # the device asks [Y/N] and takes the next line as the answer


@dataclass(frozen=True)
class Answer:
    kind: Kind
    text: str  # everything the device printed for one line before its prompt or question


_QUESTION = r"\[Y/N\]:?[ \t]*"


def answer_pattern(base_prompt: str) -> re.Pattern[str]:
    """A prompt of any view (`<R1>`, `[R1]`, `[R1-acl-adv-CURFEW-L42]`) at a line start, or a
    `[Y/N]` question: one of them ends the device's answer to each line it reads."""
    host = re.escape(base_prompt)
    return re.compile(
        rf"(?m)(?P<prompt>^[<\[][~*]?{host}(?:-[^\]\r\n]*)?[\]>])|(?P<question>{_QUESTION})"
    )


# A log message VRP prints to the terminal on its own (`Apr 30 2023 06:13:26-08:00 R1 DS/4/...`)
_LOG_MESSAGE = re.compile(r"\s*[A-Z][a-z]{2} +\d{1,2} \d{4} \d\d:\d\d:\d\d")


def split_answers(text: str, pattern: re.Pattern[str]) -> list[Answer]:
    """The device's answers, one per line it read, in order.

    VRP re-prints the prompt after a log message it sends the terminal unasked (a config change
    can raise one); such a prompt answers no line and is left out.
    """
    answers: list[Answer] = []
    start = 0
    for match in pattern.finditer(text):
        kind = Kind.QUESTION if match.group("question") else Kind.PROMPT
        said = text[start : match.start()]
        start = match.end()
        if kind is Kind.PROMPT and _LOG_MESSAGE.match(said):
            continue
        answers.append(Answer(kind, said))
    return answers


@dataclass(frozen=True)
class Exchange:
    """One line written and what the device made of it."""

    line: str
    owner: int | None  # index of the plan it belongs to
    answer: Answer
    consumed: bool = False  # read by the device as the answer to a pending question


def may_ask(command: str) -> bool:
    """Ours and allowed to be confirmed: deleting an owned ACL asks while it is still bound
    somewhere. Saying yes serves the restore (the venue opens); read-back shows the rest."""
    words = command.split()
    for family in FAMILIES:
        spelled = f"undo {_ACL_WORDS[family]} name".split()
        if words[:-1] == spelled and len(words) == len(spelled) + 1:
            return owner_of(family, words[-1]) is not None
    return False


def _same_text(echo: str, command: str) -> bool:
    """The device echoed `command` (VRP wraps a long echo at the terminal width)."""
    squeezed = re.sub(r"\s+", "", echo)
    return squeezed.startswith(re.sub(r"\s+", "", command))


def find_rejections(exchanges: Sequence[Exchange]) -> list[tuple[int, str]]:
    """(index into exchanges, problem) for every `Error:` the device printed for a line it ran,
    and for a line whose echo never came (input lost: nothing after it can be trusted)."""
    found: list[tuple[int, str]] = []
    for index, exchange in enumerate(exchanges):
        if exchange.consumed:
            continue
        text = exchange.answer.text
        if not _same_text(text, exchange.line):
            found.append((index, f"device never echoed {exchange.line!r}"))
            continue
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("Error:"):
                found.append((index, line))
    return found


# --------------------------------------------------------------------------------------------
# The session


class _Scan:
    """Counts the device's answers as its text arrives, scanning each chunk once."""

    def __init__(self, pattern: re.Pattern[str], count: int) -> None:
        self._pattern = pattern
        self._count = count
        self._found = 0
        self._start = self._position = 0

    def complete(self, text: str) -> bool:
        for match in self._pattern.finditer(text, self._position):
            said = text[self._start : match.start()]
            self._start = self._position = match.end()
            if match.group("prompt") and _LOG_MESSAGE.match(said):
                continue
            self._found += 1
        return self._found >= self._count


class HuaweiVrpDriver(UndoStyleTimeRanges, AclDriver, CliDriver):
    """One VRP router over SSH through netmiko's `huawei` driver (wrapped, not subclassed).

    VRP has no enable mode: `credentials.secret` is not used. Log-out is `quit`, through
    netmiko's own teardown (see `_before_logout`).
    """

    platform: ClassVar[str] = PLATFORM
    device_type: ClassVar[str] = NETMIKO_DEVICE_TYPE
    frame = (CONFIG_ENTER, CONFIG_LEAVE)
    directions = DIRECTIONS
    leave = "quit"

    # -- syntax ----------------------------------------------------------------------------

    def _acl_lines(self, family: Family, target: LineTarget) -> list[str]:
        """Rules only: a packet no rule matches passes a VRP traffic-filter."""
        lines = [f"{_ACL_WORDS[family]} name {acl_name(family, target.line_id)} advance"]
        rule_id = 0
        for prefix in dict.fromkeys(p for p in target.prefixes if family_of(p) is family):
            for side in ("source", "destination"):
                rule_id += RULE_STEP
                lines.append(f"rule {rule_id} deny {family} {side} {_address(prefix)}")
        return lines

    def _binding_lines(self, family: Family, target: LineTarget) -> list[str]:
        return [
            f"traffic-filter {canonical_spelling(family, direction, target.line_id)}"
            for direction in DIRECTIONS
        ]

    def _binding(
        self, interface: str, family: Family, direction: Direction, line_id: int
    ) -> Binding:
        spelling = canonical_spelling(family, direction, line_id)
        return Binding(interface, family, direction, spelling)

    def _unbinding(self, binding: Binding, line_id: int) -> str:
        """`undo` says the binding exactly as the device printed it (a name or a number)."""
        del line_id
        return f"undo traffic-filter {binding.spelling}"

    def _deletion(self, family: Family, line_id: int) -> str:
        return f"undo {_ACL_WORDS[family]} name {acl_name(family, line_id)}"

    def _held(self, target: LineTarget, family: Family, direction: Direction) -> str:
        return f"{target.interface} already filters {_FAMILY_WORD[family]} {direction}"

    def _as_found(self, owned: Mapping[int, OwnedLine]) -> ParsedConfig:
        return owned if isinstance(owned, ParsedConfig) else ParsedConfig(owned)

    # -- device exchanges ------------------------------------------------------------------

    def _prompt(self) -> re.Pattern[str]:
        return answer_pattern(self._cli.connection.base_prompt)

    def _read_commands(self) -> list[str]:
        """The owned configuration and, on a device opted in to device timing, every
        time-range with the device's word on each: other devices pay no extra command."""
        if self.credentials.extra.get("timing") == "device":
            return self._asking_wall([OWNED_READ, TIME_RANGE_READ])
        return [OWNED_READ]

    def _parse(self, answers: Sequence[str]) -> ParsedConfig:
        answers = self._taking_wall(self._read_commands(), answers)
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
        parsed = parse_current_configuration(config, parse_time_ranges(time_ranges))
        self._last_read = parsed
        return parsed

    def _read(self) -> ParsedConfig:
        return self._read_config()

    def _read_config(self) -> ParsedConfig:
        """The read before a change, in one exchange (the read-back rides in the push)."""
        commands = self._read_commands()
        pattern = self._prompt()
        answer: list[str] = []
        with self._cli.exchange(commands[0]):
            self._cli.write(commands)
            scan = _Scan(pattern, len(commands))
            text = self._cli.read_until(scan.complete, answer)
        return self._parse([a.text for a in split_answers(text, pattern)])

    def _push(
        self,
        step: Step,
        plans: Sequence[Sendable],
        found: Mapping[int, OwnedLine],
        replan: Replan,
        progress: Progress,
    ) -> Pushed:
        """Every plan's lines between `system-view` and `return`, the read-back after them,
        in windows (see `_exchange`); errors found line by line."""
        del step, found, replan
        lines = [(c, i) for i, plan in enumerate(plans) for c in plan.commands]
        framed = [(CONFIG_ENTER, None), *lines, (CONFIG_LEAVE, None)]
        progress.sent.extend(line for line, _ in framed)
        reads = [(command, _READ) for command in self._read_commands()]
        output, exchanges = self._exchange(framed, reads)
        progress.sent[-len(framed) :] = [
            e.line for e in exchanges if not e.consumed and e.owner != _READ
        ]
        progress.output.append(output)
        rejections, error = _rejections([e for e in exchanges if e.owner != _READ], output)
        answers = [e.answer.text for e in exchanges if e.owner == _READ and not e.consumed]
        return Pushed(self._parse(answers), rejections, error)

    def _exchange(
        self, commands: Sequence[tuple[str, int | None]], reads: Sequence[tuple[str, int]]
    ) -> tuple[str, list[Exchange]]:
        """Send config lines (each with the plan it belongs to), then `reads`; the device's
        answer to the config lines and what it made of every line written.

        netmiko's `huawei` config session waits for 2 s of silence at each mode check (about
        10 s a push). Here lines go in windows (`CliSession.window`), each written at once
        and read until the device has answered every line with a prompt or a `[Y/N]` question.
        A question takes the next line as its answer, so the lines a question swallowed are
        written again once it is answered (`may_ask` says what is answered yes).
        """
        pattern = self._prompt()
        transcript: list[str] = []
        exchanges: list[Exchange] = []
        queue = deque([*commands, *reads])
        # every round runs at least one line, or answers the question that stopped it
        rounds_left = 2 * len(queue) + 2
        try:
            with self._cli.exchange("configuration commands"):
                while queue:
                    rounds_left -= 1
                    if rounds_left < 0:
                        raise Rejected("the device kept asking questions", "".join(transcript))
                    size = min(self._cli.window, len(queue))
                    window = [queue.popleft() for _ in range(size)]
                    swallowed = self._window(window, pattern, transcript, exchanges)
                    queue.extendleft(reversed(swallowed))
        except DriverError as exc:
            exc.output = "".join(transcript) + exc.output
            raise
        output = "".join(transcript)
        for exchange in exchanges:
            if exchange.owner == _READ and not exchange.consumed:
                # the read-back is not the device's answer to the change
                output = output.replace(exchange.answer.text, "", 1)
        return output, exchanges

    def _window(
        self,
        window: Sequence[tuple[str, int | None]],
        pattern: re.Pattern[str],
        transcript: list[str],
        exchanges: list[Exchange],
    ) -> list[tuple[str, int | None]]:
        """Write one window and read its answers; the lines a question swallowed."""
        self._cli.write([line for line, _ in window])
        scan = _Scan(pattern, len(window))
        text = self._cli.read_until(scan.complete, transcript)
        transcript.append(text)
        asker: tuple[str, int | None] | None = None
        swallowed: list[tuple[str, int | None]] = []
        for (line, owner), answer in zip(window, split_answers(text, pattern), strict=False):
            if asker is None:
                exchanges.append(Exchange(line, owner, answer))
                if answer.kind is Kind.QUESTION:
                    asker = (line, owner)
            else:
                exchanges.append(Exchange(line, owner, answer, consumed=True))
                swallowed.append((line, owner))
                if answer.kind is Kind.PROMPT:
                    asker = None  # the device took that line as its answer
        if asker is not None:
            reply = "Y" if may_ask(asker[0]) else "N"
            self._cli.write([reply])
            more = self._cli.read_until(lambda text: bool(split_answers(text, pattern)), transcript)
            transcript.append(more)
            exchanges.append(Exchange(reply, asker[1], split_answers(more, pattern)[0]))
        return swallowed

    # -- device-timed windows (drivers.timing.DeviceTimed) ----------------------------------

    def read_clock(self) -> DeviceClock:
        """The device's time (`display clock`), NTP state (`display ntp-service status`) and
        zone (its `clock timezone` / `clock daylight-saving-time` lines), in one exchange."""
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
        """One absolute statement in the device's local time: VRP takes a range across its
        midnight (`from 22:00 2026/11/24 to 06:00 2026/11/25`)."""
        parts = wall_parts(start, end, zone)
        return [absolute_statement(parts[0][0], parts[-1][1])]

    def _timed_reads(self, line: TimedAclLine) -> list[str]:
        return [
            f"display {_ACL_WORDS[family]} name {acl_name(family, line.line_id)}"
            for family in FAMILIES
            if family in line.acls
        ]

    def _before_logout(self, connection: Any) -> None:
        """Before log-out netmiko asks whether the session is in system-view, and for `huawei`
        that check waits for 2 s of silence. A session this driver still holds is always in
        the user view (every push ends with `return`; a failed exchange drops the session), so
        the check is answered here instead of waited out."""
        connection.check_config_mode = _in_user_view

    def facts(self) -> DeviceFacts:
        """Interfaces with their addresses and the static routes, from the running config."""
        with self._cli.opened():
            # the trailing `return`, then a prompt: a description that contains the prompt's
            # text cannot end the read early
            host = re.escape(self._cli.connection.base_prompt)
            finished = re.compile(rf"\nreturn[ \t]*\r?\n\s*[<\[]{host}[^\r\n]*[>\]]")
            text = self._cli.show(
                "display current-configuration", lambda t: finished.search(t) is not None
            )
            return parse_current_configuration(text).facts


def _rejections(
    exchanges: Sequence[Exchange], output: str
) -> tuple[dict[int, str], Rejected | None]:
    """Which plan each problem belongs to, and the batch's Rejected error if any."""
    by_plan: dict[int, str] = {}
    messages: list[str] = []
    for index, problem in find_rejections(exchanges):
        exchange = exchanges[index]
        if problem.startswith("device never echoed"):
            message = f"{problem}: input was lost from there on"
        else:
            message = f"device rejected {exchange.line!r}: {problem}"
        messages.append(message)
        if exchange.owner is not None:
            by_plan.setdefault(exchange.owner, message)
    return by_plan, rejected(messages, output)


def _in_user_view(*args: object, **kwargs: object) -> bool:
    """netmiko's check_config_mode for a session known to be in the user view."""
    return False


# --------------------------------------------------------------------------------------------
# Device-timed windows: the clock, the zone and the time-ranges as VRP says them

_WEEKS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": 5}
_CLOCK_AT = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
_ABSOLUTE = re.compile(
    r"from\s+(\d{1,2}):(\d{2})(?::\d{2})?\s+(\d{4})/(\d{1,2})/(\d{1,2})\s+"
    r"to\s+(\d{1,2}):(\d{2})(?::\d{2})?\s+(\d{4})/(\d{1,2})/(\d{1,2})",
    re.I,
)
# `display clock`: `2026-11-25 00:00:01`, in summer time `2026-03-29 03:00:01+02:00 DST`
_DISPLAY_CLOCK = re.compile(
    r"(?m)^\s*(\d{4})-(\d{2})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})(?:([+-]\d{2}:\d{2})\s*(DST))?\s*$"
)


def _minutes(text: str, what: str) -> int:
    match = _CLOCK_AT.fullmatch(text)
    if match is None:
        raise ValueError(f"{what} {text!r} is not HH:MM")
    return int(match.group(1)) * 60 + int(match.group(2))


def _offset(text: str, what: str) -> timedelta:
    match = _CLOCK_AT.fullmatch(text)
    if match is None:
        raise ValueError(f"{what} {text!r} is not HH:MM[:SS]")
    return timedelta(hours=int(match.group(1)), minutes=int(match.group(2)))


def _vrp_rule_day(words: Sequence[str], at: str) -> RuleDay:
    week_word, day_word, month_word = words
    week = _WEEKS.get(week_word.lower())
    weekday = next(
        (i for i, d in enumerate(WEEKDAYS) if day_word.lower().startswith(d.lower())), None
    )
    month = next(
        (
            i + 1
            for i, m in enumerate(MONTHS)
            if len(month_word) >= 3 and m.lower().startswith(month_word.lower())
        ),
        None,
    )
    if week is None or weekday is None or month is None:
        raise ValueError(f"daylight-saving day {' '.join(words)!r} not understood")
    return RuleDay(week, weekday, month, _minutes(at, "daylight-saving time"))


def parse_clock_config(lines: Sequence[str]) -> DeviceZone:
    """The zone set by `clock timezone NAME add|minus HH:MM[:SS]` and `clock daylight-saving-time
    NAME repeating HH:MM W D M HH:MM W D M HH:MM`; raises ValueError for any clock line it does
    not understand (a one-year rule, a rule by dates or bounded by years), which leaves the
    clock untrusted."""
    name, standard, summer = "UTC", timedelta(0), None
    for raw in lines:
        words = raw.split()
        if words[:1] != ["clock"] or len(words) < 2:
            continue
        if words[1] == "timezone" and len(words) == 5 and words[3] in ("add", "minus"):
            sign = -1 if words[3] == "minus" else 1
            name, standard = words[2], sign * _offset(words[4], "zone offset")
        elif words[1] == "daylight-saving-time" and words[3:4] == ["repeating"]:
            if len(words) != 13:
                raise ValueError(f"{raw.strip()!r}: only a rule by weekdays, without years")
            start = _vrp_rule_day(words[5:8], words[4])
            end = _vrp_rule_day(words[9:12], words[8])
            summer = SummerTime(words[2], start, end, _offset(words[12], "saving"))
        elif words[1] in ("timezone", "daylight-saving-time"):
            raise ValueError(f"{raw.strip()!r}: not understood")
    return DeviceZone(name, standard, summer)


def display_clock_wall(text: str) -> tuple[datetime, bool]:
    """The device's wall clock in `display clock` (naive) and whether it says DST."""
    match = _DISPLAY_CLOCK.search(text)
    if match is None:
        raise ValueError("no time in the answer to `display clock`")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    wall = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - device wall clock
    return wall, bool(match.group(8))


def parse_display_clock(text: str, zone: DeviceZone) -> datetime:
    """The UTC instant in `display clock`: its wall clock, in summer time when it says DST."""
    wall, summer_time = display_clock_wall(text)
    offset = zone.standard
    if summer_time:
        if zone.summer is None:
            raise ValueError("the device shows DST without a daylight-saving rule")
        offset += zone.summer.offset
    return (wall - offset).replace(tzinfo=UTC)


def read_device_clock(display_clock: str, ntp_status: str, clock_config: str) -> DeviceClock:
    """A VRP router's clock from its answers to `display clock`, `display ntp-service status`
    and its `clock` configuration lines; what cannot be understood becomes its `problem`."""
    return clock_from_answers(
        display_clock,
        ntp_status,
        clock_config,
        ntp=parse_ntp_service_status,
        zone_of=parse_clock_config,
        instant_of=parse_display_clock,
    )


def absolute_statement(begin: datetime, end: datetime) -> str:
    """`from 00:00 2026/11/25 to 08:00 2026/11/25` (device wall clock, naive)."""
    return (
        f"from {begin:%H:%M} {begin.year}/{begin.month}/{begin.day} "
        f"to {end:%H:%M} {end.year}/{end.month}/{end.day}"
    )


def statement_end(statement: str) -> datetime | None:
    """Where an absolute statement (`from 00:00 2026/11/25 to 08:00 2026/11/25`) ends, on the
    device's wall clock; None for any other statement."""
    match = _ABSOLUTE.fullmatch(statement.strip())
    if match is None:
        return None
    hour, minute, year, month, day = (int(g) for g in match.groups()[5:])
    try:
        return datetime(year, month, day, hour, minute)  # noqa: DTZ001 - device wall clock
    except ValueError:
        return None


def normalise_statement(text: str) -> str:
    """An absolute statement as `absolute_statement` writes it (the device may print seconds
    or leading zeros); anything else as it stands."""
    match = _ABSOLUTE.fullmatch(text.strip())
    if match is None:
        return " ".join(text.split())
    h1, m1, y1, mo1, d1, h2, m2, y2, mo2, d2 = (int(g) for g in match.groups())
    begin = datetime(y1, mo1, d1, h1, m1)  # noqa: DTZ001 - device wall clock
    end = datetime(y2, mo2, d2, h2, m2)  # noqa: DTZ001
    return absolute_statement(begin, end)


def parse_time_ranges(text: str) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """`display time-range all`: each time-range's name -> (active now, its statements)."""
    return parse_display_time_ranges(text, normalise_statement)
