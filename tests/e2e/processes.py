"""What the end-to-end tests share for the processes they start: a free loopback port, a
bounded wait, stopping a process by its PID, and orders issued in the store they will use."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], object], seconds: float, what: str) -> float:
    """Poll `condition` (bounded); the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def stop(process: subprocess.Popen, grace: float = 15) -> int:
    """Stop what we started, by its PID: SIGTERM, then SIGKILL after a bounded wait."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


def issue_orders(url: str, kind: str = "curfew", venues: int | None = None) -> None:
    """An order on each venue of the store at `url` (the first `venues` of them, or every
    one), issued in the test's process as the API would: a curfew, or a disconnect (around
    the clock, whatever the time a server starts at)."""
    from controller.orders import OrderCreate, issue_order
    from controller.store import Store

    store = Store.open(url)
    try:
        for venue in store.venues()[:venues]:
            issue_order(
                store,
                OrderCreate(venue=venue.name, kind=kind,
                            reason="after_hours" if kind == "curfew" else "unlicensed",
                            legal_basis="临兰文执发〔2018〕3号",
                            effective_from="2026-11-20T00:00:00+08:00"),
                "bureau:test",
            )  # fmt: skip
    finally:
        store.close()
