"""What the end-to-end tests share for the processes they start: a free loopback port, a
bounded wait, and stopping a process by its PID."""

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
