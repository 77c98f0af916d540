"""The clock the router twins keep: the lab's time that a test replaces with its own, the
router's offset from it and its NTP state, a zone with its summer-time rule, and the absolute
time-ranges VRP and Comware evaluate on it. Each twin brings its own commands and wording.
"""

from __future__ import annotations

import time
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from lab.cli import Action, Cursor


@dataclass(frozen=True)
class SummerRule:
    """One end of `clock summer-time NAME recurring ...`: the n-th (5: last) weekday of a
    month at a local time."""

    week: int
    weekday: int
    month: int
    at: timedelta

    def in_year(self, year: int) -> datetime:
        last = monthrange(year, self.month)[1]
        days = [
            d for d in range(1, last + 1) if date(year, self.month, d).weekday() == self.weekday
        ]
        day = days[-1] if self.week == 5 else days[self.week - 1]
        return datetime(year, self.month, day) + self.at  # noqa: DTZ001 - local wall clock


@dataclass(frozen=True)
class ClockZone:
    """What `clock timezone` and `clock summer-time` set; UTC when neither is configured."""

    name: str = "UTC"
    offset: timedelta = timedelta(0)
    summer_name: str = ""
    summer_start: SummerRule | None = None
    summer_end: SummerRule | None = None
    summer_offset: timedelta = timedelta(hours=1)

    def local(self, instant: datetime) -> tuple[datetime, str]:
        """The wall clock at a UTC instant, and the zone name the router shows with it."""
        standard = instant.astimezone(UTC).replace(tzinfo=None) + self.offset
        if self.summer_start is None or self.summer_end is None:
            return standard, self.name
        begin = self.summer_start.in_year(standard.year)
        # the end is read on the summer clock: on the standard clock it is an offset earlier
        end = self.summer_end.in_year(standard.year) - self.summer_offset
        summer = begin <= standard < end if begin < end else (standard >= begin or standard < end)
        if summer:
            return standard + self.summer_offset, self.summer_name
        return standard, self.name


# the twin's clock before a test gives it one: the lab's epoch, moving with real time
LAB_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class KeepsTime:
    """A twin's own clock: `clock()` is the true time (the lab's epoch moving with real time
    until a test gives the lab's simulated clock), `clock_offset` how far the router's own
    clock is off it; `ntp_lost` a test's break of NTP, `ntp_offset_ms` the offset NTP shows."""

    booted: float
    clock: Callable[[], datetime]
    clock_offset: timedelta
    ntp_lost: bool
    ntp_offset_ms: float

    def _start_clock(self) -> None:
        self.booted = time.monotonic()
        self.clock = self._lab_time
        self.clock_offset = timedelta(0)
        self.ntp_lost = False
        self.ntp_offset_ms = 0.25

    def _lab_time(self) -> datetime:
        return LAB_EPOCH + timedelta(seconds=time.monotonic() - self.booted)

    def now(self) -> datetime:
        """The router's own clock (UTC): the true time, off by `clock_offset`."""
        return self.clock().astimezone(UTC) + self.clock_offset


@dataclass(frozen=True)
class AbsoluteTimeRange:
    """`time-range NAME from ... to ...` (VRP, Comware): absolute statements on the router's
    local wall clock; active while any of them holds the clock."""

    name: str
    statements: tuple[tuple[datetime, datetime], ...] = ()

    def active(self, local: datetime) -> bool:
        return any(begin <= local < end for begin, end in self.statements)


class ShowsTime(Protocol):
    def display_clock(self) -> str: ...

    def display_ntp_status(self) -> str: ...

    def display_time_range(self, name: str | None) -> str: ...


def display_time(what: str, cur: Cursor, router: ShowsTime) -> Action | None:
    """`display clock`, `display ntp-service status` and `display time-range NAME|all` (VRP,
    Comware), `what` the keyword after `display`; None for any other display."""
    if what == "clock":
        cur.done()
        return router.display_clock
    if what == "ntp-service":
        cur.keyword(["status"])
        cur.done()
        return router.display_ntp_status
    if what == "time-range":
        token = cur.next()
        cur.done()
        wanted = None if token.text.lower() == "all" else token.text
        return lambda: router.display_time_range(wanted)
    return None
