"""Device-timed windows, the pure part: a device's clock and zone as read from it, whether it can
be trusted to cut on its own at an instant, and a night's window as a time-range it evaluates.

A device enforces a window on its own clock in its own local time: it is trusted only when NTP
keeps that clock right and its zone (with its summer-time rule) has the venue's UTC offset at
both ends of the window. Nothing here talks to a device or knows an order.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from calendar import monthrange
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from drivers.acl import AclDriver, AclOwnedLine, families_of
from drivers.base import (
    Action,
    Batch,
    BatchResult,
    DriverError,
    LineState,
    LineTarget,
    OwnedLine,
    Rejected,
    StagedLine,
    StageResult,
)
from drivers.identifiers import check_line_id
from drivers.lifecycle import DiscardPlan, Progress, Pushed, Step
from drivers.outcomes import LinePlan, describe

# The owned time-range of a line: named from its id only, like its ACLs.
TIME_RANGE_PREFIX = "CURFEW-TR-"
_OWNED_TIME_RANGE = re.compile(re.escape(TIME_RANGE_PREFIX) + r"([1-9][0-9]{0,8})")

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# zone and summer-time names as IOS takes them (`clock timezone CST 8 0`)
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9+-]{0,6}")
# the most a device clock may be trusted off the controller's, whatever a deployment sets
MAX_CLOCK_TOLERANCE = 5.0


def time_range_name(line_id: int) -> str:
    check_line_id(line_id)
    return f"{TIME_RANGE_PREFIX}{line_id}"


def time_range_owner(name: str) -> int | None:
    """The line id a time-range name belongs to, or None when it is not ours."""
    match = _OWNED_TIME_RANGE.fullmatch(name)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------------------------
# A device's zone


@dataclass(frozen=True)
class RuleDay:
    """A day of a summer-time rule (`last Sun Mar 2:00`): week 1-4 or 5 for the last one."""

    week: int
    weekday: int  # 0 Monday .. 6 Sunday
    month: int
    minutes: int  # local wall-clock minutes after midnight

    def on(self, year: int) -> datetime:
        """The rule's local wall-clock instant in `year` (naive)."""
        days = monthrange(year, self.month)[1]
        if self.week == 5:
            day = days
            while date(year, self.month, day).weekday() != self.weekday:
                day -= 1
        else:
            day = 1
            while date(year, self.month, day).weekday() != self.weekday:
                day += 1
            day += 7 * (self.week - 1)
        midnight = datetime(year, self.month, day)  # noqa: DTZ001 - a wall clock, zone-less
        return midnight + timedelta(minutes=self.minutes)


@dataclass(frozen=True)
class SummerTime:
    """`clock summer-time NAME recurring START END [OFFSET]`: START is read on the standard
    clock, END on the summer clock (as the device does)."""

    name: str
    start: RuleDay
    end: RuleDay
    offset: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class DeviceZone:
    """A device's time zone as its configuration sets it; UTC when none is set."""

    name: str = "UTC"
    standard: timedelta = timedelta(0)
    summer: SummerTime | None = None

    def _in_summer(self, instant: datetime) -> bool:
        rule = self.summer
        if rule is None:
            return False
        year = (instant + self.standard).year
        begins = rule.start.on(year) - self.standard
        ends = rule.end.on(year) - self.standard - rule.offset
        naive = instant.astimezone(UTC).replace(tzinfo=None)
        if begins < ends:
            return begins <= naive < ends
        return naive >= begins or naive < ends  # southern hemisphere: summer spans new year

    def offset_at(self, instant: datetime) -> timedelta:
        """The device's UTC offset at an (aware) instant."""
        if self.summer is not None and self._in_summer(instant):
            return self.standard + self.summer.offset
        return self.standard

    def local(self, instant: datetime) -> datetime:
        """The device's wall clock at an instant (naive)."""
        return (instant.astimezone(UTC) + self.offset_at(instant)).replace(tzinfo=None)

    def to_utc(self, wall: datetime, shown_name: str) -> datetime:
        """The instant the device means by a wall-clock reading shown with a zone name."""
        if self.summer is not None and shown_name == self.summer.name:
            offset = self.standard + self.summer.offset
        elif shown_name == self.name:
            offset = self.standard
        else:
            raise ValueError(f"the device shows zone {shown_name}, its configuration {self.name}")
        return (wall - offset).replace(tzinfo=UTC)


@dataclass(frozen=True)
class NamedZone(DeviceZone):
    """A device zone set by a tz-database name (Junos `system time-zone Asia/Shanghai`): its
    offsets are the tz database's, summer time included; `name` is the key."""

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.name)

    def offset_at(self, instant: datetime) -> timedelta:
        return instant.astimezone(self._zone()).utcoffset() or timedelta(0)

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self._zone()).replace(tzinfo=None)

    def unambiguous(self, wall: datetime) -> bool:
        """Whether a wall-clock reading names exactly one instant in the zone (not skipped or
        repeated by a summer-time change)."""
        zone = self._zone()
        first = wall.replace(tzinfo=zone, fold=0)
        second = wall.replace(tzinfo=zone, fold=1)
        back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        return first.utcoffset() == second.utcoffset() and back == wall


def _rule_day(words: Sequence[str]) -> RuleDay:
    week_word, day_word, month_word, at = words
    weeks = {"first": 1, "last": 5, "1": 1, "2": 2, "3": 3, "4": 4}
    week = weeks.get(week_word.lower())
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
    clock = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", at)
    if week is None or weekday is None or month is None or clock is None:
        raise ValueError(f"summer-time rule {' '.join(words)!r} not understood")
    return RuleDay(week, weekday, month, int(clock.group(1)) * 60 + int(clock.group(2)))


def parse_clock_config(lines: Iterable[str]) -> DeviceZone:
    """The zone set by `clock timezone NAME H [M]` and `clock summer-time NAME recurring W D M
    HH:MM W D M HH:MM [MINUTES]`; raises ValueError for any clock line it does not understand
    (a summer-time rule without dates, or by `date`), which leaves the clock untrusted."""
    name, standard, summer = "UTC", timedelta(0), None
    for raw in lines:
        words = raw.split()
        if words[:1] != ["clock"] or len(words) < 2:
            continue
        if words[1] == "timezone" and len(words) in (4, 5) and _ZONE_NAME.fullmatch(words[2]):
            hours = int(words[3])
            minutes = int(words[4]) if len(words) == 5 else 0
            if not -23 <= hours <= 23 or not 0 <= minutes <= 59:
                raise ValueError(f"{raw.strip()!r}: offset out of range")
            sign = -1 if words[3].startswith("-") else 1
            name = words[2]
            standard = timedelta(hours=hours) + sign * timedelta(minutes=minutes)
        elif words[1] == "summer-time" and len(words) >= 4 and words[3] == "recurring":
            if len(words) not in (12, 13) or not _ZONE_NAME.fullmatch(words[2]):
                raise ValueError(f"{raw.strip()!r}: a summer-time rule without its dates")
            offset = timedelta(minutes=int(words[12])) if len(words) == 13 else timedelta(hours=1)
            summer = SummerTime(words[2], _rule_day(words[4:8]), _rule_day(words[8:12]), offset)
        elif words[1] in ("timezone", "summer-time"):
            raise ValueError(f"{raw.strip()!r}: not understood")
    return DeviceZone(name, standard, summer)


# --------------------------------------------------------------------------------------------
# A device's clock


@dataclass(frozen=True)
class DeviceClock:
    """What a device says of its time: the instant it read (UTC), whether NTP synchronises
    it, its offset to its NTP peer, its zone; `problem` when any of it could not be read."""

    time: datetime | None
    synchronised: bool
    zone: DeviceZone
    ntp_offset_ms: float | None = None
    problem: str | None = None
    text: str = ""  # what the device answered, as evidence
    # the device takes a window as UTC instants (nftables `meta time`): its zone plays no part
    utc_bounds: bool = False


_SHOW_CLOCK = re.compile(
    r"^[*.]?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\s+(\S+)\s+[A-Za-z]{3}\s+([A-Za-z]{3})\s+"
    r"(\d{1,2})\s+(\d{4})\s*$",
    re.MULTILINE,
)
_NTP_STATE = re.compile(r"Clock is (synchronized|unsynchronized)")
_NTP_OFFSET = re.compile(r"clock offset is (-?\d+(?:\.\d+)?) msec")


def parse_show_clock(text: str, zone: DeviceZone) -> datetime:
    """The UTC instant in `show clock` (`*00:00:01.123 CST Sun Mar 29 2026`)."""
    wall, shown = show_clock_wall(text)
    return zone.to_utc(wall, shown)


def show_clock_wall(text: str) -> tuple[datetime, str]:
    """The device's wall clock in `show clock` (naive: its own local time) and the zone name
    it shows."""
    match = _SHOW_CLOCK.search(text)
    if match is None:
        raise ValueError("no time in the answer to `show clock`")
    hour, minute, second, fraction, shown, month_word, day, year = match.groups()
    month = next((i + 1 for i, m in enumerate(MONTHS) if m.startswith(month_word)), None)
    if month is None:
        raise ValueError(f"month {month_word!r} in `show clock` not understood")
    micro = int((fraction or "0").ljust(6, "0"))
    wall = datetime(  # noqa: DTZ001 - the device's wall clock: its zone is the caller's
        int(year), month, int(day), int(hour), int(minute), int(second), micro
    )
    return wall, shown


def parse_ntp_status(text: str) -> tuple[bool, float | None]:
    """Whether `show ntp status` says the clock is synchronised, and its offset (ms)."""
    state = _NTP_STATE.search(text)
    if state is None:
        return False, None
    offset = _NTP_OFFSET.search(text)
    return state.group(1) == "synchronized", float(offset.group(1)) if offset else None


def clock_from_answers(
    clock_answer: str,
    ntp_status: str,
    clock_config: str,
    *,
    ntp: Callable[[str], tuple[bool, float | None]],
    zone_of: Callable[[Sequence[str]], DeviceZone],
    instant_of: Callable[[str, DeviceZone], datetime],
) -> DeviceClock:
    """A device's clock from its answers on its time, its NTP state and its `clock`
    configuration lines, read by the platform's parsers; what cannot be understood becomes the
    clock's `problem`."""
    text = "\n".join((clock_answer.strip(), ntp_status.strip(), clock_config.strip()))
    synchronised, offset = ntp(ntp_status)
    try:
        zone = zone_of([line.strip() for line in clock_config.splitlines()])
    except ValueError as exc:
        return DeviceClock(None, synchronised, DeviceZone(), offset, f"device zone: {exc}", text)
    try:
        instant = instant_of(clock_answer, zone)
    except ValueError as exc:
        return DeviceClock(None, synchronised, zone, offset, f"device clock: {exc}", text)
    return DeviceClock(instant, synchronised, zone, offset, None, text)


def read_device_clock(show_clock: str, ntp_status: str, clock_config: str) -> DeviceClock:
    """A device's clock from its answers to `show clock`, `show ntp status` and its `clock`
    configuration lines; what cannot be understood becomes the clock's `problem`."""
    return clock_from_answers(
        show_clock,
        ntp_status,
        clock_config,
        ntp=parse_ntp_status,
        zone_of=parse_clock_config,
        instant_of=parse_show_clock,
    )


def without_echo(answer: str) -> str:
    """An answer without the echo of its command (its first line)."""
    return answer.split("\n", 1)[1] if "\n" in answer else ""


def utc_offset_text(offset: timedelta) -> str:
    """`UTC+8`, `UTC-3:30`, `UTC+0`."""
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def untrusted(
    clock: DeviceClock,
    controller_time: datetime,
    start: datetime,
    end: datetime,
    venue_zone: ZoneInfo,
    tolerance: float = 1.0,
    uncertainty: float = 0.0,
) -> str | None:
    """Why the device must not enforce the window [start, end) on its own clock, or None
    when it can: NTP-synchronised, within `tolerance` seconds of the controller's clock (read
    at `controller_time`, give or take `uncertainty`: half the read's round trip), and with
    the venue's UTC offset at the window's start and at its end (unless the device takes the
    window in UTC, `utc_bounds`)."""
    if not 0 < tolerance <= MAX_CLOCK_TOLERANCE:
        raise ValueError(f"the clock tolerance must be in (0, {MAX_CLOCK_TOLERANCE:g}] s")
    if clock.problem is not None or clock.time is None:
        return clock.problem or "device clock not read"
    if not clock.synchronised:
        return "device not NTP-synchronised"
    off = abs((clock.time - controller_time).total_seconds())
    if off + uncertainty > tolerance:
        read = f", read ±{uncertainty:.1f} s" if uncertainty >= 0.05 else ""
        return f"device clock {off:.1f} s off (limit {tolerance:g} s{read})"
    if clock.utc_bounds:
        return None
    for instant in (start, end):
        device = clock.zone.offset_at(instant)
        venue = instant.astimezone(venue_zone).utcoffset()
        if device != venue:
            wall = instant.astimezone(venue_zone)
            return (
                f"device zone {utc_offset_text(device)} at {wall:%H:%M}, venue {venue_zone.key} "
                f"is {utc_offset_text(venue or timedelta(0))}"
            )
    return None


# --------------------------------------------------------------------------------------------
# A window as the device evaluates it


def _wall_text(wall: datetime) -> str:
    return f"{wall:%H:%M} {wall.day} {MONTHS[wall.month - 1]} {wall.year}"


def absolute_range(start: datetime, end: datetime, zone: DeviceZone) -> str:
    """The window [start, end) as an IOS time-range's `absolute` line in the device's local
    time: `absolute start 00:00 29 March 2026 end 08:00 29 March 2026`. The device has minute
    granularity: a window edge off a whole local minute is refused."""
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise ValueError("a window needs aware instants, start before end")
    walls = [zone.local(start), zone.local(end)]
    for wall in walls:
        if wall.second or wall.microsecond:
            raise ValueError(f"window edge {wall:%H:%M:%S} is not on a whole minute")
    return f"absolute start {_wall_text(walls[0])} end {_wall_text(walls[1])}"


def same_absolute(a: str, b: str) -> bool:
    """Two `absolute` lines alike but for spacing, case and a day's leading zero."""

    def words(text: str) -> list[str]:
        return [w.lstrip("0") or "0" if w.isdigit() else w.lower() for w in text.split()]

    return words(a) == words(b)


@runtime_checkable
class DeviceTimed(Protocol):
    """An optional ability: the device enforces a night's window itself, supervised.

    `read_clock` reads the device's time, NTP state and zone (the controller decides trust);
    `arm` writes, for each target, an owned time-range for [start, end) in the device's local
    time, then the line's ACLs whose denies name it, then their bindings: the line stays open
    until the device's clock reaches `start`. `disarm` removes a line's armed objects, the
    bindings first, the ACLs next and their time-range last (an ACE naming a time-range that
    does not exist is always active); a line cut without a time-range is refused.
    """

    def read_clock(self) -> DeviceClock: ...

    def arm(
        self, targets: Sequence[LineTarget], start: datetime, end: datetime, zone: DeviceZone
    ) -> StageResult: ...

    def disarm(self, line_ids: Iterable[int]) -> StageResult: ...


@runtime_checkable
class RestoreTimed(Protocol):
    """An optional ability, beside DeviceTimed, of a platform whose arming holds only the
    window's start (Junos: one scheduled commit at a time): the window's end armed apart,
    once the cut is in force. `arm_restore` writes, for each target the device cuts, the
    removal of its objects, to take effect at `end` by the device's clock; `disarm_restore`
    cancels it (the line stays cut)."""

    def read_clock(self) -> DeviceClock: ...

    def arm_restore(
        self, targets: Sequence[LineTarget], end: datetime, zone: DeviceZone
    ) -> StageResult: ...

    def disarm_restore(self, line_ids: Iterable[int]) -> StageResult: ...


# --------------------------------------------------------------------------------------------
# Time-ranged ACL cuts (IOS, VRP, Comware): the parts they share


def wall_parts(start: datetime, end: datetime, zone: DeviceZone) -> list[tuple[datetime, datetime]]:
    """The window [start, end) on the device's wall clock, cut at each local midnight: the
    pieces a platform whose range must end on the day it starts takes one statement each
    (Comware: `from 22:00 11/24/2026 to 24:00 11/24/2026`, then `from 00:00 11/25/2026 ...`).
    A piece ending at midnight ends at the next day's 00:00. The device has minute
    granularity: a window edge off a whole local minute is refused."""
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise ValueError("a window needs aware instants, start before end")
    first, last = zone.local(start), zone.local(end)
    for wall in (first, last):
        if wall.second or wall.microsecond:
            raise ValueError(f"window edge {wall:%H:%M:%S} is not on a whole minute")
    parts: list[tuple[datetime, datetime]] = []
    begin = first
    while begin < last:
        midnight = datetime.combine(begin.date() + timedelta(days=1), datetime.min.time())
        parts.append((begin, min(midnight, last)))
        begin = midnight
    return parts


_NTP_SERVICE_STATE = re.compile(r"(?im)^\s*clock status\s*:\s*(synchronized|unsynchronized)")
_NTP_SERVICE_OFFSET = re.compile(r"(?im)^\s*clock offset\s*:\s*(-?\d+(?:\.\d+)?)\s*ms")


def parse_ntp_service_status(text: str) -> tuple[bool, float | None]:
    """Whether `display ntp-service status` (VRP, Comware) says the clock is synchronised,
    and its offset to the reference (ms)."""
    state = _NTP_SERVICE_STATE.search(text)
    if state is None:
        return False, None
    offset = _NTP_SERVICE_OFFSET.search(text)
    synchronised = state.group(1).lower() == "synchronized"
    return synchronised, float(offset.group(1)) if offset else None


# `display time-range all` (VRP, Comware): `Time-range : CURFEW-TR-42 ( Active )`, then its
# statements, one a line, until a blank line
_TIME_RANGE_HEAD = re.compile(r"Time-range\s*:\s*(\S+)\s*\(\s*(Active|Inactive)\s*\)", re.I)
# an owned rule naming a time-range (`rule 5 deny ip source ... time-range CURFEW-TR-42`)
NAMES_OWNED_TIME_RANGE = re.compile(
    r"(?m)^\s+rule\s.*\stime-range\s+" + re.escape(TIME_RANGE_PREFIX)
)


def parse_display_time_ranges(
    text: str, normalise: Callable[[str], str]
) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """`display time-range all` (VRP, Comware): each time-range's name -> (active now, its
    statements as the platform's `normalise` writes them)."""
    found: dict[str, tuple[bool, tuple[str, ...]]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        head = _TIME_RANGE_HEAD.match(line)
        if head is not None:
            current = head.group(1)
            found[current] = (head.group(2).lower() == "active", ())
        elif current is not None and line:
            active, statements = found[current]
            found[current] = (active, (*statements, normalise(line)))
        elif not line:
            current = None
    return found


@dataclass(frozen=True)
class TimedAclLine(AclOwnedLine):
    """An owned line of an ACL platform with time-ranges: which ACLs and bindings exist and,
    for a device-timed cut, the time-range its denies name and what the device says of it."""

    # the time-range every deny of the line's ACLs names (None: a cut at all times)
    time_range: str | None = None
    # the line's own time-range (CURFEW-TR-<id>) exists on the device, active now or not
    time_range_defined: bool = False
    time_range_active: bool = False
    # its statements, as the platform's parser normalises them (comparable with a render)
    statements: tuple[str, ...] = ()

    def armed_for(self, target: LineTarget, statements: Sequence[str]) -> bool:
        """Bound exactly as the target's cut, its denies waiting on its own time-range, which
        holds exactly these statements."""
        return (
            self.complete
            and self.time_range == time_range_name(target.line_id)
            and self.time_range_defined
            and self.statements == tuple(statements)
            and self.prefixes == frozenset(target.prefixes)
            and self.bindings == frozenset({target.interface})
        )

    def armed_cut(self, target: LineTarget | None) -> bool:
        """The target's cut armed on a time-range, in force or not."""
        return (
            target is not None
            and self.time_range is not None
            and self.complete
            and self.prefixes == frozenset(target.prefixes)
            and self.bindings == frozenset({target.interface})
        )


def with_time_ranges(
    lines: Mapping[int, OwnedLine],
    timed: Mapping[int, set[str | None]],
    time_ranges: Mapping[str, tuple[bool, tuple[str, ...]]],
    *,
    missing_always_active: bool = False,
) -> dict[int, OwnedLine]:
    """Each owned line with what its denies say of time-ranges (`timed`: the names each line's
    deny rules carry, None for a rule naming none) and what the device says of each owned
    time-range (active now, its statements).

    A cut whose every deny names the line's own time-range is complete as a cut is but not
    exact (a plain cut's bodies name none), and dormant while that time-range is inactive.
    Where VRP and Comware meet a rule naming a time-range that does not exist, they document
    the rule as not in force until it is created; that reading is not relied on: such a line is
    incomplete (UNKNOWN), so a pass removes it rather than trusting it to stay idle. IOS makes
    such an entry always active (`missing_always_active`): the line reads as the cut it is.
    Denies naming anything else, or only some of them, are not a cut we wrote."""
    owned = {
        line_id: state
        for name, state in time_ranges.items()
        if (line_id := time_range_owner(name)) is not None
    }
    found: dict[int, OwnedLine] = {}
    for line_id in sorted(set(lines) | set(owned)):
        line = lines.get(line_id) or AclOwnedLine(line_id)
        fields = {f: getattr(line, f) for f in AclOwnedLine.__dataclass_fields__}
        defined = line_id in owned
        active, statements = owned.get(line_id, (False, ()))
        named = timed.get(line_id, {None})
        own = time_range_name(line_id)
        time_range = None
        if named == {own}:
            time_range = own
            fields["exact"] = False
            if not defined and not missing_always_active:
                fields["complete"] = False
            fields["dormant"] = bool(fields["complete"] and defined and not active)
        elif named != {None}:
            fields["exact"] = fields["complete"] = False
        found[line_id] = TimedAclLine(
            **fields,
            time_range=time_range,
            time_range_defined=defined,
            time_range_active=active,
            statements=statements,
        )
    return found


def split_time_range(text: str) -> tuple[str, str | None]:
    """A rule's text without its trailing `time-range NAME` (and any `(Active)` mark the device
    prints after it), and that name."""
    match = _RULE_TIMED.fullmatch(text.strip())
    if match is None:
        return text, None
    return match.group(1), match.group(2)


_RULE_TIMED = re.compile(r"(.*\S)\s+time-range\s+(\S+)(?:\s+\((?:active|inactive)\))?", re.I)


class TimeRangeArming(AclDriver):
    """`DeviceTimed`'s arm and disarm for an ACL platform whose rules name a time-range
    (IOS, VRP, Comware); the platform fills in its clock read, the statements of a window, the
    armed objects' lines and the evidence read after the instant.

    Its parser returns `TimedAclLine`s (see `with_time_ranges`) and keeps its last read in
    `_last_read`: the pass's `stage` counts an armed line as staged, and its `apply` adds the
    device's word on a cut found in force by the device's own clock."""

    _last_read: Mapping[int, OwnedLine] | None = None
    # whether the change under way may find a cut in force by the device's clock (see `apply`)
    _evidence_wanted = False
    # whether the change under way reads the device's wall clock with its objects (a prepared
    # bind with restores, and the discard after it), and the wall clock it last read (naive:
    # the device's local time; None when not read)
    _wall_wanted = False
    _wall: datetime | None = None

    @abstractmethod
    def _window_statements(self, start: datetime, end: datetime, zone: DeviceZone) -> list[str]:
        """The time-range's statements for [start, end) in the device's local time, as the
        parser normalises what it reads back; ValueError when the platform cannot say it."""

    @abstractmethod
    def _time_range_lines(self, line_id: int, statements: Sequence[str]) -> list[str]:
        """The commands creating the line's time-range with these statements."""

    @abstractmethod
    def _time_range_deletion(self, line_id: int) -> str:
        """The deletion of the line's time-range."""

    @abstractmethod
    def _answers_to(self, commands: Sequence[str], what: str) -> list[str]:
        """The device's answers to these read commands, each without its echo (`what` names
        them in an error)."""

    @abstractmethod
    def _timed_summary(self, line: TimedAclLine) -> str:
        """What a cut in force by the device's clock is, after `time-range NAME `: the
        time-range's state and statements, and where the line is bound."""

    @abstractmethod
    def _timed_reads(self, line: TimedAclLine) -> list[str]:
        """The commands showing such a line's ACLs, their rules and the time-range they name."""

    # what `_timed_reads` show, in an error
    _timed_objects = "the time-ranged rules"

    def _timed_evidence(self, line_ids: Sequence[int], found: Mapping[int, OwnedLine]) -> str:
        """What the device says of these lines' cuts found in force by its clock."""
        parts: list[str] = []
        lines: list[TimedAclLine] = []
        for line_id in line_ids:
            line = found[line_id]
            assert isinstance(line, TimedAclLine)
            parts.append(
                f"line {line_id}: cut by the device's clock, time-range {line.time_range} "
                + self._timed_summary(line)
            )
            lines.append(line)
        answers = self._timed_answers(lines)
        return "\n".join([*parts, *(answer.rstrip() for answer in answers)])

    def _timed_answers(self, lines: Sequence[TimedAclLine]) -> list[str]:
        """The device's answers showing these lines' time-ranged rules: read now, every
        line's `_timed_reads` in one exchange (a platform whose read already carried them
        answers from that read instead)."""
        commands = [command for line in lines for command in self._timed_reads(line)]
        return self._answers_to(commands, self._timed_objects)

    def _is_deny(self, acl_line: str) -> bool:
        """Whether a line of a cut's ACL is one of its denies (`rule 5 deny ...` here; a
        platform spelling rules otherwise says so)."""
        words = acl_line.split()
        return words[:1] == ["rule"] and words[2:3] == ["deny"]

    # the platform's read of its wall clock, asked last by a read that wants it (`_asking_wall`)
    _wall_read: ClassVar[str | None] = None

    def _wall_of(self, answer: str) -> datetime:
        """The device's wall clock (naive: its local time) in its answer to `_wall_read`;
        ValueError when the answer holds none."""
        raise ValueError(f"{self.platform} reads no wall clock")

    def _statement_end(self, statement: str) -> datetime | None:
        """Where one of the platform's time-range statements ends, on the device's wall clock
        (naive); None when the statement is not of the shape the driver writes."""
        del statement
        return None

    def _asking_wall(self, commands: list[str]) -> list[str]:
        """A read's commands, and the wall clock's read last when the change under way wants
        it (a prepared bind with restores, and the discard after it)."""
        if self._wall_wanted and self._wall_read is not None:
            return [*commands, self._wall_read]
        return commands

    def _taking_wall(self, commands: Sequence[str], answers: Sequence[str]) -> Sequence[str]:
        """The answers to `commands` without the wall clock's, kept in `_wall` (None when not
        understood: no window is then judged over). It changes at every read, so it must not
        defeat the reuse of a parse."""
        if not (
            self._wall_read is not None
            and commands
            and commands[-1] == self._wall_read
            and len(answers) == len(commands)
        ):
            return answers
        try:
            self._wall = self._wall_of(answers[-1])
        except ValueError:
            self._wall = None
        return answers[:-1]

    def _window_end(self, statements: Sequence[str]) -> datetime | None:
        """The end of the window a time-range's statements hold (the latest of theirs), on the
        device's wall clock; None if any statement says none."""
        ends = [self._statement_end(statement) for statement in statements]
        if not ends or any(end is None for end in ends):
            return None
        return max(end for end in ends if end is not None)

    def _window_over(self, line: OwnedLine) -> bool:
        """Whether the device's own clock has ended this line's device-timed cut: its denies
        wait on its own time-range, which the device says is not in force, and the device's
        wall clock, read with it, is at or past the window's end. Such a line filters nothing,
        and never will again: an absolute window does not come back."""
        if not (
            isinstance(line, TimedAclLine)
            and line.dormant
            and line.time_range == time_range_name(line.line_id)
            and self._wall is not None
        ):
            return False
        end = self._window_end(line.statements)
        return end is not None and self._wall >= end

    # -- what arming writes --------------------------------------------------------------------

    def _armed_objects(self, target: LineTarget, statements: Sequence[str]) -> list[str]:
        """The time-range first, then the ACLs whose denies name it, then the bindings."""
        name = time_range_name(target.line_id)
        commands = self._time_range_lines(target.line_id, statements)
        for family in families_of(target):
            for line in self._acl_lines(family, target):
                commands.append(f"{line} time-range {name}" if self._is_deny(line) else line)
            commands.append(self.leave)
        return commands + self._bindings(target)

    def _removal(self, found: OwnedLine) -> list[str]:
        """Bindings, then the ACLs, then the line's time-range: the rules never outlive it."""
        commands = super()._removal(found)
        if isinstance(found, TimedAclLine) and found.time_range_defined:
            commands.append(self._time_range_deletion(found.line_id))
        return commands

    # -- DeviceTimed ---------------------------------------------------------------------------

    def arm(
        self, targets: Sequence[LineTarget], start: datetime, end: datetime, zone: DeviceZone
    ) -> StageResult:
        """For each target: its time-range for [start, end) in the device's local time, then
        its ACLs whose deny rules name it, then their bindings, in one push; read back. A line
        armed exactly so already sends nothing; a line cut already is left to the passes."""
        if not targets:
            return StageResult(self.name, ())
        try:
            statements = self._window_statements(start, end, zone)
        except ValueError as exc:
            return StageResult(
                self.name, tuple(StagedLine(t.line_id, (), False, str(exc)) for t in targets)
            )
        return self._planned_stage(
            targets,
            lambda found: self._arm_plans(targets, statements, found),
            lambda plans, pushed: armed_verdicts(
                plans,
                pushed,
                lambda after, target: (
                    isinstance(after, TimedAclLine) and after.armed_for(target, statements)
                ),
            ),
        )

    def _arm_plans(
        self,
        targets: Sequence[LineTarget],
        statements: Sequence[str],
        found: Mapping[int, OwnedLine],
    ) -> list[LinePlan]:
        plans: list[LinePlan] = []
        # the filter slots each interface's lines of this batch take (two lines on two
        # interfaces do not compete for a slot)
        claimed: dict[str, dict[Hashable, int]] = {}
        for target in targets:
            line = found.get(target.line_id)
            try:
                self.check_target(target)
                if isinstance(line, TimedAclLine) and line.armed_for(target, statements):
                    plans.append(LinePlan(target, Action.CUT))  # armed already: idempotent
                    continue
                if line is not None and line.state_for(target) is LineState.CUT:
                    raise Rejected(f"line {target.line_id} is cut already: left to the passes")
                taken = claimed.setdefault(target.interface, {})
                conflict = self._occupied(target, found, set(), taken)
                if conflict is not None:
                    raise conflict
                for slot in self._slots(target):
                    taken[slot] = target.line_id
                # whatever of the line is there (another night's, half a cut) goes first
                commands = self._removal(line) if line is not None else []
            except DriverError as refusal:
                plans.append(LinePlan(target, Action.CUT, refusal=refusal))
                continue
            commands += self._armed_objects(target, statements)
            plans.append(LinePlan(target, Action.CUT, tuple(commands)))
        return plans

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
            return self._failed_stage(wanted, progress, exc)
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
            elif isinstance(line, TimedAclLine) and line.bindings and line.time_range is None:
                refusal = Rejected(f"line {line_id} is cut without a time-range: not disarming")
                plans.append(DiscardPlan(line_id, refusal=refusal))
            else:
                plans.append(DiscardPlan(line_id, tuple(self._removal(line))))
        return plans

    # -- the passes over an armed line -----------------------------------------------------------

    def _render(
        self, step: Step, action: Action, target: LineTarget, found: OwnedLine | None
    ) -> list[str]:
        """`_render`; but a restore that keeps bodies (a prepared bind) of a line whose window
        the device's own clock has ended sends nothing: the device restored it at the window's
        end. Its objects, bindings included, are removed after the pass (`discard_staged`)."""
        if (
            action is Action.RESTORE
            and self._keeping_bodies
            and found is not None
            and self._window_over(found)
        ):
            return []
        return super()._render(step, action, target, found)

    def _discard_plans(
        self, line_ids: Sequence[int], found: Mapping[int, OwnedLine]
    ) -> list[DiscardPlan]:
        """`_discard_plans`, and for a line whose window the device's clock has ended, bound or
        not, its removal: bindings, ACLs, then its time-range."""
        plans = super()._discard_plans(line_ids, found)
        return [
            self._ended_removal(line)
            if plan.refusal is not None
            and (line := found.get(plan.line_id)) is not None
            and line.bindings
            and self._window_over(line)
            else plan
            for plan in plans
        ]

    def _ended_removal(self, line: OwnedLine) -> DiscardPlan:
        """The removal of a line whose window is over, or its refusal (a binding on an
        interface that cannot be rendered)."""
        try:
            return DiscardPlan(line.line_id, tuple(self._removal(line)))
        except DriverError as refusal:
            return DiscardPlan(line.line_id, refusal=refusal)

    def discard_staged(self, line_ids: Iterable[int]) -> StageResult:
        """`discard_staged`, reading the device's wall clock with its objects: the lines a
        prepared bind found restored by the device's clock are removed whole."""
        self._wall, self._wall_wanted = None, True
        try:
            return super().discard_staged(line_ids)
        finally:
            self._wall_wanted = False

    def stage(self, batch: Batch) -> StageResult:
        """`stage`; a line armed for its cut (bound, waiting on its time-range) has nothing
        to stage: the bind at the instant finds it cut, or cuts it."""
        result = super().stage(batch)
        found = self._last_read
        if found is None or result.error is not None:
            return result
        targets = {t.line_id: t for t in batch.cuts}
        lines = tuple(
            replace(line, done=True, error=None)
            if not line.done
            and isinstance(seen := found.get(line.line_id), TimedAclLine)
            and seen.armed_cut(targets.get(line.line_id))
            else line
            for line in result.lines
        )
        return replace(result, lines=lines)

    def apply(self, batch: Batch) -> BatchResult:
        """`apply`, and for a cut found in force by the device's own clock (nothing sent), the
        evidence of it in the result's device output (a platform may read it with the read
        that finds the cut when `_evidence_wanted`: only a batch with cuts may need it). In a
        prepared bind with restores the read also asks the device's wall clock: a restore the
        device's clock made sends nothing (`_render`), and its evidence is added the same way."""
        self._evidence_wanted = bool(batch.cuts)
        self._wall, self._wall_wanted = None, self._keeping_bodies and bool(batch.restores)
        try:
            result = super().apply(batch)
        finally:
            self._evidence_wanted = self._wall_wanted = False
        found = self._last_read
        if found is None:
            return result
        result = with_timed_evidence(
            result,
            batch,
            found,
            lambda line: isinstance(line, TimedAclLine) and line.time_range is not None,
            lambda line_ids: self._timed_evidence(line_ids, found),
        )
        ended = [
            (outcome.line_id, line)
            for outcome in result.outcomes
            if outcome.action is Action.RESTORE
            and outcome.verified
            and not outcome.commands
            and isinstance(line := found.get(outcome.line_id), TimedAclLine)
            and self._window_over(line)
        ]
        if not ended:
            return result
        return with_evidence(
            result,
            "\n".join(
                f"line {line_id}: found open, nothing sent; time-range {line.time_range} not in "
                f"force ({'; '.join(line.statements)}), the device's clock {self._wall}: the "
                "window is over by the device's clock; its objects are removed after the pass"
                for line_id, line in ended
            ),
        )


class UndoStyleTimeRanges(TimeRangeArming):
    """The time-range commands VRP and Comware share (`time-range NAME STATEMENT` once per
    statement, `undo time-range NAME`) and their words on a cut in force by the device's
    clock; each platform says how it binds (`_bound_word`) and how it shows its ACLs."""

    _bound_word = "bound on"

    def _time_range_lines(self, line_id: int, statements: Sequence[str]) -> list[str]:
        name = time_range_name(line_id)
        return [f"time-range {name} {statement}" for statement in statements]

    def _time_range_deletion(self, line_id: int) -> str:
        return f"undo time-range {time_range_name(line_id)}"

    def _timed_summary(self, line: TimedAclLine) -> str:
        return (
            f"active: {'; '.join(line.statements) or 'no statement'}; {self._bound_word} "
            f"{', '.join(sorted(line.bindings))} inbound and outbound"
        )


def with_timed_evidence(
    result: BatchResult,
    batch: Batch,
    found: Mapping[int, OwnedLine],
    timed: Callable[[OwnedLine], bool],
    evidence_of: Callable[[list[int]], str],
) -> BatchResult:
    """`result` with the evidence of its cuts found in force by the device's own clock: cuts
    verified with nothing sent, of lines whose read `timed` says wait on a device-timed
    window and read as CUT; `evidence_of` reads it (a read that fails is said instead)."""
    targets = {t.line_id: t for t in batch.cuts}
    lines = [
        outcome.line_id
        for outcome in result.outcomes
        if outcome.action is Action.CUT
        and outcome.verified
        and not outcome.commands
        and (line := found.get(outcome.line_id)) is not None
        and timed(line)
        and line.state_for(targets[outcome.line_id]) is LineState.CUT
    ]
    if not lines:
        return result
    try:
        evidence = evidence_of(lines)
    except DriverError as exc:
        evidence = f"evidence of the device-timed cut not read: {exc}"
    return with_evidence(result, evidence)


def with_evidence(result: BatchResult, evidence: str) -> BatchResult:
    """`result` with `evidence` after its device output (the change log keeps it with every
    outcome of the batch)."""
    joined = "\n".join(part for part in (result.device_output, evidence) if part)
    return replace(result, device_output=joined)


def armed_verdicts(
    plans: Sequence[LinePlan],
    pushed: Pushed,
    armed: Callable[[OwnedLine | None, LineTarget], bool],
) -> tuple[StagedLine, ...]:
    """Each planned line's arming, in the plans' order: refused, rejected by the device, read
    back as `armed` says the target's window armed, or not (VerifyFailed). Where the push
    planned again from a fresher read, its plans are the ones judged (rejections are counted
    in them)."""
    if pushed.plans is not None:
        plans = tuple(plan for plan in pushed.plans if isinstance(plan, LinePlan))
    verdicts = []
    for i, plan in enumerate(plans):
        line_id = plan.target.line_id
        if plan.refusal is not None:
            verdicts.append(StagedLine(line_id, plan.commands, False, describe(plan.refusal)))
        elif i in pushed.rejections:
            problem = f"Rejected: {pushed.rejections[i]}"
            verdicts.append(StagedLine(line_id, plan.commands, False, problem))
        elif armed(pushed.after.get(line_id), plan.target):
            verdicts.append(StagedLine(line_id, plan.commands, True))
        else:
            problem = f"VerifyFailed: read-back does not show line {line_id} armed"
            verdicts.append(StagedLine(line_id, plan.commands, False, problem))
    return tuple(verdicts)
