"""`curfew authority …` and `curfew feed …`: the keys bureaus sign their order feeds with, the
feeds the scheduler pulls, a pull on demand, and the signing helper a bureau publishes with."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import DatabaseOpt, JsonOpt, echo_json, fail, group, open_store, table
from controller import feeds

authority_app = group("Issuing authorities: the Ed25519 keys that sign their order feeds.")
feed_app = group("Order feeds bureaus publish and the scheduler pulls: add, list, pull, sign.")


def _when(instant: datetime | None) -> str:
    return instant.isoformat(timespec="seconds") if instant is not None else "-"


# -- authority keys ------------------------------------------------------------------------


@authority_app.command("add-key")
def authority_add_key(
    authority: Annotated[str, typer.Option(help="the authority's name")],
    public_key: Annotated[
        str, typer.Option(help="its Ed25519 public key (hex, or a file holding it)")
    ],
    database_url: DatabaseOpt = None,
) -> None:
    """Register a bureau's public key: feeds of that authority must be signed with it."""
    candidate = Path(public_key)
    value = candidate.read_text(encoding="utf-8").strip() if candidate.is_file() else public_key
    _, store = open_store(database_url)
    row = feeds.add_key(store, authority, value, actor="cli")
    typer.echo(f"key {row.id} registered for {authority}: {row.public_key}")


@authority_app.command("keys")
def authority_keys(
    authority: Annotated[str | None, typer.Option(help="only this authority's keys")] = None,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """List registered feed keys."""
    _, store = open_store(database_url)
    rows = feeds.authority_keys(store, authority)
    names = {a.id: a.name for a in store.authorities()}
    if as_json:
        echo_json(
            [{"id": k.id, "authority": names.get(k.authority_id, k.authority_id),
              "public_key": k.public_key, "added_at": k.added_at, "revoked_at": k.revoked_at}
             for k in rows]
        )  # fmt: skip
        return
    typer.echo(
        table(
            ("id", "authority", "public key", "added", "state"),
            [
                (
                    k.id,
                    names.get(k.authority_id, k.authority_id),
                    k.public_key,
                    _when(k.added_at),
                    f"revoked {_when(k.revoked_at)}" if k.revoked_at else "active",
                )
                for k in rows
            ],
        )  # fmt: skip
    )


@authority_app.command("revoke-key")
def authority_revoke_key(
    key_id: Annotated[int, typer.Argument(help="the key's id (see `curfew authority keys`)")],
    database_url: DatabaseOpt = None,
) -> None:
    """Stop accepting feeds signed with this key, at once."""
    _, store = open_store(database_url)
    row = feeds.revoke_key(store, key_id, actor="cli")
    typer.echo(f"key {row.id} revoked at {_when(row.revoked_at)}")


# -- feeds ---------------------------------------------------------------------------------


@feed_app.command("add")
def feed_add(
    authority: Annotated[str, typer.Option(help="the authority that publishes the feed")],
    source: Annotated[str, typer.Option(help="https URL (http only on 127.0.0.1) or file path")],
    interval: Annotated[
        int,
        typer.Option(min=feeds.MIN_INTERVAL, max=feeds.MAX_INTERVAL, help="seconds between pulls"),
    ] = 300,
    database_url: DatabaseOpt = None,
) -> None:
    """Register a feed; the scheduler pulls it every --interval seconds."""
    _, store = open_store(database_url)
    row = feeds.add_feed(store, authority, source, interval, actor="cli")
    typer.echo(f"feed {row.id}: {authority} from {row.source}, every {row.interval_seconds} s")


@feed_app.command("list")
def feed_list(as_json: JsonOpt = False, database_url: DatabaseOpt = None) -> None:
    """Feeds, when each was last pulled, the last sequence applied and the last problem."""
    _, store = open_store(database_url)
    names = {a.id: a.name for a in store.authorities()}
    if as_json:
        echo_json(
            [{"id": f.id, "authority": names.get(f.authority_id, f.authority_id),
              "source": f.source, "interval_seconds": f.interval_seconds,
              "last_pulled_at": f.last_pulled_at, "last_sequence": f.last_sequence,
              "last_error": f.last_error}
             for f in feeds.list_feeds(store)]
        )  # fmt: skip
        return
    typer.echo(
        table(
            ("id", "authority", "source", "every", "last pulled", "sequence", "problem"),
            [
                (
                    f.id,
                    names.get(f.authority_id, f.authority_id),
                    f.source,
                    f"{f.interval_seconds} s",
                    _when(f.last_pulled_at),
                    "-" if f.last_sequence is None else f.last_sequence,
                    f.last_error or "-",
                )
                for f in feeds.list_feeds(store)
            ],
        )  # fmt: skip
    )


def describe_pull(report: feeds.PullReport) -> list[str]:
    head = f"feed {report.feed_id} ({report.authority}, {report.source}): "
    if report.outcome in ("rejected", "failed"):
        code = f" [{report.code}]" if report.code else ""
        return [head + f"{report.outcome.upper()}{code}: {report.reason}"]
    counts = ", ".join(f"{n} {result}" for result, n in sorted(report.counts.items()))
    head += f"{report.outcome} sequence {report.sequence}"
    head += f" (published {_when(report.published_at)})"
    lines = [head + (f": {counts}" if report.outcome == "applied" else "")]
    for entry in report.entries:
        if entry.result == "rejected":
            lines.append(
                f"  rejected entry {entry.position} {entry.entry_id!r} ({entry.action}): "
                f"{entry.reason}"
            )
        elif entry.result != "unchanged":
            lines.append(f"  {entry.result} {entry.entry_id!r} as order {entry.order_id}")
    return lines


@feed_app.command("pull")
def feed_pull(
    feed: Annotated[
        int | None, typer.Option("--feed", help="only this feed (default: all)")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Pull now and print what happened; exit 1 if a document or an entry was rejected."""
    _, store = open_store(database_url)
    reports = [feeds.pull_feed(store, feed)] if feed is not None else feeds.pull_all(store)
    if not reports:
        typer.echo("no feeds are registered (see `curfew feed add`)")
    for report in reports:
        typer.echo("\n".join(describe_pull(report)))
    if any(r.outcome in ("rejected", "failed") or r.rejected for r in reports):
        raise typer.Exit(1)


@feed_app.command("keygen")
def feed_keygen(
    out: Annotated[Path, typer.Option(help="where to write the private key (PEM, mode 0600)")],
) -> None:
    """Create a bureau's feed signing key; prints the public key to register."""
    from controller.audit import generate_key

    try:
        public = generate_key(out)
    except OSError as exc:  # FileExistsError included: never overwrite a key
        raise fail(str(exc)) from None
    typer.echo(f"private key: {out}\npublic key:  {public}")
    typer.echo(f"register it: curfew authority add-key --authority NAME --public-key {public}")


@feed_app.command("sign")
def feed_sign(
    key: Annotated[Path, typer.Option(help="the bureau's Ed25519 private key (PEM)")],
    document: Annotated[Path, typer.Option(help="the feed document (JSON) to publish")],
    out: Annotated[Path, typer.Option(help="where to write the signed feed")],
) -> None:
    """Sign a feed document exactly as written and wrap it for publishing."""
    from controller.audit import load_key

    try:
        private = load_key(key)
        text = document.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    checked = feeds.read_document(text)  # a malformed document: FeedRejected, a refusal
    out.write_text(feeds.sign_document(private, text), encoding="utf-8")
    typer.echo(
        f"signed {document} ({checked.authority}, sequence {checked.sequence}, "
        f"{len(checked.orders)} entries) into {out}"
    )
