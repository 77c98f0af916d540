"""Device-timed windows, the pure part: a device's clock and zone as read from it, whether it can
be trusted to cut on its own at an instant, and a night's window as a time-range it evaluates.

A device enforces a window on its own clock in its own local time: it is trusted only when NTP
keeps that clock right and its zone (with its summer-time rule) has the venue's UTC offset at
both ends of the window. Nothing here talks to a device or knows an order.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from drivers.base import LineTarget, StageResult
from drivers.identifiers import check_line_id

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


_SHOW_CLOCK = re.compile(
    r"^[*.]?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\s+(\S+)\s+[A-Za-z]{3}\s+([A-Za-z]{3})\s+"
    r"(\d{1,2})\s+(\d{4})\s*$",
    re.MULTILINE,
)
_NTP_STATE = re.compile(r"Clock is (synchronized|unsynchronized)")
_NTP_OFFSET = re.compile(r"clock offset is (-?\d+(?:\.\d+)?) msec")


def parse_show_clock(text: str, zone: DeviceZone) -> datetime:
    """The UTC instant in `show clock` (`*00:00:01.123 CST Sun Mar 29 2026`)."""
    match = _SHOW_CLOCK.search(text)
    if match is None:
        raise ValueError("no time in the answer to `show clock`")
    hour, minute, second, fraction, shown, month_word, day, year = match.groups()
    month = next((i + 1 for i, m in enumerate(MONTHS) if m.startswith(month_word)), None)
    if month is None:
        raise ValueError(f"month {month_word!r} in `show clock` not understood")
    micro = int((fraction or "0").ljust(6, "0"))
    wall = datetime(  # noqa: DTZ001 - the device's wall clock, placed in its zone below
        int(year), month, int(day), int(hour), int(minute), int(second), micro
    )
    return zone.to_utc(wall, shown)


def parse_ntp_status(text: str) -> tuple[bool, float | None]:
    """Whether `show ntp status` says the clock is synchronised, and its offset (ms)."""
    state = _NTP_STATE.search(text)
    if state is None:
        return False, None
    offset = _NTP_OFFSET.search(text)
    return state.group(1) == "synchronized", float(offset.group(1)) if offset else None


def read_device_clock(show_clock: str, ntp_status: str, clock_config: str) -> DeviceClock:
    """A device's clock from its answers to `show clock`, `show ntp status` and its `clock`
    configuration lines; what cannot be understood becomes the clock's `problem`."""
    text = "\n".join((show_clock.strip(), ntp_status.strip(), clock_config.strip()))
    synchronised, offset = parse_ntp_status(ntp_status)
    try:
        zone = parse_clock_config(clock_config.splitlines())
    except ValueError as exc:
        return DeviceClock(None, synchronised, DeviceZone(), offset, f"device zone: {exc}", text)
    try:
        instant = parse_show_clock(show_clock, zone)
    except ValueError as exc:
        return DeviceClock(None, synchronised, zone, offset, f"device clock: {exc}", text)
    return DeviceClock(instant, synchronised, zone, offset, None, text)


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
    the venue's UTC offset at the window's start and at its end."""
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
