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
from drivers.cli import NOT_ECHOED, CliDriver

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


def parse_current_configuration(text: str) -> ParsedConfig:
    """Find owned ACLs and their bindings in `display current-configuration`, every ACL applied
    on every interface, every ACL name, and every interface."""
    acls: dict[tuple[Family, int], list[Entry | None]] = {}
    exact_header: dict[tuple[Family, int], bool] = {}
    filters: dict[str, dict[Slot, str]] = {}
    names: dict[tuple[Family, str], str] = {}
    interfaces: set[str] = set()
    current_acl: list[tuple[int, Entry | None]] | None = None
    ordered: dict[tuple[Family, int], list[tuple[int, Entry | None]]] = {}
    acl_family = Family.IPV4
    current_interface: str | None = None

    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if line[0] in " \t":
            body = line.strip()
            if current_acl is not None:
                parsed = parse_rule(acl_family, body)
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


class H3cComwareDriver(AclDriver, CliDriver):
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
        return [OWNED_READ]

    def _parse(self, answers: Sequence[str]) -> ParsedConfig:
        return parse_current_configuration("".join(answers))

    def find_rejections(self, sent: Sequence[str], output: str) -> list[tuple[int | None, str]]:
        return find_rejections(sent, output)

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
