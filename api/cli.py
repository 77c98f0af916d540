"""The `curfew` command: serve the API and scheduler, run the lab, import inventory, plan,
reconcile, read the change log, and run the demo night."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.cli_common import DatabaseOpt, fail, open_store, operator, settings_with
from api.devices_cli import devices_app, secrets_app
from api.feeds_cli import authority_app, feed_app
from api.passes_cli import pass_app
from api.reports_cli import app as reports_app
from api.schemas import ChangePublic
from api.store_cli import store_app
from api.text import table
from api.venues_cli import venues_app
from controller.clock import SystemClock, parse_instant
from controller.holds import CutBounds
from controller.inventory import InventoryError, import_file
from controller.reconciler import LineResult, PassReport, Reconciler
from controller.store import ChangeFilter, NotFound, SimulatedInstantRefused, Store

app = typer.Typer(
    help="curfew: cut and restore venues' lines on the orders of a cultural-market bureau.",
    no_args_is_help=True,
    add_completion=False,
)
lab_app = typer.Typer(
    help="Simulated routers for tests, the demo and trials.", no_args_is_help=True
)
inventory_app = typer.Typer(
    help="Routers, venues and lines the controller knows.", no_args_is_help=True
)
audit_app = typer.Typer(
    help="Evidence for auditors: signing keys, exports, offline verification.",
    no_args_is_help=True,
)
app.add_typer(lab_app, name="lab")
app.add_typer(inventory_app, name="inventory")
token_app = typer.Typer(help="API tokens: one role each, shown once.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(token_app, name="token")
app.add_typer(authority_app, name="authority")
app.add_typer(feed_app, name="feed")
app.add_typer(
    reports_app, name="report", help="Auditors' reports: timelines, violations, compliance."
)
app.add_typer(venues_app, name="venues")
app.add_typer(devices_app, name="devices")
app.add_typer(secrets_app, name="secrets")
app.add_typer(store_app, name="store")
app.add_typer(pass_app, name="pass")

AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at", help="act as if at this instant, ISO 8601 with offset", show_default=False
    ),
]


def instant(at: str | None) -> datetime:
    if at is None:
        return SystemClock().now()
    try:
        return parse_instant(at)
    except ValueError as exc:
        raise fail(f"--at: {exc}") from None


# -- serving -------------------------------------------------------------------------------


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="serve the API only; no passes run")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="lab stores only: start the clock at this instant (ISO 8601 with offset) "
            "and let it run at the real pace",
            show_default=False,
        ),
    ] = None,
    no_checkpoints: Annotated[
        bool,
        typer.Option(
            "--no-checkpoints",
            help="serve without a signing key: no signed checkpoints, so truncation of the "
            "log's tail and a rewritten chain cannot be detected (logged as "
            "checkpoints_disabled)",
        ),
    ] = False,
    stop_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            max=600,
            help="seconds a pass in progress may run on after SIGTERM before it is abandoned "
            "(recorded as pass_abandoned)",
        ),
    ] = 20,
    database_url: DatabaseOpt = None,
) -> None:
    """Serve the API (OpenAPI at /docs) and run the scheduler's passes.

    Needs a signing key (CURFEW_SIGNING_KEY_FILE) unless --no-checkpoints. Stops on SIGTERM or
    Ctrl-C within about --stop-timeout seconds, exiting 0."""
    from api.app import create_app
    from api.serving import CannotListen, listen, run
    from controller.clock import OffsetClock
    from controller.scheduler import PassScheduler

    settings = settings_with(database_url)
    if settings.admin_token is None:
        raise fail("set CURFEW_ADMIN_TOKEN (16+ random characters) before serving the API")
    if settings.signing_key_file is None and not no_checkpoints:
        raise fail(
            "no signing key: make one with `curfew audit keygen --out key.pem` and set "
            "CURFEW_SIGNING_KEY_FILE=key.pem, or pass --no-checkpoints to serve without "
            "signed checkpoints"
        )
    try:
        listener = listen(host, port)  # before anything starts: a busy port stops us here
    except CannotListen as exc:
        raise fail(str(exc)) from None
    try:
        clock = OffsetClock(instant(at)) if at is not None else None
        settings, store = open_store(database_url, create=True, clock=clock)
    except BaseException:
        listener.close()
        raise
    if clock is not None and store.kind != "lab":
        listener.close()
        raise fail(
            "--at: this is a production store, whose passes act only at the real time; "
            "a controller on a simulated clock needs a lab store (`curfew store init --lab`)"
        )
    if no_checkpoints:
        store.checkpointer = None
        store.log_admin(
            "checkpoints_disabled",
            f"cli:{operator()}",
            detail=json.dumps(
                {
                    "instance": settings.instance,
                    "why": "curfew serve --no-checkpoints: no signed checkpoints while it runs",
                }
            ),
        )
    scheduler = None
    if not no_scheduler:
        from datetime import timedelta

        from controller.feeds import feed_job

        reconciler = Reconciler(
            store,
            settings.device_workers,
            settings.device_timeout,
            actor=f"reconciler@{settings.instance}",
            cut_bounds=CutBounds.from_settings(settings),
        )
        scheduler = PassScheduler(
            reconciler,
            store.clock,
            timedelta(seconds=settings.tick_seconds),
            feeds=feed_job(store),
            drift_every=timedelta(seconds=settings.drift_seconds),
            stop_grace=stop_timeout,
        )
    typer.echo(f"curfew API on http://{host}:{port} (scheduler {'off' if no_scheduler else 'on'})")
    if no_checkpoints:
        typer.secho(
            "checkpoints are OFF (--no-checkpoints, recorded as checkpoints_disabled): "
            "truncation of the log's tail and a rewritten chain cannot be detected",
            fg=typer.colors.YELLOW,
            err=True,
        )
    run(create_app(settings, store, scheduler), listener, scheduler, typer.echo)


# -- lab -----------------------------------------------------------------------------------


@lab_app.command("up")
def lab_up(
    devices: Annotated[int, typer.Option(min=1, max=2000, help="number of routers")] = 3,
    lines_per_device: Annotated[int, typer.Option(min=1, max=1000, help="venue lines each")] = 4,
    inventory_out: Annotated[
        Path, typer.Option(help="where to write the matching inventory YAML")
    ] = Path("lab-inventory.yaml"),
    topology: Annotated[
        Path | None, typer.Option(help="topology YAML instead of --devices/--lines-per-device")
    ] = None,
) -> None:
    """Start simulated routers on 127.0.0.1 and write their inventory; Ctrl-C stops them."""
    from lab.topology import city, load_topology, serve_lab

    try:
        specs, inventory = load_topology(topology) if topology else city(devices, lines_per_device)
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    serve_lab(specs, inventory, inventory_out, echo=typer.echo)


# -- inventory -----------------------------------------------------------------------------


@inventory_app.command("import")
def inventory_import(
    file: Annotated[Path, typer.Argument(help="inventory YAML: devices, venues, lines")],
    trust_new_host_keys: Annotated[
        bool,
        typer.Option(
            "--trust-new-host-keys",
            help="let this file's SSH devices whose host key is neither given nor pinned learn "
            "it once, at their next session (trust on first use)",
        ),
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Validate and import an inventory file, all or nothing."""
    _, store = open_store(database_url, create=True)
    try:
        report = import_file(store, file, f"cli:{operator()}", trust_new_host_keys)
    except InventoryError as exc:
        raise fail(str(exc)) from None
    created = ", ".join(f"{n} {k}" for k, n in report.created.items()) or "nothing new"
    updated = ", ".join(f"{n} {k}" for k, n in report.updated.items())
    typer.echo(f"imported {file}: created {created}" + (f"; updated {updated}" if updated else ""))


@inventory_app.command("verify")
def inventory_verify(
    device: Annotated[
        list[str] | None, typer.Option(help="only this device (repeatable); default: all")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Check every line against its device; a mismatch blocks cuts on that line until fixed."""
    from controller.reconciler import connect_driver
    from controller.verification import verify_inventory

    settings, store = open_store(database_url)
    checks = verify_inventory(
        store, connect_driver, device, settings.device_timeout, settings.device_workers
    )
    rows = [
        (c.device, c.line, c.interface,
         "ok" if c.ok else "unchecked" if c.ok is None else "BLOCKED", "; ".join(c.problems))
        for c in checks
    ]  # fmt: skip
    typer.echo(table(("device", "line", "interface", "result", "problems"), rows))
    blocked = sum(1 for c in checks if c.ok is False)
    unchecked = sum(1 for c in checks if c.ok is None)
    typer.echo(f"{len(checks)} lines: {blocked} blocked, {unchecked} not checked")
    if blocked or unchecked:
        raise typer.Exit(1)


# -- passes --------------------------------------------------------------------------------


def describe_pass(store: Store, report: PassReport) -> str:
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
    head = f"pass at {report.at.isoformat()}" + (" (dry run)" if report.dry_run else "")
    if not rows:
        head += ": nothing to change"
    else:
        head += "\n" + table(("device", "line", "venue", "action", "orders", "result"), rows)
    if report.held is not None:
        hold = report.held
        head += (
            f"\nCUTS HELD (hold {hold.id}, {hold.status}): {hold.reason}. Restores went ahead; "
            f"the cuts wait for the NOC: `curfew pass approve {hold.id}`"
        )
    for skipped in report.skipped:
        head += f"\nskipped {skipped}"
    if report.drifted:
        names = ", ".join(lines[line_id].name for line_id in report.drifted)
        head += f"\ndrift: changed outside the controller, converged in this pass: {names}"
    nxt = report.plan.next_change
    return head + f"\nnext planned change: {nxt.isoformat() if nxt else 'none within 3 days'}"


@app.command()
def plan(at: AtOpt = None, database_url: DatabaseOpt = None) -> None:
    """Dry run: what a pass at --at (default now) would change. Touches no device."""
    settings, store = open_store(database_url)
    report = Reconciler(store, settings.device_workers).run_pass(instant(at), dry_run=True)
    typer.echo(describe_pass(store, report))


@app.command()
def reconcile(
    at: AtOpt = None,
    read_devices: Annotated[
        bool, typer.Option("--read-devices", help="read every device first and log drift")
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Run one pass as if at --at (default now): push, verify and log every change."""
    settings, store = open_store(database_url)

    def progress(device: str, done: int, total: int, results: list[LineResult]) -> None:
        verified = sum(1 for r in results if r.verified)
        typer.echo(f"[{done}/{total}] {device}: {verified} of {len(results)} verified", err=True)

    reconciler = Reconciler(
        store,
        settings.device_workers,
        settings.device_timeout,
        actor=f"reconciler@{settings.instance}",
        progress=progress,
        cut_bounds=CutBounds.from_settings(settings),
    )
    try:
        report = reconciler.run_pass(instant(at), read_devices=read_devices)
    except SimulatedInstantRefused as exc:
        raise fail(str(exc)) from None
    typer.echo(describe_pass(store, report))
    if not report.ok:
        raise typer.Exit(1)
    if report.held is not None:
        raise typer.Exit(3)


@app.command()
def changes(
    order: Annotated[int | None, typer.Option(help="only changes citing this order id")] = None,
    venue: Annotated[
        str | None, typer.Option(help="only changes of this venue (name or id)")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="from this instant (ISO 8601 with offset)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="before this instant")] = None,
    format: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    database_url: DatabaseOpt = None,
) -> None:
    """The change log: order events, intents and verified outcomes."""
    if format not in ("table", "json", "csv"):
        raise fail("--format must be table, json or csv")
    _, store = open_store(database_url)
    try:
        venue_id = store.find_venue(venue).id if venue else None
        where = ChangeFilter(
            order_id=order,
            venue_id=venue_id,
            since=parse_instant(since) if since else None,
            until=parse_instant(until) if until else None,
        )
    except (NotFound, ValueError) as exc:
        raise fail(str(exc)) from None
    records = [ChangePublic.of(c) for c in store.changes(where)]
    if format == "json":
        typer.echo(
            json.dumps([r.model_dump(mode="json") for r in records], ensure_ascii=False, indent=2)
        )
    elif format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(ChangePublic.model_fields))
        writer.writeheader()
        for record in records:
            row = record.model_dump(mode="json")
            row["order_ids"] = " ".join(map(str, row["order_ids"]))
            row["commands"] = "\n".join(row["commands"])
            writer.writerow(row)
        sys.stdout.write(buffer.getvalue())
    else:
        typer.echo(
            table(
                (
                    "seq",
                    "at (UTC)",
                    "kind",
                    "action",
                    "orders",
                    "line",
                    "state",
                    "verified",
                    "error",
                ),
                [
                    (
                        r.seq,
                        r.at.strftime("%Y-%m-%d %H:%M:%S"),
                        r.kind,
                        r.action,
                        ",".join(map(str, r.order_ids)) or "-",
                        r.line_id,
                        r.state_after,
                        r.verified,
                        r.error,
                    )
                    for r in records
                ],
            )
        )


@app.command()
def demo(
    tick: Annotated[
        int, typer.Option(min=10, max=3600, help="tick of the simulated scheduler, seconds")
    ] = 900,
) -> None:
    """Run one whole night in a small lab city on a simulated clock; exit 1 if anything failed."""
    from api.demo import run_demo

    raise typer.Exit(run_demo(tick_seconds=tick, echo=typer.echo))


# -- audit ---------------------------------------------------------------------------------


@audit_app.command("keygen")
def audit_keygen(
    out: Annotated[Path, typer.Option(help="where to write the private key (PEM, mode 0600)")],
) -> None:
    """Create the Ed25519 key that signs checkpoints; prints its public key (hex)."""
    from controller.audit import generate_key

    try:
        public = generate_key(out)
    except (OSError, FileExistsError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"private key: {out}\npublic key:  {public}")
    typer.echo("set CURFEW_SIGNING_KEY_FILE to the private key; give auditors the public key")


def _public_key(text: str | None) -> Ed25519PublicKey | None:
    from controller.audit import public_from_hex

    if text is None:
        return None
    candidate = Path(text)
    value = candidate.read_text(encoding="utf-8").strip() if candidate.is_file() else text
    try:
        return public_from_hex(value)
    except ValueError as exc:
        raise fail(f"--public-key: {exc}") from None


@audit_app.command("verify")
def audit_verify(
    export: Annotated[
        Path | None, typer.Option(help="verify this export file instead of the live database")
    ] = None,
    checkpoints: Annotated[
        Path | None, typer.Option(help="directory of checkpoints kept outside the database")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="the signer's public key (hex, or a file holding it)")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="exit 3 when nothing is wrong but the check cannot prove the log whole: no "
            "checkpoint held outside (--checkpoints), an export without --public-key, or "
            "intents whose push was interrupted and whose lines nothing verified since",
        ),
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Check the hash chain and every checkpoint; exit 1 if anything is wrong.

    Without checkpoints held outside the database (and, for an export, the signer's public
    key), a log whose tail was cut off or whose chain was rewritten can still pass: the check
    says so, and with --strict exits 3."""
    from controller.audit import read_checkpoint_dir, verify_export, verify_store

    key = _public_key(public_key)
    outside = read_checkpoint_dir(checkpoints) if checkpoints else []
    if checkpoints is not None and not checkpoints.is_dir():
        raise fail(f"--checkpoints: {checkpoints} is not a directory")
    if export is not None:
        if not export.is_file():
            raise fail(f"--export: {export} does not exist")
        report = verify_export(export, key, outside)
        subject = str(export)
    else:
        from controller.interrupted import interrupted_intents

        _, store = open_store(database_url)
        report = verify_store(store.engine, key, outside)
        subject = "the live database"
        loose = interrupted_intents(store.engine)
        unresolved = [i.seq for i in loose if i.resolution == "unresolved"]
        if len(loose) > len(unresolved):
            report.notes.append(
                f"{len(loose) - len(unresolved)} intents have no outcome (interrupted pushes); "
                "each was resolved by a later verified outcome: `curfew report interrupted`"
            )
        if unresolved:
            shown_seqs = ", ".join(map(str, unresolved[:10]))
            shown_seqs += "…" if len(unresolved) > 10 else ""
            report.limits.append(
                f"{len(unresolved)} intents have no outcome and nothing verified their lines "
                f"since (seq {shown_seqs}): a push was interrupted, and what those routers hold "
                "is unknown until a pass reads them (`curfew report interrupted`)"
            )
    typer.echo(
        f"{subject}: {report.records} records"
        + (f" (seq {report.first_seq}..{report.last_seq})" if report.records else "")
        + f", {report.checkpoints} checkpoints, {report.outside_checkpoints} held outside"
    )
    for note in report.notes:
        typer.echo(f"note: {note}")
    for limit in report.limits:
        typer.secho(f"warning: {limit}", fg="yellow")
    if report.proven:
        typer.echo(f"OK: the log verifies; head {report.head_hash}")
        return
    if report.ok:
        typer.secho(
            f"NOT PROVEN: nothing wrong found, but the warnings above say what this check "
            f"cannot see; head {report.head_hash}" + (" (--strict)" if strict else ""),
            fg="yellow",
        )
        if strict:
            raise typer.Exit(3)
        return
    typer.secho(f"FAILED: first bad sequence number {report.first_bad_seq}", fg="red", err=True)
    for problem in report.problems:
        typer.secho(f"  {problem}", fg="red", err=True)
    raise typer.Exit(1)


@audit_app.command("correct")
def audit_correct(
    seq: Annotated[int, typer.Option(help="the record that was wrong")],
    note: Annotated[str, typer.Option(help="what was wrong, and what is right")],
    actor: Annotated[str, typer.Option(help="who corrects it")] = "cli",
    database_url: DatabaseOpt = None,
) -> None:
    """Append a correction that points at an earlier record (records are never edited)."""
    from controller.audit import append_correction

    _, store = open_store(database_url)
    try:
        record = append_correction(store, seq, note, actor)
    except (LookupError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"record {record.seq} corrects record {seq}")


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option(help="the JSON Lines file to write")],
    from_seq: Annotated[int, typer.Option("--from", min=1, help="first sequence number")] = 1,
    to_seq: Annotated[
        int | None, typer.Option("--to", min=1, help="last sequence number (default: the head)")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Write records, their checkpoints and public keys for verification without a database."""
    from controller.audit import export

    _, store = open_store(database_url)
    if to_seq is not None and to_seq < from_seq:
        raise fail("--to must not be before --from")
    count = export(store.engine, out, SystemClock().now(), from_seq, to_seq)
    typer.echo(f"exported {count} records to {out}")


# -- tokens --------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="bureau, noc, auditor or admin")],
    authority: Annotated[
        str | None, typer.Option(help="the authority a bureau token acts for")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="expiry, ISO 8601 with offset (default: never)")
    ] = None,
    label: Annotated[str | None, typer.Option(help="a name to recognise the token by")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a token and print it once; only its hash is stored."""
    from controller.tokens import create_token

    _, store = open_store(database_url, create=True)
    try:
        row, secret = create_token(
            store, role, "cli", authority, parse_instant(expires) if expires else None, label
        )
    except (ValueError, NotFound) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"token {row.id} ({row.label}, role {row.role}); shown once, keep it safe:")
    typer.echo(secret)


@token_app.command("list")
def token_list(database_url: DatabaseOpt = None) -> None:
    """List tokens (never their secrets): active, expired (by the store's clock) or revoked."""
    from controller.tokens import token_listing

    _, store = open_store(database_url)
    rows = [
        (t.id, t.label, t.role, shown.authority or "-", t.created_at.isoformat(timespec="seconds"),
         t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never", shown.state)
        for shown in token_listing(store)
        for t in (shown.token,)
    ]  # fmt: skip
    typer.echo(table(("id", "label", "role", "authority", "created", "expires", "state"), rows))


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="the token's id (see `curfew token list`)")],
    database_url: DatabaseOpt = None,
) -> None:
    """Revoke a token at once."""
    from controller.tokens import revoke_token

    _, store = open_store(database_url)
    try:
        row = revoke_token(store, token_id, "cli")
    except NotFound as exc:
        raise fail(str(exc)) from None
    typer.echo(f"token {row.id} ({row.label}) revoked")


def main() -> None:
    app()
