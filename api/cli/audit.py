"""`curfew audit …`: the evidence for auditors — the key that signs checkpoints, verifying the
log (live or exported) offline, exporting it, and appending a correction."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.cli.common import DatabaseOpt, fail, group, open_store
from controller.clock import SystemClock

app = group("Evidence for auditors: signing keys, exports, offline verification.")


@app.command("keygen")
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


@app.command("verify")
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


@app.command("correct")
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


@app.command("export")
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
