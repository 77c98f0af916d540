"""Benchmark: the lab's RADIUS side — how long FreeRADIUS takes to answer after start, a dial
(PAP Access-Request, then Accounting Start written to radacct) and a Disconnect round trip
(the BNG twin writes the Accounting Stop, then ACKs) — on one BNG twin.

Run: .venv/bin/python -m tests.benchmarks.bench_radius_lab [--subscribers 100]

Not a test: nothing here asserts a time. Needs Debian's freeradius.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from pyrad import packet
from pyrad.client import Client

from controller.clock import SimulatedClock
from lab.bng import BngTwin, Session
from lab.freeradius import RadiusServer, unavailable_reason
from lab.radius import dictionary


def summary(name: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"{name}: median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms ({len(ordered)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100)
    count = parser.parse_args().subscribers
    reason = unavailable_reason()
    if reason:
        raise SystemExit(reason)
    clock = SimulatedClock(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))
    started = time.monotonic()
    with RadiusServer({"127.0.0.21": "bench-radius"}) as server:
        ready = time.monotonic() - started
        endpoint = (server.host, server.auth_port, server.acct_port)
        with BngTwin(
            "BNG1", "127.0.0.21", endpoint, "bench-radius", "bench-dae", "10.64.0.0/16", clock.now
        ) as bng:
            for i in range(count):
                server.add_subscriber(f"bench-{i}", "pw")
            dials = []
            for i in range(count):
                begin = time.monotonic()
                assert isinstance(bng.dial(f"bench-{i}", "pw"), Session)
                dials.append(time.monotonic() - begin)
            client = Client(
                server=bng.address, coaport=bng.dae_port, secret=b"bench-dae",
                dict=dictionary(), retries=1, timeout=2,
            )  # fmt: skip
            disconnects = []
            for i in range(count):
                request = client.CreateCoAPacket(code=packet.DisconnectRequest)
                request["User-Name"] = f"bench-{i}"
                begin = time.monotonic()
                assert client.SendPacket(request).code == packet.DisconnectACK
                disconnects.append(time.monotonic() - begin)
    print(f"FreeRADIUS start to its first answer: {ready:.2f} s")
    print(summary("dial (Access-Request, Accounting Start)", dials))
    print(summary("Disconnect round trip (Accounting Stop, ACK)", disconnects))


if __name__ == "__main__":
    main()
