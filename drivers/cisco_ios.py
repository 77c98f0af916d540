"""Cisco IOS / IOS-XE driver: a cut is a pair of named ACLs, CURFEW-L<id> and CURFEW6-L<id>,
bound in and out on the venue's interface; a restore removes exactly those objects.

Changes go to the running configuration only and are never saved (no `write memory`): a router
that reboots mid-curfew comes back with its venues open, which is the safe way to fail, and the
next reconcile pass cuts them again.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
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
    CiscoDirection,
    CiscoStyleAcls,
    Entry,
    Family,
    acl_name,
    family_of,
    owned_lines,
    owner_of,
)
from drivers.base import DeviceFacts, LineTarget, OwnedLine, Prefix
from drivers.cli import NETMIKO_OR_ASYNCSSH, NOT_ECHOED, EchoScanned
from drivers.timing import (
    MONTHS,
    DeviceClock,
    DeviceZone,
    TimedAclLine,
    TimeRangeArming,
    absolute_range,
    read_device_clock,
    show_clock_wall,
    time_range_name,
    with_time_ranges,
    without_echo,
)

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
# The owned time-ranges (device-timed cuts, drivers.timing), each with the device's own word on
# whether its clock has it in force now.
TIME_RANGE_READ = "show time-range | section ^time-range entry: CURFEW-TR-"
# The owned ACLs as the device evaluates them: each entry with its time-range's state and its
# matches. Read with the others on a device opted in to device timing, it is the evidence of a
# cut found in force by the device's clock, with no exchange of its own after the instant.
ACL_STATE_READ = "show access-lists | section access list CURFEW-L|access list CURFEW6-L"
_NAMES_OWNED_TIME_RANGE = re.compile(r"(?m)^\s+(?:deny|permit|\d).*\stime-range\s+CURFEW-TR-")
# The device's clock: its time, its NTP state and the configuration setting its zone.
CLOCK_READ = ("show clock", "show ntp status", "show running-config | include ^clock ")


# --------------------------------------------------------------------------------------------
# What read finds


# An owned line as the parser finds it: the shared time-ranged ACL line (drivers.timing), whose
# statements are the `absolute` line of its time-range, spelled as `absolute_range` renders it.
IosOwnedLine = TimedAclLine

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


_TIMED = re.compile(r"(.*\S)\s+time-range\s+(\S+)(?:\s+\((?:active|inactive)\))?", re.IGNORECASE)


@functools.lru_cache(maxsize=1 << 16)
def parse_timed_entry(family: Family, text: str) -> tuple[Entry | None, str | None]:
    """An entry as `parse_entry` reads it, and the time-range it names, if any.

    Remembered (bounded): a router's entries come back unchanged in every read of a pass
    (the prepare's, the stage's read-back, the bind's), and what is returned is immutable."""
    match = _TIMED.fullmatch(text.strip())
    if match is None:
        return parse_entry(family, text), None
    return parse_entry(family, match.group(1)), match.group(2)


_TIME_RANGE_ENTRY = re.compile(r"time-range entry:\s+(\S+)\s+\((active|inactive)\)")
_WALL = r"(\d{1,2}):(\d{2})\s+(\d{1,2})\s+([A-Za-z]{3,})\s+(\d{4})"
_ABSOLUTE = re.compile(rf"absolute\s+start\s+{_WALL}\s+end\s+{_WALL}", re.IGNORECASE)


def absolute_end(statement: str) -> datetime | None:
    """The end of an `absolute` line's range on the device's wall clock (naive), None if the
    line is not of that shape."""
    match = _ABSOLUTE.fullmatch(statement.strip())
    if match is None:
        return None
    hour, minute, day, month_word, year = match.groups()[5:]
    month = next((i + 1 for i, m in enumerate(MONTHS) if m.lower() == month_word.lower()), None)
    if month is None:
        return None
    try:
        return datetime(int(year), month, int(day), int(hour), int(minute))  # noqa: DTZ001
    except ValueError:
        return None


def absolute_statement(line: str) -> str:
    """An `absolute` line as `absolute_range` spells it (`absolute start 00:00 1 December
    2026 end ...`: a day without its leading zero, the month's full name), so that what the
    device prints compares equal with a render; a line of any other shape comes back as it is
    (with single spaces) and matches no render."""
    match = _ABSOLUTE.fullmatch(line.strip())
    plain = " ".join(line.split())
    if match is None:
        return plain
    walls: list[str] = []
    for hour, minute, day, month_word, year in (match.groups()[:5], match.groups()[5:]):
        month = next((m for m in MONTHS if m.lower().startswith(month_word.lower())), None)
        if month is None:
            return plain
        walls.append(f"{int(hour):02d}:{minute} {int(day)} {month} {year}")
    return f"absolute start {walls[0]} end {walls[1]}"


def parse_time_ranges(text: str) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """`show time-range`: each time-range's name -> (active now, its `absolute` line as
    `absolute_statement` spells it, if it has one)."""
    found: dict[str, tuple[bool, tuple[str, ...]]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        match = _TIME_RANGE_ENTRY.match(line)
        if match is not None:
            current = match.group(1)
            found[current] = (match.group(2) == "active", ())
        elif current is not None and line.startswith("absolute "):
            found[current] = (found[current][0], (absolute_statement(line),))
        elif raw and not raw[0].isspace():
            current = None
    return found


_ACL_LISTED = re.compile(r"(?:Standard IP|Extended IP|Reflexive IP|IPv6) access list (\S+)")


def acl_sections(text: str) -> dict[str, str]:
    """`show access-lists`: each ACL's name -> its header and entries, as `show access-lists
    NAME` shows that ACL alone."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line:
            continue
        if line[0].isspace():
            if current is not None:
                current.append(line)
        elif (header := _ACL_LISTED.fullmatch(line)) is not None:
            current = sections[header.group(1)] = [line]
        else:
            current = None  # the prompt, or anything else that is not an ACL
    return {name: "\n".join(lines) for name, lines in sections.items()}


_ACL_HEADER_RE = {
    Family.IPV4: re.compile(r"ip\s+access-list\s+extended\s+(\S+)", re.IGNORECASE),
    Family.IPV6: re.compile(r"ipv6\s+access-list\s+(\S+)", re.IGNORECASE),
}
_INTERFACE_RE = re.compile(r"interface\s+(\S+)", re.IGNORECASE)
_BINDING_RE = {
    Family.IPV4: re.compile(r"ip\s+access-group\s+(\S+)\s+(in|out)", re.IGNORECASE),
    Family.IPV6: re.compile(r"ipv6\s+traffic-filter\s+(\S+)\s+(in|out)", re.IGNORECASE),
}


def parse_running_config(
    text: str, time_ranges: Mapping[str, tuple[bool, tuple[str, ...]]] | None = None
) -> ParsedConfig:
    """Find the owned ACLs and bindings in `show running-config` (whole, or the sections
    `OWNED_READ` keeps), and every filter bound; with `time_ranges` (`parse_time_ranges`),
    the owned time-ranges and whether each line's device-timed cut is in force now."""
    acls: dict[tuple[Family, int], list[Entry | None]] = {}
    timed: dict[int, set[str | None]] = {}
    filters: dict[str, dict[Slot, str]] = {}
    current_acl: list[Entry | None] | None = None
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
                entry, time_range = parse_timed_entry(acl_family, body)
                current_acl.append(entry)
                if entry is not None and entry.action == "deny":
                    timed.setdefault(current_line, set()).add(time_range)
                elif time_range is not None:
                    timed.setdefault(current_line, set()).add(f"{time_range} (on a permit)")
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
                    current_line = line_id
                    acl_family = family
                break
        else:
            match = _INTERFACE_RE.fullmatch(line)
            if match:
                current_interface = match.group(1)

    lines = owned_lines(acls, filters, DIRECTIONS)
    # an IOS entry naming a time-range that does not exist is always active: still a cut
    owned = with_time_ranges(lines, timed, time_ranges or {}, missing_always_active=True)
    return ParsedConfig(owned, filters)


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


class CiscoIosDriver(TimeRangeArming, CiscoStyleAcls, EchoScanned):
    """One IOS router over SSH through netmiko (wrapped, not subclassed). Device-timed
    windows are `TimeRangeArming`'s; this class says them in IOS's syntax."""

    platform: ClassVar[str] = PLATFORM
    device_type: ClassVar[str] = PLATFORM
    enable: ClassVar[bool] = True
    frame = ("configure terminal", "end")
    session_layers = NETMIKO_OR_ASYNCSSH
    # the last read's `ACL_STATE_READ`, by ACL name (None when it did not ask)
    _acl_states: dict[str, str] | None = None
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
        """The owned configuration and, on a device opted in to device timing, the owned
        time-ranges with the device's word on each, and when a change with cuts is under way
        the owned ACLs' states (the evidence of a cut the device made): other devices pay no
        extra command."""
        if self.credentials.extra.get("timing") != "device":
            return [OWNED_READ]
        commands = [OWNED_READ, TIME_RANGE_READ]
        if self._evidence_wanted:
            commands.append(ACL_STATE_READ)
        return self._asking_wall(commands)

    def _parsed(self, answers: Sequence[str]) -> ParsedConfig:
        """`_parsed`, the device's wall clock kept apart when the read asked for it."""
        parsed = super()._parsed(self._taking_wall(self._read_commands(), answers))
        assert isinstance(parsed, ParsedConfig)
        return parsed

    def _parse(self, answers: Sequence[str]) -> ParsedConfig:
        config = answers[0] if answers else ""
        # the evidence of device-timed cuts, as this read found it (None: not read)
        self._acl_states = acl_sections(without_echo(answers[2])) if len(answers) > 2 else None
        if len(answers) > 1:
            time_ranges = answers[1]
        elif _NAMES_OWNED_TIME_RANGE.search(config):
            # a device-timed cut on a device not (or no longer) opted in: ask the device
            time_ranges = "".join(
                self._cli.converse([TIME_RANGE_READ], self._prompt(), TIME_RANGE_READ)
            )
        else:
            time_ranges = ""
        parsed = parse_running_config(config, parse_time_ranges(time_ranges))
        self._last_read = parsed
        return parsed

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

    # -- device-timed windows (drivers.timing.DeviceTimed) ----------------------------------

    def read_clock(self) -> DeviceClock:
        """The device's time (`show clock`), NTP state (`show ntp status`) and zone (its
        `clock timezone` / `clock summer-time` lines), in one exchange."""
        return read_device_clock(*self._answers_to(CLOCK_READ, "the device clock"))

    def _answers_to(self, commands: Sequence[str], what: str) -> list[str]:
        with self._cli.opened():
            answers = self._cli.converse(list(commands), self._prompt(), what)
        return [without_echo(answer) for answer in answers]

    def _window_statements(self, start: datetime, end: datetime, zone: DeviceZone) -> list[str]:
        """One `absolute` line in the device's local time: IOS takes a range across its
        midnight (`absolute start 22:00 24 November 2026 end 06:00 25 November 2026`)."""
        return [absolute_range(start, end, zone)]

    _wall_read = CLOCK_READ[0]  # the wall clock alone, where a restore may find a window over

    def _wall_of(self, answer: str) -> datetime:
        return show_clock_wall(answer)[0]

    def _statement_end(self, statement: str) -> datetime | None:
        return absolute_end(statement)

    def _time_range_lines(self, line_id: int, statements: Sequence[str]) -> list[str]:
        return [f"time-range {time_range_name(line_id)}", *statements, self.leave]

    def _time_range_deletion(self, line_id: int) -> str:
        return f"no time-range {time_range_name(line_id)}"

    def _is_deny(self, acl_line: str) -> bool:
        return acl_line.split()[:1] == ["deny"]

    _timed_objects = "the time-ranged entries"

    def _timed_summary(self, line: TimedAclLine) -> str:
        state = "active" if line.time_range_active else "not defined (always active)"
        return (
            f"{state}: {'; '.join(line.statements) or 'no absolute'}; bound on "
            f"{', '.join(sorted(line.bindings))} in and out"
        )

    def _timed_reads(self, line: TimedAclLine) -> list[str]:
        return [
            f"show access-lists {acl_name(family, line.line_id)}"
            for family in FAMILIES
            if family in line.acls
        ]

    def _timed_answers(self, lines: Sequence[TimedAclLine]) -> list[str]:
        """From the read that found the cuts (`ACL_STATE_READ`), when it was made: each of
        the lines' ACLs as `show access-lists NAME` shows it."""
        states = self._acl_states
        if states is None:
            return super()._timed_answers(lines)
        names = [
            acl_name(family, line.line_id)
            for line in lines
            for family in FAMILIES
            if family in line.acls
        ]
        return [states.get(name, f"access list {name}: not shown by the device") for name in names]
