"""Group commit (controller.group_commit): the appends of a pass's workers share transactions,
and each still returns only once its own records are committed; a bad append fails alone."""

from __future__ import annotations

import json
import threading

from controller.audit import verify_store
from controller.changelog import NewChange
from controller.clock import SimulatedClock
from controller.group_commit import GroupAppender
from controller.models import Change
from controller.store import StateRow, Store
from tests.e2e.processes import wait_until

WORKERS = 8


def _records(clock: SimulatedClock, name: str, count: int, line_id: int | None = None):
    return [
        NewChange(at=clock.now(), kind="intent", action="cut", actor="reconciler",
                  pass_id="p1", line_id=line_id, detail=f"{name} record {n}")
        for n in range(count)
    ]  # fmt: skip


def _run(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"


def test_waiting_appends_are_written_in_one_transaction_each_seeing_its_own_records(
    city_store: Store, clock: SimulatedClock, database_url: str
) -> None:
    groups: list[tuple[int, int]] = []
    appender = GroupAppender(city_store, on_group=lambda n, records: groups.append((n, records)))
    lines = {line.name: line.id for line in city_store.lines()}
    line_id = lines["R1-L1"]
    results: dict[str, list[Change]] = {}
    errors: list[BaseException] = []
    seen_by_other_store: dict[str, int] = {}
    other = Store.open(database_url, clock=clock)

    def first_states(written: list[Change]) -> list[StateRow]:
        # the first writer holds its transaction until every other writer waits behind it
        wait_until(lambda: appender.waiting == WORKERS - 1, 20, "the other writers to queue")
        return [StateRow(line_id, "unknown", clock.now(), written[0].seq, json.dumps([7]))]

    def writer(name: str, states=None) -> None:
        try:
            results[name] = appender.append(_records(clock, name, 3), states)
            # committed before append returned: another store (its own connections) sees it
            found = [c for c in other.changes() if (c.detail or "").startswith(f"{name} ")]
            seen_by_other_store[name] = len(found)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    first = threading.Thread(target=writer, args=("w0", first_states))
    first.start()
    wait_until(lambda: appender.waiting == 0 and appender.writing, 20, "the first write to begin")
    _run([threading.Thread(target=writer, args=(f"w{n}",)) for n in range(1, WORKERS)])
    first.join(timeout=60)
    other.close()

    assert errors == []
    assert groups == [(1, 3), (WORKERS - 1, 3 * (WORKERS - 1))]
    for name, written in results.items():
        assert [c.detail for c in written] == [f"{name} record {n}" for n in range(3)]
        assert seen_by_other_store[name] == 3
    seqs = sorted(c.seq for written in results.values() for c in written)
    assert len(set(seqs)) == 3 * WORKERS
    assert city_store.line_statuses([line_id])[line_id].change_seq == results["w0"][0].seq
    assert verify_store(city_store.engine).problems == []


def test_a_bad_append_in_a_group_fails_alone(city_store: Store, clock: SimulatedClock) -> None:
    appender = GroupAppender(city_store)
    results: dict[str, list[Change]] = {}
    errors: dict[str, BaseException] = {}

    def leader_states(written: list[Change]) -> list[StateRow]:
        wait_until(lambda: appender.waiting == 3, 20, "three writers to queue")
        return []

    def bad_states(written: list[Change]) -> list[StateRow]:
        raise ValueError("a state that cannot be written")

    def writer(name: str, states=None) -> None:
        try:
            results[name] = appender.append(_records(clock, name, 2), states)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors[name] = exc

    leader = threading.Thread(target=writer, args=("lead", leader_states))
    leader.start()
    wait_until(lambda: appender.writing, 20, "the leader's write to begin")
    _run(
        [
            threading.Thread(target=writer, args=("good1",)),
            threading.Thread(target=writer, args=("bad", bad_states)),
            threading.Thread(target=writer, args=("good2",)),
        ]
    )
    leader.join(timeout=60)

    assert set(errors) == {"bad"} and isinstance(errors["bad"], ValueError)
    assert set(results) == {"lead", "good1", "good2"}
    details = [c.detail for c in city_store.changes() if c.kind == "intent"]
    assert not any(d.startswith("bad ") for d in details)
    for name in ("good1", "good2"):
        assert details.count(f"{name} record 0") == 1  # written once, not again on the retry
    assert verify_store(city_store.engine).problems == []


def test_an_empty_append_writes_nothing(city_store: Store) -> None:
    before = len(city_store.changes())
    assert GroupAppender(city_store).append([]) == []
    assert len(city_store.changes()) == before


def test_a_lone_append_is_an_ordinary_one(city_store: Store, clock: SimulatedClock) -> None:
    groups: list[tuple[int, int]] = []
    appender = GroupAppender(city_store, on_group=lambda n, r: groups.append((n, r)))
    written = appender.append(_records(clock, "alone", 1))
    assert [c.detail for c in written] == ["alone record 0"] and groups == [(1, 1)]
