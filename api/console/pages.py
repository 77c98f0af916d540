"""The console's pages (GET): Tonight, Passes, Failures, Orders and an order, the change log,
Audit, Compliance (with its CSV, HTML and PDF downloads) and Inventory.

Each page asks the controller what the API's routes ask it (the planner's dry run, the
reports, the audit), and its template presents the answer; nothing here judges or writes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.console.forms import FormErrors, checked
from api.console.render import Page, home_of
from api.console.sessions import Visit, VisitDep
from api.deps import RowId, SchedulerDep, SettingsDep, StoreDep
from api.pages import compliance_html
from api.schemas import OrderPublic
from controller import reports
from controller.access import Actor
from controller.audit import VerifyReport, load_key, read_checkpoint_dir, verify_store
from controller.bounds import Instant
from controller.errors import CurfewError, NotFound
from controller.health import LineHealth, health_now
from controller.holds import holds
from controller.interrupted import interrupted_intents
from controller.licences import licence_standings
from controller.models import MAX_ROW_ID, Change, Device, Line, Order, Venue
from controller.orders import REASONS, history, state_of
from controller.passes import (
    LineFailures,
    failures_since_verified,
    freezes,
    last_verified_reads,
    recent_passes,
)
from controller.reconciler import Reconciler
from controller.settings import Settings
from controller.store import ChangeFilter, Store
from drivers.base import Action
from drivers.host_keys import fingerprint
from policies import zone

router = APIRouter(prefix="/console", include_in_schema=False)

LOG_LIMIT = 10_000  # records a change-log page reads (as the API's default)
LOG_SHOWN = 300  # ... of which it shows the newest
VERIFY_AT_ONCE = 50_000  # a log up to this many records is verified each time the page opens


@dataclass(frozen=True)
class Names:
    """Every line, venue and device by id: pages show names, never bare ids."""

    lines: dict[int, Line]
    venues: dict[int, Venue]
    devices: dict[int, Device]

    @classmethod
    def of(cls, store: Store) -> Names:
        return cls(
            {ln.id: ln for ln in store.lines() if ln.id is not None},
            {v.id: v for v in store.venues() if v.id is not None},
            {d.id: d for d in store.devices() if d.id is not None},
        )

    def zone_of_line(self, line_id: int | None) -> str | None:
        line = self.lines.get(line_id or 0)
        venue = self.venues.get(line.venue_id) if line else None
        return venue.zone if venue else None

    def line(self, line_id: int | None) -> str:
        line = self.lines.get(line_id or 0)
        return line.name if line else ("" if line_id is None else f"line {line_id}")

    def venue(self, venue_id: int | None) -> str:
        venue = self.venues.get(venue_id or 0)
        return venue.name if venue else ("" if venue_id is None else f"venue {venue_id}")

    def device(self, device_id: int | None) -> str:
        device = self.devices.get(device_id or 0)
        return device.name if device else ("" if device_id is None else f"device {device_id}")

    def zone_of(self, change: Change) -> str | None:
        venue = self.venues.get(change.venue_id or 0)
        return venue.zone if venue else self.zone_of_line(change.line_id)


def page(request: Request, visit: Visit | None, store: Store) -> Page:
    return Page(request, visit, store.venues())


@router.get("")
def home(visit: VisitDep) -> RedirectResponse:
    return RedirectResponse(home_of(visit.actor.role), status_code=303)


# -- Tonight -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedLine:
    line: Line
    venue: Venue
    device: Device
    recorded: str  # the last recorded state: cut | open | unknown | never read
    desired_now: str
    desired_next: str | None  # at the next transition (None: none planned)
    change: str  # what a pass then would do: cut | restore | read | nothing
    order_ids: tuple[int, ...]
    blocked: str | None


@router.get("/tonight")
def tonight(request: Request, visit: VisitDep, store: StoreDep) -> Response:
    """Every line's state at the next transition: the reconciler's dry run at that instant."""
    now = store.clock.now()
    names = Names.of(store)
    reconciler = Reconciler(store)
    current, _ = reconciler.diff(now)
    next_change = current.next_change
    planned = reconciler.run_pass(next_change, dry_run=True) if next_change else None
    changes = {
        change.line_id: change
        for batch in (planned.batches if planned else [])
        for change in batch.changes
    }
    statuses = store.line_statuses()
    rows = []
    for line_id, line in sorted(names.lines.items(), key=lambda item: item[1].name):
        status = statuses.get(line_id)
        now_plan = current.lines.get(line_id)
        next_plan = planned.plan.lines.get(line_id) if planned else None
        change = changes.get(line_id)
        rows.append(
            PlannedLine(
                line=line,
                venue=names.venues[line.venue_id],
                device=names.devices[line.device_id],
                recorded=status.state if status else "never read",
                desired_now=now_plan.desired.value if now_plan else "open",
                desired_next=next_plan.desired.value if next_plan else None,
                change=(change.intent_action if change else "nothing"),
                order_ids=(next_plan or now_plan).order_ids if (next_plan or now_plan) else (),
                blocked=line.blocked,
            )
        )
    by_device: dict[str, list[PlannedLine]] = defaultdict(list)
    by_venue: dict[str, list[PlannedLine]] = defaultdict(list)
    for row in rows:
        by_device[row.device.name].append(row)
        by_venue[row.venue.name].append(row)
    frozen = freezes(store)
    counts = {
        "cut": sum(1 for r in rows if r.change == Action.CUT.value),
        "restore": sum(1 for r in rows if r.change == Action.RESTORE.value),
        "read": sum(1 for r in rows if r.change == "read"),
        "cut_then": sum(1 for r in rows if r.desired_next == "cut"),
    }
    return page(request, visit, store).render(
        "tonight.html",
        title="Tonight",
        now=now,
        next_change=next_change,
        seconds_left=(next_change - now).total_seconds() if next_change else None,
        by_device=sorted(by_device.items()),
        by_venue=sorted(by_venue.items()),
        counts=counts,
        holds=holds(store, "pending"),
        frozen=[(d, frozen.get(d.id or 0)) for d in names.devices.values() if d.frozen],
        blocked=[r for r in rows if r.blocked],
    )


# -- Passes ------------------------------------------------------------------------------------


@router.get("/passes")
def passes(request: Request, visit: VisitDep, store: StoreDep, scheduler: SchedulerDep) -> Response:
    return page(request, visit, store).render(
        "passes.html",
        title="Passes",
        scheduler=scheduler is not None,
        next_transition=scheduler.next_transition if scheduler else None,
        recent=recent_passes(store, 20),
    )


@router.get("/passes/progress")
def pass_progress(request: Request, visit: VisitDep, store: StoreDep) -> JSONResponse:
    """The pass running now (or the last one), for the Passes page's poller."""
    names = {ln.id: ln.name for ln in store.lines() if ln.id is not None}
    times = page(request, visit, store).times
    progress = request.app.state.console_progress.as_json(names, times.text)
    return JSONResponse(progress, headers={"Cache-Control": "no-store"})


# -- Failures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailingLine:
    line: Line
    venue: Venue
    health: LineHealth  # recorded vs desired now, past its window, due since
    failures: LineFailures | None  # its failed outcomes since it last verified


@router.get("/failures")
def failures(request: Request, visit: VisitDep, store: StoreDep) -> Response:
    """Every router and line not in its desired state now (`controller.health`, as /metrics
    counts them), with the failures since each line last verified."""
    names = Names.of(store)
    health = health_now(store)
    failed = failures_since_verified(store, [line.line_id for line in health.off_desired])
    by_device: dict[str, list[FailingLine]] = defaultdict(list)
    for off in health.off_desired:
        line = names.lines[off.line_id]
        by_device[off.device].append(
            FailingLine(line, names.venues[line.venue_id], off, failed.get(off.line_id))
        )
    routers = [
        (device, sorted(by_device[device.name], key=lambda f: f.line.name))
        for device in health.devices
        if device.name in by_device
    ]
    frozen = freezes(store)
    return page(request, visit, store).render(
        "failures.html",
        title="Failures",
        now=health.at,
        routers=routers,
        rows_by_id={d.id: d for d in names.devices.values()},
        frozen=[(d, frozen.get(d.id or 0)) for d in names.devices.values() if d.frozen],
        devices=sorted(names.devices.values(), key=lambda d: d.name),
    )


# -- Orders ------------------------------------------------------------------------------------


def visible_orders(
    store: Store, actor: Actor, venue: str | None, status: str | None
) -> list[Order]:
    """As `GET /api/v1/orders`: a bureau sees only its own authority's."""
    venue_id = store.find_venue(venue).id if venue else None
    orders = store.orders(venue_id=venue_id, status=status)
    if actor.is_bureau:
        orders = [o for o in orders if o.authority_id == actor.authority_id]
    return orders


def issuable_venues(store: Store, actor: Actor) -> list[Venue]:
    """The venues the actor may order cuts for (a bureau: its jurisdiction)."""
    venues = store.venues()
    return [v for v in venues if v.region in actor.regions] if actor.is_bureau else venues


def orders_page(
    request: Request,
    visit: Visit,
    store: Store,
    venue: str | None = None,
    status: str | None = None,
    entered: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    code: int = 200,
) -> Response:
    """The orders list with its filters and the issue form (with what was entered and why it
    was refused, when a form comes back)."""
    shown = page(request, visit, store)
    problem = None
    try:
        orders = visible_orders(store, visit.actor, venue, status)
    except CurfewError as exc:
        orders, problem, code = [], str(exc), exc.status
    now = store.clock.now()
    venues = {v.id: v for v in store.venues()}
    listed = [
        (OrderPublic.of(o, venues[o.venue_id], store, state_of(o, now)), venues[o.venue_id].zone)
        for o in reversed(orders)
    ]
    suggested = _next_midnight(now, shown.times.home)
    return shown.render(
        "orders.html",
        status=code,
        title="Orders",
        orders=listed,
        venue=venue or "",
        order_status=status or "",
        problem=problem,
        venues=issuable_venues(store, visit.actor),
        all_venues=sorted(venues.values(), key=lambda v: v.name),
        authorities=store.authorities() if not visit.actor.is_bureau else [],
        reasons=REASONS,
        entered=entered or {"effective_from": suggested},
        errors=errors or FormErrors(),
    )


def _next_midnight(now: datetime, zone_name: str) -> str:
    local = now.astimezone(zone(zone_name))
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.isoformat()


@router.get("/orders")
def orders(
    request: Request,
    visit: VisitDep,
    store: StoreDep,
    venue: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(pattern="^(active|suspended|revoked|superseded)?$")] = None,
) -> Response:
    return orders_page(request, visit, store, venue or None, status or None)


def order_page(
    request: Request,
    visit: Visit,
    store: Store,
    order_id: int,
    entered: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    form: str | None = None,
    code: int = 200,
) -> Response:
    """One order: its versions and events, its night-by-night timeline, the changes that
    executed it, and (for its issuers) the amend, suspend, resume and revoke forms."""
    order = store.order(order_id)
    visit.actor.check_order(order_id, order.authority_id)  # a bureau sees only its own
    now = store.clock.now()
    venue = store.find_venue(order.venue_id)
    versions, events = history(store, order_id)
    # as the API's timeline, from the order's start (or a day back), asked up to tomorrow: the
    # report stops at now, and says which restores are not yet due
    since = min(order.effective_from, now - timedelta(days=1))
    until = now + timedelta(days=1)
    timeline = reports.order_timeline(reports.load_evidence(store), order_id, since, until, now=now)
    names = Names.of(store)
    executed = store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))
    return page(request, visit, store).render(
        "order.html",
        status=code,
        title=f"Order {order_id}",
        order=OrderPublic.of(order, venue, store, state_of(order, now)),
        zone=venue.zone,
        versions=[OrderPublic.of(v, venue, store, state_of(v, now)) for v in versions],
        events=events,
        timeline=timeline,
        executed=executed[-100:],
        names=names,
        reasons=REASONS,
        entered=entered or {},
        errors=errors or FormErrors(),
        form=form,
    )


@router.get("/orders/{order_id}")
def order(order_id: RowId, request: Request, visit: VisitDep, store: StoreDep) -> Response:
    return order_page(request, visit, store, order_id)


# -- the change log ----------------------------------------------------------------------------


class LogFilter(BaseModel):
    """The change log's filters, bounded as the API's `GET /api/v1/audit/changes`."""

    model_config = ConfigDict(extra="ignore")
    order: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    venue: str | None = Field(default=None, max_length=200)
    device: str | None = Field(default=None, max_length=63)
    pass_id: str | None = Field(default=None, alias="pass", pattern="^[0-9a-f]{1,32}$")
    kind: Literal["intent", "outcome", "admin"] | None = None
    action: str | None = Field(default=None, max_length=40)
    since: Instant | None = None
    until: Instant | None = None


@router.get("/changes")
def changes(request: Request, visit: VisitDep, store: StoreDep) -> Response:
    """The change log, newest first, filtered as the API filters it (default: the last day)."""
    shown = page(request, visit, store)
    entered = {k: v for k, v in request.query_params.items() if k != "tz" and v}
    errors, rows, problem, code = FormErrors(), [], None, 200
    try:
        where = checked(LogFilter, entered)
        # by default the last day; an order or a pass is shown whole
        last_day = store.clock.now() - timedelta(days=1)
        since = where.since or (None if where.order or where.pass_id else last_day)
        names = Names.of(store)
        venue_id = store.find_venue(where.venue).id if where.venue else None
        device_id = None
        if where.device:
            device_id = next((d.id for d in names.devices.values() if d.name == where.device), None)
            if device_id is None:
                raise NotFound(f"no device {where.device!r}")
        rows = reports.audit_changes(
            store, order_id=where.order, venue_id=venue_id, device_id=device_id,
            since=since, until=where.until, limit=LOG_LIMIT,
        )  # fmt: skip
        if where.pass_id:
            rows = [c for c in rows if c.pass_id == where.pass_id]
        if where.kind:
            rows = [c for c in rows if c.kind == where.kind]
        if where.action:
            rows = [c for c in rows if c.action == where.action]
        if since is not None:
            entered.setdefault("since", shown.times.local(since).isoformat(timespec="seconds"))
    except FormErrors as exc:
        errors, code = exc, 422
    except CurfewError as exc:
        problem, code = str(exc), exc.status
    return shown.render(
        "changes.html",
        status=code,
        title="Change log",
        rows=list(reversed(rows))[:LOG_SHOWN],
        total=len(rows),
        capped=len(rows) >= LOG_LIMIT,
        shown_limit=LOG_SHOWN,
        names=Names.of(store),
        entered=entered,
        errors=errors,
        problem=problem,
    )


# -- Audit -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    at: datetime
    report: VerifyReport
    public_key: bool  # checked against the configured signing key's public half
    outside_dir: str | None


def verification(store: Store, settings: Settings) -> Verification:
    """The whole chain verified now, against the signing key's public half if this server
    signs, and the checkpoints held outside if a directory receives copies."""
    key = load_key(settings.signing_key_file).public_key() if settings.signing_key_file else None
    outside = read_checkpoint_dir(settings.checkpoint_dir) if settings.checkpoint_dir else []
    report = verify_store(store.engine, key, outside)
    return Verification(
        store.clock.now(),
        report,
        key is not None,
        str(settings.checkpoint_dir) if settings.checkpoint_dir else None,
    )


class Period(BaseModel):
    model_config = ConfigDict(extra="ignore")
    since: Instant | None = None
    until: Instant | None = None
    threshold: float = Field(default=60, ge=0, le=86_400)


@router.get("/audit")
def audit(
    request: Request,
    visit: VisitDep,
    store: StoreDep,
    settings: SettingsDep,
    verify: Annotated[bool, Query()] = False,
) -> Response:
    """The chain's verification, its checkpoints, violations and interrupted intents."""
    shown = page(request, visit, store)
    now = store.clock.now()
    entered = {
        k: v for k, v in request.query_params.items() if k in ("since", "until", "threshold") and v
    }
    errors, code = FormErrors(), 200
    try:
        period = checked(Period, entered)
    except FormErrors as exc:
        errors, code, period = exc, 422, Period()
    since = period.since or (now - timedelta(days=7))
    until = period.until or now
    entered.setdefault("since", shown.times.local(since).isoformat(timespec="seconds"))
    entered.setdefault("until", shown.times.local(until).isoformat(timespec="seconds"))
    entered.setdefault("threshold", f"{period.threshold:g}")
    cache = request.app.state.console_verification
    head = _head_seq(store)
    if verify or head <= VERIFY_AT_ONCE:  # a longer log: the last result, until asked again
        cache["result"] = verification(store, settings)
    violations, problem = [], None
    try:
        violations = reports.find_violations(
            reports.load_evidence(store), since, until, timedelta(seconds=period.threshold), now=now
        )
    except CurfewError as exc:
        problem, code = str(exc), exc.status
    return shown.render(
        "audit.html",
        status=code,
        title="Audit",
        verified=cache.get("result"),
        head=head,
        checkpoints=list(reversed(store.checkpoints()))[:10],
        violations=violations,
        interrupted=interrupted_intents(store.engine, since, until),
        names=Names.of(store),
        since=since,
        until=until,
        entered=entered,
        errors=errors,
        problem=problem,
    )


def _head_seq(store: Store) -> int:
    with store.session() as s:
        return int(s.connection().execute(sa.select(sa.func.max(Change.seq))).scalar() or 0)


# -- Compliance --------------------------------------------------------------------------------


class ComplianceQuery(Period):
    carrier: str | None = Field(default=None, max_length=100)
    format: Literal["page", "csv", "html", "pdf"] = "page"
    table: Literal["windows", "summary", "failures"] = "windows"


@router.get("/compliance")
def compliance(request: Request, visit: VisitDep, store: StoreDep) -> Response:
    """A carrier's compliance report on the page, and as CSV, HTML or PDF."""
    shown = page(request, visit, store)
    now = store.clock.now()
    evidence = reports.load_evidence(store)
    carriers = reports.carriers(evidence)
    entered = {k: v for k, v in request.query_params.items() if k != "tz" and v}
    errors, report, problem, code = FormErrors(), None, None, 200
    try:
        query = checked(ComplianceQuery, entered)
    except FormErrors as exc:
        errors, code, query = exc, 422, ComplianceQuery()
    local = shown.times.local(now)
    since = query.since or (local - timedelta(days=7)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    until = query.until or (local + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    carrier = query.carrier or (carriers[0] if carriers else None)
    entered.setdefault("since", shown.times.local(since).isoformat(timespec="seconds"))
    entered.setdefault("until", shown.times.local(until).isoformat(timespec="seconds"))
    if carrier is not None and not errors:
        try:
            report = reports.compliance(
                evidence, carrier, since, until, generated_at=now,
                threshold=timedelta(seconds=query.threshold),
            )  # fmt: skip
        except CurfewError as exc:
            problem, code = str(exc), exc.status
    if report is not None and query.format != "page":
        return download(report, query.format, query.table)
    return shown.render(
        "compliance.html",
        status=code,
        title="Compliance",
        carriers=carriers,
        carrier=carrier,
        report=report,
        threshold=timedelta(seconds=report.threshold_seconds) if report else None,
        entered=entered,
        errors=errors,
        problem=problem,
    )


def download(report: reports.ComplianceReport, format: str, table: str) -> Response:
    """The report as the API's `format=csv|html` gives it, or as a PDF of the same page."""
    stem = re.sub(
        r"[^A-Za-z0-9._-]+", "_", f"compliance-{report.carrier}-{report.since:%Y%m%dT%H%MZ}"
    )
    if format == "csv":
        return Response(
            reports.compliance_csv(report, table),  # type: ignore[arg-type]
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}-{table}.csv"'},
        )
    page_html = compliance_html(report)
    if format == "html":
        return Response(
            page_html,
            media_type="text/html; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.html"'},
        )
    from api.console.pdf import html_to_pdf

    return Response(
        html_to_pdf(page_html),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{stem}.pdf"'},
    )


# -- Inventory ---------------------------------------------------------------------------------


@router.get("/inventory")
def inventory(request: Request, visit: VisitDep, store: StoreDep) -> Response:
    """Routers (reachability, last verified read, host key), lines and their verification,
    venues and their licences."""
    names = Names.of(store)
    health = {d.device_id: d for d in health_now(store).devices}
    verified = last_verified_reads(store)
    statuses = store.line_statuses()
    standings = {s.venue_id: s for s in licence_standings(store)}
    devices = [
        (
            d,
            health.get(d.id or 0),
            verified.get(d.id or 0),
            fingerprint(d.host_key) if d.host_key else None,
        )
        for d in sorted(names.devices.values(), key=lambda d: d.name)
    ]
    lines = [
        (ln, names.venues[ln.venue_id], names.devices[ln.device_id], statuses.get(ln.id or 0))
        for ln in sorted(names.lines.values(), key=lambda ln: ln.name)
    ]
    venues = [
        (v, standings.get(v.id or 0)) for v in sorted(names.venues.values(), key=lambda v: v.name)
    ]
    return page(request, visit, store).render(
        "inventory.html", title="Inventory", devices=devices, lines=lines, venues=venues
    )
