"""Benchmark: the same 20-line batch on each platform's lab twin, side by side in one run.

Run: .venv/bin/python -m tests.benchmarks.bench_platforms [--lines 20] [--runs 5]
For every platform with both a driver and a lab twin: one router with N venue lines, then
`runs` times a cut of all N lines in one session and their restore, through the product's
driver. Prints the median wall time per platform and its ratio to cisco_ios measured in the
same run. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import time

from drivers.base import Batch, Credentials, LineTarget
from drivers.identifiers import parse_prefix
from drivers.registry import DRIVERS, driver_for
from lab.platforms import TWINS
from lab.topology import Lab, city

# platforms measured a second time with other driver options, shown on their own row
VARIANTS = {"snmp_ifadmin": {"counter_interval": "0"}}


def measure(
    platform: str, lines: int, runs: int, extra: dict[str, str] | None = None
) -> tuple[float, float] | str:
    try:
        specs, inventory = city(1, lines, platforms=(platform,))
        lab = Lab(specs).start()
    except Exception as exc:  # a twin that cannot run here (e.g. needs root) is reported
        return f"not run: {exc}"
    try:
        spec = lab.specs[0]
        device = lab.inventory(inventory)["devices"][0]
        credentials = Credentials(
            host=device["host"], port=spec.port, username=spec.username,
            password=spec.password, secret=spec.secret, timeout=30, extra=extra or {},
            host_key=spec.host_key,
        )  # fmt: skip
        targets = tuple(
            LineTarget(n, line["interface"], tuple(parse_prefix(p) for p in line["prefixes"]))
            for n, line in enumerate(inventory["lines"], start=1)
        )
        cuts, restores = [], []
        for _ in range(runs):
            for batch, times in ((Batch(cuts=targets), cuts), (Batch(restores=targets), restores)):
                started = time.perf_counter()
                with driver_for(platform)(spec.name, credentials) as driver:
                    result = driver.apply(batch)
                times.append(time.perf_counter() - started)
                if not result.ok:
                    return f"failed: {result.error or [o.error for o in result.outcomes][:2]}"
        return statistics.median(cuts), statistics.median(restores)
    finally:
        lab.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    platforms = sorted(set(DRIVERS) & set(TWINS), key=lambda p: (p != "cisco_ios", p))
    results: dict[str, tuple[float, float] | str] = {}
    for platform in platforms:
        results[platform] = measure(platform, args.lines, args.runs)
        if platform in VARIANTS:
            label = ",".join(f"{k}={v}" for k, v in VARIANTS[platform].items())
            results[f"{platform} ({label})"] = measure(
                platform, args.lines, args.runs, VARIANTS[platform]
            )
    base = results.get("cisco_ios")
    print(f"{args.lines}-line batch, median of {args.runs} runs, session set-up included")
    print(f"{'platform':36} {'cut (s)':>9} {'restore (s)':>12} {'cut vs cisco_ios':>17}")
    for platform, found in results.items():
        if isinstance(found, str):
            print(f"{platform:36} {found}")
            continue
        ratio = f"{found[0] / base[0]:.2f}x" if isinstance(base, tuple) else "-"
        print(f"{platform:36} {found[0]:9.3f} {found[1]:12.3f} {ratio:>17}")


if __name__ == "__main__":
    main()
