"""Benchmark: what every pass reads before its first push (`Store.snapshot`) and plans from it
(`Reconciler.diff`), at a city's size, against the model-object read it replaced, in the same
run on the same store.

Run: .venv/bin/python -m tests.benchmarks.bench_snapshot [--routers 1000] [--lines 10]
     [--repeat 5] [--database sqlite|postgresql]

A store holding `--routers` × `--lines` port lines (the lab's generated city, not started: no
router is contacted), a curfew order on every venue and a recorded state for every line. Each
of `--repeat` rounds times, after a garbage collection:
- the snapshot as the store reads it (plain rows for venues, lines, orders and line states;
  each line's prefixes parsed once per distinct text);
- the snapshot as it was read before (the baseline, kept in this file): every table as model
  objects, every line's prefixes parsed anew;
- the plan at midnight from the snapshot (`Reconciler.diff`).
Printed: each one's median and best, and the ratio of the medians. Not a test: nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select

from controller.clock import SimulatedClock
from controller.credentials import Vault, generate_key, load_key
from controller.inventory import import_document
from controller.models import Device, Line, LineStatus, Order, OrderEvent, Venue
from controller.planner import LineRef
from controller.reconciler import Reconciler
from controller.store import GAP_ACTIONS, Snapshot, Store
from controller.terms import order_term
from drivers.base import LineTarget
from lab.topology import city, fill_inventory
from tests.benchmarks.bench_midnight import NIGHT, database_url, order_every_venue


def model_object_snapshot(store: Store) -> Snapshot:
    """The baseline: `Store.snapshot` as it was before this benchmark's change, kept here to
    be measured against: every table as model objects, every line's prefixes parsed anew."""
    with store.session() as s:
        venues = {v.id: v for v in s.exec(select(Venue))}
        devices = {d.id: d for d in s.exec(select(Device))}
        lines = list(s.exec(select(Line)))
        orders = list(s.exec(select(Order)))
        events: dict[int, list[OrderEvent]] = {}
        for event in s.exec(select(OrderEvent).where(col(OrderEvent.action).in_(GAP_ACTIONS))):
            events.setdefault(event.order_id, []).append(event)
        states = {st.line_id: st for st in s.exec(select(LineStatus))}
        order_mark = s.exec(select(sa.func.max(OrderEvent.id))).one() or 0
    refs, targets = [], {}
    for line in lines:
        assert line.id is not None
        zone = venues[line.venue_id].zone
        refs.append(LineRef(line.id, line.venue_id, line.device_id, zone, line.blocked))
        prefixes = tuple(ip_network(p) for p in json.loads(line.prefixes_json))
        targets[line.id] = LineTarget(line.id, line.interface, prefixes)
    return Snapshot(
        orders=tuple(
            order_term(
                o,
                events.get(o.id or 0),
                store.jurisdictions.policy(o.kind, venues[o.venue_id].region),
            )
            for o in orders
        ),
        lines=tuple(refs),
        targets=targets,
        line_venue={line.id: line.venue_id for line in lines if line.id is not None},
        devices={d_id: d for d_id, d in devices.items() if d_id is not None},
        states=states,  # type: ignore[arg-type]
        order_mark=order_mark,
    )


def timed(work: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def show(name: str, times: list[float]) -> str:
    return f"{name}: median {statistics.median(times):.3f} s, best {min(times):.3f} s"


def build(store: Store, routers: int, lines: int) -> None:
    specs, inventory = city(routers, lines, base_port=20000)
    import_document(store, fill_inventory(specs, inventory, "127.0.0.1"), "bench city")
    order_every_venue(store)
    # every line's state recorded (open), as a running controller has them
    now = store.clock.now()
    with store.session() as s:
        for ref in store.snapshot().lines:
            s.add(LineStatus(line_id=ref.line_id, state="open", checked_at=now))
        s.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routers", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=10, help="lines per router")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = database_url(stack, args.database)
        keys = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        generate_key(keys / "secrets.key")
        clock = SimulatedClock(NIGHT - timedelta(hours=2))
        store = Store.open(url, clock=clock, vault=Vault(key=load_key(keys / "secrets.key")))
        stack.callback(store.close)
        started = time.perf_counter()
        build(store, args.routers, args.lines)
        snap = store.snapshot()
        print(
            f"store: {args.database}; {len(snap.lines)} lines on {len(snap.devices)} routers, "
            f"{len(snap.orders)} orders, {len(snap.states)} recorded states "
            f"(built in {time.perf_counter() - started:.1f} s)"
        )
        reconciler = Reconciler(store)
        _, batches = reconciler.diff(NIGHT, snap)
        print(f"the plan at midnight: {sum(len(b.changes) for b in batches)} cuts")
        snapshot = timed(store.snapshot, args.repeat)
        assert model_object_snapshot(store).targets == snap.targets  # the same answer
        baseline = timed(lambda: model_object_snapshot(store), args.repeat)
        plan = timed(lambda: reconciler.diff(NIGHT, store.snapshot()), args.repeat)
        print(show("snapshot (plain rows)", snapshot))
        print(show("baseline: the snapshot as model objects, prefixes parsed per line", baseline))
        print(show("snapshot and plan (what precedes the first push)", plan))
        ratio = statistics.median(baseline) / statistics.median(snapshot)
        print(f"snapshot vs baseline: {ratio:.2f}x faster")


if __name__ == "__main__":
    main()
