"""An order's change, its event and its change-log record are one serialized transaction:
racing requests (from one instance or two) cannot both pass a check, and a failure leaves
nothing half-written. On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from controller import changelog
from controller.clock import SimulatedClock
from controller.models import Order, OrderEvent
from controller.orders import (
    Conflict,
    InvalidTransition,
    OrderAmend,
    OrderCreate,
    amend_order,
    issue_order,
)
from controller.store import Store
from tests.conftest import SHANGHAI

RACERS = 6
REQUEST = OrderCreate(
    venue="网吧 One", kind="curfew", reason="after_hours", legal_basis="临兰文执发〔2018〕3号",
    effective_from=datetime(2026, 11, 20, tzinfo=SHANGHAI),
)  # fmt: skip


def race(stores: list[Store], attempt: Callable[[Store], object]) -> tuple[list, list]:
    """Run `attempt` from RACERS threads spread over the stores at once: (results, errors)."""
    start = threading.Barrier(RACERS)
    results: list[object] = []
    errors: list[BaseException] = []

    def run(store: Store) -> None:
        start.wait(timeout=30)
        try:
            results.append(attempt(store))
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(stores[n % len(stores)],)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return results, errors


@pytest.fixture
def instances(city_store: Store, database_url: str, clock: SimulatedClock):
    """The city store and a second instance on the same database."""
    other = Store.open(database_url, clock=clock)
    yield [city_store, other]
    other.close()


def issued_records(store: Store) -> list:
    return [c for c in store.changes() if c.action == "order_issued"]


def test_racing_duplicate_orders_make_one_order_and_conflicts(instances: list[Store]) -> None:
    results, errors = race(instances, lambda store: issue_order(store, REQUEST, "bureau:test"))
    assert len(results) == 1, f"exactly one order, not {len(results)}"
    assert len(errors) == RACERS - 1 and all(isinstance(e, Conflict) for e in errors), errors
    assert {e.existing_id for e in errors} == {results[0].id}
    assert len(instances[1].orders()) == 1
    assert [r.order_ids for r in issued_records(instances[0])] == [[results[0].id]]


def test_racing_amendments_of_one_order_leave_one_version_in_force(instances: list[Store]) -> None:
    original = issue_order(instances[0], REQUEST, "bureau:test")
    longer = OrderAmend(why="extended on appeal",
                        effective_until=datetime(2027, 6, 1, tzinfo=SHANGHAI))  # fmt: skip
    results, errors = race(
        instances, lambda store: amend_order(store, original.id, longer, "bureau:test")
    )
    assert len(results) == 1 and all(isinstance(e, InvalidTransition) for e in errors), errors
    active = [o for o in instances[1].orders() if o.status == "active"]
    assert [o.id for o in active] == [results[0].id] and active[0].supersedes_id == original.id
    actions = [c.action for c in instances[0].changes() if c.kind == "admin"]
    assert actions.count("order_amended") == 1 and actions.count("order_superseded") == 1


def test_a_failure_while_logging_leaves_no_order_behind(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(connection, entries):  # noqa: ANN001 - the log's signature
        raise RuntimeError("disk full")

    monkeypatch.setattr(changelog, "append_in", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        issue_order(city_store, REQUEST, "bureau:test")
    monkeypatch.undo()
    with city_store.session() as s:
        assert s.exec(select(Order)).all() == [], "no order without its record"
        assert s.exec(select(OrderEvent)).all() == []
    assert issued_records(city_store) == []
    created = issue_order(city_store, REQUEST, "bureau:test")  # and nothing is stuck
    assert [r.order_ids for r in issued_records(city_store)] == [[created.id]]


def test_an_amendment_that_fails_to_log_keeps_the_old_version_in_force(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = issue_order(city_store, REQUEST, "bureau:test")
    city_store.clock.advance(timedelta(hours=1))
    monkeypatch.setattr(changelog, "append_in", lambda *_: (_ for _ in ()).throw(OSError("io")))
    with pytest.raises(OSError):
        amend_order(city_store, original.id, OrderAmend(why="typo", reason="unlicensed"), "b:t")
    monkeypatch.undo()
    assert [(o.id, o.status) for o in city_store.orders()] == [(original.id, "active")]
