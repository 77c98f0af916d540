"""Benchmark: the change log's cost to write, store and verify, on SQLite or PostgreSQL, each
figure beside its baseline or its former path measured in the same run.

Run: .venv/bin/python -m tests.benchmarks.bench_changelog [--records 200000] [--appends 2000]
     [--database sqlite|postgresql]

- appends, one record per transaction (an order event's record): the change log's append
  against plain one-row INSERT transactions and against the append path as it was before
  issue 10 (ORM rows, the SQL compiler, the output inline), and through the store with a
  signing checkpointer;
- bytes of log per 10,000 outcome records, the router's session output inline in each (as
  before) against stored once and cited by hash;
- full-chain verification of records shaped like a real log (per router and pass: ten
  intents, ten outcomes sharing one ~6.7 KB session output, order events between): the ORM
  path (rows as model objects, a dict and `json.dumps` per record) against `verify_store`
  (DB-API cursor in chunks, hashlib), and against reading the same rows alone.

Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from controller.audit import (
    Checkpointer,
    generate_key,
    load_key,
    record_document,
    verify_records,
    verify_store,
)
from controller.changelog import GENESIS, NewChange, append, record_hash, serialize
from controller.clock import SimulatedClock
from controller.db import IMMEDIATE, make_engine, migrate
from controller.models import Change, ChangeOrder, DeviceOutput
from controller.store import Store
from tests.postgres import PostgresServer

AT = datetime(2026, 11, 25, tzinfo=UTC)
LINES_PER_ROUTER = 10
ROUTERS = 100


# -- records shaped like the log's own ------------------------------------------------------


def cut_commands(line: int) -> list[str]:
    """A Cisco IOS cut of one dual-stack line, as the driver sends it (16 commands)."""
    v4, v6 = f"198.18.{line % 250}.0", f"2001:db8:{line:x}:1::/64"
    return [
        f"ip access-list extended CURFEW-L{line}", f"deny ip {v4} 0.0.0.255 any",
        f"deny ip any {v4} 0.0.0.255", "permit ip any any", "exit",
        f"ipv6 access-list CURFEW6-L{line}", f"deny ipv6 {v6} any", f"deny ipv6 any {v6}",
        "permit ipv6 any any", "exit", f"interface GigabitEthernet0/{line % 48}",
        f"ip access-group CURFEW-L{line} in", f"ip access-group CURFEW-L{line} out",
        f"ipv6 traffic-filter CURFEW6-L{line} in", f"ipv6 traffic-filter CURFEW6-L{line} out",
        "exit",
    ]  # fmt: skip


def session_output(router: int, lines: Sequence[int], night: int) -> str:
    """A router's whole session for a batch: every command echoed at its prompt, then the
    read-back (~6.7 KB for ten lines, as the IOS twin answers)."""
    prompt = f"R{router}"
    echoed = ["configure terminal",
              "Enter configuration commands, one per line.  End with CNTL/Z."]  # fmt: skip
    for line in lines:
        mode = "config"
        for command in cut_commands(line):
            echoed.append(f"{prompt}({mode})#{command}")
            mode = ("config-ext-nacl" if command.startswith("ip access-list")
                    else "config-ipv6-acl" if command.startswith("ipv6 access-list")
                    else "config-if" if command.startswith("interface")
                    else "config")  # fmt: skip
    echoed.append(f"{prompt}(config)#end")
    for line in lines:
        echoed += [f"{prompt}#show ip access-lists CURFEW-L{line}",
                   f"Extended IP access list CURFEW-L{line}",
                   f"    10 deny ip 198.18.{line % 250}.0 0.0.0.255 any ({night} matches)",
                   ]  # fmt: skip
    return "\n".join(echoed) + f"\n{prompt}#"


def order_event(n: int, at: datetime) -> NewChange:
    detail = json.dumps({"reason": "after_hours", "kind": "curfew",
                         "legal_basis": f"临文执发〔2026〕{n}号",
                         "effective_from": "2026-11-21 16:00:00+00:00", "effective_until": None},
                        ensure_ascii=False)  # fmt: skip
    return NewChange(at=at, kind="admin", action="order_issued", actor="bureau:city",
                     order_ids=[n], venue_id=n % 1000 + 1, detail=detail)  # fmt: skip


def router_batches(count: int, first_night: int = 0) -> Iterator[list[NewChange]]:
    """About `count` records as passes write them: per router, its intents in one append, its
    outcomes (one session output) in another, an order event every 25 records."""
    written, night = 0, first_night
    while written < count:
        at = AT + timedelta(days=night)
        for router in range(1, ROUTERS + 1):
            lines = [(router - 1) * LINES_PER_ROUTER + k + 1 for k in range(LINES_PER_ROUTER)]
            pass_id = f"{night:08x}{router:08x}"
            intents = [
                NewChange(at=at, kind="intent", action="cut", actor="reconciler",
                          pass_id=pass_id, order_ids=[line], line_id=line, venue_id=line,
                          device_id=router,
                          detail=f"order in force (planned for {at.isoformat()})")
                for line in lines
            ]  # fmt: skip
            output = session_output(router, lines, night)
            outcomes = [
                NewChange(at=at + timedelta(seconds=1), kind="outcome", action="cut",
                          actor="reconciler", pass_id=pass_id, order_ids=[line], line_id=line,
                          venue_id=line, device_id=router, intent_seq=night * 2000 + line,
                          commands=cut_commands(line), device_output=output, state_after="cut",
                          verified=True)
                for line in lines
            ]  # fmt: skip
            events = [order_event(written + k, at) for k in range(2 * LINES_PER_ROUTER // 25 + 1)]
            for batch in (events, intents, outcomes):
                yield batch
                written += len(batch)
                if written >= count:
                    return
        night += 1


# -- the paths as they were before issue 10 --------------------------------------------------


def append_as_before(engine: sa.Engine, entries: Sequence[NewChange]) -> None:
    """The append path before issue 10: a model object per row, the SQL compiler, the head
    read through the ORM's Core, the output inline in every record."""
    with engine.execution_options(**IMMEDIATE).begin() as connection:
        serialize(connection)
        table = Change.__table__  # type: ignore[attr-defined]
        head = connection.execute(
            sa.select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
        ).first()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
        written = []
        for entry in entries:
            seq += 1
            row = Change(
                seq=seq, at=entry.at.astimezone(UTC), pass_id=entry.pass_id, kind=entry.kind,
                action=entry.action, order_ids_json=json.dumps(sorted(entry.order_ids)),
                line_id=entry.line_id, venue_id=entry.venue_id, device_id=entry.device_id,
                intent_seq=entry.intent_seq, actor=entry.actor,
                commands_json=json.dumps(list(entry.commands), ensure_ascii=False),
                device_output=entry.device_output, state_after=entry.state_after,
                verified=entry.verified, error=entry.error, detail=entry.detail,
                prev_hash=prev, hash="",
            )  # fmt: skip
            row.hash = prev = record_hash(seq, prev, row)
            written.append(row)
        connection.execute(
            sa.insert(table),
            [{c.name: getattr(row, c.name) for c in table.columns} for row in written],
        )
        cited = [{"seq": r.seq, "order_id": o} for r in written for o in r.order_ids]
        if cited:
            connection.execute(sa.insert(ChangeOrder.__table__), cited)  # type: ignore[attr-defined]


def verify_through_the_orm(engine: sa.Engine) -> int:
    """Verification as it read the log before issue 10: every row as a model object, then a
    dict and `json.dumps` per record (the stored outputs read through the ORM too)."""
    with Session(engine) as session:
        query = select(Change).order_by(Change.seq).execution_options(yield_per=5000)  # type: ignore[arg-type]
        records = [record_document(change) for change in session.exec(query)]
        outputs = {o.sha256: o.text for o in session.exec(select(DeviceOutput))}
    report = verify_records(records, outputs=outputs)
    assert report.ok, report.problems
    return report.records


def read_alone(engine: sa.Engine) -> int:
    """The same rows through the DB-API cursor, in the same chunks, with no hashing."""
    rows, last = 0, None
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        while True:
            where = "" if last is None else f"WHERE seq > {mark}"
            cursor.execute(f"SELECT * FROM changes {where} ORDER BY seq LIMIT 5000",
                           () if last is None else (last,))  # fmt: skip
            chunk = cursor.fetchall()
            if not chunk:
                return rows
            rows, last = rows + len(chunk), chunk[-1][0]


# -- measurements --------------------------------------------------------------------------


def per_second(count: int, started: float) -> float:
    return count / (time.perf_counter() - started)


def one_per_transaction(engine: sa.Engine, count: int, store: Store) -> dict[str, float]:
    """Appends/s of each path, in four interleaved rounds so the machine's drift falls on all
    of them alike."""
    with engine.begin() as connection:
        key = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
        connection.exec_driver_sql(f"CREATE TABLE plain (seq {key} PRIMARY KEY, body TEXT)")

    def plain(n: int) -> None:
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO plain (body) VALUES (:b)"), {"b": f"r{n}"})

    paths = {
        "plain": plain,
        "before": lambda n: append_as_before(engine, [order_event(n, AT)]),
        "append": lambda n: append(engine, [order_event(n, AT)]),
        "store": lambda n: store.log_admin(
            "order_issued", "bureau:city", order_ids=[n], detail=order_event(n, AT).detail
        ),
    }
    seconds = dict.fromkeys(paths, 0.0)
    rounds = 4
    for _ in range(rounds):
        for label, path in paths.items():
            started = time.perf_counter()
            for n in range(count // rounds):
                path(n)
            seconds[label] += time.perf_counter() - started
    return {label: count // rounds * rounds / spent for label, spent in seconds.items()}


def log_bytes(engine: sa.Engine) -> int:
    """What the log occupies: its three tables with their indexes (and PostgreSQL's TOAST)."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("CHECKPOINT")
            return int(connection.exec_driver_sql(
                "SELECT sum(pg_total_relation_size(t::regclass)) FROM "
                "unnest(ARRAY['changes', 'change_orders', 'device_outputs']) AS t"
            ).scalar())  # fmt: skip
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
        size = connection.exec_driver_sql("PRAGMA page_size").scalar()
        return int(pages) * int(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=2000, help="single-record appends timed")
    parser.add_argument("--records", type=int, default=200_000, help="records verified")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.database == "postgresql":
            server = PostgresServer().start()
            stack.callback(server.stop)
            name = "PostgreSQL"

            def new_database(_label: str) -> str:
                return server.create_database()
        else:
            name = "SQLite (WAL)"

            def new_database(label: str) -> str:
                return f"sqlite:///{tmp / label}.db"

        def fresh(label: str) -> sa.Engine:
            engine = make_engine(new_database(label))
            migrate(engine)
            stack.callback(engine.dispose)
            return engine

        print(f"{name}, {time.strftime('%Y-%m-%d %H:%M')}")
        # -- appends, one record per transaction
        engine = fresh("appends")
        key_file = tmp / "signing.pem"
        generate_key(key_file)
        clock = SimulatedClock(AT)
        store = Store(engine, clock, Checkpointer(load_key(key_file), clock, every=100))
        rates = one_per_transaction(engine, args.appends, store)
        single, before, plain = rates["append"], rates["before"], rates["plain"]
        print(f"appends, one record per transaction: {single:,.0f}/s; before issue 10 "
              f"{before:,.0f}/s (ratio {single / before:.2f}); plain INSERT transactions "
              f"{plain:,.0f}/s (ratio {single / plain:.2f})")  # fmt: skip
        print(
            f"  through Store.log_admin, signing a checkpoint every 100 records: "
            f"{rates['store']:,.0f}/s (ratio to plain INSERT {rates['store'] / plain:.2f})"
        )
        batch = [order_event(n, AT) for n in range(500)]
        started = time.perf_counter()
        for _ in range(20):
            append(engine, batch)
        print(f"appends, 500 records per transaction: {per_second(20 * 500, started):,.0f}/s")

        # -- bytes per 10,000 outcome records
        sizes = {}
        for label, write in (("inline", append_as_before), ("content-addressed", append)):
            engine = fresh(f"bytes-{label}")
            empty = log_bytes(engine)
            outcomes = 0
            for entries in router_batches(10**9):
                entries = [e for e in entries if e.kind == "outcome"]
                if entries:
                    write(engine, entries)
                    outcomes += len(entries)
                if outcomes >= 10_000:
                    break
            sizes[label] = (log_bytes(engine) - empty) / outcomes * 10_000
        inline, addressed = sizes["inline"], sizes["content-addressed"]
        print(f"log bytes per 10,000 outcome records ({LINES_PER_ROUTER} lines per router "
              f"sharing one session output): inline {inline / 2**20:,.1f} MiB, "
              f"content-addressed {addressed / 2**20:,.2f} MiB "
              f"(ratio {inline / addressed:.1f})")  # fmt: skip

        # -- full-chain verification
        engine = fresh("verify")
        records = 0
        pending: list[NewChange] = []
        for entries in router_batches(args.records):
            pending += entries
            if len(pending) >= 2000:
                append(engine, pending)
                records, pending = records + len(pending), []
        if pending:
            append(engine, pending)
            records += len(pending)
        started = time.perf_counter()
        rows = read_alone(engine)
        read_seconds = time.perf_counter() - started
        started = time.perf_counter()
        assert verify_through_the_orm(engine) == rows == records
        orm_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = verify_store(engine)
        seconds = time.perf_counter() - started
        assert report.ok and report.records == rows, report.problems
        print(f"full-chain verification, {rows:,} records: verify_store {rows / seconds:,.0f}/s "
              f"({seconds * 1e6 / rows:.1f} s per million); through the ORM "
              f"{rows / orm_seconds:,.0f}/s (ratio {orm_seconds / seconds:.1f}); reading the "
              f"rows alone {rows / read_seconds:,.0f}/s (verify_store takes "
              f"{seconds / read_seconds:.2f}× that)")  # fmt: skip


if __name__ == "__main__":
    main()
