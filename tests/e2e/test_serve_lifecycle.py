"""`curfew serve` as an operator meets it: it will not run unsigned without saying so, a busy
port is one line and an exit within seconds, and SIGTERM stops it within a bounded time — also
in the middle of a pass, which is then abandoned in a recorded way.

Every process is a real `curfew serve` on a real SQLite store, stopped by its PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lab.topology import Lab, city
from tests.conftest import ADMIN_TOKEN
from tests.e2e.processes import free_port, issue_orders, stop, wait_until

pytestmark = pytest.mark.lab

CURFEW = [str(Path(sys.executable).with_name("curfew"))]  # the installed console script
HANG_BOUND = 30  # seconds: a stop that takes longer is a hang, not a slow stop
BUSY_PORT_BOUND = 10





def records(db: Path) -> list[tuple[int, str, str, int | None, str]]:
    """(seq, kind, action, line_id, detail) of every change record, read straight from SQLite."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as connection:
        return connection.execute(
            "SELECT seq, kind, action, line_id, detail FROM changes ORDER BY seq"
        ).fetchall()


@pytest.fixture
def place(tmp_path: Path) -> dict:
    db = tmp_path / "curfew.db"
    env = dict(
        os.environ,
        CURFEW_DATABASE_URL=f"sqlite:///{db}",
        CURFEW_ADMIN_TOKEN=ADMIN_TOKEN,
        PYTHONUNBUFFERED="1",
    )
    env.pop("CURFEW_SIGNING_KEY_FILE", None)
    return {"db": db, "env": env, "dir": tmp_path}


def signed(place: dict) -> dict[str, str]:
    key = place["dir"] / "key.pem"
    if not key.exists():
        made = subprocess.run(
            [*CURFEW, "audit", "keygen", "--out", str(key)],
            env=place["env"], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    return dict(place["env"], CURFEW_SIGNING_KEY_FILE=str(key))


def started(env: dict[str, str], port: int, *extra: str, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [*CURFEW, "serve", "--port", str(port), *extra],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_healthy(server: subprocess.Popen, port: int, log: Path) -> None:
    def healthy() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"curfew serve exited {server.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, 60, "curfew serve to answer /healthz")


def terminated(server: subprocess.Popen) -> tuple[int, float]:
    """Send SIGTERM; the exit status and the seconds it took (a hang fails the test)."""
    asked = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout=HANG_BOUND)
    except subprocess.TimeoutExpired:
        stop(server)
        raise AssertionError(
            f"curfew serve did not stop within {HANG_BOUND} s of SIGTERM"
        ) from None
    return code, time.monotonic() - asked


# -- signing on by default ---------------------------------------------------------------------


def test_serve_without_a_signing_key_refuses_and_says_how_to_make_one(place: dict):
    port = free_port()
    refused = subprocess.run(
        [*CURFEW, "serve", "--port", str(port)],
        env=place["env"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stdout + refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert "curfew audit keygen --out key.pem" in line and "--no-checkpoints" in line
    assert not place["db"].exists(), "nothing was started, not even the store"

    # following the line's own advice is enough to start
    log = place["dir"] / "serve.log"
    server = started(signed(place), port, log=log)
    try:
        wait_healthy(server, port, log)
    finally:
        stop(server)


def test_serve_with_no_checkpoints_says_so_and_logs_it(place: dict):
    port = free_port()
    log = place["dir"] / "serve.log"
    server = started(place["env"], port, "--no-checkpoints", log=log)
    try:
        wait_healthy(server, port, log)
        code, _ = terminated(server)
    finally:
        stop(server)
    assert code == 0, log.read_text()
    assert "checkpoints are OFF" in log.read_text()
    [(_, kind, _, _, detail)] = [r for r in records(place["db"]) if r[2] == "checkpoints_disabled"]
    assert kind == "admin" and "--no-checkpoints" in json.loads(detail)["why"]


# -- a busy port -------------------------------------------------------------------------------


def test_serve_on_a_port_in_use_exits_within_seconds_with_one_line(place: dict):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        began = time.monotonic()
        server = subprocess.Popen(
            [*CURFEW, "serve", "--port", str(port)],
            env=signed(place), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            out, err = server.communicate(timeout=BUSY_PORT_BOUND)
        except subprocess.TimeoutExpired:
            stop(server)
            raise AssertionError(
                f"serve on a busy port still ran after {BUSY_PORT_BOUND} s"
            ) from None
        took = time.monotonic() - began
    assert server.returncode not in (0, None) and took < BUSY_PORT_BOUND
    assert err.strip() == f"error: port {port} on 127.0.0.1 is in use", err
    assert "Traceback" not in out + err
    assert not place["db"].exists(), "no store opened, no scheduler started, no pass run"


# -- SIGTERM -----------------------------------------------------------------------------------


def test_sigterm_stops_serve_with_status_zero(place: dict):
    port = free_port()
    log = place["dir"] / "serve.log"
    server = started(signed(place), port, log=log)
    try:
        wait_healthy(server, port, log)
        code, took = terminated(server)
    finally:
        stop(server)
    assert code == 0, log.read_text()
    assert took < HANG_BOUND
    assert log.read_text().rstrip().endswith("stopped")


@pytest.fixture
def slow_router(place: dict) -> Iterator[Lab]:
    """One lab router, imported, that answers a pass's reads and then hangs at its first
    change (`configure terminal`), the session kept up: a pass stuck mid-push, its intents
    written (they are written just before the first command that may change the router)."""
    specs, inventory = city(devices=1, lines_per_device=2)
    with Lab(specs) as lab:
        inventory_file = lab.write_inventory(inventory, place["dir"] / "lab.yaml")
        imported = subprocess.run(
            [*CURFEW, "inventory", "import", str(inventory_file)],
            env=place["env"], capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert imported.returncode == 0, imported.stdout + imported.stderr
        # a cut for the start-up pass to push
        issue_orders(place["env"]["CURFEW_DATABASE_URL"], "disconnect", venues=1)
        lab.set_fault(specs[0].name, mute_on=(r"^conf",))
        yield lab


def test_sigterm_during_a_pass_abandons_it_in_a_recorded_way(place: dict, slow_router: Lab):
    port = free_port()
    log = place["dir"] / "serve.log"
    env = dict(signed(place), CURFEW_DEVICE_TIMEOUT="120")
    server = started(env, port, "--stop-timeout", "2", log=log)
    try:

        def mid_push() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"curfew serve exited:\n{log.read_text()}")
            return any(kind == "intent" for _, kind, *_ in records(place["db"]))

        # the start-up pass has written its intents and is waiting on the slow router
        wait_until(mid_push, 60, "the start-up pass to write its intents")
        code, took = terminated(server)
    finally:
        stop(server)
    assert code == 0, log.read_text()
    assert took < HANG_BOUND, f"took {took:.1f} s"
    assert "abandoned" in log.read_text()

    log_rows = records(place["db"])
    intents = [r for r in log_rows if r[1] == "intent"]
    outcomes = [r for r in log_rows if r[1] == "outcome"]
    [abandoned] = [r for r in log_rows if r[2] == "pass_abandoned"]
    assert intents and not outcomes, "the pass never finished: its intents stay as evidence"
    assert abandoned[1] == "admin" and abandoned[0] > max(r[0] for r in intents)
    assert json.loads(abandoned[4])["pass_at"]
    verified = subprocess.run(
        [*CURFEW, "audit", "verify"], env=place["env"], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
