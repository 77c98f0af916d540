"""The planner: orders x lines x policies x instant -> desired state of every line. Pure, no I/O.

desired(line, t) = CUT if some order on the line's venue is in force at t and its policy's
window contains t in the venue's zone, OPEN otherwise; plus the order ids that justify each
cut and the next instant at which any line's desired state changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.base import LineState
from policies import Policy, policy_for, zone

HORIZON = timedelta(days=3)


Gap = tuple[datetime, datetime | None]  # [suspended at, resumed at) - open while suspended


@dataclass(frozen=True)
class OrderTerm:
    """An order as the planner needs it: its term clipped by revocation or amendment, the
    intervals during which it was suspended, and the policy that governs it."""

    order_id: int
    venue_id: int
    kind: str
    effective_from: datetime
    effective_until: datetime | None = None
    gaps: tuple[Gap, ...] = ()
    policy: Policy | None = None  # None: the kind's default policy

    def in_force(self, at: datetime) -> bool:
        if at < self.effective_from or (
            self.effective_until is not None and at >= self.effective_until
        ):
            return False
        return not any(start <= at and (end is None or at < end) for start, end in self.gaps)

    @property
    def governing(self) -> Policy:
        return self.policy or policy_for(self.kind)

    def edges(self) -> list[datetime]:
        found = [self.effective_from]
        if self.effective_until is not None:
            found.append(self.effective_until)
        for start, end in self.gaps:
            found.append(start)
            if end is not None:
                found.append(end)
        return found


@dataclass(frozen=True)
class LineRef:
    line_id: int
    venue_id: int
    device_id: int
    zone: str
    blocked: str | None = None  # why the line must not be cut (e.g. inventory mismatch)


@dataclass(frozen=True)
class LinePlan:
    line_id: int
    device_id: int
    desired: LineState
    order_ids: tuple[int, ...] = ()
    blocked: str | None = None  # set when orders ask for a cut the planner refuses


@dataclass(frozen=True)
class Plan:
    at: datetime
    lines: Mapping[int, LinePlan]
    next_change: datetime | None

    def cuts(self) -> list[LinePlan]:
        return [p for p in self.lines.values() if p.desired is LineState.CUT]


def cutting_orders(orders: Iterable[OrderTerm], venue_zone: str, at: datetime) -> tuple[int, ...]:
    """Ids of the orders that cut a venue at `at`, sorted."""
    tz = zone(venue_zone)
    return tuple(
        sorted(o.order_id for o in orders if o.in_force(at) and o.governing.contains(at, tz))
    )


def plan(
    orders: Iterable[OrderTerm],
    lines: Iterable[LineRef],
    at: datetime,
    horizon: timedelta = HORIZON,
) -> Plan:
    if at.tzinfo is None:
        raise ValueError("the planner needs an aware instant")
    lines = list(lines)
    by_venue: dict[int, list[OrderTerm]] = defaultdict(list)
    for order in orders:
        by_venue[order.venue_id].append(order)
    zones = {line.venue_id: line.zone for line in lines}

    def venue_cut(venue_id: int, instant: datetime) -> tuple[int, ...]:
        return cutting_orders(by_venue.get(venue_id, ()), zones[venue_id], instant)

    now = {venue_id: venue_cut(venue_id, at) for venue_id in zones}
    line_plans = {}
    for line in lines:
        justifying = now[line.venue_id]
        if justifying and line.blocked:
            line_plans[line.line_id] = LinePlan(
                line.line_id, line.device_id, LineState.OPEN, justifying, blocked=line.blocked
            )
        else:
            desired = LineState.CUT if justifying else LineState.OPEN
            line_plans[line.line_id] = LinePlan(line.line_id, line.device_id, desired, justifying)
    return Plan(at, line_plans, _next_change(by_venue, zones, now, at, horizon, venue_cut))


def _next_change(
    by_venue: Mapping[int, list[OrderTerm]],
    zones: Mapping[int, str],
    now: Mapping[int, tuple[int, ...]],
    at: datetime,
    horizon: timedelta,
    venue_cut: Callable[[int, datetime], tuple[int, ...]],
) -> datetime | None:
    """The first instant in (at, at+horizon] at which some venue's cut state changes."""
    until = at + horizon
    affected: dict[datetime, set[int]] = defaultdict(set)
    windowed_zones: dict[tuple[Policy, str], set[int]] = defaultdict(set)
    for venue_id, venue_zone in zones.items():
        for order in by_venue.get(venue_id, ()):
            for edge in order.edges():
                if at < edge <= until:
                    affected[edge].add(venue_id)
            if order.governing.window is not None:
                windowed_zones[(order.governing, venue_zone)].add(venue_id)
    for (policy, venue_zone), venue_ids in windowed_zones.items():
        for edge in policy.edges(at, until, zone(venue_zone)):
            affected[edge] |= venue_ids
    for instant in sorted(affected):
        for venue_id in affected[instant]:
            if bool(venue_cut(venue_id, instant)) != bool(now[venue_id]):
                return instant
    return None


def quiet_until(
    orders: Iterable[OrderTerm],
    lines: Iterable[LineRef],
    at: datetime,
    horizon: timedelta = timedelta(hours=1),
) -> datetime:
    """The first instant in (at, at + horizon] at which an order's term or a window in one of
    the venues' zones has an edge (at + horizon if none): at any instant from `at` until then,
    `plan` gives the same lines, the same orders cited and the same next change as at `at`."""
    until = at + horizon
    zones = {line.venue_id: line.zone for line in lines}
    first = until
    policies: set[tuple[Policy, str]] = set()
    for order in orders:
        venue_zone = zones.get(order.venue_id)
        if venue_zone is None:
            continue  # a venue without lines is planned for no line
        for edge in order.edges():
            if at < edge < first:
                first = edge
        if order.governing.window is not None:
            policies.add((order.governing, venue_zone))
    for policy, venue_zone in policies:
        edges = policy.edges(at, first, zone(venue_zone))
        if edges:
            first = min(first, edges[0])
    return first
