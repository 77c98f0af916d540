"""Cisco IOS / IOS-XE driver: a cut is a pair of named ACLs, CURFEW-L<id> and CURFEW6-L<id>,
bound in and out on the venue's interface; a restore removes exactly those objects.

Changes go to the running configuration only and are never saved (no `write memory`): a router
that reboots mid-curfew comes back with its venues open, which is the safe way to fail, and the
next reconcile pass cuts them again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
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
    AclOwnedLine,
    BoundFilters,
    CiscoDirection,
    CiscoStyleAcls,
    Entry,
    Family,
    acl_name,
    families_of,
    family_of,
    owned_lines,
    owner_of,
)
from drivers.base import (
    Action,
    Batch,
    BatchResult,
    DeviceFacts,
    DriverError,
    LineState,
    LineTarget,
    OwnedLine,
    Prefix,
    Rejected,
    StagedLine,
    StageResult,
)
from drivers.cli import NOT_ECHOED, CliDriver
from drivers.lifecycle import DiscardPlan, Progress, Pushed, Step
from drivers.outcomes import LinePlan, describe
from drivers.timing import (
    DeviceClock,
    DeviceZone,
    absolute_range,
    read_device_clock,
    same_absolute,
    time_range_name,
    time_range_owner,
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
_NAMES_OWNED_TIME_RANGE = re.compile(r"(?m)^\s+(?:deny|permit|\d).*\stime-range\s+CURFEW-TR-")
# The device's clock: its time, its NTP state and the configuration setting its zone.
CLOCK_READ = ("show clock", "show ntp status", "show running-config | include ^clock ")


# --------------------------------------------------------------------------------------------
# What read finds


@dataclass(frozen=True)
class IosOwnedLine(AclOwnedLine):
    """An owned line as the parser finds it: which ACLs and bindings exist, and for a
    device-timed cut the time-range its denies name and what the device says of it."""

    # the time-range every deny of the line's ACLs names (None: a cut at all times)
    time_range: str | None = None
    # the line's own time-range (CURFEW-TR-<id>) exists on the device, active now or not
    time_range_defined: bool = False
    time_range_active: bool = False
    absolute: str = ""  # its `absolute ...` line as the device prints it

    def armed_for(self, target: LineTarget, absolute: str) -> bool:
        """Bound exactly as the target's cut, its denies waiting on its own time-range, which
        holds exactly this window."""
        return (
            self.complete
            and self.time_range == time_range_name(target.line_id)
            and self.time_range_defined
            and same_absolute(self.absolute, absolute)
            and self.prefixes == frozenset(target.prefixes)
            and self.bindings == frozenset({target.interface})
        )


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


def parse_timed_entry(family: Family, text: str) -> tuple[Entry | None, str | None]:
    """An entry as `parse_entry` reads it, and the time-range it names, if any."""
    match = _TIMED.fullmatch(text.strip())
    if match is None:
        return parse_entry(family, text), None
    return parse_entry(family, match.group(1)), match.group(2)


_TIME_RANGE_ENTRY = re.compile(r"time-range entry:\s+(\S+)\s+\((active|inactive)\)")


def parse_time_ranges(text: str) -> dict[str, tuple[bool, str]]:
    """`show time-range`: each time-range's name -> (active now, its `absolute` line)."""
    found: dict[str, tuple[bool, str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        match = _TIME_RANGE_ENTRY.match(line)
        if match is not None:
            current = match.group(1)
            found[current] = (match.group(2) == "active", "")
        elif current is not None and line.startswith("absolute "):
            found[current] = (found[current][0], line)
        elif raw and not raw[0].isspace():
            current = None
    return found


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
    text: str, time_ranges: Mapping[str, tuple[bool, str]] | None = None
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
    return ParsedConfig(_with_time_ranges(lines, timed, time_ranges or {}), filters)


def _with_time_ranges(
    lines: Mapping[int, OwnedLine],
    timed: Mapping[int, set[str | None]],
    time_ranges: Mapping[str, tuple[bool, str]],
) -> dict[int, OwnedLine]:
    """Each owned line with what its denies say of time-ranges and what the device says of
    its own time-range. A cut whose every deny names the line's own time-range is complete as
    a cut is, but not exact (a plain cut's bodies name none), and dormant while the device
    says that time-range is inactive; one that exists nowhere makes its entries always active,
    as on IOS. Denies naming anything else, or only some of them, are not a cut we wrote."""
    owned_ranges = {
        line_id: state
        for name, state in time_ranges.items()
        if (line_id := time_range_owner(name)) is not None
    }
    found: dict[int, OwnedLine] = {}
    for line_id in sorted(set(lines) | set(owned_ranges)):
        line = lines.get(line_id) or AclOwnedLine(line_id)
        fields = {f: getattr(line, f) for f in line.__dataclass_fields__}
        defined = line_id in owned_ranges
        active, absolute = owned_ranges.get(line_id, (False, ""))
        named = timed.get(line_id, {None})
        own = time_range_name(line_id)
        time_range = None
        if named == {own}:
            time_range = own
            fields["exact"] = False
            fields["dormant"] = bool(line.complete and defined and not active)
        elif named != {None}:
            fields["exact"] = fields["complete"] = False
        found[line_id] = IosOwnedLine(
            **fields,
            time_range=time_range,
            time_range_defined=defined,
            time_range_active=active,
            absolute=absolute,
        )
    return found


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
    # the last read, for the evidence of a device-timed cut found in force (see `apply`)
    _last_read: ParsedConfig | None = None

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
        time-ranges with the device's word on each: other devices pay no extra command."""
        if self.credentials.extra.get("timing") == "device":
            return [OWNED_READ, TIME_RANGE_READ]
        return [OWNED_READ]

    def _parse(self, answers: Sequence[str]) -> ParsedConfig:
        config = answers[0] if answers else ""
        if len(answers) > 1:
            time_ranges = "".join(answers[1:])
        elif _NAMES_OWNED_TIME_RANGE.search(config):
            # a device-timed cut on a device not (or no longer) opted in: ask the device
            time_ranges = "".join(
                self._cli.converse([TIME_RANGE_READ], self._prompt(), TIME_RANGE_READ)
            )
        else:
            time_ranges = ""
        self._last_read = parse_running_config(config, parse_time_ranges(time_ranges))
        return self._last_read

    def _removal(self, found: OwnedLine) -> list[str]:
        """Bindings, then the ACLs, then the line's time-range: never the time-range first,
        or its entries, naming a time-range that no longer exists, would cut at all times."""
        commands = super()._removal(found)
        if isinstance(found, IosOwnedLine) and found.time_range_defined:
            commands.append(f"no time-range {time_range_name(found.line_id)}")
        return commands

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
        with self._cli.opened():
            commands = list(CLOCK_READ)
            answers = self._cli.converse(commands, self._prompt(), "the device clock")
        body = [_without_echo(answer) for answer in answers]
        return read_device_clock(*body)

    def arm(
        self, targets: Sequence[LineTarget], start: datetime, end: datetime, zone: DeviceZone
    ) -> StageResult:
        """For each target: its time-range for [start, end) in the device's local time, then
        its ACLs whose denies name it, then their bindings, in one push; read back. A line
        armed exactly so already sends nothing; a line cut already is left to the passes."""
        if not targets:
            return StageResult(self.name, ())
        try:
            absolute = absolute_range(start, end, zone)
        except ValueError as exc:
            return StageResult(
                self.name, tuple(StagedLine(t.line_id, (), False, str(exc)) for t in targets)
            )
        progress = Progress()
        plans: list[LinePlan] = []
        try:
            with self._opened():
                found = self._read()
                plans[:] = self._arm_plans(targets, absolute, found)
                if any(plan.commands for plan in plans):
                    pushed = self._push(
                        Step.STAGE,
                        plans,
                        found,
                        lambda fresh: self._arm_plans(targets, absolute, fresh),
                        progress,
                    )
                else:
                    pushed = Pushed(found)
        except DriverError as exc:
            lines = tuple(StagedLine(t.line_id, (), False, describe(exc)) for t in targets)
            output = self._failed_output(progress, exc)
            return StageResult(self.name, lines, tuple(progress.sent), output, exc)
        armed = []
        for i, plan in enumerate(plans):
            line_id = plan.target.line_id
            after = pushed.after.get(line_id)
            if plan.refusal is not None:
                armed.append(StagedLine(line_id, plan.commands, False, describe(plan.refusal)))
            elif i in pushed.rejections:
                problem = f"Rejected: {pushed.rejections[i]}"
                armed.append(StagedLine(line_id, plan.commands, False, problem))
            elif isinstance(after, IosOwnedLine) and after.armed_for(plan.target, absolute):
                armed.append(StagedLine(line_id, plan.commands, True))
            else:
                problem = f"VerifyFailed: read-back does not show line {line_id} armed"
                armed.append(StagedLine(line_id, plan.commands, False, problem))
        output = self._joined(progress.output)
        return StageResult(self.name, tuple(armed), tuple(progress.sent), output, pushed.error)

    def _arm_plans(
        self, targets: Sequence[LineTarget], absolute: str, found: Mapping[int, OwnedLine]
    ) -> list[LinePlan]:
        plans: list[LinePlan] = []
        claimed: dict[object, int] = {}
        for target in targets:
            line = found.get(target.line_id)
            try:
                self.check_target(target)
                if isinstance(line, IosOwnedLine) and line.armed_for(target, absolute):
                    plans.append(LinePlan(target, Action.CUT))  # armed already: idempotent
                    continue
                if line is not None and line.state_for(target) is LineState.CUT:
                    raise Rejected(f"line {target.line_id} is cut already: left to the passes")
                conflict = self._occupied(target, found, set(), claimed)  # type: ignore[arg-type]
                if conflict is not None:
                    raise conflict
                for slot in self._slots(target):
                    claimed[slot] = target.line_id
                # whatever of the line is there (another night's, half a cut) goes first
                commands = self._removal(line) if line is not None else []
            except DriverError as refusal:
                plans.append(LinePlan(target, Action.CUT, refusal=refusal))
                continue
            commands += self._armed_objects(target, absolute)
            plans.append(LinePlan(target, Action.CUT, tuple(commands)))
        return plans

    def _armed_objects(self, target: LineTarget, absolute: str) -> list[str]:
        """The time-range first, then the ACLs whose denies name it, then the bindings."""
        name = time_range_name(target.line_id)
        commands = [f"time-range {name}", absolute, self.leave]
        for family in families_of(target):
            for line in self._acl_lines(family, target):
                timed = line.startswith("deny ")
                commands.append(f"{line} time-range {name}" if timed else line)
            commands.append(self.leave)
        return commands + self._bindings(target)

    def disarm(self, line_ids: Iterable[int]) -> StageResult:
        """Remove the armed objects of these lines, in force or not: bindings, ACLs, then the
        time-range. A line cut without a time-range is refused (the passes own it)."""
        wanted = list(dict.fromkeys(line_ids))
        if not wanted:
            return StageResult(self.name, ())
        progress = Progress()
        try:
            with self._opened():
                found = self._read()
                plans = self._disarm_plans(wanted, found)
                if any(plan.commands for plan in plans):
                    pushed = self._push(
                        Step.DISCARD,
                        plans,
                        found,
                        lambda fresh: self._disarm_plans(wanted, fresh),
                        progress,
                    )
                else:
                    pushed = Pushed(found)
        except DriverError as exc:
            lines = tuple(StagedLine(i, (), False, describe(exc)) for i in wanted)
            output = self._failed_output(progress, exc)
            return StageResult(self.name, lines, tuple(progress.sent), output, exc)
        done = []
        for i, plan in enumerate(plans):
            if plan.refusal is not None:
                done.append(StagedLine(plan.line_id, (), False, describe(plan.refusal)))
            elif i in pushed.rejections:
                problem = f"Rejected: {pushed.rejections[i]}"
                done.append(StagedLine(plan.line_id, plan.commands, False, problem))
            elif plan.line_id in pushed.after:
                problem = f"VerifyFailed: read-back still shows objects of line {plan.line_id}"
                done.append(StagedLine(plan.line_id, plan.commands, False, problem))
            else:
                done.append(StagedLine(plan.line_id, plan.commands, True))
        output = self._joined(progress.output)
        return StageResult(self.name, tuple(done), tuple(progress.sent), output, pushed.error)

    def _disarm_plans(
        self, line_ids: Sequence[int], found: Mapping[int, OwnedLine]
    ) -> list[DiscardPlan]:
        plans: list[DiscardPlan] = []
        for line_id in line_ids:
            line = found.get(line_id)
            if line is None:
                plans.append(DiscardPlan(line_id))
            elif isinstance(line, IosOwnedLine) and line.bindings and line.time_range is None:
                refusal = Rejected(f"line {line_id} is cut without a time-range: not disarming")
                plans.append(DiscardPlan(line_id, refusal=refusal))
            else:
                plans.append(DiscardPlan(line_id, tuple(self._removal(line))))
        return plans

    def stage(self, batch: Batch) -> StageResult:
        """`stage`; a line armed for its cut (device-timed, bound, waiting on its time-range)
        has nothing to stage: the bind at the instant finds it cut, or cuts it."""
        result = super().stage(batch)
        found = self._last_read
        if found is None or result.error is not None:
            return result
        targets = {t.line_id: t for t in batch.cuts}
        lines = tuple(
            replace(line, done=True, error=None)
            if not line.done and _armed_cut(found.get(line.line_id), targets.get(line.line_id))
            else line
            for line in result.lines
        )
        return replace(result, lines=lines)

    def apply(self, batch: Batch) -> BatchResult:
        """`apply`, and for a cut found in force by the device's own clock (nothing sent), the
        evidence of it in the result's device output: its time-range active, its entries."""
        result = super().apply(batch)
        found = self._last_read
        if found is None:
            return result
        targets = {t.line_id: t for t in batch.cuts}
        timed = [
            outcome.line_id
            for outcome in result.outcomes
            if outcome.action is Action.CUT
            and outcome.verified
            and not outcome.commands
            and isinstance(line := found.get(outcome.line_id), IosOwnedLine)
            and line.time_range is not None
            and line.state_for(targets[outcome.line_id]) is LineState.CUT
        ]
        if not timed:
            return result
        try:
            evidence = self._timed_evidence(timed, found)
        except DriverError as exc:
            evidence = f"evidence of the device-timed cut not read: {exc}"
        joined = "\n".join(part for part in (result.device_output, evidence) if part)
        return replace(result, device_output=joined)

    def _timed_evidence(self, line_ids: Sequence[int], found: ParsedConfig) -> str:
        parts: list[str] = []
        commands: list[str] = []
        for line_id in line_ids:
            line = found[line_id]
            assert isinstance(line, IosOwnedLine)
            state = "active" if line.time_range_active else "not defined (always active)"
            parts.append(
                f"line {line_id}: cut by the device's clock, time-range {line.time_range} "
                f"{state}: {line.absolute or 'no absolute'}; bound on "
                f"{', '.join(sorted(line.bindings))} in and out"
            )
            commands += [
                f"show access-lists {acl_name(family, line_id)}"
                for family in FAMILIES
                if family in line.acls
            ]
        with self._cli.opened():
            answers = self._cli.converse(commands, self._prompt(), "the time-ranged entries")
        return "\n".join([*parts, *(_without_echo(a).rstrip() for a in answers)])


def _armed_cut(found: OwnedLine | None, target: LineTarget | None) -> bool:
    """Whether the device holds the target's cut armed on a time-range (in force or not)."""
    return (
        isinstance(found, IosOwnedLine)
        and target is not None
        and found.time_range is not None
        and found.complete
        and found.prefixes == frozenset(target.prefixes)
        and found.bindings == frozenset({target.interface})
    )


def _without_echo(answer: str) -> str:
    """An answer without the echo of its command (its first line)."""
    return answer.split("\n", 1)[1] if "\n" in answer else ""
