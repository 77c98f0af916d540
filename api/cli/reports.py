"""`curfew report …`: what an auditor asks, in the terminal — an order's timeline, the
violations of a period, and a carrier's compliance report as a table, CSV, JSON or HTML."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter

from api.cli.common import (
    DatabaseOpt,
    Format,
    ReportFormat,
    TableOrJson,
    chosen,
    fail,
    group,
    open_store,
    table,
)
from api.pages import compliance_html
from controller import reports
from controller.clock import parse_instant

app = group("Reports for auditors: order timelines, violations, carrier compliance.")

SinceOpt = Annotated[
    str,
    typer.Option("--since", help="start of the period, ISO 8601 with offset", show_default=False),
]
UntilOpt = Annotated[
    str, typer.Option("--until", help="end of the period (excluded), ISO 8601 with offset")
]
ThresholdOpt = Annotated[
    float,
    typer.Option(
        "--threshold", min=0, max=86_400, help="seconds a cut or restore may lag its instant"
    ),
]


def _instant(option: str, text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise fail(f"{option}: {exc}") from None


def _json(value: Any, kind: Any) -> str:
    return json.dumps(
        TypeAdapter(kind).dump_python(value, mode="json"), ensure_ascii=False, indent=2
    )


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}", err=True)


def _late(seconds: float | None) -> str:
    return "missing" if seconds is None else f"{seconds:g} s"


@app.command()
def timeline(
    order: Annotated[int, typer.Option("--order", help="the order's id")],
    since: Annotated[
        str | None, typer.Option(help="from this instant (default: the order's start)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="before this instant (default: now)")] = None,
    format: Annotated[
        TableOrJson, typer.Option("--format", help="how to print")
    ] = TableOrJson.table,
    database_url: DatabaseOpt = None,
) -> None:
    """One order's windows per line: due, cut verified, restore verified, and how late."""
    format = chosen(format)  # type: ignore[assignment]
    if format not in ("table", "json"):
        raise fail("--format must be table or json")
    _, store = open_store(database_url)
    try:
        found = store.order(order)
        end = _instant("--until", until) if until else store.clock.now()
        start = (
            _instant("--since", since)
            if since
            else min(found.effective_from, end - timedelta(days=1))
        )
        result = reports.order_timeline(
            reports.load_evidence(store), order, start, end, now=store.clock.now()
        )
    finally:
        store.close()
    if format == "json":
        _emit(_json(result, reports.OrderTimeline), None)
        return
    typer.echo(
        f"order {result.order_id} ({result.kind}, {result.status}) on {result.venue}: "
        f"{len(result.windows)} window(s) in [{result.since.isoformat()}, "
        f"{result.until.isoformat()})"
    )
    if result.requested_until is not None:
        typer.echo(
            f"the period asked for ends at {result.requested_until.isoformat()}, after now: it "
            "is clamped to now, and a restore after now is not yet due"
        )
    rows = [
        (
            w.line.line,
            w.line.device,
            reports.local(w.start, w.line.zone),
            reports.local(w.end, w.line.zone),
            f"{w.cut_status} {reports.local(w.cut_at, w.line.zone)}".strip(),
            w.cut_seq,
            _late(w.cut_lateness_seconds),
            reports.local(w.restore_due, w.line.zone) or w.restore_status,
            f"{w.restore_status} {reports.local(w.restore_at, w.line.zone)}".strip(),
            w.restore_seq,
            "" if w.restore_due is None else _late(w.restore_lateness_seconds),
        )
        for w in result.windows
    ]
    headers = (
        "line", "device", "window start", "window end", "cut", "seq", "cut late",
        "restore due", "restore", "seq", "restore late",
    )  # fmt: skip
    typer.echo(table(headers, rows))


@app.command()
def violations(
    since: SinceOpt,
    until: UntilOpt,
    threshold: ThresholdOpt = 60,
    format: Annotated[Format, typer.Option("--format", help="how to print")] = Format.table,
    out: Annotated[Path | None, typer.Option(help="write to this file instead")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Every cut with no order in force, restore later than --threshold, line left cut."""
    format = chosen(format)  # type: ignore[assignment]
    if format not in ("table", "json", "csv"):
        raise fail("--format must be table, json or csv")
    start, end = _instant("--since", since), _instant("--until", until)
    _, store = open_store(database_url)
    try:
        found = reports.find_violations(
            reports.load_evidence(store),
            start,
            end,
            timedelta(seconds=threshold),
            now=store.clock.now(),
        )
    finally:
        store.close()
    if format == "json":
        _emit(_json(found, list[reports.Violation]), out)
    elif format == "csv":
        _emit(reports.violations_csv(found), out)
    else:
        rows = [
            (
                v.kind,
                v.line.venue,
                v.line.line,
                v.line.device,
                v.line.carrier,
                ",".join(map(str, v.order_ids)) or "-",
                reports.local(v.at, v.line.zone),
                reports.local(v.verified_at, v.line.zone),
                " ".join(map(str, v.seqs)),
                v.detail,
            )
            for v in found
        ]
        headers = (
            "violation", "venue", "line", "device", "carrier", "orders", "at", "restored",
            "seqs", "detail",
        )  # fmt: skip
        _emit(
            f"{len(found)} violation(s)\n"
            + (table(headers, rows, plain=out is not None) if rows else ""),
            out,
        )


@app.command()
def compliance(
    carrier: Annotated[str, typer.Option("--carrier", help="the carrier whose devices to report")],
    since: SinceOpt,
    until: UntilOpt,
    threshold: ThresholdOpt = 60,
    format: Annotated[
        ReportFormat, typer.Option("--format", help="how to print")
    ] = ReportFormat.table,
    csv_table: Annotated[
        str, typer.Option("--table", help="for csv: windows, summary or failures")
    ] = "windows",
    out: Annotated[Path | None, typer.Option(help="write to this file instead")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """A carrier's compliance for a period: cuts on time, on-time share, failures and fixes.

    --format html gives a printable page with a signature block; csv gives one --table.
    """
    format = chosen(format)  # type: ignore[assignment]
    if format not in ("table", "csv", "html", "json"):
        raise fail("--format must be table, csv, html or json")
    if csv_table not in reports.CSV_TABLES:
        raise fail(f"--table must be one of {', '.join(reports.CSV_TABLES)}")
    start, end = _instant("--since", since), _instant("--until", until)
    _, store = open_store(database_url)
    try:
        report = reports.compliance(
            reports.load_evidence(store),
            carrier,
            start,
            end,
            generated_at=store.clock.now(),
            threshold=timedelta(seconds=threshold),
        )
    finally:
        store.close()
    if format == "csv":
        _emit(reports.compliance_csv(report, csv_table), out)  # type: ignore[arg-type]
    elif format == "html":
        _emit(compliance_html(report), out)
    elif format == "json":
        _emit(_json(report, reports.ComplianceReport), out)
    else:
        _emit(_compliance_table(report, plain=out is not None), out)


def _compliance_table(report: reports.ComplianceReport, plain: bool = False) -> str:
    summary = reports.summary_row(report)
    parts = [table(("", ""), [(k, v) for k, v in summary.items()], plain=plain)]
    late = [
        (
            w.line.venue,
            w.order_id,
            w.line.device,
            w.line.line,
            reports.local(w.start, w.line.zone),
            f"{w.cut_status} {reports.local(w.cut_at, w.line.zone)}".strip(),
            _late(w.cut_lateness_seconds),
        )
        for w in report.late
    ]
    parts.append(f"\nwindows not cut on time: {len(late)}")
    if late:
        parts.append(
            table(
                ("venue", "order", "device", "line", "window start", "cut", "late by"),
                late,
                plain=plain,
            )
        )
    failures = [
        (
            f.seq,
            reports.local(f.at, f.line.zone),
            f.line.venue,
            ",".join(map(str, f.order_ids)) or "-",
            f.line.device,
            f.line.line,
            f.action,
            f.error,
            f.resolution
            if f.resolved_seq is None
            else f"{f.resolution}: {f.resolved_action} seq {f.resolved_seq} at "
            f"{reports.local(f.resolved_at, f.line.zone)}",
        )
        for f in report.failures
    ]
    parts.append(f"\nfailed outcomes: {len(failures)}")
    if failures:
        headers = ("seq", "at", "venue", "orders", "device", "line", "action", "error", "fix")
        parts.append(table(headers, failures, plain=plain))
    return "\n".join(parts)


@app.command()
def interrupted(
    since: Annotated[str | None, typer.Option(help="intents from this instant")] = None,
    until: Annotated[str | None, typer.Option(help="intents before this instant")] = None,
    format: Annotated[
        TableOrJson, typer.Option("--format", help="how to print")
    ] = TableOrJson.table,
    database_url: DatabaseOpt = None,
) -> None:
    """Intents without an outcome (pushes interrupted mid-way) and how each was resolved."""
    from controller.interrupted import InterruptedIntent, interrupted_intents

    format = chosen(format)  # type: ignore[assignment]
    if format not in ("table", "json"):
        raise fail("--format must be table or json")
    _, store = open_store(database_url)
    found = interrupted_intents(
        store.engine,
        _instant("--since", since) if since else None,
        _instant("--until", until) if until else None,
    )
    if format == "json":
        _emit(_json(found, list[InterruptedIntent]), None)
        return
    lines = {ln.id: ln.name for ln in store.lines()}
    devices = {d.id: d.name for d in store.devices()}
    rows = [
        (i.seq, i.at.isoformat(timespec="seconds"), i.pass_id or "-", i.action,
         lines.get(i.line_id or 0, i.line_id), devices.get(i.device_id or 0, i.device_id),
         ",".join(map(str, i.order_ids)) or "-",
         f"seq {i.resolved_seq}: {i.resolved_action}, {i.resolved_state}"
         f" at {i.resolved_at.isoformat(timespec='seconds')}"
         if i.resolved_at is not None else "UNRESOLVED: state unknown until the device is read")
        for i in found
    ]  # fmt: skip
    typer.echo(
        table(("intent", "at (UTC)", "pass", "action", "line", "device", "orders", "resolved by"),
              rows)
    )  # fmt: skip
    unresolved = sum(1 for i in found if i.resolution == "unresolved")
    typer.echo(f"{len(found)} intents without an outcome, {unresolved} unresolved")
