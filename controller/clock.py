"""The one clock: the only place in the product that reads the time of day.

Everything else takes an instant or a `Clock` as a parameter, so tests and the demo travel in
time instead of sleeping until midnight.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    simulated: bool  # True for any clock that is not the real time of day

    def now(self) -> datetime: ...

    def wall_time_of(self, instant: datetime) -> datetime:
        """The real instant at which this clock will read `instant` (for timers)."""
        ...


class SystemClock:
    """The real time. Only a pass on this clock can reach a production network."""

    simulated = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wall_time_of(self, instant: datetime) -> datetime:
        return instant


class SimulatedClock:
    """A clock that stands still until told to move; thread-safe."""

    simulated = True

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = as_utc(instant)

    def wall_time_of(self, instant: datetime) -> datetime:
        """A clock that stands still reaches `instant` only when moved: a timer set for it
        must wait as long as the distance from its reading, not fire at a real-time past."""
        return datetime.now(UTC) + (instant - self.now())

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


class OffsetClock:
    """Real time shifted to start at a chosen instant: a lab controller (`serve --at`) lives
    through a night at the real pace without waiting for it."""

    simulated = True

    def __init__(self, start: datetime) -> None:
        self._offset = as_utc(start) - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def wall_time_of(self, instant: datetime) -> datetime:
        return instant - self._offset


def as_utc(instant: datetime) -> datetime:
    """Refuse naive datetimes: a time without a zone is ambiguous evidence."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no UTC offset; give one, e.g. +08:00")
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{instant.isoformat()} is out of the range of dates") from None


# The instants a person may give (a term, an expiry, a period): far enough either side of today
# for any order, near enough that every offset and window computed from them is still a date.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2199


def check_range(instant: datetime) -> datetime:
    """Refuse an instant whose year, as written, is outside EARLIEST_YEAR..LATEST_YEAR."""
    if not EARLIEST_YEAR <= instant.year <= LATEST_YEAR:
        raise ValueError(f"must be in the years {EARLIEST_YEAR}-{LATEST_YEAR}")
    return instant


def parse_instant(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ValueError(
            f"{shown!r} is not an ISO 8601 instant (e.g. 2026-11-25T00:00:05+08:00)"
        ) from None
    return as_utc(check_range(parsed))
