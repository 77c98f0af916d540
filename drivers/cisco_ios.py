"""Cisco IOS / IOS-XE driver: a cut is a pair of named ACLs, CURFEW-L<id> and CURFEW6-L<id>,
bound in and out on the venue's interface; a restore removes exactly those objects.

Changes go to the running configuration only and are never saved (no `write memory`): a router
that reboots mid-curfew comes back with its venues open, which is the safe way to fail, and the
next reconcile pass cuts them again.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Interface,
    IPv4Network,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_interface,
    ip_network,
)
from typing import ClassVar

from drivers.acl import (
    FAMILIES,
    BoundFilters,
    Entry,
    Family,
    acl_name,
    family_of,
    filter_slots,
    found_objects,
    occupied,
    owned_lines,
    owner_of,
    removal_commands,
    render_change,
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
from drivers.cli import NOT_ECHOED, CliSession, apply_echoed, where_of
from drivers.outcomes import LinePlan, plan_lines, validate_target

PLATFORM = "cisco_ios"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


DIRECTIONS = (Direction.IN, Direction.OUT)

# How each family's objects are spelled: ACL name, ACL header, the interface binding command.
_ACL_HEADER = {Family.IPV4: "ip access-list extended", Family.IPV6: "ipv6 access-list"}
_BINDING = {Family.IPV4: "ip access-group", Family.IPV6: "ipv6 traffic-filter"}
_DIRECTION_WORD = {
    (Family.IPV4, Direction.IN): "inbound",
    (Family.IPV4, Direction.OUT): "outbound",
    (Family.IPV6, Direction.IN): "IPv6 inbound",
    (Family.IPV6, Direction.OUT): "IPv6 outbound",
}


# --------------------------------------------------------------------------------------------
# What read finds


@dataclass(frozen=True, order=True)
class Binding:
    """One owned filter bound on an interface in one direction."""

    interface: str
    family: Family
    direction: Direction


@dataclass(frozen=True)
class IosOwnedLine(OwnedLine):
    """An owned line plus exactly which objects exist, so a restore removes only those."""

    acls: frozenset[Family] = frozenset()
    filters: frozenset[Binding] = frozenset()


Slot = tuple[Family, Direction]


class ParsedConfig(BoundFilters[Direction]):
    """Owned lines by id (what `read()` returns), plus every filter bound on each interface.

    IOS holds one filter per family and direction on an interface; binding ours where another
    filter sits would silently replace it, so rendering a cut needs to see the foreign ones too.
    """


_SYSLOG = re.compile(r"%[A-Z0-9_]+-\d-[A-Z0-9_]+:")


def _wildcard_network(address: str, wildcard: str) -> IPv4Network:
    base = int(ip_address(address))
    bits = int(ip_address(wildcard))
    if bits & (bits + 1):
        raise ValueError(f"non-contiguous wildcard {wildcard}")
    if base & bits:
        raise ValueError(f"{address} has bits set under wildcard {wildcard}")
    return IPv4Network((base, 32 - bits.bit_length()))


def _take_address(family: Family, words: list[str]) -> Prefix | None:
    """Consume one ACL address (`any`, `host X`, `A W` or `X/len`) from the front of `words`."""
    head = words.pop(0).lower()
    if head == "any":
        return None
    if head == "host":
        host = ip_address(words.pop(0))
        if family_of(ip_network(host)) is not family:
            raise ValueError(f"{host} is not {family}")
        return ip_network(host)
    if family is Family.IPV4:
        network: Prefix = _wildcard_network(head, words.pop(0))
    else:
        network = ip_network(head, strict=True)
        if not isinstance(network, IPv6Network):
            raise ValueError(f"{head} is not IPv6")
    if network.prefixlen == 0:
        raise ValueError("a /0 is spelled any")
    return network


def parse_entry(family: Family, text: str) -> Entry | None:
    """A deny/permit entry for all traffic of the family, or None for anything else."""
    words = text.split()
    if words[:1] == ["sequence"]:
        words = words[2:]
    elif words[:1] and words[0].isdigit():
        words = words[1:]
    if len(words) < 4 or words[0].lower() not in ("deny", "permit"):
        return None
    if words[1].lower() != family.value:
        return None
    rest = words[2:]
    try:
        source = _take_address(family, rest)
        destination = _take_address(family, rest)
    except (IndexError, ValueError):
        return None
    if rest:
        return None
    return Entry(words[0].lower(), source, destination)


def _acl_prefixes(entries: Sequence[Entry | None]) -> frozenset[Prefix]:
    found: set[Prefix] = set()
    for entry in entries:
        if entry is not None and entry.action == "deny":
            found.update(p for p in (entry.source, entry.destination) if p is not None)
    return frozenset(found)


def _acl_is_exact(entries: Sequence[Entry | None]) -> bool:
    """Exactly deny-source and deny-destination per prefix, then one trailing permit any any."""
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


_ACL_HEADER_RE = {
    Family.IPV4: re.compile(r"ip\s+access-list\s+extended\s+(\S+)", re.IGNORECASE),
    Family.IPV6: re.compile(r"ipv6\s+access-list\s+(\S+)", re.IGNORECASE),
}
_INTERFACE_RE = re.compile(r"interface\s+(\S+)", re.IGNORECASE)
_BINDING_RE = {
    Family.IPV4: re.compile(r"ip\s+access-group\s+(\S+)\s+(in|out)", re.IGNORECASE),
    Family.IPV6: re.compile(r"ipv6\s+traffic-filter\s+(\S+)\s+(in|out)", re.IGNORECASE),
}


def parse_running_config(text: str) -> ParsedConfig:
    """Find the owned ACLs and bindings in `show running-config`, and every filter bound."""
    acls: dict[tuple[Family, int], list[Entry | None]] = {}
    filters: dict[str, dict[Slot, str]] = {}
    current_acl: list[Entry | None] | None = None
    acl_family = Family.IPV4
    current_interface: str | None = None

    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if line[0] in " \t":
            body = line.strip()
            if current_acl is not None:
                current_acl.append(parse_entry(acl_family, body))
            elif current_interface is not None:
                for family, pattern in _BINDING_RE.items():
                    match = pattern.fullmatch(body)
                    if match:
                        slot = (family, Direction(match.group(2).lower()))
                        filters.setdefault(current_interface, {})[slot] = match.group(1)
            continue

        current_acl, current_interface = None, None
        for family, pattern in _ACL_HEADER_RE.items():
            match = pattern.fullmatch(line)
            if match:
                line_id = owner_of(family, match.group(1))
                if line_id is not None:
                    current_acl = acls.setdefault((family, line_id), [])
                    acl_family = family
                break
        else:
            match = _INTERFACE_RE.fullmatch(line)
            if match:
                current_interface = match.group(1)

    lines = owned_lines(
        acls,
        filters,
        directions=DIRECTIONS,
        binding=Binding,
        exact=_acl_is_exact,
        prefixes=_acl_prefixes,
        make=IosOwnedLine,
    )
    return ParsedConfig(lines, filters)


# --------------------------------------------------------------------------------------------
# What render sends


def parse_facts(text: str) -> DeviceFacts:
    """Interfaces and their addresses (connected routes) and static routes out of an
    interface (`ip route P M IFACE [...]`, `ipv6 route P/L IFACE [...]`)."""
    interfaces: dict[str, list[IPv4Interface | IPv6Interface]] = {}
    routes: dict[Prefix, str] = {}
    current: str | None = None
    for raw in text.splitlines():
        words = raw.split()
        if not words:
            continue
        if not raw[0].isspace():
            current = None
            if words[0] == "interface" and len(words) == 2:
                current = words[1]
                interfaces.setdefault(current, [])
            elif words[:2] == ["ip", "route"] and len(words) >= 5:
                try:
                    routes[ip_network(f"{words[2]}/{words[3]}")] = words[4]
                except ValueError:
                    continue
            elif words[:2] == ["ipv6", "route"] and len(words) >= 4:
                try:
                    routes[ip_network(words[2])] = words[3]
                except ValueError:
                    continue
            continue
        if current is None:
            continue
        try:
            if words[:2] == ["ip", "address"] and len(words) >= 4:
                interfaces[current].append(ip_interface(f"{words[2]}/{words[3]}"))
            elif words[:2] == ["ipv6", "address"] and len(words) >= 3 and "/" in words[2]:
                interfaces[current].append(ip_interface(words[2]))
        except ValueError:
            continue
    # a route "out of" an address is a next hop, not an interface: keep interface routes only
    return DeviceFacts(
        {name: tuple(addresses) for name, addresses in interfaces.items()},
        {prefix: via for prefix, via in routes.items() if via in interfaces},
    )


def check_target(target: LineTarget) -> None:
    """Refuse any target a command would be unsafe to render from."""
    validate_target(PLATFORM, target)


def _address(prefix: Prefix) -> str:
    if prefix.prefixlen == prefix.max_prefixlen:
        return f"host {prefix.network_address}"
    if isinstance(prefix, IPv4Network):
        return f"{prefix.network_address} {prefix.hostmask}"
    return prefix.compressed


def _found_objects(found: OwnedLine) -> tuple[frozenset[Family], frozenset[Binding]]:
    """Exactly which owned objects exist.

    IOS's `no ip access-group NAME in` removes whatever is bound inbound, whatever its name, so
    a `no` is only ever rendered for a binding read-back saw. A bare OwnedLine (not parsed here)
    says that much only when it is complete.
    """
    return found_objects(found, IosOwnedLine, DIRECTIONS, Binding)


def _removal(found: OwnedLine | None) -> list[str]:
    """Bindings first, then the ACLs: an ACL is never deleted while it filters an interface."""
    if found is None:
        return []
    acls, filters = _found_objects(found)
    line_id = found.line_id

    def unbind(interface: str) -> list[str]:
        return [
            f"no {_BINDING[family]} {acl_name(family, line_id)} {direction}"
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
        delete=lambda family: f"no {_ACL_HEADER[family]} {acl_name(family, line_id)}",
        leave="exit",
    )


def _cut(target: LineTarget) -> list[str]:
    commands: list[str] = []
    families = [f for f in FAMILIES if any(family_of(p) is f for p in target.prefixes)]
    for family in families:
        commands.append(f"{_ACL_HEADER[family]} {acl_name(family, target.line_id)}")
        for prefix in dict.fromkeys(p for p in target.prefixes if family_of(p) is family):
            commands.append(f"deny {family} {_address(prefix)} any")
            commands.append(f"deny {family} any {_address(prefix)}")
        commands.append(f"permit {family} any any")
        commands.append("exit")
    commands.append(f"interface {target.interface}")
    for family in families:
        for direction in DIRECTIONS:
            commands.append(f"{_BINDING[family]} {acl_name(family, target.line_id)} {direction}")
    commands.append("exit")
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
        return f"{target.interface} already filters {_DIRECTION_WORD[(family, direction)]}"

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
    )


def _slots(target: LineTarget) -> list[Slot]:
    return filter_slots(target, DIRECTIONS)


def find_rejections(commands: Sequence[str], output: str) -> list[tuple[int | None, str]]:
    """(index of the command, problem) for every `%` error the device answered, and
    `NOT_ECHOED` for the first command the device never echoed (input lost: nothing after it
    can be trusted to have run).

    The device echoes each command after its prompt; an error line belongs to the last command
    echoed before it. Syslog messages (`%SYS-5-CONFIG_I: ...`) are not errors.
    """
    found: list[tuple[int | None, str]] = []
    current: int | None = None
    upcoming = 0
    for raw in output.splitlines():
        line = raw.strip()
        if line.startswith("%"):
            if not _SYSLOG.match(line):
                found.append((current, line))
            continue
        if upcoming < len(commands):
            command = commands[upcoming].strip()
            if line == command or line.endswith("#" + command):
                current = upcoming
                upcoming += 1
    if upcoming < len(commands):
        found.append((upcoming, NOT_ECHOED))
    return found


# --------------------------------------------------------------------------------------------
# The session


class CiscoIosDriver(Driver):
    """One IOS router over SSH through netmiko (wrapped, not subclassed)."""

    platform: ClassVar[str] = PLATFORM
    ssh: ClassVar[bool] = True

    def __init__(self, name: str, credentials: Credentials) -> None:
        super().__init__(name, credentials)
        self._cli = CliSession(where_of(name, credentials), credentials, PLATFORM, enable=True)

    def open(self) -> None:
        self._cli.open()

    def close(self) -> None:
        self._cli.close()

    # -- device exchanges ------------------------------------------------------------------

    def _read_config(self) -> ParsedConfig:
        return parse_running_config(self._read_config_text())

    def _read_config_text(self) -> str:
        # the trailing `end`, then the exec prompt: a hostname or a description that contains
        # the prompt's text cannot end the read early
        base = re.escape(self._cli.connection.base_prompt)
        finished = re.compile(rf"\nend[ \t]*\n\s*{base}[^\n]*#")
        return self._cli.show("show running-config", lambda text: finished.search(text) is not None)

    def _push(self, commands: Sequence[str]) -> str:
        """Send config commands (`configure terminal` ... `end` included); the device's answer.

        Read window by window until the device has printed one prompt per command;
        `find_rejections` plays the part of netmiko's cmd_verify afterwards.
        """
        prompt = re.compile(rf"(?m)^{re.escape(self._cli.connection.base_prompt)}[^\n#>]*#")
        return self._cli.push(commands, lambda window: _prompts(prompt, len(window)))

    # -- the contract ----------------------------------------------------------------------

    def facts(self) -> DeviceFacts:
        """Interfaces with their addresses, and static routes, from the running config."""
        with self._cli.opened():
            return parse_facts(self._read_config_text())

    def read(self) -> ParsedConfig:
        """Owned lines by id; the answer also carries every filter bound per interface."""
        with self._cli.opened():
            return self._read_config()

    def render(self, batch: Batch, owned: dict[int, OwnedLine]) -> list[str]:
        """All commands for the batch, restores first; refused lines contribute none.

        Pass what `read()` returned: it also knows the foreign filters a cut must not replace.
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
            frame=("configure terminal", "end"),
            push=self._push,
            find_rejections=find_rejections,
        )


def _prompts(prompt: re.Pattern[str], count: int) -> Callable[[str], bool]:
    """Done once the device has printed `count` prompts: one per command it processed."""
    return lambda text: len(prompt.findall(text)) >= count
