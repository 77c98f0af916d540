"""Benchmark: one `whois` lookup (recorded in the log) on a city of N port lines and S subscriber
lines on two NAS, whose FreeRADIUS database holds R accounting sessions (an hour each, 4,096
addresses handed round): a static address (an inventory prefix) and a dynamic one (radacct).

Run: .venv/bin/python -m tests.benchmarks.bench_whois [--lines 1000] [--subscribers 200]
     [--sessions 20000] [--repeat 20]

Not a test: nothing here asserts a time. Needs CURFEW_SECRETS_KEY_FILE (inline lab passwords)
and Debian's FreeRADIUS SQLite schema (freeradius installed).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from controller.access import Actor
from controller.clock import SimulatedClock
from controller.inventory import import_document
from controller.store import Store
from controller.whois import whois

SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql")
FIRST = datetime(2026, 11, 1, tzinfo=UTC)  # the first session's start; one every 10 minutes
POOL = 4096


def radius_database(path: Path, sessions: int, subscribers: int) -> None:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA.read_text())
    rows = []
    for i in range(sessions):
        start = FIRST + timedelta(minutes=10 * i)
        rows.append(
            (f"S{i}", f"u{i}", f"sub{i % subscribers}", f"127.0.0.2{1 + i % 2}",
             str(IPv4Address("100.64.0.0") + i % POOL), int(start.timestamp()),
             int((start + timedelta(hours=1)).timestamp()))
        )  # fmt: skip
    db.executemany(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, "
        "framedipaddress, acctstarttime, acctstoptime) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    db.close()


def city(lines: int, subscribers: int, radius_db: Path) -> dict:
    routers = [
        {"name": f"R{r}", "platform": "cisco_ios", "host": "127.0.0.1", "port": 22,
         "username": "curfew", "password": "lab"}
        for r in range(lines // 100 + 1)
    ]  # fmt: skip
    nas = [
        {"name": f"bng-{k}", "platform": "radius_nas", "host": f"127.0.0.2{k}", "port": 3799,
         "username": "curfew", "password": "dae", "options": {"radius_db": f"sqlite:///{radius_db}"}}
        for k in (1, 2)
    ]  # fmt: skip
    return {
        "authorities": [{"name": "city-bureau", "regions": ["620100"]}],
        "devices": routers + nas,
        "venues": [
            {"name": f"V{v}", "zone": "Asia/Shanghai", "region": "620100"}
            for v in range(lines + subscribers)
        ],
        "lines": [
            {"name": f"L{i}", "venue": f"V{i}", "device": f"R{i // 100}",
             "interface": f"GigabitEthernet0/{i % 100}",
             "prefixes": [f"{IPv4Address('10.0.0.0') + 16 * i}/28"]}
            for i in range(lines)
        ] + [
            {"name": f"sub-{j}", "venue": f"V{lines + j}", "kind": "subscriber",
             "username": f"sub{j}", "nas": ["bng-1", "bng-2"]}
            for j in range(subscribers)
        ],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-whois-") as directory:
        radius_db = Path(directory) / "radius.db"
        radius_database(radius_db, args.sessions, args.subscribers)
        store = Store.open(
            f"sqlite:///{Path(directory) / 'curfew.db'}",
            clock=SimulatedClock(FIRST + timedelta(minutes=10 * args.sessions + 60)),
        )
        started = time.perf_counter()
        import_document(store, city(args.lines, args.subscribers, radius_db), "bench")
        print(f"import: {time.perf_counter() - started:.1f} s")
        noc = Actor(name="bench", role="noc")
        middle = args.sessions // 2
        asked = {
            "static (a port line's prefix)": (
                str(IPv4Address("10.0.0.0") + 16 * (args.lines // 2) + 3), None,
            ),
            "dynamic (radacct)": (
                str(IPv4Address("100.64.0.0") + middle % POOL),
                FIRST + timedelta(minutes=10 * middle + 5),
            ),
        }  # fmt: skip
        print(f"{args.lines} port lines, {args.subscribers} subscriber lines, "
              f"{args.sessions} radacct rows")  # fmt: skip
        for name, (ip, at) in asked.items():
            seconds = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                answer = whois(store, ip, at, noc)
                seconds.append(time.perf_counter() - started)
            print(
                f"{name}: median {statistics.median(seconds) * 1000:.1f} ms, max "
                f"{max(seconds) * 1000:.1f} ms ({args.repeat} lookups), "
                f"{len(answer.holders)} holder(s)"
            )
        store.close()


if __name__ == "__main__":
    main()
