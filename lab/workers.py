"""A lab's devices spread over worker processes, so that the lab's CPU is not one core's.

Each worker is a spawned process running its share of the devices in a `Lab` of its own (one
asyncio loop) on their own loopback ports; the parent talks to it over a pipe: what a test asks
of a device (its configuration, its faults) is forwarded to the worker that runs it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.topology import DeviceSpec
    from lab.twin import Reply

# spawn, not fork: the parent has threads (netmiko's, the test runner's), and a forked child
# would inherit their locks mid-use
_CONTEXT = multiprocessing.get_context("spawn")


class WorkerError(RuntimeError):
    """A worker process failed to start, died, or did not answer in time."""


class Worker:
    """The parent's handle on one worker process and the devices it runs."""

    def __init__(self, specs: Sequence[DeviceSpec], host: str, index: int) -> None:
        self.names = [spec.name for spec in specs]
        self._pipe, child_end = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(
            target=serve_share,
            args=(child_end, list(specs), host),
            name=f"curfew-lab-{index}",
            daemon=True,
        )
        self._child_end = child_end
        self._lock = threading.Lock()  # one request at a time on the pipe
        self._asked = 0  # requests sent: an answer that comes too late is told by its number
        self.ports: dict[str, int] = {}

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self) -> None:
        self._process.start()
        self._child_end.close()  # the child holds its end: EOF here means it is gone

    def wait_started(self, deadline: float) -> None:
        """Wait for the worker to listen on every port (or to say why it cannot)."""
        self.ports = self._receive(0, deadline, "start")

    def ask(self, request: tuple[Any, ...], timeout: float = 10.0) -> Any:
        with self._lock:
            self._asked += 1
            try:
                self._pipe.send((self._asked, *request))
            except (OSError, ValueError) as exc:
                raise WorkerError(f"lab worker {self.pid} is gone: {exc}") from None
            return self._receive(self._asked, time.monotonic() + timeout, request[0])

    def _receive(self, number: int, deadline: float, what: str) -> Any:
        """The answer to request `number` (0: the start); older answers are dropped."""
        while True:
            try:
                if not self._pipe.poll(max(0.0, deadline - time.monotonic())):
                    raise WorkerError(f"lab worker {self.pid} did not answer {what!r} in time")
                answered, status, value = self._pipe.recv()
            except (EOFError, OSError) as exc:
                code = self._process.exitcode
                raise WorkerError(
                    f"lab worker {self.pid} is gone (exit code {code}): {exc}"
                ) from None
            if answered == number:
                break
        if status == "error":
            raise value
        return value

    def request_stop(self) -> None:
        """Ask the worker to close its devices and exit; stop() waits for it."""
        try:
            with self._lock:
                self._pipe.send((0, "stop"))
        except (OSError, ValueError):
            pass

    def stop(self, deadline: float) -> None:
        """Wait for the worker to exit, then end it by its PID: SIGTERM, then SIGKILL."""
        process = self._process
        if process.pid is not None:  # started
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(2)
            if process.is_alive():
                process.kill()
                process.join(2)
        self._pipe.close()


class RemoteRouter:
    """A device model living in a worker process: what tests use of a model, forwarded."""

    def __init__(self, worker: Worker, name: str) -> None:
        self._worker = worker
        self.name = name

    def _call(self, method: str, *args: Any) -> Any:
        return self._worker.ask(("router", self.name, method, args))

    def running_config(self) -> str:
        return self._call("running_config")

    @property
    def startup_config(self) -> str:
        return self._call("startup_config")

    def configure(self, lines: Sequence[str]) -> None:
        self._call("configure", list(lines))

    def execute(self, line: str) -> Reply:
        """Run one line on the device's console session (CLI twins)."""
        return self._call("execute", line)


# --------------------------------------------------------------------------- in the worker


def serve_share(pipe: Connection, specs: list[DeviceSpec], host: str) -> None:
    """A worker's life: start its devices, answer the parent's requests, stop when told to,
    when the parent goes away, or on SIGTERM."""
    from lab.topology import Lab

    # Ctrl-C in a terminal reaches the whole process group: the parent decides when to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    lab = Lab(specs, host)
    try:
        try:
            lab.start()
        except Exception as exc:  # noqa: BLE001 - the parent reports it
            pipe.send((0, "error", _portable(exc)))
            return
        pipe.send((0, "ok", {spec.name: spec.port for spec in lab.specs}))
        while True:
            try:
                number, *request = pipe.recv()
            except (EOFError, OSError):
                return  # the parent is gone
            if request[0] == "stop":
                return
            try:
                answer = (number, "ok", _answer(lab, tuple(request)))
            except Exception as exc:  # noqa: BLE001 - raised again in the parent
                answer = (number, "error", _portable(exc))
            pipe.send(answer)
    except SystemExit:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        lab.stop()
        pipe.close()


def _answer(lab: Any, request: tuple[Any, ...]) -> Any:
    kind, name, *rest = request
    if kind == "follow_clock":
        instant, since = rest
        return follow_clock(lab, instant, since)
    if kind == "set_fault":
        (changes,) = rest
        return lab.set_fault(name, **changes)
    if kind == "faults":
        return lab.faults(name)
    if kind in ("sessions_opened", "passwords_offered", "keepalives"):
        return getattr(lab, kind)(name)
    if kind == "router":
        method, args = rest
        if method.startswith("_"):
            raise AttributeError(method)
        value = getattr(lab.router(name), method)
        return value(*args) if callable(value) else value
    raise ValueError(f"unknown lab request {kind!r}")


class PacedClock:
    """A device's true time that reads `instant` at `since` (time.monotonic(), the same in
    every process of the machine) and moves at the real pace from there."""

    def __init__(self, instant: datetime, since: float) -> None:
        self.instant, self.since = instant, since

    def __call__(self) -> datetime:
        return self.instant + timedelta(seconds=time.monotonic() - self.since)


def follow_clock(lab: Any, instant: datetime, since: float) -> int:
    """Give every device of the lab that keeps a clock (`clock`, the true time its own clock is
    set off) a clock reading `instant` at monotonic time `since`, moving at the real pace: a
    benchmark's controller clock that jumps to an instant and runs from it, followed by the
    devices of a lab in this process or in its worker processes. Returns how many follow."""
    workers = getattr(lab, "_workers", [])
    if workers:
        # every process at once: a Junos twin runs the commits its clock makes due as it hears
        # of it, and routers commit side by side, not one process after another
        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            asked = pool.map(lambda w: w.ask(("follow_clock", None, instant, since)), workers)
            return sum(asked)
    following = 0
    for spec in lab.specs:
        router = lab.router(spec.name)
        clock = getattr(router, "clock", None)
        if clock is None:
            continue
        if hasattr(clock, "follow"):  # the Junos twin's lab clock, its commit timers with it
            clock.follow(PacedClock(instant, since))
        else:
            router.clock = PacedClock(instant, since)
        following += 1
    return following


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it crosses a pipe intact, else a RuntimeError saying it."""
    kind = type(exc)
    if kind.__module__ == "builtins":
        return exc
    return RuntimeError(f"{kind.__name__}: {exc}")


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def default_processes() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
