"""`curfew lab up`: simulated routers on 127.0.0.1 for tests, the demo and trials, and the
inventory that matches them; with BNGs, subscribers dialled in through a real FreeRADIUS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail, group

app = group("Simulated routers for tests, the demo and trials.")

NOT_INSTALLED = "the lab is not installed: pip install 'curfew[lab]'"


def require_lab() -> None:
    """Exit 2 saying how to install the lab where this installation has none: it is an extra
    (`curfew[lab]`), and the product runs without it."""
    try:
        import lab.topology  # noqa: F401
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] in ("lab", "asyncssh"):
            raise fail(NOT_INSTALLED) from None
        raise


@app.command("up")
def lab_up(
    devices: Annotated[int, typer.Option(min=1, max=2000, help="number of routers")] = 3,
    lines_per_device: Annotated[int, typer.Option(min=1, max=1000, help="venue lines each")] = 4,
    inventory_out: Annotated[
        Path, typer.Option(help="where to write the matching inventory YAML")
    ] = Path("lab-inventory.yaml"),
    topology: Annotated[
        Path | None, typer.Option(help="topology YAML instead of --devices/--lines-per-device")
    ] = None,
    bngs: Annotated[
        int,
        typer.Option(
            min=0,
            max=200,
            help="BNG twins (127.0.0.21, .22, …) with subscribers through a real FreeRADIUS "
            "(Debian's freeradius must be installed); a topology file lists its own",
        ),
    ] = 0,
    subscribers_per_bng: Annotated[
        int, typer.Option(min=1, max=250, help="subscribers dialled in on each BNG")
    ] = 3,
    processes: Annotated[
        int | None,
        typer.Option(
            min=0,
            show_default="one per core",
            help="worker processes the routers are spread over (0: all in this one)",
        ),
    ] = None,
) -> None:
    """Start simulated routers on 127.0.0.1 and write their inventory; Ctrl-C stops them.

    With --bngs N (or `bngs:` and `kind: subscriber` lines in a topology file) the lab also
    runs FreeRADIUS on 127.0.0.1 (its SQLite database is the NAS devices' radius_db) and BNG
    twins whose subscribers dial in at start; the inventory lists the BNGs as radius_nas devices.
    """
    require_lab()
    from controller.clock import SystemClock
    from lab.freeradius import unavailable_reason
    from lab.topology import (
        city,
        load_subscribers,
        load_topology,
        serve_lab,
        subscriber_city,
    )
    from lab.workers import default_processes

    try:
        if topology:
            specs, inventory = load_topology(topology)
            subscribers = load_subscribers(topology)
        else:
            specs, inventory = city(devices, lines_per_device)
            subscribers = subscriber_city(bngs, subscribers_per_bng) if bngs else None
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    if subscribers:
        reason = unavailable_reason()
        if reason:
            raise fail(f"BNGs need a RADIUS server: {reason}")
    workers = default_processes() if processes is None else processes
    serve_lab(
        specs,
        inventory,
        inventory_out,
        echo=typer.echo,
        processes=workers,
        subscribers=subscribers,
        clock=SystemClock().now,
    )
