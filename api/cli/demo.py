"""`curfew demo`: one whole night in a small lab city on a simulated clock (`api/demo.py` runs
it; imported when the command runs, as it starts the lab)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.lab import require_lab


def demo(
    tick: Annotated[
        int, typer.Option(min=10, max=3600, help="tick of the simulated scheduler, seconds")
    ] = 900,
) -> None:
    """Run one whole night in a small lab city on a simulated clock; exit 1 if anything failed."""
    require_lab()
    from api.demo import run_demo

    raise typer.Exit(run_demo(tick_seconds=tick, echo=typer.echo))
