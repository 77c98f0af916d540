"""Benchmark: the lab's own CPU under a city's cut, so that it never caps the controller's
benchmarks. Each router gets the session a real driver runs for a K-line cut, replayed.

Run: .venv/bin/python -m tests.benchmarks.bench_lab [--routers 1000] [--lines 10]
     [--latency-ms 10] [--processes N] [--platforms cisco_ios,huawei_vrp] [--concurrency 50]
     [--profile lab.prof]

First the real driver (`drivers.registry.driver_for`) cuts every line of one router of each
platform, and the lines its session sends are recorded with the prompt each one ends on and
the way they were written (a window of config commands at once). Then a lab of `--routers`
routers starts in a process of its own (spread over `--processes` worker processes; without
the option, in that one process) and paramiko clients (netmiko's transport, so the lab
negotiates the ciphers a driver's session costs it) replay that session on every router,
`--concurrency` at once. Printed: the lab's CPU seconds (user + system of the lab's
processes, read from /proc) spent on the replay alone, those of its busiest process (what
caps the wall time), the wall time, and failed sessions.
`--profile FILE` (with `--processes 0`) writes the lab loop's cProfile for the replay.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import inspect
import multiprocessing
import os
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import ip_network
from multiprocessing.connection import Connection
from typing import Any
from unittest import mock

import paramiko

from drivers.base import Batch, Credentials, LineTarget
from drivers.registry import driver_for
from lab.ssh import LineSplitter
from lab.topology import DeviceSpec, Lab, city

CLI_PLATFORMS = ("cisco_ios", "huawei_vrp", "h3c_comware", "juniper_junos")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Step:
    line: str
    prompt: str  # what the router's answer ends with (its hostname written as {host})
    close: bool


@dataclass(frozen=True)
class Session:
    greeting: str
    # the lines as the driver wrote them: a window of config commands goes in one write
    writes: tuple[tuple[Step, ...], ...]

    @property
    def lines(self) -> int:
        return sum(len(write) for write in self.writes)


# --------------------------------------------------------------------------- recording


class _Recorder:
    """A twin session that notes every line it is given and the prompt it answers with."""

    def __init__(self, session: Any, writes: list[list[Step]], hostname: str) -> None:
        self._session = session
        self._writes = writes
        self._hostname = hostname

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def _note(self, line: str, reply: Any) -> Any:
        prompt = reply.prompt.replace(self._hostname, "{host}")
        self._writes[-1].append(Step(line, prompt, reply.close))
        return reply

    def execute(self, line: str) -> Any:
        return self._note(line, self._session.execute(line))

    def reject(self, line: str) -> Any:
        return self._note(line, self._session.reject(line))


def record(platform: str, lines: int) -> Session:
    """The session the platform's driver runs to cut every line of a fresh city router."""
    specs, inventory = city(1, lines, platforms=(platform,))
    writes: list[list[Step]] = []
    feed = LineSplitter.feed

    def feed_noting_writes(splitter: LineSplitter, data: str) -> list[str]:
        # one read of the session's input: the lines the driver wrote at once
        writes.append([])
        return feed(splitter, data)

    with Lab(specs) as lab, mock.patch.object(LineSplitter, "feed", feed_noting_writes):
        router = lab.router("R1")
        opened: list[_Recorder] = []
        open_session = router.open_session

        def recording_session() -> _Recorder:
            session = _Recorder(open_session(), writes, "R1")
            opened.append(session)
            return session

        router.open_session = recording_session
        spec = lab.specs[0]
        credentials = Credentials(
            host=lab.host,
            port=spec.port,
            username=spec.username,
            password=spec.password,
            secret=spec.secret,
            host_key=spec.host_key,
        )
        cuts = tuple(
            LineTarget(i, entry["interface"], tuple(ip_network(p) for p in entry["prefixes"]))
            for i, entry in enumerate(inventory["lines"], 1)
        )
        driver = driver_for(platform)("R1", credentials)
        with driver:
            result = driver.apply(Batch(cuts=cuts, restores=()))
        if any(outcome.error for outcome in result.outcomes):
            raise RuntimeError(f"{platform}: the recorded cut failed: {result}")
        if len(opened) != 1:
            raise RuntimeError(f"{platform}: the driver opened {len(opened)} sessions, not one")
        # what a new session shows before its first line
        greeting = open_session().prompt.replace("R1", "{host}")
    return Session(greeting, tuple(tuple(write) for write in writes if write))


# --------------------------------------------------------------------------- the lab's process


def _lab_host(conn: Connection, specs: list[DeviceSpec], processes: int | None) -> None:
    """Run the lab until told to stop; report ports and PIDs, profile on request."""
    kwargs = {} if processes is None else {"processes": processes}
    lab = Lab(specs, **kwargs).start(timeout=600)
    profiler: cProfile.Profile | None = None
    try:
        pids = list(getattr(lab, "pids", [])) + [os.getpid()]
        conn.send(({s.name: s.port for s in lab.specs}, pids))
        while True:
            message, argument = conn.recv()
            loop = getattr(lab, "_loop", None)
            if message == "profile" and loop is not None:
                profiler = cProfile.Profile()
                asyncio.run_coroutine_threadsafe(_enable(profiler), loop).result(10)
                conn.send(None)
            elif message == "dump" and profiler is not None and loop is not None:
                asyncio.run_coroutine_threadsafe(_disable(profiler), loop).result(10)
                profiler.dump_stats(argument)
                conn.send(None)
            elif message == "stop":
                break
            else:
                conn.send(None)
    finally:
        lab.stop()
        conn.send("stopped")


async def _enable(profiler: cProfile.Profile) -> None:
    profiler.enable()  # in the loop's thread: cProfile profiles the thread it is enabled in


async def _disable(profiler: cProfile.Profile) -> None:
    profiler.disable()


def cpu_seconds(pids: Sequence[int]) -> dict[int, tuple[float, float]]:
    """User and system CPU seconds each process has used so far."""
    used = {}
    for pid in pids:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        used[pid] = (int(fields[11]) / _TICKS, int(fields[12]) / _TICKS)
    return used


# --------------------------------------------------------------------------- the clients


def replay(port: int, host: str, spec: DeviceSpec, session: Session, timeout: float) -> str | None:
    """One router's session over paramiko (netmiko's transport), line by line, each answer
    awaited; None when it all went well."""
    transport: paramiko.Transport | None = None
    try:
        transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout))
        transport.start_client(timeout=timeout)
        transport.auth_password(spec.username, spec.password)
        channel = transport.open_session(timeout=timeout)
        channel.get_pty(term="vt100", width=511, height=24)
        channel.invoke_shell()
        channel.settimeout(timeout)
        buffer = ""

        def until(endings: Sequence[str]) -> None:
            """Read until each answer has come, in order, ending on its prompt."""
            nonlocal buffer
            at = 0
            for ending in endings:
                while (found := buffer.find(ending, at)) < 0:
                    data = channel.recv(65536)
                    if not data:
                        raise ConnectionError(f"closed while waiting for {ending!r}")
                    buffer += data.decode("utf-8", "replace")
                at = found + len(ending)
            buffer = buffer[at:]

        until([session.greeting.format(host=host)])
        for write in session.writes:
            channel.sendall("".join(step.line + "\n" for step in write).encode())
            if write[-1].close:
                while channel.recv(65536):
                    pass
                return None
            until([step.prompt.format(host=host) for step in write])
        channel.close()
    except (OSError, paramiko.SSHException, ConnectionError) as exc:
        return f"{spec.name}: {type(exc).__name__}: {exc}"
    finally:
        if transport is not None:
            transport.close()
    return None


def replay_all(
    specs: list[DeviceSpec],
    ports: dict[str, int],
    sessions: dict[str, Session],
    concurrency: int,
    timeout: float,
) -> list[str]:
    with ThreadPoolExecutor(concurrency) as pool:
        results = pool.map(
            lambda s: replay(ports[s.name], s.name, s, sessions[s.platform], timeout), specs
        )
        return [r for r in results if r is not None]


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--routers", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=10, help="venue lines per router")
    parser.add_argument("--latency-ms", type=int, default=10, help="per command")
    parser.add_argument(
        "--processes", type=int, default=None, help="lab worker processes (0: one process)"
    )
    parser.add_argument("--platforms", default="cisco_ios", help="comma-separated CLI platforms")
    parser.add_argument("--concurrency", type=int, default=50, help="sessions at once")
    parser.add_argument("--timeout", type=float, default=120.0, help="per session step, seconds")
    parser.add_argument("--profile", help="write the lab loop's cProfile here (one process)")
    args = parser.parse_args()
    platforms = tuple(args.platforms.split(","))
    unknown = set(platforms) - set(CLI_PLATFORMS)
    if unknown:
        parser.error(f"not SSH CLI platforms: {', '.join(sorted(unknown))}")
    # the lab before issue 10 (BENCHMARKS.md compares against it) has no worker processes
    takes_processes = "processes" in inspect.signature(Lab).parameters
    if args.processes is not None and not takes_processes:
        parser.error("this lab has no --processes")

    sessions = {platform: record(platform, args.lines) for platform in platforms}
    for platform, session in sessions.items():
        print(f"{platform}: {session.lines} lines per session in {len(session.writes)} writes")
    specs, _ = city(args.routers, args.lines, platforms=platforms)
    specs = [dataclasses.replace(s, latency_ms=args.latency_ms) for s in specs]

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    # not a daemon: a daemonic process may not start the lab's worker processes
    host = context.Process(target=_lab_host, args=(theirs, specs, args.processes), name="lab")
    host.start()
    theirs.close()  # the lab's process holds it: EOF here means that process is gone
    try:
        if not ours.poll(600):
            raise TimeoutError("the lab did not start within 600 s")
        ports, pids = ours.recv()
        if args.profile:
            ours.send(("profile", None))
            ours.recv()
        before = cpu_seconds(pids)
        started = time.perf_counter()
        failures = replay_all(specs, ports, sessions, args.concurrency, args.timeout)
        wall = time.perf_counter() - started
        after = cpu_seconds(pids)
        user = sum(after[pid][0] - before[pid][0] for pid in pids)
        system = sum(after[pid][1] - before[pid][1] for pid in pids)
        busiest = max(sum(after[pid]) - sum(before[pid]) for pid in pids)
        if args.profile:
            ours.send(("dump", args.profile))
            ours.recv()
        ours.send(("stop", None))
        ours.poll(120) and ours.recv()
    finally:
        host.join(30)
        if host.is_alive():
            host.kill()
            host.join(5)
    processes = "one process" if args.processes in (None, 0) else f"{args.processes} processes"
    print(
        f"{args.routers} routers x {args.lines} lines ({','.join(platforms)}), "
        f"{args.latency_ms} ms per command, lab in {processes}: "
        f"lab CPU {user + system:.1f} s (user {user:.1f}, system {system:.1f}; "
        f"busiest process {busiest:.1f}), wall {wall:.1f} s, failed sessions {len(failures)}"
    )
    for failure in failures[:5]:
        print(f"  {failure}")


if __name__ == "__main__":
    main()
