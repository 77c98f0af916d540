"""What an auditor asks: each order's night-by-night timeline, the violations of a period, and a
carrier's compliance — pure functions over the store's rows, plus one loader that reads them.

Every verdict is computed from the change log alone and cites the change seqs that prove it;
a cut or restore the log does not show is reported missing, never as zero lateness, and nothing
after the store's clock's now is judged: a period reaching past it is clamped to it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal

from sqlmodel import col, select

from controller.changelog import GENESIS
from controller.clock import as_utc
from controller.errors import Invalid
from controller.models import Change, Device, Line, Order, Venue
from controller.planner import HORIZON, LineRef, OrderTerm, cutting_orders, plan
from controller.store import ChangeFilter, NotFound, Store
from policies import zone

DEFAULT_THRESHOLD = timedelta(seconds=60)
CUT, OPEN = "cut", "open"

CutStatus = Literal["verified", "already cut", "missing"]
# "not due": the orders hold the line past the period's end; "not yet due": past now
RestoreStatus = Literal["verified", "already open", "missing", "not due", "not yet due"]
CsvTable = Literal["windows", "summary", "failures"]
CSV_TABLES: tuple[str, ...] = ("windows", "summary", "failures")


# -- the rows a report reads ------------------------------------------------------------------


@dataclass(frozen=True)
class LineInfo:
    """A line with the names an auditor reads it by."""

    line_id: int
    line: str
    venue_id: int
    venue: str
    zone: str
    device_id: int
    device: str
    carrier: str


@dataclass(frozen=True)
class Evidence:
    """The rows a report is computed from, never written.

    `terms` are the orders' terms exactly as the store hands them to the planner (revocation,
    amendment, suspensions, governing policy); an order without one never cut anything.
    """

    orders: tuple[Order, ...]
    terms: tuple[OrderTerm, ...]
    lines: tuple[Line, ...]
    venues: tuple[Venue, ...]
    devices: tuple[Device, ...]
    changes: tuple[Change, ...]  # outcomes and admin records, in seq order
    head_seq: int = 0  # the head of the whole log (intents included) when it was read
    head_hash: str = GENESIS

    @cached_property
    def line_info(self) -> dict[int, LineInfo]:
        venues = {v.id: v for v in self.venues}
        devices = {d.id: d for d in self.devices}
        found = {}
        for line in self.lines:
            assert line.id is not None
            venue, device = venues.get(line.venue_id), devices.get(line.device_id)
            found[line.id] = LineInfo(
                line_id=line.id,
                line=line.name,
                venue_id=line.venue_id,
                venue=venue.name if venue else f"venue {line.venue_id}",
                zone=venue.zone if venue else "UTC",
                device_id=line.device_id,
                device=device.name if device else f"device {line.device_id}",
                carrier=device.carrier if device else "",
            )
        return found

    @cached_property
    def venue_lines(self) -> dict[int, list[LineInfo]]:
        by_venue: dict[int, list[LineInfo]] = defaultdict(list)
        for info in sorted(self.line_info.values(), key=lambda i: i.line):
            by_venue[info.venue_id].append(info)
        return by_venue

    @cached_property
    def order_by_id(self) -> dict[int, Order]:
        return {o.id: o for o in self.orders if o.id is not None}

    @cached_property
    def standing_terms(self) -> dict[int, OrderTerm]:
        """Each order's term as it stood: never in force before the order was issued."""
        found = {}
        for term in self.terms:
            order = self.order_by_id.get(term.order_id)
            if order is not None:
                start = max(term.effective_from, order.issued_at)
                found[term.order_id] = dataclasses.replace(term, effective_from=start)
        return found

    @cached_property
    def venue_terms(self) -> dict[int, list[OrderTerm]]:
        by_venue: dict[int, list[OrderTerm]] = defaultdict(list)
        for term in self.standing_terms.values():
            by_venue[term.venue_id].append(term)
        return by_venue

    @cached_property
    def line_history(self) -> dict[int, tuple[list[Change], list[datetime]]]:
        """Each line's outcomes in time order, with their instants for bisection."""
        by_line: dict[int, list[Change]] = defaultdict(list)
        for change in self.changes:
            if change.kind == "outcome" and change.line_id is not None:
                by_line[change.line_id].append(change)
        history = {}
        for line_id, outcomes in by_line.items():
            outcomes.sort(key=lambda c: (c.at, c.seq))
            history[line_id] = (outcomes, [c.at for c in outcomes])
        return history

    def info(self, line_id: int) -> LineInfo:
        return self.line_info.get(line_id) or LineInfo(
            line_id, f"line {line_id}", 0, "", "UTC", 0, "", ""
        )

    def outcomes(self, line_id: int) -> tuple[list[Change], list[datetime]]:
        return self.line_history.get(line_id, ([], []))


def load_evidence(store: Store) -> Evidence:
    """Every order and its term, line, venue, device, outcome and admin record, and the log's
    head. The terms come first, from the planner's own snapshot: an order issued after it has
    no term and is left out rather than judged by a rule the planner did not apply."""
    terms = store.snapshot().orders
    with store.session() as s:
        orders = tuple(s.exec(select(Order).order_by(col(Order.id))))
        lines = tuple(s.exec(select(Line).order_by(col(Line.id))))
        venues = tuple(s.exec(select(Venue).order_by(col(Venue.id))))
        devices = tuple(s.exec(select(Device).order_by(col(Device.id))))
        changes = tuple(
            s.exec(
                select(Change)
                .where(col(Change.kind).in_(("outcome", "admin")))
                .order_by(col(Change.seq))
            )
        )
        head = s.exec(select(Change).order_by(col(Change.seq).desc()).limit(1)).first()
    return Evidence(
        orders=orders,
        terms=tuple(terms),
        lines=lines,
        venues=venues,
        devices=devices,
        changes=changes,
        head_seq=head.seq if head else 0,
        head_hash=head.hash if head else GENESIS,
    )


def audit_changes(
    store: Store,
    order_id: int | None = None,
    venue_id: int | None = None,
    device_id: int | None = None,
    carrier: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 10_000,
) -> list[Change]:
    """Change records (every kind) matching every filter given, in seq order.

    A carrier selects the records of its devices and the order events of venues it serves.
    """
    where = ChangeFilter(
        order_id=order_id,
        venue_id=venue_id,
        device_id=device_id,
        since=as_utc(since) if since else None,
        until=as_utc(until) if until else None,
        limit=limit if carrier is None else 10**9,
    )
    rows = store.changes(where)
    if carrier is None:
        return rows
    devices = {d.id for d in store.devices() if d.carrier == carrier}
    if not devices:
        raise NotFound(f"no device of carrier {carrier!r}")
    venues = {ln.venue_id for ln in store.lines() if ln.device_id in devices}
    return [
        c for c in rows if c.device_id in devices or (c.device_id is None and c.venue_id in venues)
    ][:limit]


# -- timelines --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowTimeline:
    """One window of one order on one line: when the cut was due and made, and the restore.

    `start`/`end` are clipped to the report's period (the flags say where); lateness is in
    seconds, None when the cut or restore is missing. The restore is due at `restore_due`: the
    window's end, or later when other orders (`held_by`) kept the line cut past it.
    """

    order_id: int
    order_kind: str
    line: LineInfo
    start: datetime
    end: datetime
    starts_before_period: bool
    ends_after_period: bool
    ended_by_revocation: bool
    cut_status: CutStatus
    cut_at: datetime | None
    cut_seq: int | None
    cut_lateness_seconds: float | None
    restore_due: datetime | None
    held_by: tuple[int, ...]
    restore_status: RestoreStatus
    restore_at: datetime | None
    restore_seq: int | None
    restore_lateness_seconds: float | None

    def cut_on_time(self, threshold: timedelta) -> bool:
        return (
            self.cut_lateness_seconds is not None
            and self.cut_lateness_seconds <= threshold.total_seconds()
        )


@dataclass(frozen=True)
class OrderTimeline:
    order_id: int
    kind: str
    venue_id: int
    venue: str
    status: str
    effective_from: datetime
    effective_until: datetime | None
    issued_at: datetime
    revoked_at: datetime | None
    since: datetime
    until: datetime  # the period's end as computed: now, when the one asked for is later
    windows: tuple[WindowTimeline, ...]
    requested_until: datetime | None = None  # the end asked for, when it was past now
    clamped_to_now: bool = False


@dataclass(frozen=True)
class Span:
    """A stretch of [since, until) in which one order cuts its venue, with whether it began
    before the period and goes on after it."""

    start: datetime
    end: datetime
    starts_before_period: bool
    ends_after_period: bool


def order_spans(term: OrderTerm, venue_zone: str, since: datetime, until: datetime) -> list[Span]:
    """The spans in [since, until) in which `term` alone orders its venue cut.

    The planner itself says when: a curfew gives one span per venue-local night of its
    governing window, a disconnect its term; both end at revocation and pause while suspended.
    """
    since, until = _period(since, until)
    probe = [LineRef(0, term.venue_id, 0, venue_zone)]

    def cuts(at: datetime) -> bool:
        return bool(cutting_orders([term], venue_zone, at))

    spans: list[Span] = []
    began = since if cuts(since) else None
    at = since
    while at < until:
        horizon = min(until - at, HORIZON)
        flip = plan([term], probe, at, horizon).next_change
        if flip is None:
            at += horizon
            continue
        if began is not None:
            spans.append(Span(began, flip, _before(began, since, cuts), False))
            began = None
        elif flip < until:
            began = flip
        at = flip
    if began is not None:
        spans.append(Span(began, until, _before(began, since, cuts), True))
    return spans


def _before(began: datetime, since: datetime, cuts: Callable[[datetime], bool]) -> bool:
    return began == since and cuts(since - timedelta(microseconds=1))


def timelines(
    evidence: Evidence,
    since: datetime,
    until: datetime,
    order_ids: Iterable[int] | None = None,
    line_ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> list[WindowTimeline]:
    """Every window of the orders (default: all) on their venues' lines within [since, until).

    With `now`, the period is clamped to it (see `clamp`): a window is judged only as far as
    now, and a restore due after now is "not yet due", never missing."""
    since, until = _period(since, until)
    until, clamped = clamp(since, until, now)
    if until <= since:
        return []  # the period has not begun
    wanted_orders = set(order_ids) if order_ids is not None else None
    wanted_lines = set(line_ids) if line_ids is not None else None
    found = []
    for order_id, term in evidence.standing_terms.items():
        if wanted_orders is not None and order_id not in wanted_orders:
            continue
        lines = [
            info
            for info in evidence.venue_lines.get(term.venue_id, [])
            if wanted_lines is None or info.line_id in wanted_lines
        ]
        if not lines:
            continue
        order = evidence.order_by_id[order_id]
        for span in order_spans(term, lines[0].zone, since, until):
            for info in lines:
                found.append(_window_timeline(evidence, order, term, info, span, until, clamped))
    found.sort(key=lambda w: (w.start, w.line.venue, w.order_id, w.line.line))
    return found


def order_timeline(
    evidence: Evidence,
    order_id: int,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
) -> OrderTimeline:
    """One order's windows within [since, until), per line of its venue; with `now` (the
    store's clock), the period is clamped to it and nothing after it is judged."""
    order = evidence.order_by_id.get(order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    since, requested = _period(since, until)
    until, clamped = clamp(since, requested, now)
    windows = timelines(evidence, since, requested, order_ids=[order_id], now=now)
    venue = next((v.name for v in evidence.venues if v.id == order.venue_id), "")
    return OrderTimeline(
        order_id=order_id,
        kind=order.kind,
        venue_id=order.venue_id,
        venue=venue,
        status=order.status,
        effective_from=order.effective_from,
        effective_until=order.effective_until,
        issued_at=order.issued_at,
        revoked_at=order.revoked_at,
        since=since,
        until=until,
        windows=tuple(windows),
        requested_until=requested if clamped else None,
        clamped_to_now=clamped,
    )


def _window_timeline(
    evidence: Evidence,
    order: Order,
    term: OrderTerm,
    info: LineInfo,
    span: Span,
    until: datetime,
    clamped: bool = False,
) -> WindowTimeline:
    start, end = span.start, span.end
    history, instants = evidence.outcomes(info.line_id)

    # The cut: the line was already cut (by this order or another) when the window began, or
    # the first verified cut inside the window.
    cut_status: CutStatus = "missing"
    cut_at, cut_seq = None, None
    first = bisect_left(instants, start)
    before = history[first - 1] if first else None
    if before is not None and before.verified and before.state_after == CUT:
        cut_status, cut_at, cut_seq = "already cut", start, before.seq
    else:
        for change in history[first:]:
            if change.at >= end:
                break
            if change.verified and change.state_after == CUT:
                cut_status, cut_at, cut_seq = "verified", change.at, change.seq
                break

    restore_due, held_by = None, ()
    # no restore in the period: when the period ends at now, it is simply not due yet
    restore_status: RestoreStatus = "not yet due" if clamped else "not due"
    restore_at, restore_seq = None, None
    if not span.ends_after_period:
        restore_due, held_by = _restore_due(evidence, info, end, until)
    if restore_due is not None:
        restore_status = "missing"
        first = bisect_left(instants, restore_due)
        before = history[first - 1] if first else None
        if before is not None and before.verified and before.state_after == OPEN:
            restore_status, restore_at, restore_seq = "already open", restore_due, before.seq
        else:
            for change in history[first:]:
                if change.verified and change.state_after == OPEN:
                    restore_status, restore_at, restore_seq = "verified", change.at, change.seq
                    break

    revoked = order.status == "revoked" and order.revoked_at is not None
    return WindowTimeline(
        order_id=term.order_id,
        order_kind=term.kind,
        line=info,
        start=start,
        end=end,
        starts_before_period=span.starts_before_period,
        ends_after_period=span.ends_after_period,
        ended_by_revocation=revoked and not span.ends_after_period and end == order.revoked_at,
        cut_status=cut_status,
        cut_at=cut_at,
        cut_seq=cut_seq,
        cut_lateness_seconds=_seconds(cut_at, start),
        restore_due=restore_due,
        held_by=held_by,
        restore_status=restore_status,
        restore_at=restore_at,
        restore_seq=restore_seq,
        restore_lateness_seconds=_seconds(restore_at, restore_due),
    )


def _restore_due(
    evidence: Evidence, info: LineInfo, end: datetime, until: datetime
) -> tuple[datetime | None, tuple[int, ...]]:
    """When the line must be open after a window ending at `end`, and the orders that held it
    cut past `end`. None when they keep it cut beyond the period: no restore is due in it."""
    terms = evidence.venue_terms.get(info.venue_id, [])
    held_by = cutting_orders(terms, info.zone, end)
    line = [LineRef(info.line_id, info.venue_id, info.device_id, info.zone)]
    at = end
    while cutting_orders(terms, info.zone, at):
        if at >= until:
            return None, held_by
        horizon = min(until - at, HORIZON)
        flip = plan(terms, line, at, horizon).next_change
        at = at + horizon if flip is None else flip
    return at, held_by


# -- violations -------------------------------------------------------------------------------

ViolationKind = Literal["cut_without_order", "late_restore", "left_cut"]


@dataclass(frozen=True)
class Violation:
    """One breach of the rules, with the instants and change seqs that prove it.

    `at` is the cut's instant (cut_without_order) or the instant the restore was due;
    `verified_at` the verified restore (None: none in the log); `lateness_seconds` its delay.
    """

    kind: ViolationKind
    line: LineInfo
    order_ids: tuple[int, ...]
    at: datetime
    verified_at: datetime | None
    lateness_seconds: float | None
    seqs: tuple[int, ...]
    detail: str


def find_violations(
    evidence: Evidence,
    since: datetime,
    until: datetime,
    threshold: timedelta = DEFAULT_THRESHOLD,
    now: datetime | None = None,
) -> list[Violation]:
    """Cuts with no order in force, restores later than `threshold`, lines left cut.

    A missing restore whose due instant + threshold is after `now` is not yet a violation.
    """
    since, until = _period(since, until)
    found = _cuts_without_order(evidence, since, until)
    # Orders ending together on one line share one restore: one violation, all their orders.
    by_restore: dict[tuple[int, datetime], list[WindowTimeline]] = defaultdict(list)
    for window in timelines(evidence, since, until):
        if window.restore_due is not None and window.cut_status != "missing":
            by_restore[(window.line.line_id, window.restore_due)].append(window)
    limit = threshold.total_seconds()
    for (line_id, due), windows in sorted(by_restore.items(), key=lambda item: item[0][::-1]):
        first = windows[0]
        orders = tuple(sorted({w.order_id for w in windows} | set(first.held_by)))
        lateness = first.restore_lateness_seconds
        late = lateness is not None and lateness > limit
        missing = first.restore_status == "missing"
        if missing and now is not None and due + threshold > as_utc(now):
            continue
        if not (late or missing):
            continue
        failed = _failed_between(evidence, line_id, due, first.restore_at)
        proof = tuple(s for s in (first.cut_seq, *failed, first.restore_seq) if s is not None)
        if late:
            found.append(
                Violation(
                    kind="late_restore",
                    line=first.line,
                    order_ids=orders,
                    at=due,
                    verified_at=first.restore_at,
                    lateness_seconds=lateness,
                    seqs=proof,
                    detail=f"restore verified {duration(lateness)} after it was due"
                    + (f" ({len(failed)} failed attempts)" if failed else ""),
                )
            )
        found.append(
            Violation(
                kind="left_cut",
                line=first.line,
                order_ids=orders,
                at=due,
                verified_at=first.restore_at,
                lateness_seconds=lateness,
                seqs=proof,
                detail=(
                    f"cut until {local(first.restore_at, first.line.zone)}, "
                    f"{duration(lateness)} past its window"
                    if first.restore_at is not None and lateness is not None
                    else f"no verified restore in the log up to seq {evidence.head_seq}"
                )
                + (f"; {len(failed)} failed restore attempts" if failed else ""),
            )
        )
    order = {"cut_without_order": 0, "late_restore": 1, "left_cut": 2}
    found.sort(key=lambda v: (v.at, order[v.kind], v.line.line))
    return found


def _cuts_without_order(evidence: Evidence, since: datetime, until: datetime) -> list[Violation]:
    found = []
    for change in evidence.changes:
        if not (
            change.kind == "outcome"
            and change.action == "cut"
            and change.verified
            and change.state_after == CUT
            and change.line_id is not None
            and since <= change.at < until
        ):
            continue
        info = evidence.info(change.line_id)
        terms = evidence.venue_terms.get(info.venue_id, [])
        if cutting_orders(terms, info.zone, change.at):
            continue
        cited = tuple(change.order_ids)
        found.append(
            Violation(
                kind="cut_without_order",
                line=info,
                order_ids=cited,
                at=change.at,
                verified_at=None,
                lateness_seconds=None,
                seqs=tuple(s for s in (change.intent_seq, change.seq) if s is not None),
                detail=(
                    f"cut verified at {change.at.isoformat()} while no order cut {info.venue}"
                    + (f" (cited {', '.join(map(str, cited))})" if cited else " (cited none)")
                ),
            )
        )
    return found


def _failed_between(
    evidence: Evidence, line_id: int, after: datetime, until: datetime | None
) -> list[int]:
    history, instants = evidence.outcomes(line_id)
    return [
        c.seq
        for c in history[bisect_left(instants, after) :]
        if (until is None or c.at < until) and not c.verified
    ]


# -- compliance -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """An outcome that did not verify, and what became of it.

    resolution: "resolved" (the next verified outcome of the line has the same action),
    "superseded" (the next verified outcome did the opposite, e.g. the window ended) or
    "unresolved" (nothing verified on the line since).
    """

    seq: int
    at: datetime
    action: str
    line: LineInfo
    order_ids: tuple[int, ...]
    error: str
    resolution: Literal["resolved", "superseded", "unresolved"]
    resolved_at: datetime | None
    resolved_seq: int | None
    resolved_action: str | None


@dataclass(frozen=True)
class ComplianceReport:
    carrier: str
    since: datetime
    until: datetime
    threshold_seconds: float
    generated_at: datetime
    head_seq: int
    head_hash: str
    orders_received: tuple[int, ...]  # issued in the period, for venues the carrier serves
    orders_executed: tuple[int, ...]  # cited by a verified cut on the carrier's lines
    windows: tuple[WindowTimeline, ...]  # every window due in the period
    windows_due: int
    on_time: int
    on_time_share: float | None  # None when no window was due
    late: tuple[WindowTimeline, ...]  # windows not cut on time, the missing ones included
    failures: tuple[Failure, ...]
    unresolved: int  # failures nothing verified since
    # the end asked for, when it was past `generated_at`: `until` is then `generated_at`
    requested_until: datetime | None = None
    clamped_to_now: bool = False


def carriers(evidence: Evidence) -> list[str]:
    return sorted({d.carrier for d in evidence.devices})


def compliance(
    evidence: Evidence,
    carrier: str,
    since: datetime,
    until: datetime,
    generated_at: datetime,
    threshold: timedelta = DEFAULT_THRESHOLD,
) -> ComplianceReport:
    """How one carrier executed the orders of [since, until): on-time cuts, failures, fixes.

    `generated_at` is the store's clock's now: a period reaching past it is clamped to it, and
    a window whose restore is after it is "not yet due", never missing."""
    since, requested = _period(since, until)
    until, clamped = clamp(since, requested, generated_at)
    if carrier not in carriers(evidence):
        raise NotFound(f"no device of carrier {carrier!r}; known: {', '.join(carriers(evidence))}")
    lines = {i.line_id: i for i in evidence.line_info.values() if i.carrier == carrier}
    venues = {i.venue_id for i in lines.values()}
    received = tuple(
        o.id
        for o in evidence.orders
        if o.id is not None and o.venue_id in venues and since <= o.issued_at < until
    )
    executed: set[int] = set()
    failures = []
    for change in evidence.changes:
        if change.kind != "outcome" or change.line_id not in lines:
            continue
        if not since <= change.at < until:
            continue
        if change.verified and change.action == "cut" and change.state_after == CUT:
            executed.update(change.order_ids)
        if change.verified is False:
            failures.append(_failure(evidence, change, lines[change.line_id]))
    windows = timelines(evidence, since, requested, line_ids=lines, now=generated_at)
    windows.sort(key=lambda w: (w.line.venue, w.order_id, w.line.line, w.start))
    on_time = sum(1 for w in windows if w.cut_on_time(threshold))
    return ComplianceReport(
        carrier=carrier,
        since=since,
        until=until,
        threshold_seconds=threshold.total_seconds(),
        generated_at=as_utc(generated_at),
        head_seq=evidence.head_seq,
        head_hash=evidence.head_hash,
        orders_received=received,
        orders_executed=tuple(sorted(executed)),
        windows=tuple(windows),
        windows_due=len(windows),
        on_time=on_time,
        on_time_share=on_time / len(windows) if windows else None,
        late=tuple(w for w in windows if not w.cut_on_time(threshold)),
        failures=tuple(failures),
        unresolved=sum(1 for f in failures if f.resolution == "unresolved"),
        requested_until=requested if clamped else None,
        clamped_to_now=clamped,
    )


def _failure(evidence: Evidence, change: Change, info: LineInfo) -> Failure:
    history, _ = evidence.outcomes(info.line_id)
    same = {"cut"} if change.action == "cut" else {"restore", "verify", "read"}
    after = next((c for c in history if c.seq > change.seq and c.verified), None)
    if after is None:
        resolution: Literal["resolved", "superseded", "unresolved"] = "unresolved"
    else:
        resolution = "resolved" if after.action in same else "superseded"
    return Failure(
        seq=change.seq,
        at=change.at,
        action=change.action,
        line=info,
        order_ids=tuple(change.order_ids),
        error=change.error or "not verified",
        resolution=resolution,
        resolved_at=after.at if after else None,
        resolved_seq=after.seq if after else None,
        resolved_action=after.action if after else None,
    )


# -- CSV -------------------------------------------------------------------------------------------

WINDOW_COLUMNS = (
    "carrier", "device", "line", "venue", "order_id", "order_kind", "window_start",
    "window_end", "starts_before_period", "ends_after_period", "ended_by_revocation",
    "cut_status", "cut_verified_at", "cut_seq", "cut_lateness_s", "cut_on_time",
    "restore_due", "held_by", "restore_status", "restore_verified_at", "restore_seq",
    "restore_lateness_s",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "carrier", "since", "until", "requested_until", "threshold_s", "orders_received",
    "orders_executed", "windows_due", "on_time", "on_time_share", "failures", "unresolved_failures",
    "generated_at", "log_head_seq", "log_head_hash",
)  # fmt: skip
FAILURE_COLUMNS = (
    "seq", "at", "action", "carrier", "device", "line", "venue", "order_ids", "error",
    "resolution", "resolved_at", "resolved_seq", "resolved_action",
)  # fmt: skip
VIOLATION_COLUMNS = (
    "kind", "carrier", "device", "line", "venue", "order_ids", "at", "verified_at",
    "lateness_s", "seqs", "detail",
)  # fmt: skip


def local(instant: datetime | None, zone_name: str) -> str:
    """An instant in the venue's zone, with its offset; empty when there is none."""
    if instant is None:
        return ""
    return instant.astimezone(zone(zone_name)).isoformat(timespec="seconds")


def window_row(window: WindowTimeline, threshold: timedelta) -> dict[str, object]:
    z = window.line.zone
    return {
        "carrier": window.line.carrier,
        "device": window.line.device,
        "line": window.line.line,
        "venue": window.line.venue,
        "order_id": window.order_id,
        "order_kind": window.order_kind,
        "window_start": local(window.start, z),
        "window_end": local(window.end, z),
        "starts_before_period": window.starts_before_period,
        "ends_after_period": window.ends_after_period,
        "ended_by_revocation": window.ended_by_revocation,
        "cut_status": window.cut_status,
        "cut_verified_at": local(window.cut_at, z),
        "cut_seq": window.cut_seq,
        "cut_lateness_s": window.cut_lateness_seconds,
        "cut_on_time": window.cut_on_time(threshold),
        "restore_due": local(window.restore_due, z),
        "held_by": " ".join(map(str, window.held_by)),
        "restore_status": window.restore_status,
        "restore_verified_at": local(window.restore_at, z),
        "restore_seq": window.restore_seq,
        "restore_lateness_s": window.restore_lateness_seconds,
    }


def summary_row(report: ComplianceReport) -> dict[str, object]:
    return {
        "carrier": report.carrier,
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "requested_until": report.requested_until.isoformat() if report.requested_until else "",
        "threshold_s": report.threshold_seconds,
        "orders_received": len(report.orders_received),
        "orders_executed": len(report.orders_executed),
        "windows_due": report.windows_due,
        "on_time": report.on_time,
        "on_time_share": "" if report.on_time_share is None else f"{report.on_time_share:.4f}",
        "failures": len(report.failures),
        "unresolved_failures": report.unresolved,
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "log_head_seq": report.head_seq,
        "log_head_hash": report.head_hash,
    }


def failure_row(failure: Failure) -> dict[str, object]:
    z = failure.line.zone
    return {
        "seq": failure.seq,
        "at": local(failure.at, z),
        "action": failure.action,
        "carrier": failure.line.carrier,
        "device": failure.line.device,
        "line": failure.line.line,
        "venue": failure.line.venue,
        "order_ids": " ".join(map(str, failure.order_ids)),
        "error": failure.error,
        "resolution": failure.resolution,
        "resolved_at": local(failure.resolved_at, z),
        "resolved_seq": failure.resolved_seq,
        "resolved_action": failure.resolved_action,
    }


def violation_row(violation: Violation) -> dict[str, object]:
    z = violation.line.zone
    return {
        "kind": violation.kind,
        "carrier": violation.line.carrier,
        "device": violation.line.device,
        "line": violation.line.line,
        "venue": violation.line.venue,
        "order_ids": " ".join(map(str, violation.order_ids)),
        "at": local(violation.at, z),
        "verified_at": local(violation.verified_at, z),
        "lateness_s": violation.lateness_seconds,
        "seqs": " ".join(map(str, violation.seqs)),
        "detail": violation.detail,
    }


def to_csv(columns: Sequence[str], rows: Iterable[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def compliance_csv(report: ComplianceReport, table: CsvTable = "windows") -> str:
    """One table of the report as CSV: a row per window, the one-row summary, or failures."""
    threshold = timedelta(seconds=report.threshold_seconds)
    if table == "windows":
        return to_csv(WINDOW_COLUMNS, (window_row(w, threshold) for w in report.windows))
    if table == "summary":
        return to_csv(SUMMARY_COLUMNS, [summary_row(report)])
    if table == "failures":
        return to_csv(FAILURE_COLUMNS, (failure_row(f) for f in report.failures))
    raise Invalid(f"unknown table {table!r}; known: {', '.join(CSV_TABLES)}", "table")


def violations_csv(violations: Iterable[Violation]) -> str:
    return to_csv(VIOLATION_COLUMNS, (violation_row(v) for v in violations))


# -- small helpers ----------------------------------------------------------------------------


def clamp(since: datetime, until: datetime, now: datetime | None) -> tuple[datetime, bool]:
    """The end of the period a report computes: `until`, or `now` when `until` is later (what
    has not happened yet is not judged; a period that starts after now is empty), and whether
    it was clamped."""
    if now is None or until <= as_utc(now):
        return until, False
    return max(as_utc(now), since), True


def _period(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    since, until = as_utc(since), as_utc(until)
    if until <= since:
        raise Invalid("the period's end must be after its start", "until")
    return since, until


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


def duration(seconds: float | None) -> str:
    """Seconds as `1h02m03s` or `2m03s`; empty when there are none."""
    if seconds is None:
        return ""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
