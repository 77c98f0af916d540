"""Enforcement policies: when an order's line is cut, as data plus small pure functions.

A policy's window is venue-local wall-clock time, half-open `[start, end)`; no window means
around the clock. Instants are timezone-aware UTC datetimes; zones are IANA names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


@dataclass(frozen=True)
class Window:
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("a window must not be empty: start == end")

    def contains(self, wall: time) -> bool:
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end  # crosses midnight

    def __str__(self) -> str:
        return f"[{self.start:%H:%M}, {self.end:%H:%M})"


@dataclass(frozen=True)
class Policy:
    name: str
    kind: str
    window: Window | None  # None: cut around the clock
    description: str

    def contains(self, at: datetime, zone: ZoneInfo) -> bool:
        if self.window is None:
            return True
        return self.window.contains(at.astimezone(zone).time().replace(tzinfo=None))

    def edges(self, after: datetime, until: datetime, zone: ZoneInfo) -> list[datetime]:
        """The instants in (after, until] at which the window opens or closes in `zone`."""
        if self.window is None:
            return []
        first = after.astimezone(zone).date() - timedelta(days=1)
        last = until.astimezone(zone).date() + timedelta(days=1)
        found: list[datetime] = []
        day = first
        while day <= last:
            for wall in (self.window.start, self.window.end):
                instant = first_instant_at(day, wall, zone)
                if after < instant <= until:
                    found.append(instant)
            day += timedelta(days=1)
        return sorted(set(found))


CURFEW = Policy(
    name="curfew-nightly",
    kind="curfew",
    window=Window(time(0, 0), time(8, 0)),
    description="cut every night from 00:00 to 08:00 venue-local time",
)
DISCONNECT = Policy(
    name="disconnect",
    kind="disconnect",
    window=None,
    description="cut around the clock",
)
POLICIES: dict[str, Policy] = {p.kind: p for p in (CURFEW, DISCONNECT)}
ORDER_KINDS: tuple[str, ...] = tuple(POLICIES)


def policy_for(kind: str) -> Policy:
    try:
        return POLICIES[kind]
    except KeyError:
        raise ValueError(f"unknown order kind {kind!r}; known: {', '.join(ORDER_KINDS)}") from None


@lru_cache(maxsize=512)
@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """Every name of the IANA zone database as installed (tzdata)."""
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """An IANA zone by name; a clear ValueError for anything else. Only names of the zone
    database are looked up: any other text is never a file name (`America` is a directory,
    5,000 characters are too long for one)."""
    if isinstance(name, str) and name in zone_names():
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    shown = name if not isinstance(name, str) or len(name) <= 40 else name[:40] + "…"
    raise ValueError(f"{shown!r} is not an IANA time zone name (e.g. Asia/Shanghai)")


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def first_instant_at(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The first UTC instant at which the clock in `tz` reads `day wall` or later.

    An ambiguous wall time (clocks going back) gives its first occurrence; a wall time that does
    not exist (clocks jumping forward over it) gives the instant of the jump.
    """
    naive = datetime.combine(day, wall)
    earlier_offset = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(earlier_offset, tz) == naive:
        return earlier_offset
    # `naive` falls in a gap: bisect for the transition between the two readings of it.
    candidates = sorted((earlier_offset, naive.replace(tzinfo=tz, fold=1).astimezone(UTC)))
    low, high = candidates
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if _wall(middle, tz) >= naive:
            high = middle
        else:
            low = middle
    return high
