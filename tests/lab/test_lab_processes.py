"""A lab spread over worker processes: real drivers cut through it, the parent reads the routers
and sets their faults, `curfew lab up --processes 2` stops with no worker left; without the
lab installed, `lab up` and `demo` say how to install it."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from ipaddress import ip_network
from pathlib import Path

import pytest
import yaml

from drivers.base import (
    Action,
    AuthFailed,
    Batch,
    Credentials,
    LineState,
    LineTarget,
    observed_state,
)
from drivers.registry import driver_for
from lab.topology import DeviceSpec, Lab
from tests.drivers.profiles import load_profiles

pytestmark = pytest.mark.lab

CURFEW = str(Path(sys.executable).with_name("curfew"))  # the installed console script
# one device of each CLI platform and the eAPI one: five devices dealt over two workers
PLATFORMS = ("cisco_ios", "huawei_vrp", "h3c_comware", "juniper_junos", "arista_eos")
PROFILES = load_profiles()


def alive(pid: int) -> bool:
    """Whether a process runs under this PID (a zombie does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def driver(lab: Lab, name: str):  # noqa: ANN201 - a Driver of the device's platform
    spec = next(s for s in lab.specs if s.name == name)
    credentials = Credentials(
        host=lab.host,
        port=spec.port,
        username=spec.username,
        password=spec.password,
        secret=spec.secret,
        timeout=10,
        host_key=spec.host_key,
    )
    return driver_for(spec.platform)(name, credentials)


def line_42(platform: str) -> LineTarget:
    port = PROFILES[platform].venue_ports[0]
    return LineTarget(42, port, (ip_network("198.18.1.0/24"), ip_network("2001:db8:1::/48")))


def test_drivers_cut_through_a_lab_of_two_processes_and_the_parent_reads_and_faults() -> None:
    specs = [
        DeviceSpec(
            f"R{n}",
            platform=platform,
            interfaces=(PROFILES[platform].uplink, *PROFILES[platform].venue_ports),
        )
        for n, platform in enumerate(PLATFORMS, 1)
    ]
    with Lab(specs, processes=2) as lab:
        pids = lab.pids
        assert len(set(pids)) == 2 and os.getpid() not in pids
        assert all(alive(pid) for pid in pids)
        for spec in specs:
            profile = PROFILES[spec.platform]
            before = lab.router(spec.name).running_config()
            with driver(lab, spec.name) as session:
                result = session.apply(Batch(cuts=(line_42(spec.platform),)))
            assert result.ok, (spec.platform, result)
            (found,) = result.outcomes
            assert (found.action, found.state_after, found.verified) == (
                Action.CUT,
                LineState.CUT,
                True,
            )
            after = lab.router(spec.name).running_config()
            added = Counter(after.splitlines()) - Counter(before.splitlines())
            assert added == Counter(profile.cut_of_l42), spec.platform

        lab.set_fault("R1", auth_fail=True)
        assert lab.faults("R1").auth_fail
        with pytest.raises(AuthFailed), driver(lab, "R1"):
            pass
        assert lab.passwords_offered("R1") >= 2
        lab.set_fault("R1", auth_fail=False)
        with pytest.raises(ValueError, match="unknown fault"):
            lab.set_fault("R2", colour="red")
        with driver(lab, "R1") as session:
            assert observed_state(session.read(), line_42("cisco_ios")) is LineState.CUT
    for pid in pids:
        assert not alive(pid), f"lab worker {pid} outlived the lab"


def _read_lines(stream, lines: queue.Queue) -> None:  # noqa: ANN001 - a text pipe
    for line in stream:
        lines.put(line.rstrip("\n"))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_lab_up_over_two_processes_writes_its_inventory_and_leaves_no_worker(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    inventory_file = tmp_path / "lab.yaml"
    lab = subprocess.Popen(
        [CURFEW, "lab", "up", "--devices", "4", "--lines-per-device", "2", "--processes", "2",
         "--inventory-out", str(inventory_file)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(lab.stdout, lines), daemon=True).start()
    printed: list[str] = []
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not workers and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            printed.append(line)
            if line.startswith("lab workers: "):
                workers = [int(pid) for pid in line.removeprefix("lab workers: ").split(", ")]
        assert len(workers) == 2, f"lab up did not come up: {printed}"
        devices = yaml.safe_load(inventory_file.read_text(encoding="utf-8"))["devices"]
        assert [d["name"] for d in devices] == ["R1", "R2", "R3", "R4"]
        assert printed[:4] == [f"{d['name']} cisco_ios 127.0.0.1:{d['port']}" for d in devices]
        for device in devices:
            socket.create_connection(("127.0.0.1", device["port"]), timeout=2).close()
        assert all(alive(pid) for pid in workers)

        lab.send_signal(stop_signal)
        assert lab.wait(timeout=30) == 0, printed
    finally:
        if lab.poll() is None:
            lab.kill()
            lab.wait(timeout=10)
    for pid in workers:
        assert not alive(pid), f"lab worker {pid} outlived `lab up`"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", devices[0]["port"]), timeout=2).close()


@pytest.mark.parametrize("command", [["lab", "up"], ["demo"]], ids=["lab up", "demo"])
def test_without_the_lab_extra_lab_up_and_demo_say_how_to_install_it(
    tmp_path: Path, command: list[str]
) -> None:
    # asyncssh, the lab's own dependency, made missing for the command's process alone
    shadow = tmp_path / "asyncssh"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'asyncssh\'", name="asyncssh")\n'
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [CURFEW, *command], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 2, result
    assert result.stderr.strip() == "error: the lab is not installed: pip install 'curfew[lab]'"
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("processes", [0, 2])
def test_the_devices_clocks_follow_an_instant_in_this_process_and_in_the_workers(
    processes: int,
) -> None:
    from datetime import UTC, datetime

    from lab.workers import follow_clock

    specs = [DeviceSpec(f"R{n}", platform=p) for n, p in enumerate(PLATFORMS[:3], start=1)]
    with Lab(specs, processes=processes) as lab:
        # the IOS, VRP and Comware twins each keep a clock (device-timed windows)
        assert follow_clock(lab, datetime(2031, 3, 4, 23, 59, tzinfo=UTC), time.monotonic()) == 3
        shown = lab.router("R1").execute("show clock").output
        # moving from there at the real pace (the device has no NTP server: marked `*`)
        assert shown.lstrip("*").startswith("23:59:") and "Tue Mar 4 2031" in shown
        assert "2031-03-04 23:59:" in lab.router("R2").execute("display clock").output
        follow_clock(lab, datetime(2032, 5, 6, 12, 0, tzinfo=UTC), time.monotonic())
        assert "May 6 2032" in lab.router("R1").execute("show clock").output
