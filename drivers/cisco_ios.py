"""Cisco IOS / IOS-XE driver: a cut is a pair of named ACLs, CURFEW-L<id> and CURFEW6-L<id>,
bound in and out on the venue's interface; a restore removes exactly those objects.

Changes go to the running configuration only and are never saved (no `write memory`): a router
that reboots mid-curfew comes back with its venues open, which is the safe way to fail, and the
next reconcile pass cuts them again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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
    AclOwnedLine,
    BoundFilters,
    CiscoDirection,
    CiscoStyleAcls,
    Entry,
    Family,
    family_of,
    owned_lines,
    owner_of,
)
from drivers.base import (
    DeviceFacts,
    LineTarget,
    OwnedLine,
    Prefix,
)
from drivers.cli import NOT_ECHOED, CliDriver

PLATFORM = "cisco_ios"


Direction = CiscoDirection
DIRECTIONS = (Direction.IN, Direction.OUT)

# How each family's objects are spelled: ACL header, the interface binding command.
_ACL_HEADER = {Family.IPV4: "ip access-list extended", Family.IPV6: "ipv6 access-list"}
_BINDING = {Family.IPV4: "ip access-group", Family.IPV6: "ipv6 traffic-filter"}
_DIRECTION_WORD = {
    (Family.IPV4, Direction.IN): "inbound",
    (Family.IPV4, Direction.OUT): "outbound",
    (Family.IPV6, Direction.IN): "IPv6 inbound",
    (Family.IPV6, Direction.OUT): "IPv6 outbound",
}
# The read: the owned ACLs whole, and every interface with what it holds (foreign filters
# included: binding ours over one would replace it). `section` keeps a top-level line with its
# children; the patterns match only top-level lines, so either reading of IOS's `section`
# (a header matching, or any of its lines) gives the same answer.
OWNED_READ = (
    "show running-config | section ^interface|^ip access-list extended CURFEW-L"
    "|^ipv6 access-list CURFEW6-L"
)


# --------------------------------------------------------------------------------------------
# What read finds


# An owned line as the parser finds it: which ACLs and bindings exist.
IosOwnedLine = AclOwnedLine
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
    """Find the owned ACLs and bindings in `show running-config` (whole, or the sections
    `OWNED_READ` keeps), and every filter bound."""
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

    return ParsedConfig(owned_lines(acls, filters, DIRECTIONS), filters)


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


def _address(prefix: Prefix) -> str:
    if prefix.prefixlen == prefix.max_prefixlen:
        return f"host {prefix.network_address}"
    if isinstance(prefix, IPv4Network):
        return f"{prefix.network_address} {prefix.hostmask}"
    return prefix.compressed


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


class CiscoIosDriver(CiscoStyleAcls, CliDriver):
    """One IOS router over SSH through netmiko (wrapped, not subclassed)."""

    platform: ClassVar[str] = PLATFORM
    device_type: ClassVar[str] = PLATFORM
    enable: ClassVar[bool] = True
    frame = ("configure terminal", "end")
    acl_header = _ACL_HEADER
    binding_word = _BINDING

    def _address(self, prefix: Prefix) -> str:
        return _address(prefix)

    def _held(self, target: LineTarget, family: Family, direction: Direction) -> str:
        return f"{target.interface} already filters {_DIRECTION_WORD[(family, direction)]}"

    def _as_found(self, owned: Mapping[int, OwnedLine]) -> ParsedConfig:
        return owned if isinstance(owned, ParsedConfig) else ParsedConfig(owned)

    # -- device exchanges ------------------------------------------------------------------

    def _prompt(self) -> re.Pattern[str]:
        """The exec or any config mode's prompt (`R1#`, `R1(config-if)#`) at a line start."""
        return re.compile(rf"(?m)^{re.escape(self._cli.connection.base_prompt)}[^\n#>]*#")

    def _read_commands(self) -> list[str]:
        return [OWNED_READ]

    def _parse(self, answers: Sequence[str]) -> ParsedConfig:
        return parse_running_config("".join(answers))

    def find_rejections(self, sent: Sequence[str], output: str) -> list[tuple[int | None, str]]:
        return find_rejections(sent, output)

    def facts(self) -> DeviceFacts:
        """Interfaces with their addresses, and static routes, from the running config."""
        with self._cli.opened():
            # the trailing `end`, then the exec prompt: a hostname or a description that
            # contains the prompt's text cannot end the read early
            base = re.escape(self._cli.connection.base_prompt)
            finished = re.compile(rf"\nend[ \t]*\n\s*{base}[^\n]*#")
            text = self._cli.show("show running-config", lambda t: finished.search(t) is not None)
            return parse_facts(text)
