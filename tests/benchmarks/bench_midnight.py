"""Benchmark: the midnight burst of a city, end to end, against floors and a naive script
measured in the same run on the same lab.

Run: .venv/bin/python -m tests.benchmarks.bench_midnight [--routers 1000] [--lines 10]
     [--latency-ms 10] [--timing controller|device] [--database sqlite|postgresql]
     [--prepare-lead S] [--arm-lead S] [--lab-processes N] [--workers N] [--bind-workers N]
     [--naive-threads 100] [--no-naive] [--no-floors] [--profile FILE]
     [--profiler cprofile|py-spy|py-spy-gil]
     [--session-layer after|asyncssh|before] [--keepalive S] [--platform cisco_ios|juniper_junos]

A lab of `--routers` router twins (`--platform`, Cisco IOS by default; Junos arms with `commit
at`) with `--lines` venue lines each, every command answered
`--latency-ms` late, runs in `--lab-processes` worker processes of its own (default: one per
core), so that the CPU measured here is the controller's. A curfew order on every venue; an
evening pass learns every line's state (all open), as a running controller has.

At 00:00 − lead (`--prepare-lead`, seconds of the simulated clock, default 120) the prepare
phase (controller/prepare.py: sessions opened, routers read, cut bodies staged) runs; its
duration is reported on its own and not counted in the cut. Then the run's clock is set to
00:00 and runs at the real pace: the act pass starts there, and each line's lateness is the
instant its outcome was recorded less 00:00. The same for the 08:00 restore. Printed for each:
the time from the instant to the last verified line, lateness p50/p99/max, lines verified, the
controller's CPU seconds (getrusage of this process: the lab's processes are not in it) and
its peak resident memory so far.

Then, in the same run on the same lab (each against the same routers and workers):
- the cold floor: connect, enable, one read of the owned objects, disconnect, for every router,
  through the product's session layer, `--workers` at once;
- the warm floor: one read on sessions already open, `--workers` at once;
- the naive baseline: a throwaway script, not the product: one stock netmiko session per line
  (`--naive-threads` at once), each pushing that line's two ACLs and four bindings with
  `send_config_set` and reading them back; it cuts every line once more (the product restored
  them at 08:00), and is judged by what it reads back.
Ratios: the cut against each. With `--timing device` every router opts in to device timing
(controller/device_timing.py), its clock NTP-synchronised and in the venues' offset, following
the run's clock: a lead before 00:00 the cuts are armed on the routers' own clocks (timed and
reported apart, like the prepare; `--arm-lead` sets that lead apart from the prepare's, as
`CURFEW_ARM_LEAD` does), the routers cut at their 00:00, and the pass at 00:00 verifies what
they did: printed, how many lines were armed before 00:00 by the run's clock, and how many cuts
the pass found in force by the routers' own clocks against those it had to push itself. The
same at 08:00: an IOS router's time-range ends the cut at its 08:00, a Junos router's restore
is armed apart a lead before it (`commit at`); the pass at 08:00 finds them open, sends
nothing and records the router's evidence, and the restored lines' objects are removed after
the last router. `--profile FILE` writes the 00:00 act pass's cProfile (every
thread of it merged, by each thread's CPU time) to FILE, and the 08:00 one's to FILE-restore;
with `--profiler py-spy`, py-spy's sampled stacks instead (cProfile's hooks inflate what makes
many calls: the parse); with `--profiler py-spy-gil`, only the samples of the thread holding
the GIL (where the pass's one core goes, waits left out).
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import gc
import importlib.util
import os
import pstats
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import paramiko

from controller.credentials import Vault, generate_key, load_key
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order
from controller.reconciler import PassReport, Reconciler, connect_driver
from controller.store import ChangeFilter, Store
from drivers import cli
from drivers.base import DriverError
from drivers.cli import SESSION_OPTION, CliDriver
from drivers.registry import session_layers
from lab.topology import Lab, city
from lab.workers import default_processes, follow_clock
from tests.benchmarks.bench_lab import cpu_seconds
from tests.postgres import PostgresServer

NIGHT = datetime(2026, 11, 25, tzinfo=ZoneInfo("Asia/Shanghai"))
MORNING = NIGHT + timedelta(hours=8)
# the line that sets each platform's zone to the venues' (China Standard Time, no summer time)
ZONE_LINES = {
    "cisco_ios": "clock timezone CST 8 0",
    "juniper_junos": "set system time-zone Asia/Shanghai",
}
# what a cut (or a restore) found in force by the router's own clock says: the time-range's
# word (IOS), the router's latest commit, its scheduled one (Junos)
EVIDENCE_MARKS = (
    "cut by the device's clock",
    "found cut, nothing sent",
    "found open, nothing sent",
)


def database_url(stack: contextlib.ExitStack, database: str) -> str:
    """A fresh store's URL: a PostgreSQL server started for the run, or a temporary SQLite
    file; `stack` stops or removes it."""
    if database == "postgresql":
        server = PostgresServer().start()
        stack.callback(server.stop)
        return server.create_database()
    return f"sqlite:///{Path(stack.enter_context(tempfile.TemporaryDirectory())) / 'b.db'}"


def order_every_venue(store: Store) -> None:
    """A curfew order on every venue of the store, in force since the night before."""
    venues = [v.name for v in store.venues()]
    for first in range(0, len(venues), 500):  # 500 orders a transaction: set-up only
        with store.transaction() as tx:
            for number, venue in enumerate(venues[first : first + 500], start=first):
                request = OrderCreate(
                    venue=venue,
                    kind="curfew",
                    reason="after_hours",
                    legal_basis=f"兰文执发〔2026〕{number + 1}号",
                    effective_from=NIGHT - timedelta(days=1),
                )
                issue_order(store, request, "bench", tx=tx)


class BenchClock:
    """The run's clock: pinned at an instant, or running at the real pace from one (so that an
    outcome's recorded instant says how late it came). Each time it starts running its
    followers are told (the instant, and the `time.monotonic()` at which it reads it): the
    lab's devices follow it, for device timing."""

    simulated = True

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._base = start.astimezone(UTC)
        self._since: float | None = None  # time.monotonic() when it started running
        self.followers: list[Callable[[datetime, float], object]] = []

    def now(self) -> datetime:
        with self._lock:
            if self._since is None:
                return self._base
            return self._base + timedelta(seconds=time.monotonic() - self._since)

    def pin(self, instant: datetime) -> None:
        with self._lock:
            self._base, self._since = instant.astimezone(UTC), None

    def run_from(self, instant: datetime) -> None:
        with self._lock:
            self._base, self._since = instant.astimezone(UTC), time.monotonic()
            since = self._since
        for follow in self.followers:
            follow(self._base, since)

    def wall_time_of(self, instant: datetime) -> datetime:
        return instant


@dataclasses.dataclass
class Transition:
    label: str
    lines: int
    verified: int
    prepared: bool
    prepare_wall: float
    prepare_cpu: float
    act_wall: float  # the act pass's call, from its start to its return
    last_verified: float | None  # from the instant to the last verified line's outcome
    lateness: list[float]  # every verified line's, seconds
    cpu: float  # the act pass's controller CPU
    peak_mib: float
    failures: Counter[str]
    prepare_summary: str  # what the prepare says it did
    sessions: Counter[str]  # how the act pass reached its routers (prepared, cold, ...)
    routers: int  # routers with work
    system_cpu: float  # of `cpu`: in the kernel
    unstaged: int = 0  # lines whose unbound bodies the pass deleted after its last router
    lab_cpu: float | None = None  # the lab's processes' CPU over the act pass, where known

    def show(self) -> str:
        late = self.lateness
        pct = (
            f"lateness first {min(late):.2f} s, p50 {percentile(late, 50):.2f} s, "
            f"p99 {percentile(late, 99):.2f} s, max {max(late):.2f} s"
            if late
            else "no line verified"
        )
        lines = [
            f"{self.label}: {self.verified} of {self.lines} lines verified; "
            + (
                f"last verified {self.last_verified:.2f} s after the instant"
                if self.last_verified is not None
                else "none verified"
            ),
            f"  {pct}; act pass {self.act_wall:.2f} s wall, controller CPU {self.cpu:.2f} s "
            f"({self.cpu / max(self.act_wall, 1e-9):.2f} of one core; "
            f"{1000 * self.cpu / max(self.routers, 1):.0f} ms per router; "
            f"{self.system_cpu:.2f} s of it in the kernel), "
            f"peak RSS {self.peak_mib:.0f} MiB",
        ]
        if self.lab_cpu is not None:
            # on a machine the lab shares with the controller, both draw on the same cores
            lines.append(
                f"  lab CPU over the act pass {self.lab_cpu:.2f} s "
                f"({self.lab_cpu / max(self.act_wall, 1e-9):.2f} of one core; "
                f"{1000 * self.lab_cpu / max(self.routers, 1):.0f} ms per router); lab and "
                f"controller together {(self.lab_cpu + self.cpu) / max(self.act_wall, 1e-9):.2f} "
                f"cores"
            )
        if self.prepared:
            lines.append(
                f"  prepare (before the instant, not counted): {self.prepare_wall:.2f} s wall, "
                f"controller CPU {self.prepare_cpu:.2f} s: {self.prepare_summary}"
            )
            reached = ", ".join(f"{n} {how}" for how, n in self.sessions.most_common())
            lines.append(f"  routers reached at the instant: {reached or 'none'}")
            if self.unstaged:
                lines.append(
                    f"  restored lines' leftover objects deleted after the last router (in the act "
                    f"pass's wall, not in the lateness): {self.unstaged} lines"
                )
        else:
            lines.append("  no prepare phase: a cold pass at the instant")
        for error, count in self.failures.most_common(5):
            lines.append(f"  {count} lines not verified: {error}")
        return "\n".join(lines)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def system_cpu_now() -> float:
    """The kernel's share of `cpu_now` (system calls: polls, reads, futexes of thread hand-offs)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def thread_cpu() -> dict[str, float]:
    """This process's CPU seconds by kind of thread: paramiko's transport threads (one per SSH
    session: they read the socket, decrypt and check each packet), the rest (the workers).
    Threads alive now only: compare two readings between which no session closed."""
    import os
    import threading

    ticks = os.sysconf("SC_CLK_TCK")
    kinds = {t.native_id: isinstance(t, paramiko.Transport) for t in threading.enumerate()}
    used = {"transport": 0.0, "other": 0.0}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / ticks
        used["transport" if kinds.get(int(tid)) else "other"] += seconds
    return used


def preparer_class() -> Any:
    """controller.prepare.Preparer, or None while it has not landed."""
    if importlib.util.find_spec("controller.prepare") is None:
        return None
    from controller import prepare

    return getattr(prepare, "Preparer", None)


# --------------------------------------------------------------------------- profiling


class Collections:
    """The cyclic garbage collector's passes while a block runs: how many, of which
    generation, and the wall time they held the interpreter (`gc.callbacks`)."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.count[info["generation"]] += 1
            self.seconds += time.perf_counter() - self._began

    def summary(self) -> str:
        young, middle, old = self.count
        return f"{young}/{middle}/{old} of generations 0/1/2, {self.seconds:.2f} s"


@contextlib.contextmanager
def collected() -> Iterator[Collections]:
    seen = Collections()
    gc.callbacks.append(seen)
    try:
        yield seen
    finally:
        gc.callbacks.remove(seen)


@contextlib.contextmanager
def profiled(path: str | None, tool: str = "cprofile") -> Iterator[None]:
    """The act pass profiled by `tool`: py-spy (sampling, all threads, native stacks left
    out) or cProfile.

    cProfile of this thread and of every thread started meanwhile (the pass's workers),
    merged into one file; timed by each thread's CPU clock, so waits cost nothing in it.
    Threads started before (paramiko's transport threads, one per session) are not in it."""
    if path is None:
        yield
        return
    if tool in ("py-spy", "py-spy-gil"):
        with spied(path, gil_only=tool == "py-spy-gil"):
            yield
        return
    profilers: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start_in_thread(*_: object) -> None:
        profiler = cProfile.Profile(time.thread_time)
        with lock:
            profilers.append(profiler)
        profiler.enable()  # replaces this hook in the new thread

    main = cProfile.Profile(time.thread_time)
    threading.setprofile(start_in_thread)
    main.enable()
    try:
        yield
    finally:
        main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        stats = pstats.Stats(main)
        with lock:
            for profiler in profilers:
                with contextlib.suppress(Exception):
                    profiler.disable()
                    stats.add(profiler)
        stats.dump_stats(path)
        print(f"profile of the act pass written to {path} ({len(profilers)} threads merged)")


@contextlib.contextmanager
def spied(path: str, gil_only: bool = False) -> Iterator[None]:
    """py-spy sampling this process at 100 Hz while the block runs, its collapsed stacks
    (one line per stack and its sample count, threads merged) written to `path`; with
    `gil_only`, only the thread holding the GIL at each sample. py-spy is not a dependency of
    the product: `.venv/bin/pip install py-spy` first."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    command = [spy, "record", "--pid", str(os.getpid()), "--rate", "100", "--format", "raw",
               "--nonblocking", *(["--gil"] if gil_only else []), "--output", path]  # fmt: skip
    sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy attaches before the caller starts the clock and the pass
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)
        try:
            _, errors = sampler.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            sampler.kill()
            _, errors = sampler.communicate()
        if sampler.returncode not in (0, -signal.SIGINT):
            print(f"py-spy failed ({sampler.returncode}): {errors.decode(errors='replace')[-300:]}")
        else:
            print(f"py-spy samples of the act pass written to {path}")


def session_option(variant: str) -> dict[str, str]:
    """The device option a session-layer variant sets: `session: asyncssh`, or none."""
    return {SESSION_OPTION: "asyncssh"} if variant == "asyncssh" else {}


@contextlib.contextmanager
def session_layer(variant: str) -> Iterator[None]:
    """`after`: the session layer as it is (netmiko's); `asyncssh`: the devices' option
    `session: asyncssh` (drivers/async_cli.py); `before`: as it was before its hot-path changes
    (every read parsed, even when its answer is the last one's word for word; netmiko's own
    `read_until_pattern`, sleeping 10 ms between reads, for log-in and log-out; paramiko's
    transport threads waking every 0.1 s when their session is idle)."""
    if variant == "after":
        yield
        return
    if variant == "asyncssh":
        yield  # a device option: set where the run's devices are made (`session_option`)
        return
    if variant != "before":
        raise SystemExit(f"unknown variant {variant!r}: before, after, asyncssh")
    with (
        mock.patch.object(CliDriver, "_parsed", lambda self, answers: self._parse(answers)),
        mock.patch.object(cli, "TRANSPORT_WAKE_SECONDS", paramiko.Transport._active_check_timeout),
        mock.patch.object(
            cli,
            "read_until_pattern",
            lambda connection, *a, **k: type(connection).read_until_pattern(connection, *a, **k),
        ),
    ):
        yield


# --------------------------------------------------------------------------- the product


def lab_cpu_total(lab: Lab) -> float | None:
    """The CPU seconds the lab's worker processes have used so far (None: the lab runs in this
    process, whose CPU is the controller's too)."""
    used = cpu_seconds(lab.pids)
    return sum(sum(times) for times in used.values()) if used else None


def transition(
    label: str,
    instant: datetime,
    clock: BenchClock,
    reconciler: Reconciler,
    lead: timedelta,
    use_prepare: bool,
    prepare_workers: int | None,
    profile: str | None,
    arm: bool = False,
    arm_workers: int | None = None,
    arm_lead: timedelta | None = None,
    lab_cpu: Callable[[], float | None] = lambda: None,
    profiler: str = "cprofile",
) -> Transition:
    prepare_wall = prepare_cpu = 0.0
    summary = ""
    with contextlib.ExitStack() as stack:
        prepared = None
        if arm:
            # the scheduler arms the device-timed cuts starting at the instant a lead before,
            # ahead of its prepare, then the restores there (where a platform arms a window's
            # end apart: Junos)
            from controller import device_timing

            clock.run_from(instant - max(arm_lead or lead, lead))
            kinds = [device_timing.CUT]
            if hasattr(device_timing, "RESTORE"):  # a baseline tree may arm cuts only
                kinds.append(device_timing.RESTORE)
            for kind in kinds:
                cpu, started = cpu_now(), time.perf_counter()
                armed = device_timing.arm(
                    reconciler.store, reconciler.driver_factory, instant, "scheduler",
                    timeout=reconciler.device_timeout,
                    workers=arm_workers or prepare_workers or reconciler.workers,
                    **({"kind": kind} if kind != device_timing.CUT else {}),
                )  # fmt: skip
                if not armed.armed and not armed.fallbacks:
                    continue
                reasons = Counter(armed.fallbacks.values())
                print(
                    f"  {kind}s armed on the devices' clocks: {len(armed.armed)} lines in "
                    f"{time.perf_counter() - started:.2f} s, controller CPU "
                    f"{cpu_now() - cpu:.2f} s; left to controller timing: "
                    f"{len(armed.fallbacks)}"
                    + "".join(f"; {n}: {why}" for why, n in reasons.most_common(3))
                )
            print(f"  {armed_in_time(reconciler.store, instant)}")
        if use_prepare:
            preparer = preparer_class()
            if not arm or clock.now() < instant - lead:  # the wait until the prepare: skipped
                clock.run_from(instant - lead)
            cpu, started = cpu_now(), time.perf_counter()
            prepared = stack.enter_context(
                preparer(reconciler, workers=prepare_workers).prepare(instant)
            )
            prepare_wall, prepare_cpu = time.perf_counter() - started, cpu_now() - cpu
            summary = prepared.summary()
            if prepare_wall > lead.total_seconds():
                print(f"  (the prepare took longer than its lead of {lead.total_seconds():.0f} s)")
        # the profiler starts before the clock runs: py-spy's attaching is no line's lateness
        stack.enter_context(profiled(profile, profiler))
        # the wait until the instant is skipped: the clock is set to it and runs from there
        told = time.perf_counter()
        clock.run_from(instant)
        if clock.followers:
            # the lab's routers hear of the time before the pass starts: a Junos twin runs
            # the commits it makes due then, all counted in every line's lateness
            print(f"  the lab's routers followed the clock to the instant ({label}) in "
                  f"{time.perf_counter() - told:.2f} s (in the lateness)")  # fmt: skip
        collections = stack.enter_context(collected())
        cpu, started, system = cpu_now(), time.perf_counter(), system_cpu_now()
        lab_before = lab_cpu()
        if prepared is not None:
            report: PassReport = reconciler.run_pass(instant, prepared=prepared)  # type: ignore[call-arg]
        else:
            report = reconciler.run_pass(instant)
        act_wall, act_cpu = time.perf_counter() - started, cpu_now() - cpu
        act_system = system_cpu_now() - system
        lab_after = lab_cpu()
        print(f"  garbage collections in the act pass: {collections.summary()}")
        if prepared is not None:
            ahead = getattr(report, "planned_ahead", False)
            print("  the pass followed the plan its prepare made ahead" if ahead else
                  "  the pass read the store and planned at the instant")  # fmt: skip
    clock.pin(clock.now())
    if arm:
        print(f"  {who_cut(reconciler.store, report, restores=instant != NIGHT)}")
    lines_expected = sum(len(b.changes) for b in report.batches)
    late = [
        (r.at - instant).total_seconds() for r in report.results if r.verified and r.at is not None
    ]
    failures = Counter(
        (r.error or "not verified").split(":")[0] for r in report.results if not r.verified
    )
    for skipped in report.skipped:
        failures[f"skipped: {skipped.split(': ', 1)[-1]}"] += 1
    return Transition(
        label,
        lines_expected,
        len(late),
        prepared is not None,
        prepare_wall,
        prepare_cpu,
        act_wall,
        max(late) if late else None,
        late,
        act_cpu,
        peak_mib(),
        failures,
        summary,
        Counter(getattr(report, "sessions", {}).values()),
        len(report.batches),
        act_system,
        len(getattr(report, "unstaged", ())),
        lab_after - lab_before if lab_after is not None and lab_before is not None else None,
    )


def armed_in_time(store: Store, instant: datetime) -> str:
    """How many lines were armed before the instant by the run's clock (the routers' clocks
    follow it), and how many only after it: those cut when armed, not at 00:00:00."""
    from controller.device_timing import armed_windows

    rows = [r for r in armed_windows(store) if r.window_start == instant.astimezone(UTC)]
    late = sum(1 for r in rows if r.armed_at >= r.window_start)
    last = max((r.armed_at for r in rows), default=None)
    wall = f"{instant:%H:%M}"
    said = f"armed before {wall} by the run's clock: {len(rows) - late} lines, after it: {late}"
    if last is not None and not late:
        said += f"; the last {(instant - last).total_seconds():.1f} s before {wall}"
    return said


def who_cut(store: Store, report: PassReport, restores: bool = False) -> str:
    """Of the pass's verified cuts (or restores): found in force with nothing sent, the
    device's evidence saying its own clock made them (armed before the instant: in force at
    00:00:00, or 08:00:00), and made by the pass's own commands."""
    # a restore that found nothing to remove is recorded as the verification it was
    actions = ("restore", "verify") if restores else ("cut",)
    outcomes = [
        c
        for c in store.changes(
            ChangeFilter(since=report.at, kinds=("outcome",), limit=10 * len(report.results) + 10)
        )
        if c.pass_id == report.pass_id and c.action in actions and c.verified
    ]
    by_clock = sum(
        1 for c in outcomes if not c.commands and any(mark in c.output for mark in EVIDENCE_MARKS)
    )
    pushed = sum(1 for c in outcomes if c.commands)
    what, done = ("restores", "restored") if restores else ("cuts", "cut")
    return (
        f"of the {len(outcomes)} verified {what}: {by_clock} found in force by the routers' own "
        f"clocks (nothing sent, the router's evidence recorded), {pushed} {done} by the pass, "
        f"{len(outcomes) - by_clock - pushed} otherwise found {'open' if restores else 'cut'}"
    )


# --------------------------------------------------------------------------- floors


def in_parallel(work: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return list(pool.map(work, items))


def cold_floor(store: Store, workers: int) -> tuple[float, int]:
    """Connect, enable, read the owned objects once, disconnect: every router."""

    def one(device: Any) -> bool:
        try:
            with connect_driver(device, 60) as driver:
                driver.read()
            return True
        except DriverError:
            return False

    devices = store.devices()
    started = time.perf_counter()
    done = in_parallel(one, devices, workers)
    return time.perf_counter() - started, sum(done)


def warm_floor(store: Store, workers: int) -> tuple[float, int]:
    """One read of the owned objects on sessions opened beforehand (not timed)."""
    devices = store.devices()
    drivers = [connect_driver(device, 60) for device in devices]
    try:
        in_parallel(lambda d: d.open(), drivers, workers)

        def one(driver: Any) -> bool:
            try:
                driver.read()
                return True
            except DriverError:
                return False

        started = time.perf_counter()
        done = in_parallel(one, drivers, workers)
        return time.perf_counter() - started, sum(done)
    finally:
        in_parallel(lambda d: d.close(), drivers, workers)


# --------------------------------------------------------------------------- naive baseline


def naive_commands(line_id: int, interface: str, v4: Any, v6: Any) -> list[str]:
    """What a hand-written script would push for one line (the product's IOS shape)."""
    return [
        f"ip access-list extended CURFEW-L{line_id}",
        f"deny ip {v4.network_address} {v4.hostmask} any",
        f"deny ip any {v4.network_address} {v4.hostmask}",
        "permit ip any any",
        "exit",
        f"ipv6 access-list CURFEW6-L{line_id}",
        f"deny ipv6 {v6} any",
        f"deny ipv6 any {v6}",
        "permit ipv6 any any",
        "exit",
        f"interface {interface}",
        f"ip access-group CURFEW-L{line_id} in",
        f"ip access-group CURFEW-L{line_id} out",
        f"ipv6 traffic-filter CURFEW6-L{line_id} in",
        f"ipv6 traffic-filter CURFEW6-L{line_id} out",
        "exit",
    ]


def naive_baseline(lab: Lab, store: Store, threads: int) -> tuple[float, int, int]:
    """One stock netmiko session per line: log in, enable, send_config_set, read back."""
    from netmiko import ConnectHandler

    snap = store.snapshot()
    jobs = []
    for ref in snap.lines:
        target = snap.targets[ref.line_id]
        device = snap.devices[ref.device_id]
        v4 = next(p for p in target.prefixes if p.version == 4)
        v6 = next(p for p in target.prefixes if p.version == 6)
        jobs.append(
            (
                lab.connection(device.name),
                naive_commands(ref.line_id, target.interface, v4, v6),
                ref.line_id,
                target.interface,
            )
        )

    def one(job: tuple[dict[str, Any], list[str], int, str]) -> bool:
        params, commands, line_id, interface = job
        try:
            connection = ConnectHandler(**params, conn_timeout=60, timeout=60)
            try:
                connection.enable()
                connection.send_config_set(commands)
                shown = connection.send_command(f"show running-config interface {interface}")
            finally:
                connection.disconnect()
        except Exception:  # noqa: BLE001 - a failed line is counted, not raised
            return False
        return f"ip access-group CURFEW-L{line_id} in" in shown

    started = time.perf_counter()
    done = in_parallel(one, jobs, threads)
    return time.perf_counter() - started, sum(done), len(jobs)


# --------------------------------------------------------------------------- the run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--routers", type=int, default=100, help="router twins")
    parser.add_argument(
        "--platform",
        choices=tuple(ZONE_LINES),
        default="cisco_ios",
        help="the routers' platform (the naive baseline is IOS's only)",
    )
    parser.add_argument("--lines", type=int, default=10, help="venue lines per router")
    parser.add_argument("--latency-ms", type=int, default=10, help="added to every command")
    parser.add_argument(
        "--timing",
        choices=("controller", "device"),
        default="controller",
        help="who enforces the 00:00 cut: the controller's pass, or the routers' own clocks",
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--prepare-lead", type=float, default=120.0, help="seconds before the instant"
    )
    parser.add_argument(
        "--arm-lead",
        type=float,
        default=None,
        help="with --timing device: seconds before the instant the cuts are armed (default: the "
        "prepare lead; never after the prepare)",
    )
    parser.add_argument(
        "--arm-workers", type=int, default=None, help="device timing's (default: the prepare's)"
    )
    parser.add_argument("--no-prepare", action="store_true", help="cold passes at the instants")
    parser.add_argument(
        "--lab-processes", type=int, default=default_processes(), help="0: in this process"
    )
    parser.add_argument(
        "--workers", type=int, default=32, help="the reconciler's workers (and the floors')"
    )
    parser.add_argument(
        "--prepare-workers", type=int, default=None, help="the prepare's (default: --workers)"
    )
    parser.add_argument("--naive-threads", type=int, default=100, help="the naive script's")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--no-floors", action="store_true", help="skip the cold and warm floors")
    parser.add_argument(
        "--profile", default=None, help="cProfile of the 00:00 act pass (FILE-restore: 08:00's)"
    )
    parser.add_argument(
        "--profiler",
        choices=("cprofile", "py-spy", "py-spy-gil"),
        default="cprofile",
        help="what --profile records: cProfile, or py-spy's sampled stacks (collapsed), of "
        "every thread or (py-spy-gil) of the one holding the GIL",
    )
    parser.add_argument(
        "--session-layer",
        choices=("after", "before", "asyncssh"),
        default="after",
        help="the CLI session layer as it is, as before its hot-path changes, or over asyncssh",
    )
    parser.add_argument(
        "--keepalive",
        type=int,
        default=None,
        help="the devices' keepalive option, seconds (0: none; without it the drivers' 15 s)",
    )
    args = parser.parse_args()
    with session_layer(args.session_layer):
        run(args)


def run(args: argparse.Namespace) -> None:

    device_timing = args.timing == "device"
    if device_timing and importlib.util.find_spec("controller.device_timing") is None:
        sys.exit(
            "--timing device: not available: controller/device_timing.py (the device "
            "timing of IOS) is not in this tree, so no device can be trusted to "
            "enforce the window on its own clock; run with --timing controller"
        )
    use_prepare = not args.no_prepare
    if use_prepare and preparer_class() is None:
        print(
            "prepare: not available (controller/prepare.py has not landed): the passes at "
            "00:00 and 08:00 are cold passes"
        )
        use_prepare = False

    if args.session_layer == "asyncssh" and "asyncssh" not in session_layers(args.platform):
        sys.exit(f"--session-layer asyncssh: not offered on {args.platform}")
    specs, inventory = city(args.routers, args.lines, platforms=(args.platform,))
    specs = [dataclasses.replace(s, latency_ms=args.latency_ms) for s in specs]
    if device_timing:
        # every router opts in (below), its clock NTP-synchronised (the city's routers have an
        # NTP server) and in the venues' offset: China Standard Time, no summer time
        zone = ZONE_LINES[args.platform]
        specs = [dataclasses.replace(s, config=(*s.config, zone)) for s in specs]
    lead = timedelta(seconds=args.prepare_lead)
    with contextlib.ExitStack() as stack:
        started = time.perf_counter()
        lab = stack.enter_context(Lab(specs, processes=args.lab_processes))
        print(
            f"lab: {args.routers} {args.platform} twins x {args.lines} lines, {args.latency_ms} "
            f"ms per "
            f"command, {lab.processes or 'no'} worker processes, session layer "
            f"{args.session_layer!r} "
            f"(started in {time.perf_counter() - started:.1f} s)"
        )
        url = database_url(stack, args.database)
        clock = BenchClock(NIGHT - timedelta(hours=2))
        if device_timing:
            clock.followers.append(lambda instant, since: follow_clock(lab, instant, since))
        # the lab inventory's inline passwords are stored encrypted: with a key of this run
        keys = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        generate_key(keys / "secrets.key")
        store = Store.open(url, clock=clock, vault=Vault(key=load_key(keys / "secrets.key")))
        stack.callback(store.close)
        started = time.perf_counter()
        filled = lab.inventory(inventory)
        for device in filled["devices"]:
            device["options"] = {
                **({"timing": "device"} if device_timing else {}),
                **session_option(args.session_layer),
                **({"keepalive": str(args.keepalive)} if args.keepalive is not None else {}),
            }
        import_document(store, filled, "bench city")
        order_every_venue(store)
        print(
            f"store: {args.database}; inventory and {args.routers * args.lines} orders in "
            f"{time.perf_counter() - started:.1f} s"
        )
        reconciler = Reconciler(store, workers=args.workers, device_timeout=60)
        # the evening pass learns every line's state (all open), as a running controller has
        arm_lead = timedelta(seconds=args.arm_lead or 0)
        clock.pin(NIGHT - max(lead, arm_lead) - timedelta(minutes=5))
        started = time.perf_counter()
        evening = reconciler.run_pass(clock.now())
        print(
            f"evening pass: {sum(r.verified for r in evening.results)} lines read in "
            f"{time.perf_counter() - started:.1f} s"
        )
        # a line the evening could not read: which router, and why (each one said)
        for result in evening.results:
            if not result.verified:
                line = result.change.line_id
                print(f"  not read: line {line} on {result.device}: {result.error}")
        for skipped in evening.skipped:
            print(f"  skipped: {skipped}")
        lab_cpu_before = cpu_seconds(lab.pids)

        # what every pass reads first, before it plans and pushes anything: part of each
        # line's lateness
        started = time.perf_counter()
        store.snapshot()
        took = time.perf_counter() - started
        print(f"one snapshot of the store (what a pass plans from): {took:.2f} s")
        results = []
        for label, instant in (("cut at 00:00", NIGHT), ("restore at 08:00", MORNING)):
            clock.pin(instant - lead - timedelta(minutes=1))
            profile = args.profile and args.profile + ("" if instant == NIGHT else "-restore")
            done = transition(
                label, instant, clock, reconciler, lead, use_prepare, args.prepare_workers,
                profile, device_timing, args.arm_workers,
                timedelta(seconds=args.arm_lead) if args.arm_lead is not None else None,
                lambda: lab_cpu_total(lab), args.profiler,
            )  # fmt: skip
            results.append(done)
            print(done.show(), flush=True)
        lab_cpu = cpu_seconds(lab.pids)
        if lab_cpu:
            used = [sum(lab_cpu[pid]) - sum(lab_cpu_before.get(pid, (0.0, 0.0))) for pid in lab_cpu]
            print(
                f"lab CPU over both transitions (prepare included): {sum(used):.1f} s, "
                f"busiest process {max(used):.1f} s"
            )

        cut = results[0]
        figures: list[tuple[str, float]] = []
        if not args.no_floors:
            wall, ok = cold_floor(store, args.workers)
            print(
                f"cold floor: {ok} of {args.routers} routers in {wall:.2f} s "
                f"({args.workers} workers)"
            )
            figures.append(("cold floor", wall))
            wall, ok = warm_floor(store, args.workers)
            print(
                f"warm floor: {ok} of {args.routers} routers in {wall:.2f} s "
                f"({args.workers} workers)"
            )
            figures.append(("warm floor", wall))
        if not args.no_naive and args.platform != "cisco_ios":
            print(f"naive baseline: IOS's only, not run on {args.platform}")
        elif not args.no_naive:
            wall, ok, total = naive_baseline(lab, store, args.naive_threads)
            print(
                f"naive baseline: {ok} of {total} lines cut and read back in {wall:.2f} s "
                f"({args.naive_threads} threads, one netmiko session per line)"
            )
            figures.append(("naive baseline", wall))
        if cut.last_verified is not None:
            for name, wall in figures:
                print(
                    f"cut ({cut.last_verified:.2f} s) vs {name} ({wall:.2f} s): "
                    f"{wall / cut.last_verified:.2f}x faster"
                    if name == "naive baseline"
                    else f"cut ({cut.last_verified:.2f} s) vs {name} ({wall:.2f} s): "
                    f"{cut.last_verified / wall:.2f}x the floor"
                )
        print(f"controller peak RSS {peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
