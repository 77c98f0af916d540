"""Several controller instances append to one log at once: one chain, no gap, no fork.

Each instance is its own Store (its own engine and connections) on the same database; on
PostgreSQL appends are serialized by an advisory transaction lock, on SQLite by BEGIN
IMMEDIATE.
"""

from __future__ import annotations

import threading

import pytest

from controller.audit import verify_store
from controller.changelog import GENESIS, NewChange
from controller.clock import SimulatedClock
from controller.store import Store

INSTANCES = 2
WRITERS_PER_INSTANCE = 3
BATCHES = 15  # per writer; a batch holds 1 to 3 records


def test_concurrent_appends_from_two_instances_form_one_verified_chain(
    database_url: str, clock: SimulatedClock
) -> None:
    instances = [Store.open(database_url, clock=clock) for _ in range(INSTANCES)]
    start = threading.Barrier(INSTANCES * WRITERS_PER_INSTANCE)
    errors: list[BaseException] = []

    def writer(store: Store, name: str) -> None:
        try:
            start.wait(timeout=30)
            for batch in range(BATCHES):
                store.append(
                    [
                        NewChange(at=clock.now(), kind="admin", action="token_created",
                                  actor=name, detail=f"{name} batch {batch} record {n}")
                        for n in range(batch % 3 + 1)
                    ]
                )  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(store, f"instance{i}/writer{w}"))
        for i, store in enumerate(instances)
        for w in range(WRITERS_PER_INSTANCE)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a writer hung"
        assert errors == []

        records = instances[0].changes()
        per_writer = sum(batch % 3 + 1 for batch in range(BATCHES))
        assert len(records) == INSTANCES * WRITERS_PER_INSTANCE * per_writer
        assert [r.seq for r in records] == list(range(1, len(records) + 1)), "no gap"
        prev = GENESIS
        for record in records:
            assert record.prev_hash == prev, f"seq {record.seq} forks the chain"
            prev = record.hash
        for thread_name in {r.actor for r in records}:
            details = [r.detail for r in records if r.actor == thread_name]
            assert len(details) == per_writer, thread_name
            assert details == sorted(details, key=lambda d: int(d.split()[2])), "in order"
        report = verify_store(instances[1].engine)
        assert report.ok, report
    finally:
        for store in instances:
            store.close()


@pytest.mark.parametrize("who", ["first", "second"])
def test_each_instance_sees_the_other_instances_records(database_url: str, clock, who) -> None:
    first, second = (Store.open(database_url, clock=clock) for _ in range(2))
    try:
        writer, reader = (first, second) if who == "first" else (second, first)
        written = writer.log_admin("token_created", "noc:alice", detail="from one instance")
        assert [c.seq for c in reader.changes()] == [written.seq]
        appended = reader.log_admin("token_created", "noc:bob", detail="from the other")
        assert appended.prev_hash == written.hash and appended.seq == written.seq + 1
    finally:
        first.close()
        second.close()
