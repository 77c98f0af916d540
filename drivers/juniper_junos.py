"""Juniper Junos driver: a cut is a pair of firewall filters, CURFEW-L<id> (family inet) and
CURFEW6-L<id> (family inet6), bound input and output on unit 0 of the venue's interface.

A batch is one candidate under `configure exclusive` and one commit. A batch that cuts commits
with `commit confirmed N` and confirms only once the committed configuration, read back, shows
every line it sent as intended: a controller that dies in between leaves a change the router
rolls back by itself N minutes later, and the next pass sees that and applies it again. A
restore-only batch commits plainly: removing a filter cannot lock anyone out, and a restore that
rolled itself back would leave a venue cut past its window.

A filter already bound where a cut would bind its own is never replaced: the cut of that line is
refused. That includes a filter the unit inherits from a configuration group (`apply-groups`),
which plain `display set` shows only under `groups`: the driver also reads the interfaces with
`display inheritance`, since a statement set on the unit would silently override the group's.

Interfaces are named as Junos names the physical port in its configuration (`ge-0/0/1`,
`xe-0/0/0:1`, `ae0`); the filters go on its unit 0, which the inventory never spells out.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from ipaddress import (
    IPv4Interface,
    IPv4Network,
    IPv6Interface,
    ip_address,
    ip_interface,
    ip_network,
)
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drivers.base import (
    Action,
    Batch,
    BatchResult,
    Credentials,
    DeviceFacts,
    DriverError,
    InvalidIdentifier,
    LineState,
    LineTarget,
    OwnedLine,
    Prefix,
    Rejected,
    StagedLine,
    StageResult,
    Unreachable,
    VerifyFailed,
)
from drivers.cli import NETMIKO_OR_ASYNCSSH, chosen_session
from drivers.lifecycle import (
    LinePlan,
    Progress,
    Pushed,
    Replan,
    Sendable,
    Stages,
    Step,
)
from drivers.outcomes import describe, first_line, outcome, rejected
from drivers.timing import (
    DeviceClock,
    DeviceZone,
    NamedZone,
    with_evidence,
    with_timed_evidence,
    without_echo,
)

PLATFORM = "juniper_junos"
# Minutes before an unconfirmed commit rolls back (Junos allows 1..65535).
CONFIRM_MINUTES = 5
# Every commit this driver makes carries this comment: `show system commit` then tells a
# pending confirmed commit of an earlier, interrupted pass from one of somebody else.
COMMIT_COMMENT = "curfew"
# A commit can take far longer than any other answer on a loaded routing engine.
COMMIT_TIMEOUT_FLOOR = 60.0


class ConfigurationBusy(DriverError):
    """Someone else holds the configuration (a lock, uncommitted changes, or a confirmed
    commit of theirs awaiting confirmation): nothing was changed; a later pass can succeed."""

    retryable = True


class Family(enum.StrEnum):
    INET = "inet"
    INET6 = "inet6"


class Direction(enum.StrEnum):
    INPUT = "input"
    OUTPUT = "output"


FAMILIES = (Family.INET, Family.INET6)
DIRECTIONS = (Direction.INPUT, Direction.OUTPUT)
# a read's words to these (a dict lookup: calling the enum was a tenth of a read's parse)
_FAMILY_OF_WORD = {family.value: family for family in FAMILIES}
_DIRECTION_OF_WORD = {direction.value: direction for direction in DIRECTIONS}
_LIST_DIRECTION_OF_WORD = {f"{direction.value}-list": direction for direction in DIRECTIONS}
UNIT = "0"  # the unit every cut binds on

_FILTER_PREFIX = {Family.INET: "CURFEW-L", Family.INET6: "CURFEW6-L"}
# Only canonical ids are ours: CURFEW-L042 or CURFEW-L0 were not written by this driver.
_OWNED_NAME = {
    family: re.compile(re.escape(prefix) + r"([1-9][0-9]{0,8})")
    for family, prefix in _FILTER_PREFIX.items()
}
# The interfaces with configuration groups applied, in `display set` form: a filter a group
# binds on a unit shows there as if set on the unit, and nowhere in the plain `display set`.
INHERITED_READ = "show configuration interfaces | display inheritance no-comments | display set"
# What of the configuration a change needs: the owned filters, every filter bound (on a unit,
# or by a group), where groups apply, and what is deactivated. The rest stays on the router.
OWNED_MATCH = "CURFEW|filter (input|output)|apply-groups|^deactivate"
BINDINGS_MATCH = "filter (input|output)"
# Terms of an owned filter, in order: drop from, drop to, let the rest through.
TERM_SOURCE, TERM_DESTINATION, TERM_REST = "s", "d", "rest"


def filter_name(family: Family, line_id: int) -> str:
    return f"{_FILTER_PREFIX[family]}{line_id}"


@functools.lru_cache(maxsize=1 << 16)
def owner_of(family: Family, name: str) -> int | None:
    """The line id a filter name belongs to, or None when the filter is not ours."""
    match = _OWNED_NAME[family].fullmatch(name)
    return int(match.group(1)) if match else None


def family_of(prefix: Prefix) -> Family:
    return Family.INET if isinstance(prefix, IPv4Network) else Family.INET6


def _network(family: Family, text: str) -> Prefix | None:
    """A filter address as Junos prints it, or None if it is not a clean network of `family`."""
    network = _clean_network(text)
    if network is None:
        return None
    return network if family_of(network) is family and network.prefixlen else None


@functools.lru_cache(maxsize=1 << 16)
def _clean_network(text: str) -> Prefix | None:
    """`ip_network(text)`, None if it is not a network: a router's reads repeat the same
    addresses at every pass, and parsing them was a fifth of a read's parse."""
    try:
        return ip_network(text, strict=True)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Reading `show configuration | display set`


def split_words(line: str) -> list[str] | None:
    """The words of a `display set` line; a double-quoted string is one word. None if broken."""
    if '"' not in line:  # nearly every line: the walk below cost a read's parse 3/4 of its time
        return line.split()
    words: list[str] = []
    i = 0
    while i < len(line):
        if line[i].isspace():
            i += 1
        elif line[i] == '"':
            i += 1
            chars: list[str] = []
            while i < len(line) and line[i] != '"':
                if line[i] == "\\" and i + 1 < len(line):
                    i += 1
                chars.append(line[i])
                i += 1
            if i >= len(line):
                return None
            words.append("".join(chars))
            i += 1
        else:
            start = i
            while i < len(line) and not line[i].isspace():
                i += 1
            words.append(line[start:i])
    return words


@dataclass(frozen=True, order=True)
class Binding:
    """One filter bound on a logical interface, for one family and direction."""

    interface: str
    unit: str
    family: Family
    direction: Direction

    @property
    def where(self) -> str:
        """The interface as the inventory names it: the port for unit 0, `port.unit` else."""
        return self.interface if self.unit == UNIT else f"{self.interface}.{self.unit}"


Slot = tuple[str, str, Family, Direction]  # interface, unit, family, direction


@dataclass
class _Term:
    sources: set[Prefix] = field(default_factory=set)
    destinations: set[Prefix] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    foreign: bool = False  # anything an owned term never holds


@dataclass
class _FoundFilter:
    family: Family
    terms: dict[str, _Term] = field(default_factory=dict)
    foreign: bool = False

    def prefixes(self) -> frozenset[Prefix]:
        return frozenset(p for t in self.terms.values() for p in (*t.sources, *t.destinations))

    def exact(self) -> bool:
        """Terms s, d, rest in that order, each exactly as `_filter_lines` writes them."""
        if self.foreign or list(self.terms) != [TERM_SOURCE, TERM_DESTINATION, TERM_REST]:
            return False
        s, d, rest = (self.terms[n] for n in (TERM_SOURCE, TERM_DESTINATION, TERM_REST))
        return (
            not any(t.foreign for t in (s, d, rest))
            and bool(s.sources)
            and s.sources == d.destinations
            and not s.destinations
            and not d.sources
            and s.actions == d.actions == {"discard"}
            and not rest.sources
            and not rest.destinations
            and rest.actions == {"accept"}
        )


@dataclass(frozen=True)
class JunosOwnedLine(OwnedLine):
    """An owned line plus exactly which objects exist, so a restore removes only those."""

    filters: frozenset[Family] = frozenset()
    exact_filters: frozenset[Family] = frozenset()  # filters whose terms are exactly a cut's
    bound: frozenset[Binding] = frozenset()  # active bindings of its filters
    stale: frozenset[Binding] = frozenset()  # bindings of its filters that are deactivated


class ParsedConfig(dict[int, OwnedLine]):
    """Owned lines by id (what `read()` returns), plus every filter bound on every unit.

    A unit holds one input and one output filter per family; binding ours where another sits
    would silently replace it, so rendering a cut needs to see the foreign ones too, including
    those a unit inherits from a configuration group: a statement set on the unit itself
    overrides the inherited one, so binding ours there would replace it just as silently.
    """

    def __init__(
        self,
        lines: Mapping[int, OwnedLine] | None = None,
        holders: Mapping[Slot, str] | None = None,
        inherited: Mapping[Slot, tuple[str, ...]] | None = None,
        status: CommitStatus | None = None,
    ) -> None:
        super().__init__(lines or {})
        # the latest commit, when the read asked (`show system commit`)
        self.status = status if status is not None else CommitStatus()
        self.holders: dict[Slot, str] = dict(holders or {})
        # slots whose filter comes from a configuration group: the groups that bind it there
        # (none named when the configuration does not say which)
        self.inherited: dict[Slot, tuple[str, ...]] = dict(inherited or {})

    def holder(self, interface: str, family: Family, direction: Direction) -> str | None:
        """Name of the filter bound on unit 0 of `interface` for that family and direction."""
        return self.holders.get((interface, UNIT, family, direction))

    def inherited_from(
        self, interface: str, family: Family, direction: Direction
    ) -> tuple[str, ...] | None:
        """The groups the filter bound there comes from; None when it is set on the unit."""
        return self.inherited.get((interface, UNIT, family, direction))


def _set_lines(text: str) -> Iterator[tuple[str, list[str]]]:
    """(verb, words after it) of every `set`/`deactivate` line of a `display set` answer."""
    for raw in text.splitlines():
        words = split_words(raw) if '"' in raw else raw.split()
        if words and len(words) > 1 and words[0] in ("set", "deactivate"):
            yield words[0], words[1:]


def _covers(inactive: Sequence[tuple[str, ...]], path: tuple[str, ...]) -> bool:
    """Whether a deactivated statement switches off `path` or something inside it."""
    return any(path[: len(p)] == p or p[: len(path)] == path for p in inactive)


def _binding(w: Sequence[str]) -> tuple[Slot, str] | None:
    """The slot an `interfaces IF unit U family F filter …` statement fills, and with what."""
    if not (
        len(w) >= 9
        and w[0] == "interfaces"
        and w[2] == "unit"
        and w[4] == "family"
        and w[6] == "filter"
    ):
        return None
    family = _FAMILY_OF_WORD.get(w[5])
    if family is None:
        return None
    direction = _DIRECTION_OF_WORD.get(w[7])
    if direction is not None:
        return ((w[1], w[3], family, direction), w[8]) if len(w) == 9 else None
    direction = _LIST_DIRECTION_OF_WORD.get(w[7])
    if direction is not None:
        # a filter list holds the slot as surely as a filter: never ours
        return (w[1], w[3], family, direction), " ".join(w[7:])
    return None


def _names(name: str, word: str) -> bool:
    """Whether a group's name for an interface or unit (`ge-0/0/1`, `<ge-*>`) stands for `word`."""
    if len(name) > 2 and name[0] == "<" and name[-1] == ">":
        return fnmatchcase(word, name[1:-1])
    return name == word


@dataclass
class _Groups:
    """What the configuration as written says of groups binding filters: which groups bind
    which filter where, and where each group is applied (interface and unit, None for all)."""

    bindings: list[tuple[str, Slot, str]] = field(default_factory=list)
    applied: dict[str, list[tuple[str | None, str | None]]] = field(default_factory=dict)

    def read(self, w: Sequence[str]) -> None:
        if len(w) >= 3 and w[0] == "groups":
            found = _binding(w[2:])
            if found is not None:
                self.bindings.append((w[1], *found))
            return
        if w[0] == "interfaces" and len(w) >= 2 and w[1] == "apply-groups":
            where: tuple[str | None, str | None] = (None, None)
            names = w[2:]
        elif w[0] == "interfaces" and len(w) >= 3 and w[2] == "apply-groups":
            where, names = (w[1], None), w[3:]
        elif w[0] == "interfaces" and len(w) >= 5 and w[2] == "unit" and w[4] == "apply-groups":
            where, names = (w[1], w[3]), w[5:]
        elif w[0] == "apply-groups":
            where, names = (None, None), w[1:]
        else:
            return
        for name in names:
            if name not in ("[", "]"):
                self.applied.setdefault(name, []).append(where)

    def binding(self, slot: Slot, name: str) -> tuple[str, ...]:
        """The applied groups that bind filter `name` in `slot`."""
        interface, unit, family, direction = slot
        found: list[str] = []
        for group, (at, within, fam, way), bound in self.bindings:
            if (
                bound == name
                and (fam, way) == (family, direction)
                and _names(at, interface)
                and _names(within, unit)
                and group not in found
                and any(
                    i in (None, interface) and u in (None, unit)
                    for i, u in self.applied.get(group, ())
                )
            ):
                found.append(group)
        return tuple(found)


def parse_display_set(
    text: str, inherited: str | None = None, status: CommitStatus | None = None
) -> ParsedConfig:
    """Find the owned filters and bindings, and every filter bound, in `display set` output.

    `inherited` is the interfaces with groups applied (`display inheritance`): the filters it
    shows bound are what holds each slot. Owned objects are read from `text` alone, as written:
    an inherited statement is the group's, and never the driver's to delete.
    """
    filters: dict[tuple[Family, int], _FoundFilter] = {}
    holders: dict[Slot, str] = {}
    inactive: list[tuple[str, ...]] = []
    groups = _Groups()
    interfaces = False  # whether any filter is bound on an interface, as written
    for verb, w in _set_lines(text):
        if verb == "deactivate":
            inactive.append(tuple(w))
            continue
        head = w[0]
        if head == "firewall":  # most lines; none says anything of groups
            family = _FAMILY_OF_WORD.get(w[2]) if len(w) >= 5 and w[1] == "family" else None
            if family is not None and w[3] == "filter":
                line_id = owner_of(family, w[4])
                if line_id is not None:
                    found = filters.get((family, line_id))
                    if found is None:
                        found = filters[(family, line_id)] = _FoundFilter(family)
                    _parse_filter_statement(found, w[5:])
            continue
        groups.read(w)
        if head == "interfaces" and (binding := _binding(w)) is not None:
            # a filter set on a unit shows in the inheritance read too, groups or not
            interfaces = True
            holders[binding[0]] = binding[1]
    effective, origins = _effective(holders, inherited, groups, interfaces)

    bound: dict[int, set[Binding]] = {}
    stale: dict[int, set[Binding]] = {}
    for (interface, unit, family, direction), name in holders.items():
        line_id = owner_of(family, name)
        if line_id is None:
            continue
        binding = Binding(interface, unit, family, direction)
        path = ("interfaces", interface, "unit", unit, "family", family, "filter", direction)
        target = stale if inactive and _covers(inactive, path) else bound
        target.setdefault(line_id, set()).add(binding)

    lines: dict[int, OwnedLine] = {}
    for line_id in sorted({i for _, i in filters} | set(bound) | set(stale)):
        found = {f: filters[(f, line_id)] for f in FAMILIES if (f, line_id) in filters}
        exact = frozenset(
            f
            for f, flt in found.items()
            if flt.exact()
            and not (
                inactive
                and _covers(inactive, ("firewall", "family", f, "filter", filter_name(f, line_id)))
            )
        )
        active = frozenset(bound.get(line_id, ()))
        switched_off = frozenset(stale.get(line_id, ()))
        units = {(b.interface, b.unit) for b in active | switched_off}
        expected = frozenset(
            Binding(i, u, f, d) for i, u in units for f in found for d in DIRECTIONS
        )
        complete = (
            bool(found)
            and exact == frozenset(found)
            and len(units) == 1
            and next(iter(units))[1] == UNIT
            and not switched_off
            and active == expected
        )
        lines[line_id] = JunosOwnedLine(
            line_id=line_id,
            prefixes=frozenset().union(*(flt.prefixes() for flt in found.values())),
            bindings=frozenset(b.where for b in active | switched_off),
            complete=complete,
            exact=bool(found) and exact == frozenset(found),
            filters=frozenset(found),
            exact_filters=exact,
            bound=active,
            stale=switched_off,
        )
    return ParsedConfig(lines, effective, origins, status)


def _effective(
    holders: Mapping[Slot, str], inherited: str | None, groups: _Groups, interfaces: bool
) -> tuple[dict[Slot, str], dict[Slot, tuple[str, ...]]]:
    """Every slot's filter once groups apply, and for those that differ from the configuration
    as written, the groups binding it there."""
    effective = dict(holders)
    if inherited is None:
        return effective, {}
    shown = list(_set_lines(inherited))
    if _refused(inherited) or (interfaces and not any(w[0] == "interfaces" for _, w in shown)):
        # inheritance only adds to the interfaces: a read showing none of them was refused
        raise Rejected(
            f"{INHERITED_READ!r} showed no interface; not cutting blind to configuration groups",
            inherited,
        )
    origins: dict[Slot, tuple[str, ...]] = {}
    for verb, w in shown:
        binding = _binding(w) if verb == "set" else None
        if binding is not None and holders.get(binding[0]) != binding[1]:
            slot, name = binding
            effective[slot] = name
            origins[slot] = groups.binding(slot, name)
    return effective, origins


# What an inheritance read may hold besides statements: its echo, the banners of a
# configuration session (`[edit]`, `# commit confirmed will be rolled back ...`), a routing
# engine's (`{master:0}`), a warning.
_READ_NOISE = re.compile(
    r"\s*$|\s*(?:run )?show |\[edit.*\]\s*$|\{[\w:-]*\}\s*$|#|warning:", re.IGNORECASE
)


def _refused(answer: str) -> bool:
    """Whether a `display set` answer holds anything but statements: an error, a caret."""
    for line in answer.replace("\r", "").split("\n"):
        words = split_words(line.strip()) or []
        if not _READ_NOISE.match(line) and words[:1] not in (["set"], ["deactivate"]):
            return True
    return False


def _parse_filter_statement(found: _FoundFilter, words: list[str]) -> None:
    if not words:
        return  # an empty filter
    if words[0] != "term" or len(words) < 2:
        found.foreign = True
        return
    term = found.terms.get(words[1])
    if term is None:
        term = found.terms[words[1]] = _Term()
    body = words[2:]
    if not body:
        return
    if (
        len(body) == 3
        and body[0] == "from"
        and body[1] in ("source-address", "destination-address")
    ):
        network = _network(found.family, body[2])
        if network is None:
            term.foreign = True
        elif body[1] == "source-address":
            term.sources.add(network)
        else:
            term.destinations.add(network)
    elif len(body) == 2 and body[0] == "then" and body[1] in ("accept", "discard"):
        term.actions.add(body[1])
    else:
        term.foreign = True


@dataclass(frozen=True)
class CommitStatus:
    """What `show system commit` says of the latest commit."""

    pending: bool = False  # a `commit confirmed` not confirmed yet
    ours: bool = False  # ... made by this driver (it carries COMMIT_COMMENT)
    by: str = ""
    minutes_left: int | None = None
    # a `commit at` waiting for its time: when, on the device's wall clock, and who asked
    scheduled: datetime | None = None
    scheduled_by: str = ""
    # the latest commit's entry (when, by whom, how) and its comment: evidence, not state
    latest: str = field(default="", compare=False)


_COMMIT_ENTRY = re.compile(r"^\s*0\s+(?P<header>.*\S)\s*$")
_PENDING = re.compile(r"commit confirmed, rollback in (?P<minutes>\d+)\s*min")
_COMMITTER = re.compile(r"\bby (?P<user>\S+)")
# `commit requested by curfew via cli at Wed Nov 25 00:00:00 2026`
_SCHEDULED = re.compile(r"^\s*commit requested by (?P<user>\S+) via \S+ at (?P<at>.*\S)\s*$", re.M)


def parse_scheduled(text: str) -> tuple[datetime, str] | None:
    """The commit `show system commit` says is scheduled (`commit at`): its time on the
    device's wall clock (naive) and who scheduled it; None when none is."""
    match = _SCHEDULED.search(text)
    if match is None:
        return None
    try:
        words = " ".join(match.group("at").split())
        at = datetime.strptime(words, "%a %b %d %H:%M:%S %Y")  # noqa: DTZ007 - a wall clock
    except ValueError as exc:
        raise Rejected(f"scheduled commit time not understood: {match.group('at')!r}") from exc
    return at, match.group("user")


def parse_commit_status(text: str) -> CommitStatus:
    scheduled = parse_scheduled(text)
    status = _commit_status(text)
    if scheduled is None:
        return status
    return replace(status, scheduled=scheduled[0], scheduled_by=scheduled[1])


def _commit_status(text: str) -> CommitStatus:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = _COMMIT_ENTRY.match(line)
        if match is None:
            continue
        header = match.group("header")
        comment = ""
        if index + 1 < len(lines) and re.match(r"^\s+\D", lines[index + 1]):
            comment = lines[index + 1].strip()
        latest = f"{header} ({comment})" if comment else header
        pending = _PENDING.search(header)
        if pending is None:
            return CommitStatus(latest=latest)
        committer = _COMMITTER.search(header)
        return CommitStatus(
            pending=True,
            ours=comment == COMMIT_COMMENT,
            by=committer.group("user") if committer else "",
            minutes_left=int(pending.group("minutes")),
            latest=latest,
        )
    return CommitStatus()


# -- the router's clock, for device-timed windows (`commit at`) --------------------------------

# the NTP era: an NTP timestamp counts seconds (and 2^-32 fractions) from here
NTP_ERA = datetime(1900, 1, 1, tzinfo=UTC)
TIME_ZONE_MATCH = "system time-zone"
# the clock in one exchange: ntpd's own view (its state, offset and clock, to the fraction),
# and the zone the configuration sets (Junos keeps UTC when none is set)
CLOCK_READ = ("show ntp status", f'show configuration | display set | match "{TIME_ZONE_MATCH}"')
_NTP_STATUS_WORD = re.compile(r"\bstatus=[0-9a-fA-F]{4}\s+(?P<leap>[a-z_]+),\s*(?P<sync>[a-z_]+)")
_NTP_STRATUM = re.compile(r"\bstratum=(\d+)")
_NTP_OFFSET = re.compile(r"\boffset=(-?\d+(?:\.\d+)?)")
_NTP_CLOCK = re.compile(r"\bclock=(?P<seconds>[0-9a-fA-F]{8})\.(?P<fraction>[0-9a-fA-F]{8})")
_TIME_ZONE = re.compile(r"^\s*set system time-zone (?P<zone>\S+)\s*$", re.M)
_ZONE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,30}(?:/[A-Za-z0-9_+-]{1,30}){0,2}")


def parse_junos_ntp(text: str) -> tuple[bool, float | None, datetime | None]:
    """`show ntp status`: whether ntpd is synchronised (leap_none, sync_ntp, a stratum below
    16), its offset to the peer (ms) and its clock (`clock=` as an NTP timestamp, UTC)."""
    word = _NTP_STATUS_WORD.search(text)
    stratum = _NTP_STRATUM.search(text)
    synchronised = (
        word is not None
        and word.group("leap") == "leap_none"
        and word.group("sync") == "sync_ntp"
        and stratum is not None
        and int(stratum.group(1)) < 16
    )
    offset = _NTP_OFFSET.search(text)
    clock = _NTP_CLOCK.search(text)
    instant = None
    if clock is not None:
        fraction = int(clock.group("fraction"), 16) / 2**32
        instant = NTP_ERA + timedelta(seconds=int(clock.group("seconds"), 16) + fraction)
    return synchronised, float(offset.group(1)) if offset else None, instant


def parse_time_zone(text: str) -> NamedZone:
    """The zone `system time-zone` sets (UTC when none is); ValueError for one not known."""
    match = _TIME_ZONE.search(text)
    if match is None:
        return NamedZone("UTC")
    key = match.group("zone").strip('"')
    if not _ZONE_KEY.fullmatch(key):
        raise ValueError(f"time-zone {key!r} not understood")
    try:
        ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"time-zone {key!r} is not in the tz database here") from exc
    return NamedZone(key)


def read_junos_clock(ntp_status: str, zone_config: str) -> DeviceClock:
    """The router's clock from its answers to `CLOCK_READ`; what cannot be understood becomes
    the clock's `problem`."""
    text = "\n".join((ntp_status.strip(), zone_config.strip()))
    synchronised, offset, instant = parse_junos_ntp(ntp_status)
    try:
        zone = parse_time_zone(zone_config)
    except ValueError as exc:
        return DeviceClock(
            None, synchronised, NamedZone("UTC"), offset, f"device zone: {exc}", text
        )
    if instant is None:
        problem = "device clock: no clock in the answer to `show ntp status`"
        return DeviceClock(None, synchronised, zone, offset, problem, text)
    return DeviceClock(instant, synchronised, zone, offset, None, text)


def parse_facts(text: str) -> DeviceFacts:
    """Interfaces with their addresses and static routes, from `display set` output.

    A unit's addresses belong to the port for unit 0 and to `port.unit` for any other unit.
    A static route points out of the interface whose subnet holds its next hop, or out of the
    interface a next hop names (`next-hop ge-0/0/1.0`); routes that discard, reject or use
    `qualified-next-hop` are left out.
    """
    interfaces: dict[str, list[IPv4Interface | IPv6Interface]] = {}
    hops: list[tuple[Prefix, str]] = []
    for verb, w in _set_lines(text):
        if verb != "set":
            continue
        if w[0] == "interfaces" and len(w) >= 2:
            if len(w) >= 4 and w[2] == "unit":
                name = w[1] if w[3] == UNIT else f"{w[1]}.{w[3]}"
                addresses = interfaces.setdefault(name, [])
                if len(w) >= 8 and w[4] == "family" and w[5] in FAMILIES and w[6] == "address":
                    try:
                        address = ip_interface(w[7])
                    except ValueError:
                        continue
                    if address not in addresses:
                        addresses.append(address)
            elif not any(n == w[1] or n.startswith(w[1] + ".") for n in interfaces):
                interfaces.setdefault(w[1], [])
        elif w[:3] == ["routing-options", "static", "route"] and len(w) == 6:
            if w[4] == "next-hop":
                hops.append((w[3], w[5]))
        elif w[:5] == ["routing-options", "rib", "inet6.0", "static", "route"] and len(w) == 8:
            if w[6] == "next-hop":
                hops.append((w[5], w[7]))
    routes: dict[Prefix, str] = {}
    for route, hop in hops:
        try:
            prefix = ip_network(route, strict=False)
        except ValueError:
            continue
        out = _interface_towards(interfaces, hop)
        if out is not None:
            routes[prefix] = out
    return DeviceFacts({n: tuple(a) for n, a in interfaces.items()}, routes)


def _interface_towards(
    interfaces: Mapping[str, Sequence[IPv4Interface | IPv6Interface]], hop: str
) -> str | None:
    try:
        gateway = ip_address(hop)
    except ValueError:
        name, _, unit = hop.rpartition(".")
        named = name if unit == UNIT else hop
        return named if named in interfaces else None
    for name, addresses in interfaces.items():
        if any(a.version == gateway.version and gateway in a.network for a in addresses):
            return name
    return None


# --------------------------------------------------------------------------------------------
# What render sends

# Interface names read from the device, rendered again only to delete an owned binding.
_DEVICE_INTERFACE = re.compile(r"[a-z]{2,6}(?:-\d{1,2}/\d{1,2}/\d{1,3}(?::\d{1,2})?|\d{0,4})")
_DEVICE_UNIT = re.compile(r"0|[1-9][0-9]{0,9}")


def _prefix_text(prefix: Prefix) -> str:
    return prefix.compressed


def _filter_lines(family: Family, target: LineTarget) -> list[str]:
    head = f"set firewall family {family} filter {filter_name(family, target.line_id)}"
    prefixes = [_prefix_text(p) for p in dict.fromkeys(target.prefixes) if family_of(p) is family]
    return [
        *(f"{head} term {TERM_SOURCE} from source-address {p}" for p in prefixes),
        f"{head} term {TERM_SOURCE} then discard",
        *(f"{head} term {TERM_DESTINATION} from destination-address {p}" for p in prefixes),
        f"{head} term {TERM_DESTINATION} then discard",
        f"{head} term {TERM_REST} then accept",
    ]


def _bind(binding: Binding, line_id: int) -> str:
    return (
        f"set interfaces {binding.interface} unit {binding.unit} family {binding.family} "
        f"filter {binding.direction} {filter_name(binding.family, line_id)}"
    )


def _unbind(binding: Binding, line_id: int) -> str:
    """Delete one owned binding. Junos deletes a filter statement whatever filter it names,
    so this is only ever rendered for a binding read-back showed naming ours."""
    if not (
        _DEVICE_INTERFACE.fullmatch(binding.interface) and _DEVICE_UNIT.fullmatch(binding.unit)
    ):
        raise InvalidIdentifier(
            f"line {line_id} is bound on {binding.where!r}, which cannot be rendered"
        )
    return (
        f"delete interfaces {binding.interface} unit {binding.unit} family {binding.family} "
        f"filter {binding.direction}"
    )


def _drop_filter(family: Family, line_id: int) -> str:
    return f"delete firewall family {family} filter {filter_name(family, line_id)}"


def _found_objects(found: OwnedLine) -> JunosOwnedLine:
    """Exactly which owned objects exist. A bare OwnedLine (not parsed here) says that much
    only when it is complete."""
    if isinstance(found, JunosOwnedLine):
        return found
    if not found.complete or len(found.bindings) != 1:
        raise ValueError(
            f"line {found.line_id}: an incomplete OwnedLine does not say which objects exist; "
            f"render against what read() returned"
        )
    families = frozenset(family_of(p) for p in found.prefixes)
    (interface,) = found.bindings
    return JunosOwnedLine(
        line_id=found.line_id,
        prefixes=found.prefixes,
        bindings=found.bindings,
        complete=True,
        exact=True,
        filters=families,
        exact_filters=families,
        bound=frozenset(Binding(interface, UNIT, f, d) for f in families for d in DIRECTIONS),
    )


def _wanted(target: LineTarget) -> tuple[list[Family], frozenset[Binding]]:
    families = [f for f in FAMILIES if any(family_of(p) is f for p in target.prefixes)]
    bindings = frozenset(
        Binding(target.interface, UNIT, f, d) for f in families for d in DIRECTIONS
    )
    return families, bindings


def _removal(have: JunosOwnedLine) -> list[str]:
    """Bindings first (active or deactivated), then the filters."""
    drops = [_drop_filter(f, have.line_id) for f in FAMILIES if f in have.filters]
    return _unbindings(have) + drops


def _unbindings(have: JunosOwnedLine) -> list[str]:
    """The line's bindings removed, active or deactivated; its filters stay."""
    return [_unbind(b, have.line_id) for b in sorted(have.bound | have.stale)]


def _cut(target: LineTarget, have: JunosOwnedLine | None) -> tuple[list[str], list[str]]:
    """A cut from what the device holds: (bindings to remove and filters to (re)write, the
    bindings to add). Filters are written before the bindings that name them.

    A filter that differs in any way is deleted and written whole: terms are evaluated in order,
    so a missing term appended after `rest` would never match.
    """
    line_id = target.line_id
    families, bindings = _wanted(target)
    wanted_prefixes = {f: {p for p in target.prefixes if family_of(p) is f} for f in families}
    unbind = sorted(have.stale | (have.bound - bindings)) if have else []
    rewrite = [
        f
        for f in FAMILIES
        if have is not None
        and f in have.filters
        and (
            f not in families
            or f not in have.exact_filters
            or {p for p in have.prefixes if family_of(p) is f} != wanted_prefixes[f]
        )
    ]
    kept = have.bound - set(unbind) if have else frozenset()
    bodies = [_unbind(b, line_id) for b in unbind]
    bodies += [_drop_filter(f, line_id) for f in rewrite]
    for family in families:
        if have is None or family not in have.filters or family in rewrite:
            bodies += _filter_lines(family, target)
    return bodies, [_bind(b, line_id) for b in sorted(bindings - kept)]


def _occupied(
    target: LineTarget,
    config: ParsedConfig,
    restored: set[int],
    claimed: Mapping[Hashable, int],
) -> Rejected | None:
    """Why binding the target's filters would replace a filter that is not this line's."""
    families, _ = _wanted(target)
    for family in families:
        for direction in DIRECTIONS:
            where = f"{target.interface} unit {UNIT} already filters {family} {direction}"
            other = claimed.get((family, direction))
            if other is not None and other != target.line_id:
                name = filter_name(family, other)
                return Rejected(f"{where} with {name} (line {other}, cut in this batch)")
            holder = config.holder(target.interface, family, direction)
            if holder is None:
                continue
            groups = config.inherited_from(target.interface, family, direction)
            if groups is not None:
                # whatever its name: a group's statement is not the driver's to override
                source = f"group {', '.join(groups)}" if groups else "a configuration group"
                return Rejected(
                    f"{where} with {holder}, inherited from {source}; not overriding a filter "
                    f"a configuration group binds"
                )
            owner = owner_of(family, holder)
            if owner == target.line_id or owner in restored:
                continue
            if owner is None:
                return Rejected(f"{where} with {holder}; not replacing a foreign filter")
            return Rejected(
                f"{where} with {holder} (line {owner}); not replacing another line's filter"
            )
    return None


# --------------------------------------------------------------------------------------------
# Reading the device's answers

_CARET = re.compile(r"^\s*\^\s*$")
_QUIET = re.compile(r"^\s*$|^\[edit.*\]$|^# commit confirmed will be rolled back|^warning:", re.I)


def problems_in(answer: str) -> list[str]:
    """What the device objected to in its answer to one command (its echo excluded).

    A configuration command that works prints nothing; anything but a blank line, the `[edit]`
    banner, the confirmed-commit reminder or a warning is the device refusing it.
    """
    lines = answer.replace("\r", "").split("\n")[1:]
    return [line.strip() for line in lines if not _QUIET.match(line) and not _CARET.match(line)]


# --------------------------------------------------------------------------------------------
# The session


class JuniperJunosDriver(Stages):
    """One Junos router over SSH through netmiko (wrapped, not subclassed).

    `confirm_minutes` (or `credentials.extra["confirm_minutes"]`) is the rollback window of a
    cutting commit; `commit_timeout` how long a commit may take to answer.

    A stage commits the filters (unbound, they filter nothing) with a plain commit; the bind's
    `commit confirmed` then carries only the bindings. `after_commit_confirmed` is a test
    seam: called once the device has accepted `commit confirmed` (and answered the read-back
    sent with it) and before anything is confirmed, it stands for the controller dying at that
    instant: a hook that raises a BaseException leaves the session dropped and the commit
    unconfirmed.
    """

    platform: ClassVar[str] = PLATFORM
    ssh: ClassVar[bool] = True
    session_layers: ClassVar[Mapping[str, str]] = NETMIKO_OR_ASYNCSSH

    def __init__(
        self,
        name: str,
        credentials: Credentials,
        *,
        confirm_minutes: int | None = None,
        commit_timeout: float | None = None,
        after_commit_confirmed: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name, credentials)
        extra = credentials.extra
        minutes = (
            confirm_minutes
            if confirm_minutes is not None
            else int(extra.get("confirm_minutes", CONFIRM_MINUTES))
        )
        if not 1 <= minutes <= 65535:
            raise ValueError(f"confirm_minutes must be 1..65535, got {minutes}")
        self.confirm_minutes = minutes
        self.commit_timeout = (
            commit_timeout
            if commit_timeout is not None
            else float(extra.get("commit_timeout", max(credentials.timeout, COMMIT_TIMEOUT_FLOOR)))
        )
        self.after_commit_confirmed = after_commit_confirmed
        self._cli = chosen_session(name, credentials, PLATFORM, self.session_layers, PLATFORM)
        self._prompt: re.Pattern[str] | None = None
        self._last_read: ParsedConfig | None = None  # the latest `_read_state`
        # the latest parse of a read, by its answers' statements (see `_parsed`)
        self._last_parse: tuple[tuple[str, str], ParsedConfig] | None = None

    # -- session lifecycle; netmiko's errors become the project's here -----------------------

    @property
    def _where(self) -> str:
        return self._cli.where

    def open(self) -> None:
        if self._cli.connection is not None:
            return
        try:
            self._cli.open()
        except ValueError as exc:
            # netmiko raises ValueError when what answers is not a Junos prompt
            raise Unreachable(f"{self._where}: cannot connect: {first_line(exc)}") from exc
        base = re.escape(self._cli.connection.base_prompt)
        # A prompt starts a line: every line of `display set` starts with `set`, so no
        # configuration text can pass for one. The question is Junos asking before it exits.
        self._prompt = re.compile(rf"(?m)(?:^{base}(?P<mode>[>#]) |\[yes,no\] \(yes\) )")

    def close(self) -> None:
        self._cli.close()

    def _opened(self) -> AbstractContextManager[object]:
        return self._session()

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """The open connection (opened here, and closed after, if it was not already).

        An interruption that is not a device error (the process being stopped) drops the
        session as it is: what the device does then is what it does for a dead controller.
        """
        opened_here = self._cli.connection is None
        self.open()
        try:
            yield self._cli.connection
        except Exception:
            if opened_here:
                self.close()
            raise
        except BaseException:
            if opened_here:
                self._cli.drop()
            raise
        if opened_here:
            self.close()

    def _converse(
        self, commands: Sequence[str], what: str, timeout: float | None = None
    ) -> list[str]:
        """Write commands at once; each one's answer (its echo, then its output), read until
        the device has printed one prompt per command. No timing: prompts end every read."""
        if self._cli.connection is None or self._prompt is None:
            raise Unreachable(f"{self._where}: no session")
        return self._cli.converse(commands, self._prompt, what, timeout)

    def _send(
        self,
        commands: Sequence[str],
        progress: Progress,
        *,
        reads: Sequence[str] = (),
        timeout: float | None = None,
    ) -> list[str]:
        """Configuration commands, then read-only ones, in one exchange: the answers of all.

        Only the configuration commands are reported as sent and answered (reads are not
        changes); a partial answer goes to the transcript when the exchange fails.
        """
        progress.sent.extend(commands)
        try:
            answers = self._converse([*commands, *reads], repr(commands[0]), timeout)
        except DriverError as exc:
            progress.output.append(exc.output)
            exc.output = ""
            raise
        progress.output.extend(answers[: len(commands)])
        return answers

    def _read_state(self, in_config: bool) -> ParsedConfig:
        """What a change needs of the committed configuration, and the state of the latest
        commit, in one exchange."""
        commits, config, inherited = self._converse(_state_reads(in_config), "show configuration")
        parsed = self._parsed(config, inherited, parse_commit_status(commits))
        self._last_read = parsed
        return parsed

    def _parsed(
        self, config: str, inherited: str, status: CommitStatus | None = None
    ) -> ParsedConfig:
        """`parse_display_set` of a read, skipped when the device printed the same statements
        as for the last one parsed in this session (a read under the lock after the prepare's,
        a discard's after the read-back): only the commit status is new then. A router's
        parse is milliseconds of the pass's CPU, and a restore reads it some six times."""
        key = (_statements_of(config), _statements_of(inherited))
        if self._last_parse is None or self._last_parse[0] != key:
            self._last_parse = (key, parse_display_set(config, inherited))
        parsed = self._last_parse[1]
        return ParsedConfig(parsed, parsed.holders, parsed.inherited, status)

    def _lock(self, progress: Progress) -> tuple[str, str, str]:
        """`configure exclusive` and, in the same exchange, the state reads under the lock
        (the latest commit, the owned configuration, the bindings as they take effect)."""
        entered, commits, config, inherited = self._send(
            ["configure exclusive"], progress, reads=_state_reads(in_config=True)
        )
        if "Entering configuration mode" not in entered or "[edit]" not in entered:
            refused = problems_in(entered) or ["configure exclusive refused"]
            raise ConfigurationBusy(f"{self._where}: {' / '.join(refused)}", entered)
        return commits, config, inherited

    def _push_lines(self, commands: Sequence[str], progress: Progress) -> list[str]:
        """Config commands in windows (`CliSession.window`), each written at once and read
        until the device has printed one prompt per command; each command's answer.

        netmiko's `send_config_set` waits out a poll twice per command; the device echoes
        each command as it processes it, so the answers still pair every command with its
        errors. A window bounds the input waiting on the router.
        """
        answers: list[str] = []
        window = self._cli.window
        for start in range(0, len(commands), window):
            answers += self._send(commands[start : start + window], progress)
        return answers

    def _finish(self, commands: Sequence[str], progress: Progress) -> str:
        """Send `commands`, then leave configuration mode, in one exchange; the answer to the
        last of `commands`. A leftover candidate is never kept (only a failed rollback leaves
        one): Junos asks, and is told yes."""
        *answers, leaving = self._send(
            [*commands, "exit configuration-mode"], progress, timeout=self.commit_timeout
        )
        if "[yes,no]" in leaving:
            self._send(["yes"], progress)
        return answers[-1] if answers else leaving

    # -- the lifecycle's steps ---------------------------------------------------------------

    def _read(self) -> ParsedConfig:
        return self._read_state(in_config=False)

    def _as_found(self, owned: Mapping[int, OwnedLine]) -> ParsedConfig:
        return owned if isinstance(owned, ParsedConfig) else ParsedConfig(owned)

    def _pending(self, found: Mapping[int, OwnedLine]) -> bool:
        """A confirmed commit awaits confirmation: an interrupted pass's of ours is settled
        (confirmed if read-back verifies, else rolled back); anyone else's is refused."""
        return self._as_found(found).status.pending

    def _render(
        self, step: Step, action: Action, target: LineTarget, found: OwnedLine | None
    ) -> list[str]:
        """Bindings removed first, then filters; filters written before the bindings that
        name them. A stage writes only filters of a line bound nowhere; a restore that keeps
        its bodies (a prepared pass's bind) only unbinds."""
        have = _found_objects(found) if found is not None else None
        if action is Action.RESTORE:
            if have is None:
                return []
            return _unbindings(have) if self._keeping_bodies else _removal(have)
        if have is not None and have.state_for(target) is LineState.CUT:
            return []
        if step is Step.STAGE and have is not None and (have.bound or have.stale):
            return []  # bound, not as the cut needs: its filters change only with a bind
        bodies, bindings = _cut(target, have)
        return bodies if step is Step.STAGE else bodies + bindings

    def _removal(self, found: OwnedLine) -> list[str]:
        return _removal(_found_objects(found))

    def _occupied(
        self,
        target: LineTarget,
        found: Mapping[int, OwnedLine],
        restored: set[int],
        claimed: dict[Hashable, int],
    ) -> Rejected | None:
        return _occupied(target, self._as_found(found), restored, claimed)

    def _slots(self, target: LineTarget) -> list[Hashable]:
        """The filter slots a cut takes on its unit: each family it blocks, both ways."""
        return [(family, direction) for family in _wanted(target)[0] for direction in DIRECTIONS]

    def facts(self) -> DeviceFacts:
        """Interfaces with their addresses, and static routes, from the configuration."""
        with self._session():
            (config,) = self._converse(["show configuration | display set"], "show configuration")
            return parse_facts(config)

    def _refuse_foreign_pending(self, status: CommitStatus) -> None:
        if status.pending and not status.ours:
            raise ConfigurationBusy(
                f"{self._where}: a confirmed commit by {status.by or 'someone else'} awaits "
                f"confirmation (rollback in {status.minutes_left} min); not building on it"
            )

    def _push(
        self,
        step: Step,
        plans: Sequence[Sendable],
        found: Mapping[int, OwnedLine],
        replan: Replan,
        progress: Progress,
    ) -> Pushed:
        """Lock, read again under the lock, push, commit, read back, confirm or roll back.

        Exchanges that cannot hurt each other share a round trip: the reads follow `configure
        exclusive` (refused, they are unknown commands in operational mode) and the commit.
        A bind that cuts commits `commit confirmed` and confirms once read-back verifies; a
        stage, a discard or a restore commits plainly (unbound filters filter nothing; a
        restore that rolled itself back would leave a venue cut past its window).
        """
        status = self._as_found(found).status
        self._refuse_foreign_pending(status)
        if status.scheduled is not None:
            if not self._ours(status):
                raise ConfigurationBusy(
                    f"{self._where}: a commit scheduled by {status.scheduled_by or 'someone else'}"
                    f" for {_wall(status.scheduled)} is pending; not building on it"
                )
            if step is Step.STAGE:
                # bodies without effect are not worth the armed cuts: they wait for the pass
                raise ConfigurationBusy(
                    f"{self._where}: our commit scheduled for {_wall(status.scheduled)} is "
                    f"pending; nothing is staged before it runs (the pass pushes these cuts whole)"
                )
            # our armed cuts' commit, not run yet (the router's clock is behind the pass's, or
            # a change comes before the instant): cancelled, so that this change can commit;
            # the lines it armed are cut by the pass that finds them open
            self._cancel_schedule(progress)
        if step is not Step.BIND and status.pending:
            raise ConfigurationBusy(
                f"{self._where}: a confirmed commit of an interrupted pass awaits confirmation; "
                f"the next apply settles it before anything is staged"
            )
        commits, config, inherited = self._lock(progress)
        try:
            locked = self._parsed(config, inherited, parse_commit_status(commits))
        except Rejected:
            self._finish([], progress)
            raise
        if locked.status.pending and not locked.status.ours:
            self._finish([], progress)
            self._refuse_foreign_pending(locked.status)
        plans = replan(locked)
        line_commands = [c for plan in plans for c in plan.commands]
        rejections: dict[int, str] = {}
        error: DriverError | None = None
        # an unconfirmed commit of an interrupted earlier pass is ours to confirm or undo
        unconfirmed = step is Step.BIND and locked.status.pending
        after = locked
        if line_commands:
            answers = self._push_lines(line_commands, progress)
            rejections, error = _rejections(plans, line_commands, answers)
            cutting = step is Step.BIND and any(
                isinstance(plan, LinePlan) and plan.action is Action.CUT and plan.commands
                for plan in plans
            )
            commit = f'commit comment "{COMMIT_COMMENT}"'
            if cutting:
                commit = f'commit confirmed {self.confirm_minutes} comment "{COMMIT_COMMENT}"'
            committed, _, config, inherited = self._send(
                [commit], progress, reads=_state_reads(in_config=True), timeout=self.commit_timeout
            )
            if "commit complete" not in committed:
                return self._commit_refused(plans, commit, committed, progress)
            unconfirmed = cutting
            if cutting and self.after_commit_confirmed is not None:
                self.after_commit_confirmed()
            after = self._parsed(config, inherited)
        settled = tuple(plans)
        leaving: list[str] = []
        if unconfirmed:
            line_plans = [p for p in plans if isinstance(p, LinePlan)]
            failed = [
                plan.target.line_id
                for i, plan in enumerate(line_plans)
                if plan.refusal is None
                and i not in rejections
                and not outcome(plan, after, None).verified
            ]
            if failed:
                after, error = self._roll_back(failed, progress)
            else:
                leaving.append(f'commit comment "{COMMIT_COMMENT}"')
        confirmed = self._finish(leaving, progress)
        if leaving and "commit complete" not in confirmed:
            refusal = " / ".join(problems_in(confirmed)) or "no 'commit complete'"
            error = Rejected(
                f"device refused the confirming commit: {refusal}; the change rolls back by "
                f"itself within {self.confirm_minutes} min",
                confirmed,
            )
            return Pushed(after, rejections, error, settled, unconfirmed=True)
        return Pushed(after, rejections, error, settled)

    def _commit_refused(
        self, plans: Sequence[Sendable], commit: str, answer: str, progress: Progress
    ) -> Pushed:
        """The commit failed: discard the candidate, leave, and report what is committed."""
        refused = " / ".join(problems_in(answer)) or "no 'commit complete'"
        error = Rejected(f"device refused {commit!r}: {refused}", answer)
        self._finish(["rollback 0"], progress)
        after = self._read_state(in_config=False)
        rejections = {i: f"commit refused: {refused}" for i in range(len(plans))}
        return Pushed(after, rejections, error, tuple(plans))

    def _roll_back(
        self, failed: Sequence[int], progress: Progress
    ) -> tuple[ParsedConfig, VerifyFailed]:
        """Read-back does not show what was sent: go back to the configuration before this
        commit at once, rather than leave it to the confirm timer.

        The `commit` that makes the rollback take effect also confirms whatever the candidate
        holds, so it is sent only once `rollback 1` has loaded; otherwise the confirm timer
        undoes the change.
        """
        lines = ", ".join(str(line_id) for line_id in failed)
        problem = f"{self._where}: read-back after commit confirmed did not show line(s) {lines}"
        (loaded,) = self._send(["rollback 1"], progress)
        later = f"it rolls back by itself within {self.confirm_minutes} min"
        if "load complete" not in loaded:
            self._send(["rollback 0"], progress)
            undo = f"rollback 1 refused; {later}"
        else:
            commit = f'commit comment "{COMMIT_COMMENT}"'
            (answer,) = self._send([commit], progress, timeout=self.commit_timeout)
            undo = "the commit was rolled back (rollback 1)"
            if "commit complete" not in answer:
                self._send(["rollback 0"], progress)
                undo = f"rolling back was refused; {later}"
        after = self._read_state(in_config=True)
        return after, VerifyFailed(f"{problem} as sent; {undo}")

    # -- device-timed windows (drivers.timing.DeviceTimed): `commit at` ------------------------

    def apply(self, batch: Batch) -> BatchResult:
        """`apply`, and for a cut found in force or a restore found done (nothing sent: the
        router's scheduled commit made it, or anyone else's) the router's word on it in the
        result's device output: its latest commit, when and by whom."""
        self._last_read = None
        result = super().apply(batch)
        found = self._last_read
        if found is None or not found.status.latest:
            return result
        latest = found.status.latest
        result = with_timed_evidence(
            result,
            batch,
            found,
            lambda line: True,
            lambda line_ids: "\n".join(
                f"line {line_id}: found cut, nothing sent; the router's latest commit: {latest}"
                for line_id in line_ids
            ),
        )
        opened = [
            outcome.line_id
            for outcome in result.outcomes
            if outcome.action is Action.RESTORE
            and outcome.verified
            and not outcome.commands
            and found.get(outcome.line_id) is None
        ]
        if not opened:
            return result
        return with_evidence(
            result,
            "\n".join(
                f"line {line_id}: found open, nothing sent; the router's latest commit: {latest}"
                for line_id in opened
            ),
        )

    # A router's arming is one scheduled commit: cancelling it for one line unarms them all, so
    # the controller arms the router's other lines again after a disarm.
    arms_whole_router: ClassVar[bool] = True

    def read_clock(self) -> DeviceClock:
        """ntpd's state, offset and clock (`show ntp status`) and the configured zone, in one
        exchange."""
        with self._session():
            answers = self._converse(list(CLOCK_READ), "the device clock")
        return read_junos_clock(*(without_echo(answer) for answer in answers))

    def armed_as(self, start: datetime, zone: DeviceZone) -> str:
        """How `arm` arms a window starting at `start`, for the change log."""
        return (
            f"a commit scheduled for {_wall(zone.local(start))} (`commit at`, the router's "
            f"time, zone {zone.name}); its end is armed apart once this commit has run"
        )

    def arm(
        self, targets: Sequence[LineTarget], start: datetime, end: datetime, zone: DeviceZone
    ) -> StageResult:
        """Every target's filters and bindings in one candidate, committed by the router itself
        at `start` on its own clock (`commit at`), then read back: the schedule, and the
        candidate it commits. Junos schedules one commit at a time and keeps the configuration
        read-only until it runs, so the window's end is not scheduled here: it is armed apart
        once this commit has run (`arm_restore`), or restored by the pass. A line the device
        rejects leaves the router unarmed (its lines are one commit); a line refused before
        anything is sent (cut already, its slot held) is left out."""
        del end  # the router cannot hold a second scheduled commit: armed apart (arm_restore)
        return self._scheduling(targets, start, zone, self._arm)

    def _scheduling(
        self,
        targets: Sequence[LineTarget],
        when: datetime,
        zone: DeviceZone,
        arming: Callable[[Sequence[LineTarget], datetime, Progress], tuple[StagedLine, ...]],
    ) -> StageResult:
        """`arming` the targets for `when` on the router's wall clock, in a session: a time
        the router cannot be given, or a failure, leaves every target unarmed."""
        if not targets:
            return StageResult(self.name, ())
        try:
            at = scheduled_wall(when, zone)
        except ValueError as exc:
            return StageResult(
                self.name, tuple(StagedLine(t.line_id, (), False, str(exc)) for t in targets)
            )
        progress = Progress()
        try:
            with self._session():
                lines = arming(targets, at, progress)
        except DriverError as exc:
            return self._failed_stage((t.line_id for t in targets), progress, exc)
        return StageResult(self.name, lines, tuple(progress.sent), self._joined(progress.output))

    def _unconfirmed_refused(self) -> ParsedConfig:
        """The router read; a confirmed commit awaiting confirmation (anyone's) refuses an
        arming."""
        found = self._read_state(in_config=False)
        self._refuse_foreign_pending(found.status)
        if found.status.pending:
            raise ConfigurationBusy(
                f"{self._where}: a confirmed commit awaits confirmation; not arming"
            )
        return found

    def _arm(
        self, targets: Sequence[LineTarget], at: datetime, progress: Progress
    ) -> tuple[StagedLine, ...]:
        found = self._unconfirmed_refused()
        status = found.status
        if status.scheduled is not None:
            if status.scheduled != at or not self._ours(status):
                raise ConfigurationBusy(
                    f"{self._where}: a commit scheduled by {status.scheduled_by} for "
                    f"{_wall(status.scheduled)} is pending; not arming over it"
                )
            candidate = self._read_candidate()
            if all(_armed(candidate, found, t) for t in targets):
                return tuple(StagedLine(t.line_id, (), True) for t in targets)
            # ours for this instant, without a line armed since (a new order): scheduled
            # again with every line the instant brings
            self._cancel_schedule(progress)
            found = self._read_state(in_config=False)
        commits, config, inherited = self._lock(progress)
        locked = self._parsed(config, inherited, parse_commit_status(commits))
        plans = self._arm_plans(targets, locked)
        return self._schedule(plans, locked, at, progress, _armed)

    def _schedule(
        self,
        plans: Sequence[LinePlan],
        locked: ParsedConfig,
        at: datetime,
        progress: Progress,
        armed: Callable[[ParsedConfig, ParsedConfig, LineTarget], bool],
    ) -> tuple[StagedLine, ...]:
        """In the locked candidate: every plan's commands, committed by the router at `at` on
        its own clock (`commit at`); then the schedule and the candidate it commits read back,
        each line judged by `armed`. A line the device rejects, a refused commit or a read-back
        that does not show every line armed leaves the router unarmed (rolled back, or the
        schedule cancelled): its lines are one commit."""
        commands = [c for plan in plans for c in plan.commands]
        if not commands:
            self._finish([], progress)
            return tuple(_arm_verdict(plan, False, "nothing to arm") for plan in plans)
        answers = self._push_lines(commands, progress)
        rejections, _ = _rejections(plans, commands, answers)
        problem = ""
        if rejections:
            first = rejections[min(rejections)]
            problem = f"not armed: the router's lines are armed together, and {first}"
        else:
            commit = f'commit at "{at:%Y-%m-%d %H:%M:%S}" comment "{COMMIT_COMMENT}"'
            (answer,) = self._send([commit], progress, timeout=self.commit_timeout)
            if "commit at will be executed" not in answer:
                refused = " / ".join(problems_in(answer)) or "no 'commit at will be executed'"
                problem = f"device refused {commit!r}: {refused}"
        if problem:
            self._finish(["rollback 0"], progress)
            return tuple(
                _arm_verdict(plan, False, problem, rejections.get(i))
                for i, plan in enumerate(plans)
            )
        # the router left configuration mode: read back the schedule and what it commits
        (commits,) = self._converse(["show system commit"], "show system commit")
        scheduled = parse_commit_status(commits)
        candidate = self._read_candidate()
        unarmed = [
            plan.target.line_id
            for plan in plans
            if plan.refusal is None and not armed(candidate, locked, plan.target)
        ]
        if scheduled.scheduled != at or not self._ours(scheduled) or unarmed:
            self._cancel_schedule(progress)
            what = (
                f"line(s) {', '.join(map(str, unarmed))}" if unarmed else f"a commit at {_wall(at)}"
            )
            problem = (
                f"VerifyFailed: read-back does not show {what} scheduled; the schedule was "
                f"cancelled"
            )
            return tuple(_arm_verdict(plan, False, problem) for plan in plans)
        return tuple(
            _arm_verdict(
                plan, plan.refusal is None, describe(plan.refusal) if plan.refusal else None
            )
            for plan in plans
        )

    def _arm_plans(self, targets: Sequence[LineTarget], found: ParsedConfig) -> list[LinePlan]:
        """Each target's filters and bindings, as a cut; a line cut already, or whose slots
        another filter holds, is refused (the passes own it)."""
        plans: list[LinePlan] = []
        # the filter slots each interface's lines of this arming take
        claimed: dict[str, dict[Hashable, int]] = {}
        for target in targets:
            line = found.get(target.line_id)
            have = _found_objects(line) if line is not None else None
            taken = claimed.setdefault(target.interface, {})
            try:
                self.check_target(target)
                if have is not None and have.state_for(target) is LineState.CUT:
                    raise Rejected(f"line {target.line_id} is cut already: left to the passes")
                conflict = _occupied(target, found, set(), taken)
                if conflict is not None:
                    raise conflict
            except DriverError as refusal:
                plans.append(LinePlan(target, Action.CUT, refusal=refusal))
                continue
            for slot in self._slots(target):
                taken[slot] = target.line_id
            bodies, bindings = _cut(target, have)
            plans.append(LinePlan(target, Action.CUT, tuple(bodies + bindings)))
        return plans

    def disarm(self, line_ids: Iterable[int]) -> StageResult:
        """Take these lines' armed cuts off the router: a scheduled commit of ours that would
        cut any of them is cancelled (`clear system commit`, its candidate rolled back: every
        line it armed is unarmed). A line bound in the committed configuration is refused, as
        IOS refuses a cut without a time-range: once the schedule has run, its cut is a commit
        like a pass's, and the passes own it (the pass after a revocation restores it)."""
        return self._disarm(line_ids, restores=False)

    # -- the window's end on the router's clock: a restore scheduled with `commit at` ----------

    # the end of a window can be armed on its own (drivers.timing.RestoreTimed): at 08:00 the
    # router restores by its own clock, armed once the 00:00 commit has run
    arms_restores: ClassVar[bool] = True

    def restore_armed_as(self, end: datetime, zone: DeviceZone) -> str:
        """How `arm_restore` arms a restore at `end`, for the change log."""
        return (
            f"a commit scheduled for {_wall(zone.local(end))} (`commit at`, the router's time, "
            f"zone {zone.name}) removing the line's filters and bindings"
        )

    def arm_restore(
        self, targets: Sequence[LineTarget], end: datetime, zone: DeviceZone
    ) -> StageResult:
        """Every target's bindings and filters removed in one candidate, committed by the
        router itself at `end` on its own clock (`commit at`), then read back: the schedule,
        and the candidate it commits. Only a line the committed configuration cuts exactly is
        armed; a router already holding a scheduled commit (anyone's, ours for another
        instant or with other changes: the cuts starting then) is not armed over: its
        restores are the pass's."""
        return self._scheduling(targets, end, zone, self._arm_restore)

    def _arm_restore(
        self, targets: Sequence[LineTarget], at: datetime, progress: Progress
    ) -> tuple[StagedLine, ...]:
        found = self._unconfirmed_refused()
        status = found.status
        if status.scheduled is not None:
            if status.scheduled == at and self._ours(status):
                candidate = self._read_candidate()
                if all(_restore_armed(candidate, found, t) for t in targets):
                    return tuple(StagedLine(t.line_id, (), True) for t in targets)
            raise ConfigurationBusy(
                f"{self._where}: a commit scheduled by {status.scheduled_by} for "
                f"{_wall(status.scheduled)} is pending; not arming a restore over it"
            )
        commits, config, inherited = self._lock(progress)
        locked = self._parsed(config, inherited, parse_commit_status(commits))
        plans = []
        for target in targets:
            line = locked.get(target.line_id)
            if line is None or line.state_for(target) is not LineState.CUT:
                refusal = Rejected(
                    f"line {target.line_id} is not cut as its target says: its restore is left "
                    f"to the passes"
                )
                plans.append(LinePlan(target, Action.RESTORE, refusal=refusal))
            else:
                removal = _removal(_found_objects(line))
                plans.append(LinePlan(target, Action.RESTORE, tuple(removal)))
        return self._schedule(plans, locked, at, progress, _restore_armed)

    def disarm_restore(self, line_ids: Iterable[int]) -> StageResult:
        """Cancel a scheduled commit of ours that would restore any of these lines (every
        line it armed is unarmed, cuts and restores alike); read back that none is left to
        change them. The lines stay as committed: cut, until a pass restores them."""
        return self._disarm(line_ids, restores=True)

    def _disarm(self, line_ids: Iterable[int], restores: bool) -> StageResult:
        wanted = list(dict.fromkeys(line_ids))
        if not wanted:
            return StageResult(self.name, ())
        progress = Progress()
        cancelled: dict[int, tuple[str, ...]] = {}
        try:
            with self._session():
                found = self._read_state(in_config=False)
                if found.status.scheduled is not None:
                    candidate = self._read_candidate()
                    touched = [i for i in wanted if candidate.get(i) != found.get(i)]
                    if touched:
                        if not self._ours(found.status):
                            raise ConfigurationBusy(
                                f"{self._where}: a commit scheduled by "
                                f"{found.status.scheduled_by} would change line(s) of ours; "
                                f"not cancelling another's commit"
                            )
                        sent = len(progress.sent)
                        self._cancel_schedule(progress)
                        cancelled = dict.fromkeys(touched, tuple(progress.sent[sent:]))
                        found = self._read_state(in_config=False)
                candidate = self._read_candidate() if found.status.scheduled else found
        except DriverError as exc:
            return self._failed_stage(wanted, progress, exc)
        done = []
        for line_id in wanted:
            commands = cancelled.get(line_id, ())
            committed = found.get(line_id)
            if not restores and committed is not None and committed.bindings:
                # bound, active or deactivated
                problem = (
                    f"Rejected: line {line_id} is bound in the committed configuration: left to "
                    f"the passes"
                )
                done.append(StagedLine(line_id, commands, False, problem))
                continue
            if candidate.get(line_id) != found.get(line_id):
                what = "restores" if restores else "cuts"
                problem = f"VerifyFailed: a scheduled commit still {what} line {line_id}"
                done.append(StagedLine(line_id, commands, False, problem))
            else:
                done.append(StagedLine(line_id, commands, True))
        return StageResult(
            self.name, tuple(done), tuple(progress.sent), self._joined(progress.output)
        )

    def _ours(self, status: CommitStatus) -> bool:
        return status.scheduled_by == self.credentials.username

    def _read_candidate(self) -> ParsedConfig:
        """The owned objects of the shared candidate: what a scheduled commit will commit
        (configuration mode is entered, read and left again; nothing is changed)."""
        entered, config, leaving = self._converse(
            ["configure", f'show | display set | match "{OWNED_MATCH}"', "exit configuration-mode"],
            "the candidate configuration",
        )
        if "[edit]" not in entered:
            refused = problems_in(entered) or ["configure refused"]
            raise ConfigurationBusy(f"{self._where}: {' / '.join(refused)}", entered)
        if "[yes,no]" in leaving:
            self._converse(["no"], "leaving configuration mode")
            raise ConfigurationBusy(f"{self._where}: uncommitted changes in the shared candidate")
        return parse_display_set(config)

    def _cancel_schedule(self, progress: Progress) -> None:
        """Cancel our scheduled commit and roll its candidate back (Junos keeps a cancelled
        schedule's changes in the shared candidate, uncommitted); read back that none is left."""
        self._send(["clear system commit"], progress)
        entered, *_ = self._send(["configure", "rollback 0"], progress)
        if "[edit]" not in entered:
            raise ConfigurationBusy(
                f"{self._where}: configure refused after clear system commit", entered
            )
        self._finish([], progress)
        if self._read_state(in_config=False).status.scheduled is not None:
            raise ConfigurationBusy(
                f"{self._where}: the scheduled commit is still pending after clear system commit"
            )


def scheduled_wall(start: datetime, zone: DeviceZone) -> datetime:
    """The router's wall-clock reading of `start`, for `commit at`; ValueError when it has a
    fraction of a second, or names no single instant in a zone with summer time."""
    if start.tzinfo is None:
        raise ValueError("a window needs an aware start")
    wall = zone.local(start)
    if wall.microsecond:
        raise ValueError(f"window start {wall:%H:%M:%S.%f} is not on a whole second")
    if isinstance(zone, NamedZone) and not zone.unambiguous(wall):
        raise ValueError(f"{_wall(wall)} is skipped or repeated in {zone.name}: not scheduled")
    return wall


def _wall(wall: datetime) -> str:
    return f"{wall:%Y-%m-%d %H:%M:%S}"


def _armed(candidate: ParsedConfig, committed: ParsedConfig, target: LineTarget) -> bool:
    """The scheduled candidate cuts the target as a cut would, and the committed configuration
    does not yet."""
    line = candidate.get(target.line_id)
    now = committed.get(target.line_id)
    return (
        line is not None
        and line.state_for(target) is LineState.CUT
        and (now is None or now.state_for(target) is not LineState.CUT)
    )


def _restore_armed(candidate: ParsedConfig, committed: ParsedConfig, target: LineTarget) -> bool:
    """The scheduled candidate holds none of the line's objects, and the committed
    configuration cuts it still."""
    now = committed.get(target.line_id)
    return (
        candidate.get(target.line_id) is None
        and now is not None
        and now.state_for(target) is LineState.CUT
    )


def _arm_verdict(
    plan: LinePlan, done: bool, problem: str | None, rejection: str | None = None
) -> StagedLine:
    if plan.refusal is not None:
        return StagedLine(plan.target.line_id, plan.commands, False, describe(plan.refusal))
    if rejection is not None:
        return StagedLine(plan.target.line_id, plan.commands, False, f"Rejected: {rejection}")
    return StagedLine(plan.target.line_id, plan.commands, done, None if done else problem)


def _statements_of(answer: str) -> str:
    """A read's answer without its echo (the first line: `show ...` or, in configuration
    mode, `run show ...`), the `[edit]` banner configuration mode prints after it, and
    carriage returns before line feeds: two answers with the same statements parse alike
    (all three are noise to `parse_display_set`)."""
    echo, _, rest = answer.partition("\n")
    body = rest if echo.lstrip().startswith(("show ", "run show ")) else answer
    body = body.replace("\r\n", "\n").rstrip()
    rest, _, last = body.rpartition("\n")
    return rest.rstrip() if last.strip() == "[edit]" else body


def _state_reads(in_config: bool) -> list[str]:
    """The latest commit; the configuration as written, only what a change needs (owned
    objects are read there); the filters bound on interfaces as they take effect, groups
    applied (what holds each filter slot)."""
    run = "run " if in_config else ""
    return [
        f"{run}show system commit",
        f'{run}show configuration | display set | match "{OWNED_MATCH}"',
        f'{run}{INHERITED_READ} | match "{BINDINGS_MATCH}"',
    ]


def _rejections(
    plans: Sequence[Sendable], commands: Sequence[str], answers: Sequence[str]
) -> tuple[dict[int, str], Rejected | None]:
    """Which plan each refused command belongs to, and the batch's Rejected error if any."""
    owner: list[int] = []
    for index, plan in enumerate(plans):
        owner.extend([index] * len(plan.commands))
    by_plan: dict[int, str] = {}
    messages: list[str] = []
    for position, (command, answer) in enumerate(zip(commands, answers, strict=True)):
        problems = problems_in(answer)
        if not problems:
            continue
        message = f"device rejected {command!r}: {' / '.join(problems)}"
        messages.append(message)
        by_plan.setdefault(owner[position], message)
    return by_plan, rejected(messages, "".join(answers))
