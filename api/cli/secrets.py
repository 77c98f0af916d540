"""`curfew secrets keygen`: the key that keeps inline device passwords and secrets encrypted
at rest, in a file outside the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail, group
from controller.credentials import generate_key

app = group("Device secrets: the key that encrypts inline passwords at rest.")


@app.command("keygen")
def secrets_keygen(
    out: Annotated[
        Path, typer.Option(help="where to write the key (mode 0600; never overwritten)")
    ],
) -> None:
    """Create the key that encrypts inline device passwords and secrets in the database."""
    try:
        generate_key(out)
    except OSError as exc:
        raise fail(f"{out}: {exc.strerror or exc}") from None
    typer.echo(f"key written to {out} (mode 0600); keep it outside the database and its backups")
    typer.echo(f"set CURFEW_SECRETS_KEY_FILE={out} for every curfew process of this store")
