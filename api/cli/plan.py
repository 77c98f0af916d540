"""`curfew plan` and `curfew reconcile`: one pass, as a dry run or for real, at now or (on a lab
store) at another instant, and what it changed, line by line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import typer

from api.cli.common import (
    AtOpt,
    DatabaseOpt,
    JsonOpt,
    echo_json,
    instant,
    open_store,
    progress_bar,
    table,
)
from controller.device_timing import armed_after
from controller.holds import CutBounds
from controller.reconciler import LineResult, PassReport, Reconciler
from controller.settings import Settings
from controller.store import Store

HEADERS = ("device", "line", "venue", "action", "orders", "result")
ARMED_HEADERS = ("device", "line", "venue", "armed", "at", "orders")


def pass_rows(store: Store, report: PassReport) -> list[tuple[str, ...]]:
    """The pass's changes, one row per line: device, line, venue, action, orders, result."""
    lines = {ln.id: ln for ln in store.lines()}
    venues = {v.id: v for v in store.venues()}
    rows = []
    verdicts = {r.change.line_id: r for r in report.results}
    for device_batch in report.batches:
        for change in device_batch.changes:
            line = lines[change.line_id]
            result = verdicts.get(change.line_id)
            outcome = (
                "planned"
                if result is None
                else ("verified " + result.state_after.value)
                if result.verified
                else f"FAILED ({result.error})"
            )
            rows.append(
                (
                    device_batch.device.name,
                    line.name,
                    venues[line.venue_id].name,
                    change.action.value,
                    ",".join(map(str, change.order_ids)) or "-",
                    outcome,
                )
            )
    return rows


def armed_rows(store: Store, at: datetime) -> list[tuple[str, ...]]:
    """What the routers will do on their own clocks after `at` (device timing): one row per
    armed cut or restore still to come, soonest first."""
    rows = armed_after(store, at)
    if not rows:
        return []
    lines = {ln.id: ln for ln in store.lines()}
    venues = {v.id: v.name for v in store.venues()}
    devices = {d.id: d.name for d in store.devices()}
    found = []
    for row in rows:
        line = lines.get(row.line_id)
        found.append(
            (
                devices.get(row.device_id, str(row.device_id)),
                line.name if line else str(row.line_id),
                venues.get(line.venue_id, "-") if line else "-",
                row.kind,
                row.window_start.isoformat(),
                ",".join(map(str, row.order_ids)) or "-",
            )
        )
    return found


def pass_json(store: Store, report: PassReport) -> dict[str, object]:
    """The pass as `--json` prints it."""
    lines = {ln.id: ln.name for ln in store.lines()}
    nxt = report.plan.next_change
    held = report.held
    return {
        "at": report.at,
        "dry_run": report.dry_run,
        "ok": report.ok,
        "changes": [dict(zip(HEADERS, row, strict=True)) for row in pass_rows(store, report)],
        "held": None if held is None else {"id": held.id, "status": held.status,
                                           "reason": held.reason},
        "skipped": [str(s) for s in report.skipped],
        "drifted": [lines.get(i, i) for i in report.drifted],
        "armed": [dict(zip(ARMED_HEADERS, row, strict=True))
                  for row in armed_rows(store, report.at)],
        "next_change": nxt,
    }  # fmt: skip


def describe_pass(store: Store, report: PassReport) -> str:
    rows = pass_rows(store, report)
    head = f"pass at {report.at.isoformat()}" + (" (dry run)" if report.dry_run else "")
    if not rows:
        head += ": nothing to change"
    else:
        head += "\n" + table(HEADERS, rows)
    if report.held is not None:
        hold = report.held
        head += (
            f"\nCUTS HELD (hold {hold.id}, {hold.status}): {hold.reason}. Restores went ahead; "
            f"the cuts wait for the NOC: `curfew pass approve {hold.id}`"
        )
    for skipped in report.skipped:
        head += f"\nskipped {skipped}"
    if report.drifted:
        lines = {ln.id: ln for ln in store.lines()}
        names = ", ".join(lines[line_id].name for line_id in report.drifted)
        head += f"\ndrift: changed outside the controller, converged in this pass: {names}"
    armed = armed_rows(store, report.at)
    if armed:
        head += "\narmed on the routers' own clocks (device timing):\n" + table(
            ARMED_HEADERS, armed
        )
    nxt = report.plan.next_change
    return head + f"\nnext planned change: {nxt.isoformat() if nxt else 'none within 3 days'}"


def plan(at: AtOpt = None, as_json: JsonOpt = False, database_url: DatabaseOpt = None) -> None:
    """Dry run: what a pass at --at (default now) would change. Touches no device."""
    settings, store = open_store(database_url)
    report = Reconciler(store, settings.device_workers).run_pass(instant(at), dry_run=True)
    if as_json:
        echo_json(pass_json(store, report))
    else:
        typer.echo(describe_pass(store, report))


def reconcile(
    at: AtOpt = None,
    read_devices: Annotated[
        bool, typer.Option("--read-devices", help="read every device first and log drift")
    ] = False,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Run one pass as if at --at (default now): push, verify and log every change."""
    settings, store = open_store(database_url)
    with progress_bar("pass: routers") as advance:

        def progress(device: str, done: int, total: int, results: list[LineResult]) -> None:
            verified = sum(1 for r in results if r.verified)
            said = f"{device}: {verified} of {len(results)} verified"
            if advance is not None:
                advance(total=total, description=f"pass: {said}")
            else:
                typer.echo(f"[{done}/{total}] {said}", err=True)

        report = _run(settings, store, progress, instant(at), read_devices)
    if as_json:
        echo_json(pass_json(store, report))
    else:
        typer.echo(describe_pass(store, report))
    if not report.ok:
        raise typer.Exit(1)
    if report.held is not None:
        raise typer.Exit(3)


def _run(
    settings: Settings,
    store: Store,
    progress: Callable[[str, int, int, list[LineResult]], None],
    at: datetime,
    read_devices: bool,
) -> PassReport:
    reconciler = Reconciler(
        store,
        settings.device_workers,
        settings.device_timeout,
        actor=f"reconciler@{settings.instance}",
        progress=progress,
        cut_bounds=CutBounds.from_settings(settings),
    )
    return reconciler.run_pass(at, read_devices=read_devices)
