"""Benchmark: the midnight pass of a city, end to end — plan, intents, SSH pushes to every
router in parallel, read-back, outcomes, checkpoint.

Run: .venv/bin/python -m tests.benchmarks.bench_midnight [--routers 100] [--lines 10]
     [--database sqlite|postgresql]
Prints the wall time of the cut pass at 00:00 and of the restore pass at 08:00 against the
dry-run (plan only) in the same run. With `--database postgresql` the store is a throwaway
PostgreSQL server started for the run (tests/postgres.py). Not a test: nothing here asserts a
time.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from controller.clock import SimulatedClock
from controller.credentials import Vault, generate_key, load_key
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order
from controller.reconciler import Reconciler
from controller.store import Store
from lab.topology import Lab, city
from tests.postgres import PostgresServer

NIGHT = datetime(2026, 11, 25, tzinfo=ZoneInfo("Asia/Shanghai"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--routers", type=int, default=100)
    parser.add_argument("--lines", type=int, default=10, help="venue lines per router")
    parser.add_argument("--workers", type=int, default=32, help="routers pushed at once")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    specs, inventory = city(args.routers, args.lines)
    with contextlib.ExitStack() as stack:
        lab = stack.enter_context(Lab(specs))
        if args.database == "postgresql":
            server = PostgresServer().start()
            stack.callback(server.stop)
            url = server.create_database()
        else:
            url = f"sqlite:///{Path(stack.enter_context(tempfile.TemporaryDirectory())) / 'b.db'}"
        clock = SimulatedClock(NIGHT - timedelta(hours=1))
        # the lab inventory's inline passwords are stored encrypted: with a key of this run
        keys = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        generate_key(keys / "secrets.key")
        store = Store.open(url, clock=clock, vault=Vault(key=load_key(keys / "secrets.key")))
        print(f"store: {args.database}")
        import_document(store, lab.inventory(inventory), "bench city")
        for number, venue in enumerate(v.name for v in store.venues()):
            request = OrderCreate(
                venue=venue,
                kind="curfew",
                reason="after_hours",
                legal_basis=f"兰文执发〔2026〕{number + 1}号",
                effective_from=NIGHT - timedelta(days=1),
            )
            issue_order(store, request, "bench")
        reconciler = Reconciler(store, workers=args.workers, device_timeout=60)
        # the evening pass learns every line's state (all open), as a running controller has
        clock.set(NIGHT - timedelta(minutes=1))
        reconciler.run_pass(clock.now())
        lines = args.routers * args.lines
        for label, at in (
            ("cut at 00:00", NIGHT),
            ("restore at 08:00", NIGHT + timedelta(hours=8)),
        ):
            clock.set(at)
            started = time.perf_counter()
            dry = reconciler.run_pass(at, dry_run=True)
            planned = time.perf_counter() - started
            started = time.perf_counter()
            report = reconciler.run_pass(at)
            wall = time.perf_counter() - started
            verified = sum(1 for r in report.results if r.verified)
            print(
                f"{label}: {lines} lines on {args.routers} routers, {verified} verified "
                f"in {wall:.2f} s with {args.workers} workers (planning alone: "
                f"{planned * 1000:.0f} ms for {len(dry.batches)} batches)"
            )
        store.close()


if __name__ == "__main__":
    main()
