"""The record, read-only: the change log (plain, and with every detail for auditors), its signed
checkpoints, an order's timeline, the violations of a period, the intents no outcome answers, and
a carrier's compliance report (JSON, CSV or a printable page).

Every instant given must carry a UTC offset; a naive one is a 422.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, PlainTextResponse

from api.deps import StoreDep
from api.pages import compliance_html
from api.schemas import ChangePublic
from controller import reports
from controller.audit import checkpoint_document
from controller.bounds import Instant
from controller.errors import NotFound
from controller.interrupted import InterruptedIntent
from controller.interrupted import interrupted_intents as find_interrupted
from controller.models import MAX_ROW_ID
from controller.store import ChangeFilter, Store

router = APIRouter(prefix="/api/v1")

Since = Annotated[Instant, Query(description="from this instant, with a UTC offset")]
Until = Annotated[Instant, Query(description="before this instant, with a UTC offset")]
Threshold = Annotated[
    float,
    Query(ge=0, le=86_400, description="seconds a cut or restore may lag its instant"),
]


@router.get("/changes", response_model=list[ChangePublic], tags=["changes"])
def list_changes(
    store: StoreDep,
    order: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="only changes citing this order")
    ] = None,
    venue: Annotated[str | None, Query(max_length=200, description="venue name or id")] = None,
    since: Annotated[Instant | None, Query(description="from this instant")] = None,
    until: Annotated[Instant | None, Query(description="before this instant")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> list[ChangePublic]:
    venue_id = store.find_venue(venue).id if venue is not None else None
    where = ChangeFilter(order_id=order, venue_id=venue_id, since=since, until=until, limit=limit)
    return [ChangePublic.of(c) for c in store.changes(where)]


@router.get("/audit/checkpoints", tags=["audit"])
def list_checkpoints(store: StoreDep) -> list[dict[str, object]]:
    """Signed checkpoints of the change log (verify them with the signer's public key)."""
    return [checkpoint_document(c) for c in store.checkpoints()]


def _find_id(store: Store, key: str, kind: Literal["venue", "device"]) -> int:
    if kind == "venue":
        found = store.find_venue(key).id
    else:
        found = next((d.id for d in store.devices() if d.name == key or str(d.id) == key), None)
        if found is None:
            raise NotFound(f"no device {key!r}")
    assert found is not None
    return found


@router.get("/audit/changes", response_model=list[ChangePublic], tags=["audit"])
def audit_changes(
    store: StoreDep,
    order: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="only changes citing this order")
    ] = None,
    venue: Annotated[str | None, Query(max_length=200, description="venue name or id")] = None,
    device: Annotated[str | None, Query(max_length=63, description="device name or id")] = None,
    carrier: Annotated[
        str | None, Query(max_length=100, description="only this carrier's devices")
    ] = None,
    since: Annotated[Instant | None, Query(description="from this instant")] = None,
    until: Annotated[Instant | None, Query(description="before this instant")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> list[ChangePublic]:
    """Every change record: commands sent, device output, state read back, verified or not."""
    rows = reports.audit_changes(
        store,
        order_id=order,
        venue_id=_find_id(store, venue, "venue") if venue is not None else None,
        device_id=_find_id(store, device, "device") if device is not None else None,
        carrier=carrier,
        since=since,
        until=until,
        limit=limit,
    )
    return [ChangePublic.of(c) for c in rows]


@router.get("/audit/orders/{order_id}/timeline", tags=["audit"])
def order_timeline(
    order_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    store: StoreDep,
    since: Annotated[
        Instant | None, Query(description="default: the order's effective_from")
    ] = None,
    until: Annotated[Instant | None, Query(description="default: now")] = None,
) -> reports.OrderTimeline:
    """The order's windows, per line of its venue: due, cut verified, restore verified, lateness."""
    order = store.order(order_id)
    until = until or store.clock.now()
    since = since or min(order.effective_from, until - timedelta(days=1))
    return reports.order_timeline(
        reports.load_evidence(store), order_id, since, until, now=store.clock.now()
    )


@router.get("/audit/violations", tags=["audit"])
def violations(
    store: StoreDep, since: Since, until: Until, threshold: Threshold = 60
) -> list[reports.Violation]:
    """Cuts without an order in force, late restores, lines left cut past their window."""
    return reports.find_violations(
        reports.load_evidence(store),
        since,
        until,
        timedelta(seconds=threshold),
        now=store.clock.now(),
    )


@router.get("/audit/interrupted-intents", tags=["audit"])
def interrupted_intents(
    store: StoreDep,
    since: Annotated[Instant | None, Query(description="intents from this instant")] = None,
    until: Annotated[Instant | None, Query(description="intents before this instant")] = None,
) -> list[InterruptedIntent]:
    """Every intent no outcome answers (a push interrupted mid-way), and how it was resolved:
    the first verified outcome on its line since, or `unresolved`."""
    return find_interrupted(store.engine, since, until)


@router.get(
    "/audit/compliance",
    response_model=reports.ComplianceReport,
    responses={
        200: {
            "content": {"text/csv": {}, "text/html": {}},
            "description": "the report as JSON, CSV (one table) or a printable HTML page",
        }
    },
    tags=["audit"],
)
def compliance(
    store: StoreDep,
    carrier: Annotated[
        str, Query(max_length=100, description="the carrier whose devices are reported")
    ],
    since: Since,
    until: Until,
    threshold: Threshold = 60,
    format: Annotated[Literal["json", "csv", "html"], Query()] = "json",
    table: Annotated[
        Literal["windows", "summary", "failures"],
        Query(description="which table a CSV holds"),
    ] = "windows",
) -> reports.ComplianceReport | PlainTextResponse | HTMLResponse:
    """Orders received and executed, windows due and cut on time, failures and their fixes."""
    report = reports.compliance(
        reports.load_evidence(store),
        carrier,
        since,
        until,
        generated_at=store.clock.now(),
        threshold=timedelta(seconds=threshold),
    )
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"compliance-{carrier}-{report.since:%Y%m%dT%H%MZ}")
    if format == "csv":
        return PlainTextResponse(
            reports.compliance_csv(report, table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}-{table}.csv"'},
        )
    if format == "html":
        return HTMLResponse(compliance_html(report))
    return report
