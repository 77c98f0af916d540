"""Benchmark: the instant's share of a prepared cut, on the driver alone — the bind of staged
bodies over sessions opened beforehand, every router of a city at once — and the session
layer's choices that weigh on it, each measured in the same run.

Run: .venv/bin/python -m tests.benchmarks.bench_bind [--routers 100] [--lines 10]
     [--latency-ms 10] [--lab-processes N] [--workers 16,64,256] [--rounds 2]
     [--profile FILE]

A lab of Cisco IOS twins in worker processes of its own; for each worker count and each
variant of the session layer (`--variants`: `after`, as it is; `asyncssh`, the devices'
option `session: asyncssh`; `before`, as it was before its hot-path changes, see
`session_layer`), in turn: every router's session is opened (timed), its cut bodies staged
(not timed), then the bind of every router runs, that many at once (timed:
wall and this process's CPU, which is the client's: the lab is elsewhere; paramiko's transport
threads apart), the restore (not timed) leaves the routers as they were, and the sessions are
closed (timed). The store and the reconciler are not involved: this is what the drivers and
the session layer cost at the instant. `--profile FILE` writes the cProfile of the first
binds (every thread merged). Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from drivers.base import Batch, Credentials, LineTarget
from drivers.identifiers import parse_prefix
from drivers.registry import driver_for
from lab.topology import Lab, city
from lab.workers import default_processes
from tests.benchmarks.bench_midnight import (
    cpu_now,
    percentile,
    profiled,
    session_layer,
    session_option,
    thread_cpu,
)


def in_parallel(work: Any, items: Sequence[Any], workers: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return list(pool.map(work, items))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--routers", type=int, default=100)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, default=10)
    parser.add_argument("--lab-processes", type=int, default=default_processes())
    parser.add_argument("--workers", default="16,64,256", help="comma-separated counts")
    parser.add_argument("--rounds", type=int, default=2, help="runs per worker count")
    parser.add_argument("--profile", default=None)
    parser.add_argument(
        "--idle", type=float, default=3.0, help="seconds every session is held open unused"
    )
    parser.add_argument(
        "--variants", default="before,after", help="session layers measured in turn"
    )
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]

    specs, inventory = city(args.routers, args.lines)
    specs = [dataclasses.replace(s, latency_ms=args.latency_ms) for s in specs]
    with Lab(specs, processes=args.lab_processes) as lab:
        filled = lab.inventory(inventory)
        by_name = {spec.name: spec for spec in lab.specs}
        routers = []
        for number, device in enumerate(filled["devices"]):
            spec = by_name[device["name"]]
            credentials = Credentials(
                host=device["host"], port=lab.port(spec.name), username=spec.username,
                password=spec.password, secret=spec.secret, timeout=60,
                host_key=spec.host_key,
            )  # fmt: skip
            lines = [line for line in inventory["lines"] if line["device"] == spec.name]
            targets = tuple(
                LineTarget(
                    number * args.lines + k + 1,
                    line["interface"],
                    tuple(parse_prefix(p) for p in line["prefixes"]),
                )
                for k, line in enumerate(lines)
            )
            routers.append((spec.name, credentials, targets))
        print(
            f"{args.routers} cisco_ios twins x {args.lines} lines, {args.latency_ms} ms per "
            f"command, lab in {lab.processes} processes"
        )
        profile = args.profile
        for workers in counts:
            for _ in range(args.rounds):
                for variant in args.variants.split(","):
                    with session_layer(variant):
                        one_round(routers, workers, variant, profile, args.idle)
                    profile = None


def timed(work: Any, items: Sequence[Any], workers: int) -> tuple[list[Any], float, float]:
    cpu, started = cpu_now(), time.perf_counter()
    done = in_parallel(work, items, workers)
    return done, time.perf_counter() - started, cpu_now() - cpu


def one_round(
    routers: list[Any], workers: int, variant: str, profile: str | None, idle: float
) -> None:
    count = len(routers)
    option = session_option(variant)
    drivers = [
        driver_for("cisco_ios")(n, dataclasses.replace(c, extra=option)) for n, c, _ in routers
    ]
    cuts = [Batch(cuts=t, restores=()) for _, _, t in routers]
    _, open_wall, open_cpu = timed(lambda d: d.open(), drivers, workers)
    cpu = cpu_now()
    time.sleep(idle)  # every session open, none used: what holding them costs
    idle_cpu = cpu_now() - cpu
    staged = in_parallel(lambda p: p[0].stage(p[1]), list(zip(drivers, cuts, strict=True)), 64)
    assert all(s.ok for s in staged), [s.error for s in staged if not s.ok][:3]
    started = time.perf_counter()

    def bind(pair: tuple[Any, Batch]) -> float:
        result = pair[0].bind(pair[1])
        if not result.ok or not all(o.verified for o in result.outcomes):
            raise RuntimeError(f"{pair[0].name}: {result.error}")
        return time.perf_counter() - started

    before = thread_cpu()
    cpu, started = cpu_now(), time.perf_counter()
    with profiled(profile):
        done = in_parallel(bind, list(zip(drivers, cuts, strict=True)), workers)
    wall, used = time.perf_counter() - started, cpu_now() - cpu
    transport = thread_cpu()["transport"] - before["transport"]
    restores = [Batch(cuts=(), restores=t) for _, _, t in routers]
    in_parallel(lambda p: p[0].apply(p[1]), list(zip(drivers, restores, strict=True)), 64)
    _, close_wall, close_cpu = timed(lambda d: d.close(), drivers, workers)
    print(
        f"{variant:6}, {workers} workers: bind {wall:.2f} s wall (router p50 "
        f"{percentile(done, 50):.2f} s), client CPU {1000 * used / count:.1f} ms per router "
        f"(paramiko's transport threads {1000 * transport / count:.1f} ms); "
        f"open {open_wall:.2f} s, {1000 * open_cpu / count:.1f} ms CPU per router; "
        f"close {close_wall:.2f} s, {1000 * close_cpu / count:.1f} ms CPU per router; "
        f"sessions idle: {1000 * idle_cpu / idle / count:.2f} ms CPU per session-second",
        flush=True,
    )


if __name__ == "__main__":
    main()
