"""Benchmark: the same N-line batch on each platform's lab twin, side by side in one run.

Run: .venv/bin/python -m tests.benchmarks.bench_platforms [--lines 20] [--runs 5]
         [--latency-ms 0] [--baseline REV] [--platforms cisco_ios,huawei_vrp] [--window N]
         [--foreign-routes N]
For every platform with both a driver and a lab twin: one router with N venue lines, then
`runs` times a cut of all N lines in one session and their restore, through the product's
driver. Prints per platform the median wall time, the commands a cut sends the device (every
line written to the SSH session, log-in and reads included; every command of every eAPI call
on EOS), the times the client wrote to the device (its round trips, at most), and the CPU the
client spent per cut (the process's CPU less the lab thread's: the driver and paramiko's
transport threads); the cut's ratio to cisco_ios measured in the same run.

`--baseline REV` measures the same with the `drivers/` package of git revision REV (taken with
`git archive`, run in a child process against this tree's lab) and prints each platform's
figures against it: before and after in one sitting. `--latency-ms` makes every twin answer
each command that much later, as a loaded router does; `--window N` gives the CLI drivers a push
window of N lines (`Credentials.extra["push_window"]`, where the drivers read it);
`--foreign-routes N` gives every router N static routes of the carrier's own (a real router's
configuration is mostly not the venues'), so that what a read transfers shows (`read kB`: what
the client received per cut); `--staged` adds, for every platform offering `Staging`, a row
whose cut is the bind of bodies staged beforehand: what is left for the instant itself. Not a
test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

try:  # drivers of a baseline revision may predate the Staging ability
    from drivers.base import Staging
except ImportError:  # pragma: no cover - only under --baseline
    Staging = type("NoStaging", (), {})  # type: ignore[assignment,misc]
from drivers.base import Batch, Credentials, LineTarget
from drivers.identifiers import parse_prefix
from drivers.registry import DRIVERS, driver_for
from lab.platforms import TWINS
from lab.topology import Lab, city

# platforms measured a second time with other driver options, shown on their own row
VARIANTS = {"snmp_ifadmin": {"counter_interval": "0"}}
# credentials enough to build a driver and ask what it offers
PROBE = Credentials("192.0.2.1", 22, "probe", "probe")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Figures:
    cut: float  # median seconds
    restore: float
    commands: float  # per cut session (lines written / eAPI commands); -1 when not counted
    writes: float  # per cut session: how often the client wrote (or posted) to the device
    received_kb: float  # per cut session: what the client read from the device
    cpu_ms: float  # per cut: the client's CPU (the driver's and paramiko's threads)


@dataclass
class _Count:
    commands: int = 0
    writes: int = 0
    received: int = 0  # characters read from SSH sessions, JSON characters of eAPI answers


@contextmanager
def counting() -> Iterator[_Count]:
    """Count what the client sends: netmiko channel writes (lines and writes) and pyeapi calls
    (commands and requests). Patched at the libraries, so old and new drivers count alike."""
    from netmiko.base_connection import BaseConnection
    from pyeapi.eapilib import EapiConnection

    count = _Count()
    write_channel = BaseConnection.write_channel
    read_channel = BaseConnection.read_channel
    execute = EapiConnection.execute

    def counted_write(self: Any, out_data: str) -> None:
        count.writes += 1
        count.commands += out_data.count("\n")
        write_channel(self, out_data)

    def counted_read(self: Any) -> str:
        text = read_channel(self)
        count.received += len(text)
        return text

    def counted_execute(self: Any, commands: list[Any], *args: Any, **kwargs: Any) -> Any:
        count.writes += 1
        count.commands += len(commands)
        answer = execute(self, commands, *args, **kwargs)
        count.received += len(json.dumps(answer))
        return answer

    BaseConnection.write_channel = counted_write  # type: ignore[method-assign]
    BaseConnection.read_channel = counted_read  # type: ignore[method-assign]
    EapiConnection.execute = counted_execute  # type: ignore[method-assign]
    try:
        yield count
    finally:
        BaseConnection.write_channel = write_channel  # type: ignore[method-assign]
        BaseConnection.read_channel = read_channel  # type: ignore[method-assign]
        EapiConnection.execute = execute  # type: ignore[method-assign]


def client_cpu(lab: Lab) -> float:
    """CPU seconds of this process so far, less the lab's: the driver's thread and paramiko's
    transport threads. A lab serving its twins from this process runs them in one thread."""
    spent = time.process_time()
    thread = getattr(lab, "_thread", None)
    if thread is not None and thread.ident is not None:
        spent -= time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return spent


# a static route of the carrier's own, in each platform's syntax (next hop: the uplink's peer)
FOREIGN_ROUTE = {
    "cisco_ios": "ip route 10.{a}.{b}.0 255.255.255.0 100.64.0.2",
    "huawei_vrp": "ip route-static 10.{a}.{b}.0 24 100.64.0.2",
    "h3c_comware": "ip route-static 10.{a}.{b}.0 24 100.64.0.2",
    "juniper_junos": "set routing-options static route 10.{a}.{b}.0/24 next-hop 100.64.0.2",
    "arista_eos": "ip route 10.{a}.{b}.0/24 100.64.0.2",
}


def measure(
    platform: str,
    lines: int,
    runs: int,
    extra: dict[str, str] | None = None,
    latency_ms: int = 0,
    foreign_routes: int = 0,
    staged: bool = False,
) -> Figures | str:
    """Median figures of `runs` cuts and restores; with `staged`, each cut's bodies are staged
    first in a session of their own and the cut measured is the bind (`apply`) that follows."""
    try:
        specs, inventory = city(1, lines, platforms=(platform,))
        route = FOREIGN_ROUTE.get(platform)
        routes = (
            [route.format(a=i // 256, b=i % 256) for i in range(foreign_routes)] if route else []
        )
        specs = [replace(s, latency_ms=latency_ms, config=(*s.config, *routes)) for s in specs]
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
        cuts: list[float] = []
        restores: list[float] = []
        commands: list[int] = []
        writes: list[int] = []
        received: list[int] = []
        cpu: list[float] = []
        for _ in range(runs):
            for batch, times in ((Batch(cuts=targets), cuts), (Batch(restores=targets), restores)):
                if staged and times is cuts:
                    # the evening: the bodies written in a session of their own, not measured
                    with driver_for(platform)(spec.name, credentials) as driver:
                        prepared = driver.stage(batch)  # type: ignore[attr-defined]
                    if not prepared.ok:
                        return f"stage failed: {prepared.error or prepared.lines[:2]}"
                with counting() as count:
                    started, cpu_started = time.perf_counter(), client_cpu(lab)
                    with driver_for(platform)(spec.name, credentials) as driver:
                        result = driver.apply(batch)
                    times.append(time.perf_counter() - started)
                    if times is cuts:
                        cpu.append(client_cpu(lab) - cpu_started)
                        commands.append(count.commands)
                        writes.append(count.writes)
                        received.append(count.received)
                if not result.ok:
                    return f"failed: {result.error or [o.error for o in result.outcomes][:2]}"
        counted = any(commands)
        return Figures(
            statistics.median(cuts),
            statistics.median(restores),
            statistics.median(commands) if counted else -1,
            statistics.median(writes) if counted else -1,
            statistics.median(received) / 1000 if counted else -1,
            statistics.median(cpu) * 1000,
        )
    finally:
        lab.stop()


def measure_all(args: argparse.Namespace) -> dict[str, Figures | str]:
    chosen = set(args.platforms.split(",")) if args.platforms else set(DRIVERS)
    platforms = sorted(set(DRIVERS) & set(TWINS) & chosen, key=lambda p: (p != "cisco_ios", p))
    results: dict[str, Figures | str] = {}
    window = {"push_window": str(args.window)} if args.window else {}
    for platform in platforms:
        results[platform] = measure(
            platform, args.lines, args.runs, window, args.latency_ms, args.foreign_routes
        )
        if args.staged and isinstance(driver_for(platform)("probe", PROBE), Staging):
            results[f"{platform} (bind after stage)"] = measure(
                platform,
                args.lines,
                args.runs,
                window,
                args.latency_ms,
                args.foreign_routes,
                staged=True,
            )
        if platform in VARIANTS:
            label = ",".join(f"{k}={v}" for k, v in VARIANTS[platform].items())
            results[f"{platform} ({label})"] = measure(
                platform,
                args.lines,
                args.runs,
                {**window, **VARIANTS[platform]},
                args.latency_ms,
                args.foreign_routes,
            )
    return results


def baseline(revision: str, argv: list[str]) -> dict[str, Figures | str]:
    """The same measurement with the drivers of `revision`, in a child process."""
    with tempfile.TemporaryDirectory(prefix="curfew-baseline-") as where:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision, "drivers"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        archive_path = Path(where) / "drivers.tar"
        archive_path.write_bytes(archive)
        with tarfile.open(archive_path) as tar:
            tar.extractall(where, filter="data")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([where, str(ROOT)])}
        # the child's first path entry is its working directory: the old `drivers` is found there
        child = subprocess.run(
            [sys.executable, "-m", "tests.benchmarks.bench_platforms", *argv, "--json"],
            cwd=where,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        if f"drivers from {where}" not in child.stderr:  # the child says where they came from
            raise RuntimeError(f"baseline child did not use {revision}'s drivers: {child.stderr!r}")
        loaded = json.loads(child.stdout.splitlines()[-1])
        return {k: v if isinstance(v, str) else Figures(**v) for k, v in loaded.items()}


def _row(name: str, found: Figures | str, base: Figures | str | None, ratio: str) -> str:
    if isinstance(found, str):
        return f"{name:36} {found}"
    counted = found.commands >= 0
    commands = f"{found.commands:.0f}" if counted else "-"
    writes = f"{found.writes:.0f}" if counted else "-"
    received = f"{found.received_kb:.1f}" if counted else "-"
    line = (
        f"{name:36} {found.cut:8.3f} {found.restore:9.3f} {commands:>9} {writes:>7} "
        f"{received:>8} {found.cpu_ms:8.1f} {ratio:>7}"
    )
    if isinstance(base, Figures):
        counted = base.commands >= 0
        before = f"{base.commands:.0f}" if counted else "-"
        read = f"{base.received_kb:.1f}" if counted else "-"
        line += (
            f"  | {base.cut:7.3f} {base.restore:8.3f} {before:>8} {read:>8} {base.cpu_ms:8.1f}"
            f"  | {found.cut / base.cut:5.2f}x {found.restore / base.restore:5.2f}x"
            f" {found.cpu_ms / base.cpu_ms:5.2f}x"
        )
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=0, help="per command, at every twin")
    parser.add_argument("--platforms", default="", help="comma-separated; default all")
    parser.add_argument("--window", type=int, default=0, help="CLI push window (lines)")
    parser.add_argument("--foreign-routes", type=int, default=0, help="static routes per router")
    parser.add_argument(
        "--staged", action="store_true", help="also: the cut's bind after a stage (Staging)"
    )
    parser.add_argument("--baseline", metavar="REV", help="also measure drivers/ of git REV")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    argv = [
        f"--lines={args.lines}",
        f"--runs={args.runs}",
        f"--latency-ms={args.latency_ms}",
        f"--platforms={args.platforms}",
        f"--window={args.window}",
        f"--foreign-routes={args.foreign_routes}",
    ]  # the baseline's drivers may not stage: --staged rows are this tree's only
    before = baseline(args.baseline, argv) if args.baseline else {}
    results = measure_all(args)
    if args.json:
        import drivers

        print(f"drivers from {Path(drivers.__file__).parent}", file=sys.stderr)
        print(json.dumps({k: v if isinstance(v, str) else asdict(v) for k, v in results.items()}))
        return
    base = results.get("cisco_ios")
    print(
        f"{args.lines}-line batch, median of {args.runs} runs, session set-up included, "
        f"{args.latency_ms} ms per command at the twin, {args.foreign_routes} foreign routes"
    )
    header = (
        f"{'platform':36} {'cut (s)':>8} {'restore':>9} {'commands':>9} {'writes':>7} "
        f"{'read kB':>8} {'cpu (ms)':>8} {'vs ios':>7}"
    )
    if before:
        header += f"  | {args.baseline[:12]}: cut, restore, commands, read kB, cpu"
        header += "  | after/before: cut, restore, cpu"
    print(header)
    ratio_of: Callable[[Figures], str] = lambda found: (  # noqa: E731
        f"{found.cut / base.cut:.2f}x" if isinstance(base, Figures) else "-"
    )
    for platform, found in results.items():
        ratio = ratio_of(found) if isinstance(found, Figures) else ""
        print(_row(platform, found, before.get(platform), ratio))


if __name__ == "__main__":
    main()
