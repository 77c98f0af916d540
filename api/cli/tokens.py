"""`curfew token …`: API tokens, one role each; the secret is printed once, only its hash is
kept."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import DatabaseOpt, JsonOpt, echo_json, fail, group, open_store, table
from controller.clock import parse_instant

app = group("API tokens: one role each, shown once.")


@app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="bureau, noc, auditor or admin")],
    authority: Annotated[
        str | None, typer.Option(help="the authority a bureau token acts for")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="expiry, ISO 8601 with offset (default: never)")
    ] = None,
    label: Annotated[str | None, typer.Option(help="a name to recognise the token by")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='print {"id": …, "token": "…"} on stdout')
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a token and print it once; only its hash is stored."""
    from controller.tokens import create_token

    _, store = open_store(database_url, create=True)
    try:
        expires_at = parse_instant(expires) if expires else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    row, secret = create_token(store, role, "cli", authority, expires_at, label)
    if as_json:
        echo_json({"id": row.id, "token": secret})
        return
    typer.echo(f"token {row.id} ({row.label}, role {row.role}); shown once, keep it safe:")
    typer.echo(secret)


@app.command("list")
def token_list(as_json: JsonOpt = False, database_url: DatabaseOpt = None) -> None:
    """List tokens (never their secrets): active, expired (by the store's clock) or revoked."""
    from controller.tokens import token_listing

    _, store = open_store(database_url)
    rows = [
        (t.id, t.label, t.role, shown.authority or "-", t.created_at.isoformat(timespec="seconds"),
         t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never", shown.state)
        for shown in token_listing(store)
        for t in (shown.token,)
    ]  # fmt: skip
    headers = ("id", "label", "role", "authority", "created", "expires", "state")
    if as_json:
        echo_json([dict(zip(headers, row, strict=True)) for row in rows])
        return
    typer.echo(table(headers, rows))


@app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="the token's id (see `curfew token list`)")],
    database_url: DatabaseOpt = None,
) -> None:
    """Revoke a token at once."""
    from controller.tokens import revoke_token

    _, store = open_store(database_url)
    row = revoke_token(store, token_id, "cli")
    typer.echo(f"token {row.id} ({row.label}) revoked")
