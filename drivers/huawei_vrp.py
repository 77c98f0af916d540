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
from dataclasses import dataclass
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

from drivers._legacy import (
    filter_slots,
    found_objects,
    occupied,
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
    Batch,
    BatchResult,
    Credentials,
    DeviceFacts,
    Driver,
    DriverError,
    LineTarget,
    OwnedLine,
    Prefix,
    Rejected,
)
from drivers.cli import PUSH_WINDOW, CliSession, where_of
from drivers.outcomes import (
    LinePlan,
    outcome,
    plan_lines,
    rejected,
    unknown_outcomes,
    validate_target,
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


@dataclass(frozen=True)
class VrpOwnedLine(OwnedLine):
    """An owned line plus exactly which objects exist, so a restore removes only those."""

    acls: frozenset[Family] = frozenset()
    filters: frozenset[Binding] = frozenset()


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


def _acl_header(line: str) -> _AclSeen | None:
    header = _ACL_HEADER_RE.fullmatch(line)
    if header is None:
        return None
    family = Family.IPV6 if header.group("ipv6") else Family.IPV4
    kind = (header.group("named") or header.group("number") or "advance").lower()
    number = int(kind) if kind.isdigit() else None
    advanced = number in _ADVANCED if number is not None else kind == "advance"
    return _AclSeen(family, number, header.group("name"), advanced, [])


def parse_current_configuration(text: str) -> ParsedConfig:
    """Owned ACLs and bindings in `display current-configuration`, every filter bound, and the
    interfaces' addresses and static routes.

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
                    current_acl.rules.append(parse_rule(current_acl.family, body))
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

    return _assemble(acls, bound, addresses, routes)


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
        complete = (
            bool(entries)
            and all(a.advanced and _acl_is_exact(a.rules) for a in entries.values())
            and bool(interfaces)
            and found == expected
        )
        lines[line_id] = VrpOwnedLine(
            line_id=line_id,
            prefixes=frozenset().union(*(_acl_prefixes(a.rules) for a in entries.values())),
            bindings=interfaces,
            complete=complete,
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


def check_target(target: LineTarget) -> None:
    """Refuse any target a command would be unsafe to render from."""
    validate_target(PLATFORM, target)


def _address(prefix: Prefix) -> str:
    if isinstance(prefix, IPv4Network):
        return f"{prefix.network_address} {prefix.hostmask}"
    return prefix.compressed


def _binding_command(binding: Binding) -> str:
    return f"traffic-filter {binding.spelling}"


def _found_objects(found: OwnedLine) -> tuple[frozenset[Family], frozenset[Binding]]:
    """Exactly which owned objects exist. A bare OwnedLine (not parsed here) says that much
    only when it is complete."""
    return found_objects(
        found,
        VrpOwnedLine,
        DIRECTIONS,
        lambda i, f, d: Binding(i, f, d, canonical_spelling(f, d, found.line_id)),
    )


def _removal(found: OwnedLine | None) -> list[str]:
    """Bindings first, then the ACLs: an ACL is never deleted while it filters an interface."""
    if found is None:
        return []
    acls, filters = _found_objects(found)
    line_id = found.line_id
    return removal_commands(
        line_id,
        acls,
        {b.interface for b in filters},
        platform=PLATFORM,
        unbind=lambda interface: [
            f"undo {_binding_command(b)}" for b in sorted(filters) if b.interface == interface
        ],
        delete=lambda family: f"undo {_ACL_WORDS[family]} name {acl_name(family, line_id)}",
        leave="quit",
    )


def _cut(target: LineTarget) -> list[str]:
    commands: list[str] = []
    families = [f for f in FAMILIES if any(family_of(p) is f for p in target.prefixes)]
    for family in families:
        commands.append(f"{_ACL_WORDS[family]} name {acl_name(family, target.line_id)} advance")
        rule_id = 0
        for prefix in dict.fromkeys(p for p in target.prefixes if family_of(p) is family):
            for side in ("source", "destination"):
                rule_id += RULE_STEP
                commands.append(f"rule {rule_id} deny {family} {side} {_address(prefix)}")
        commands.append("quit")
    commands.append(f"interface {target.interface}")
    for family in families:
        for direction in DIRECTIONS:
            commands.append(
                f"traffic-filter {canonical_spelling(family, direction, target.line_id)}"
            )
    commands.append("quit")
    return commands


def render_line(action: Action, target: LineTarget, found: OwnedLine | None) -> list[str]:
    """Commands taking one line from what the device holds (`found`) to `action`."""
    check_target(target)
    return render_change(action, target, found, removal=_removal, cut=_cut)


def _occupied(
    target: LineTarget, config: ParsedConfig, restored: set[int], claimed: dict[Slot, int]
) -> Rejected | None:
    """Why binding the target's ACLs would replace a filter that is not this line's, if so."""

    def where(family: Family, direction: Direction) -> str:
        return f"{target.interface} already filters {_FAMILY_WORD[family]} {direction}"

    return occupied(target, config, restored, claimed, directions=DIRECTIONS, where=where)


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


class HuaweiVrpDriver(Driver):
    """One VRP router over SSH through netmiko's `huawei` driver (wrapped, not subclassed)."""

    platform: ClassVar[str] = PLATFORM
    ssh: ClassVar[bool] = True

    def __init__(self, name: str, credentials: Credentials) -> None:
        super().__init__(name, credentials)
        where = where_of(name, credentials)
        self._cli = CliSession(
            where, credentials, NETMIKO_DEVICE_TYPE, before_logout=_answer_user_view
        )

    def open(self) -> None:
        """Log in. VRP has no enable mode: `credentials.secret` is not used."""
        self._cli.open()

    def close(self) -> None:
        """Log out with `quit`, through netmiko's own teardown (see `_answer_user_view`)."""
        self._cli.close()

    # -- device exchanges ------------------------------------------------------------------

    def _read_config(self) -> ParsedConfig:
        # the trailing `return`, then a prompt: a description that contains the prompt's text
        # cannot end the read early
        host = re.escape(self._cli.connection.base_prompt)
        finished = re.compile(rf"\nreturn[ \t]*\r?\n\s*[<\[]{host}[^\r\n]*[>\]]")
        text = self._cli.show(
            "display current-configuration", lambda text: finished.search(text) is not None
        )
        return parse_current_configuration(text)

    def _push(self, commands: Sequence[tuple[str, int | None]]) -> tuple[str, list[Exchange]]:
        """Send config lines (each with the plan it belongs to); the device's whole answer and
        what it made of every line written.

        netmiko's `huawei` config session waits for 2 s of silence at each mode check (about
        10 s a push). Here lines go in windows of `PUSH_WINDOW`, each window written at once
        and read until the device has answered every line with a prompt or a `[Y/N]` question.
        A question takes the next line as its answer, so the lines a question swallowed are
        written again once it is answered (`may_ask` says what is answered yes).
        """
        pattern = answer_pattern(self._cli.connection.base_prompt)
        transcript: list[str] = []
        exchanges: list[Exchange] = []
        queue = deque(commands)
        # every round runs at least one line, or answers the question that stopped it
        rounds_left = 2 * len(commands) + 2
        try:
            with self._cli.exchange("configuration commands"):
                while queue:
                    rounds_left -= 1
                    if rounds_left < 0:
                        raise Rejected("the device kept asking questions", "".join(transcript))
                    window = [queue.popleft() for _ in range(min(PUSH_WINDOW, len(queue)))]
                    swallowed = self._window(window, pattern, transcript, exchanges)
                    queue.extendleft(reversed(swallowed))
        except DriverError as exc:
            exc.output = "".join(transcript) + exc.output
            raise
        return "".join(transcript), exchanges

    def _window(
        self,
        window: Sequence[tuple[str, int | None]],
        pattern: re.Pattern[str],
        transcript: list[str],
        exchanges: list[Exchange],
    ) -> list[tuple[str, int | None]]:
        """Write one window and read its answers; the lines a question swallowed."""
        self._cli.write([line for line, _ in window])
        text = self._cli.read_until(
            lambda text: len(split_answers(text, pattern)) >= len(window), transcript
        )
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

    # -- the contract ----------------------------------------------------------------------

    def read(self) -> ParsedConfig:
        """Owned lines by id; the answer also carries every filter bound per interface."""
        with self._cli.opened():
            return self._read_config()

    def facts(self) -> DeviceFacts:
        """Interfaces with their addresses and the static routes, from the running config."""
        with self._cli.opened():
            return self._read_config().facts

    def render(self, batch: Batch, owned: dict[int, OwnedLine]) -> list[str]:
        """All commands for the batch, restores first; refused lines contribute none.

        Pass what `read()` returned: it also knows the foreign filters a cut must not replace.
        Raises InvalidIdentifier if any target fails validation, before rendering anything.
        """
        for target in (*batch.restores, *batch.cuts):
            check_target(target)
        return [command for plan in plan_batch(batch, owned) for command in plan.commands]

    def apply(self, batch: Batch) -> BatchResult:
        """The one place a device error becomes a result."""
        if not len(batch):
            return BatchResult(self.name, ())
        plans: tuple[LinePlan, ...] = ()
        sent: tuple[str, ...] = ()
        output = ""
        try:
            with self._cli.opened():
                before = self._read_config()
                plans = plan_batch(batch, before)
                lines = [(c, i) for i, plan in enumerate(plans) for c in plan.commands]
                rejections: dict[int, str] = {}
                error: DriverError | None = None
                if lines:
                    output, exchanges = self._push(
                        [(CONFIG_ENTER, None), *lines, (CONFIG_LEAVE, None)]
                    )
                    sent = tuple(e.line for e in exchanges if not e.consumed)
                    rejections, error = _rejections(exchanges, output)
                    after = self._read_config()
                else:
                    after = before
        except DriverError as exc:
            return BatchResult(
                device=self.name,
                outcomes=unknown_outcomes(batch, plans, exc),
                commands=sent,
                device_output=output or exc.output,
                error=exc,
            )
        outcomes = tuple(outcome(plan, after, rejections.get(i)) for i, plan in enumerate(plans))
        return BatchResult(self.name, outcomes, sent, output, error)


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


def _answer_user_view(connection: Any) -> None:
    """Before log-out netmiko asks whether the session is in system-view, and for `huawei`
    that check waits for 2 s of silence. A session this driver still holds is always in the
    user view (every push ends with `return`; a failed exchange drops the session), so the
    check is answered here instead of waited out."""
    connection.check_config_mode = _in_user_view


def _in_user_view(*args: object, **kwargs: object) -> bool:
    """netmiko's check_config_mode for a session known to be in the user view."""
    return False
