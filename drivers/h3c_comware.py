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
from collections.abc import Callable, Mapping, Sequence
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

from drivers._legacy import (
    apply_echoed,
    filter_slots,
    found_objects,
    legacy_push,
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
    Batch,
    BatchResult,
    Credentials,
    DeviceFacts,
    Driver,
    LineTarget,
    OwnedLine,
    Prefix,
    Rejected,
)
from drivers.cli import NOT_ECHOED, CliSession, where_of
from drivers.outcomes import LinePlan, plan_lines, validate_target

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


# --------------------------------------------------------------------------------------------
# What read finds


@dataclass(frozen=True, order=True)
class Binding:
    """One owned ACL applied on an interface in one direction."""

    interface: str
    family: Family
    direction: Direction


@dataclass(frozen=True)
class ComwareOwnedLine(OwnedLine):
    """An owned line plus exactly which objects exist, so a restore removes only those."""

    acls: frozenset[Family] = frozenset()
    filters: frozenset[Binding] = frozenset()


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


def _acl_prefixes(entries: Sequence[Entry | None]) -> frozenset[Prefix]:
    found: set[Prefix] = set()
    for entry in entries:
        if entry is not None and entry.action == "deny":
            found.update(p for p in (entry.source, entry.destination) if p is not None)
    return frozenset(found)


def _acl_is_exact(entries: Sequence[Entry | None]) -> bool:
    """Exactly deny-source and deny-destination per prefix, then one trailing permit-all."""
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

    lines = owned_lines(
        acls,
        filters,
        directions=DIRECTIONS,
        binding=Binding,
        exact=_acl_is_exact,
        prefixes=_acl_prefixes,
        make=ComwareOwnedLine,
    )
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


def check_target(target: LineTarget) -> None:
    """Refuse any target a command would be unsafe to render from."""
    validate_target(PLATFORM, target)


def _address(prefix: Prefix) -> str:
    if isinstance(prefix, IPv4Network):
        wildcard = "0" if prefix.prefixlen == 32 else str(prefix.hostmask)
        return f"{prefix.network_address} {wildcard}"
    return prefix.compressed


def _found_objects(found: OwnedLine) -> tuple[frozenset[Family], frozenset[Binding]]:
    """Exactly which owned objects exist.

    Comware's `undo packet-filter` names the ACL it removes, but a `undo` is still only
    rendered for what read-back saw. A bare OwnedLine (not parsed here) says that much only
    when it is complete.
    """
    return found_objects(found, ComwareOwnedLine, DIRECTIONS, Binding)


def _removal(found: OwnedLine | None) -> list[str]:
    """Bindings first, then the ACLs: an ACL is never deleted while it filters an interface."""
    if found is None:
        return []
    acls, filters = _found_objects(found)
    line_id = found.line_id

    def unbind(interface: str) -> list[str]:
        return [
            f"undo {_BINDING[family]} {acl_name(family, line_id)} {direction}"
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
        delete=lambda family: f"undo {_ACL_HEADER[family]} {acl_name(family, line_id)}",
        leave="quit",
    )


def _cut(target: LineTarget) -> list[str]:
    """The ACLs end with a permit-all of their own: what a packet matching none of our rules
    meets must not depend on a `packet-filter default deny` elsewhere in the configuration."""
    commands: list[str] = []
    families = [f for f in FAMILIES if any(family_of(p) is f for p in target.prefixes)]
    for family in families:
        commands.append(f"{_ACL_HEADER[family]} {acl_name(family, target.line_id)}")
        rule_id = 0
        for prefix in dict.fromkeys(p for p in target.prefixes if family_of(p) is family):
            for side in ("source", "destination"):
                rule_id += RULE_STEP
                commands.append(f"rule {rule_id} deny {family} {side} {_address(prefix)}")
        commands.append(f"rule {rule_id + RULE_STEP} permit {family}")
        commands.append("quit")
    commands.append(f"interface {target.interface}")
    for family in families:
        for direction in DIRECTIONS:
            commands.append(f"{_BINDING[family]} {acl_name(family, target.line_id)} {direction}")
    commands.append("quit")
    return commands


def render_line(action: Action, target: LineTarget, found: OwnedLine | None) -> list[str]:
    """Commands taking one line from what the device holds (`found`) to `action`."""
    check_target(target)
    return render_change(action, target, found, removal=_removal, cut=_cut)


def _occupied(
    target: LineTarget, config: ParsedConfig, restored: set[int], claimed: dict[Slot, int]
) -> Rejected | None:
    """Why the target's cut cannot be rendered without touching what is not this line's."""
    if config.interfaces is not None and target.interface not in config.interfaces:
        return Rejected(f"{target.interface} does not exist on the device")

    def name_taken(family: Family) -> Rejected | None:
        taken = config.name_taken(family, target.line_id)
        if taken is None:
            return None
        return Rejected(
            f"ACL name {acl_name(family, target.line_id)} (case-insensitive on Comware) "
            f"is held by {taken!r}; not editing an ACL this driver did not create"
        )

    def where(family: Family, direction: Direction) -> str:
        return f"{target.interface} already filters {_FAMILY_WORD[family]} {direction}"

    return occupied(
        target,
        config,
        restored,
        claimed,
        directions=DIRECTIONS,
        where=where,
        family_refusal=name_taken,
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


class H3cComwareDriver(Driver):
    """One Comware 7 router over SSH through netmiko's `hp_comware` (wrapped, not subclassed).

    Comware has no enable mode to enter (`super` raises a user role, which an account that may
    configure does not need): `secret` is not used.
    """

    platform: ClassVar[str] = PLATFORM
    ssh: ClassVar[bool] = True

    def __init__(self, name: str, credentials: Credentials) -> None:
        super().__init__(name, credentials)
        where = where_of(name, credentials)
        self._cli = CliSession(where, credentials, NETMIKO_DEVICE_TYPE)

    def open(self) -> None:
        self._cli.open()

    def close(self) -> None:
        self._cli.close()

    # -- device exchanges ------------------------------------------------------------------

    def _prompt(self) -> re.Pattern[str]:
        """Any view's prompt: `<R1>`, `[R1]`, `[R1-GigabitEthernet1/0/1]`, at a line start."""
        base = re.escape(self._cli.connection.base_prompt)
        return re.compile(rf"(?m)^[<\[]{base}(?:-[^\]\n]*)?[>\]]")

    def _display_configuration(self) -> str:
        # the closing `return`, then a prompt: a description or a hostname that contains the
        # prompt's text cannot end the read early
        base = re.escape(self._cli.connection.base_prompt)
        finished = re.compile(rf"\nreturn[ \t]*\n\s*[<\[]{base}[^\n]*[>\]]")
        return self._cli.show(
            "display current-configuration", lambda text: finished.search(text) is not None
        )

    def _read_config(self) -> ParsedConfig:
        return parse_current_configuration(self._display_configuration())

    def _push(self, commands: Sequence[str]) -> str:
        """Send config commands (`system-view` ... `return` included); the device's answer.

        netmiko's `hp_comware` turns command verification off, so its `send_config_set` reads
        with a 2 s timer. Here each window is read until the device has printed one prompt per
        command after echoing the window's first one (a prompt left over from log-in cannot end
        the read early); `find_rejections` checks the answer afterwards.
        """
        prompt = self._prompt()
        return legacy_push(self._cli, commands, lambda window: _answered(prompt, window))

    # -- the contract ----------------------------------------------------------------------

    def read(self) -> ParsedConfig:
        """Owned lines by id; the answer also carries what a cut must not disturb."""
        with self._cli.opened():
            return self._read_config()

    def facts(self) -> DeviceFacts:
        """Interfaces, their addresses and static routes (the `Inspects` ability)."""
        with self._cli.opened():
            return parse_facts(self._display_configuration())

    def render(self, batch: Batch, owned: dict[int, OwnedLine]) -> list[str]:
        """All commands for the batch, restores first; refused lines contribute none.

        Pass what `read()` returned: it also knows the foreign ACLs a cut must not replace.
        Raises InvalidIdentifier if any target fails validation, before rendering anything.
        """
        for target in (*batch.restores, *batch.cuts):
            check_target(target)
        return [command for plan in plan_batch(batch, owned) for command in plan.commands]

    def apply(self, batch: Batch) -> BatchResult:
        """One framed block of commands, its errors read from the echo (`apply_echoed`)."""
        return apply_echoed(
            self.name,
            batch,
            self._cli,
            read=self._read_config,
            plan=plan_batch,
            frame=("system-view", "return"),
            push=self._push,
            find_rejections=find_rejections,
        )


def _answered(prompt: re.Pattern[str], window: Sequence[str]) -> Callable[[str], bool]:
    """Done once the device has printed one prompt per command of the window, counted from
    the echo of its first command."""
    first = window[0].strip()

    def done(text: str) -> bool:
        start = text.find(first)
        return start >= 0 and len(prompt.findall(text, start)) >= len(window)

    return done
