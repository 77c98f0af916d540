"""Benchmark: change-log appends per second, and full-chain verification per million records,
on SQLite or PostgreSQL.

Run: .venv/bin/python -m tests.benchmarks.bench_changelog [--records 200000]
     [--database sqlite|postgresql]
Prints figures with a baseline measured in the same run (plain inserts / plain reads), so the
ratios hold on any machine. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from controller.audit import _record_dicts, verify_store
from controller.changelog import NewChange, append
from controller.db import make_engine, migrate
from tests.postgres import PostgresServer

AT = datetime(2026, 11, 25, tzinfo=UTC)


def entry(n: int) -> NewChange:
    return NewChange(
        at=AT,
        kind="outcome",
        action="cut",
        actor="reconciler",
        pass_id="bench",
        order_ids=[n % 97],
        line_id=n % 1000 + 1,
        device_id=n % 100 + 1,
        commands=["ip access-list extended CURFEW-L1"],
        device_output="R1(config)#",
        state_after="cut",
        verified=True,
    )


def plain_inserts(engine: sa.Engine, count: int) -> float:
    with engine.begin() as connection:
        key = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
        connection.exec_driver_sql(f"CREATE TABLE plain (seq {key} PRIMARY KEY, body TEXT)")
    started = time.perf_counter()
    for n in range(count):
        with engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO plain (body) VALUES (:b)"), {"b": f"record {n}"}
            )
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=2000, help="single-record appends timed")
    parser.add_argument("--records", type=int, default=200_000, help="records verified")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.database == "postgresql":
            server = PostgresServer().start()
            stack.callback(server.stop)
            url, name = server.create_database(), "PostgreSQL"
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url, name = f"sqlite:///{tmp / 'bench.db'}", "SQLite (WAL)"
        engine = make_engine(url)
        migrate(engine)
        baseline = plain_inserts(engine, args.appends)
        started = time.perf_counter()
        for n in range(args.appends):
            append(engine, [entry(n)])
        single = args.appends / (time.perf_counter() - started)
        started = time.perf_counter()
        batch = 500
        for start in range(0, 20 * batch, batch):
            append(engine, [entry(n) for n in range(start, start + batch)])
        batched = 20 * batch / (time.perf_counter() - started)
        print(f"{name} appends, one record per transaction: {single:,.0f}/s "
              f"(plain INSERT transactions in the same run: {baseline:,.0f}/s, "
              f"ratio {single / baseline:.2f})")  # fmt: skip
        print(f"{name} appends, {batch} records per transaction: {batched:,.0f}/s")

        remaining = args.records - args.appends - 20 * batch
        for start in range(0, max(remaining, 0), 5000):
            append(engine, [entry(n) for n in range(start, start + min(5000, remaining - start))])
        started = time.perf_counter()
        rows = sum(1 for _ in _record_dicts(engine))
        read_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = verify_store(engine)
        verify_seconds = time.perf_counter() - started
        assert report.ok and report.records == rows, report.problems
        per_million = verify_seconds * 1_000_000 / rows
        print(f"full-chain verification: {rows:,} records in {verify_seconds:.2f} s "
              f"= {per_million:.1f} s per million records "
              f"(reading them alone: {read_seconds:.2f} s, "
              f"ratio {verify_seconds / read_seconds:.2f})")  # fmt: skip
        engine.dispose()


if __name__ == "__main__":
    main()
