"""An order's life: issued, in force, suspended and resumed, amended, revoked, expired — and
what the planner makes of each, with every transition on record."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from controller.access import Actor, Forbidden
from controller.orders import (
    InvalidTransition,
    OrderAmend,
    OrderCreate,
    amend_order,
    history,
    issue_order,
    resume_order,
    revoke_order,
    state_of,
    suspend_order,
)
from controller.reconciler import Reconciler
from controller.settings import Settings
from controller.store import ChangeFilter, Store
from drivers.base import LineState
from tests.conftest import ADMIN_TOKEN, SHANGHAI

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
BUREAU = Actor("bureau:city-bureau", "bureau", authority_id=1, regions=("620100",))


def curfew(store: Store, **fields) -> int:
    request = OrderCreate(
        venue="网吧 One", kind="curfew", reason="after_hours", legal_basis="临兰文执发〔2018〕3号",
        effective_from=fields.pop("effective_from", NIGHT - timedelta(days=1)), **fields,
    )  # fmt: skip
    return issue_order(store, request, BUREAU).id


def desired(store: Store, at: datetime) -> LineState:
    plan, _ = Reconciler(store).diff(at)
    return plan.lines[1].desired


def test_states_follow_the_clock_and_the_transitions(city_store: Store):
    order_id = curfew(city_store, effective_from=NIGHT, effective_until=NIGHT + timedelta(days=2))
    order = city_store.order(order_id)
    assert state_of(order, NIGHT - timedelta(seconds=1)) == "issued"
    assert state_of(order, NIGHT) == "in_force"
    assert state_of(order, NIGHT + timedelta(days=2)) == "expired"
    assert state_of(suspend_order(city_store, order_id, "inspection", BUREAU), NIGHT) == "suspended"
    assert (
        state_of(resume_order(city_store, order_id, "inspection over", BUREAU), NIGHT) == "in_force"
    )
    assert state_of(revoke_order(city_store, order_id, "appeal", BUREAU), NIGHT) == "revoked"


def test_suspension_restores_at_once_and_resumption_cuts_again(city_store: Store):
    order_id = curfew(city_store)
    clock = city_store.clock
    clock.set(NIGHT + timedelta(hours=1))
    assert desired(city_store, clock.now()) is LineState.CUT
    suspend_order(city_store, order_id, "inspection", BUREAU)
    assert desired(city_store, clock.now()) is LineState.OPEN, "restored now, not at 08:00"
    clock.advance(timedelta(hours=1))
    resume_order(city_store, order_id, "inspection over", BUREAU)
    assert desired(city_store, clock.now()) is LineState.CUT
    # the suspended hour stays open in hindsight: the plan honours the record
    assert desired(city_store, NIGHT + timedelta(hours=1, minutes=30)) is LineState.OPEN
    assert desired(city_store, NIGHT + timedelta(minutes=30)) is LineState.CUT


def test_amending_creates_a_version_and_keeps_history(city_store: Store):
    order_id = curfew(city_store, effective_until=NIGHT + timedelta(days=1))
    city_store.clock.set(NIGHT + timedelta(hours=2))
    new = amend_order(
        city_store, order_id,
        OrderAmend(why="term extended on review", effective_until=NIGHT + timedelta(days=30)),
        BUREAU,
    )  # fmt: skip
    assert (new.version, new.supersedes_id) == (2, order_id)
    assert state_of(city_store.order(order_id), city_store.clock.now()) == "superseded"
    # the line is cut on the extended term, citing the new version
    plan, _ = Reconciler(city_store).diff(NIGHT + timedelta(days=10, hours=1))
    assert plan.lines[1].order_ids == (new.id,)
    versions, events = history(city_store, new.id)
    assert [v.id for v in versions] == [order_id, new.id]
    assert [(e.order_id, e.action) for e in events] == [
        (order_id, "issue"), (order_id, "supersede"), (new.id, "amend"),
    ]  # fmt: skip
    assert all(e.actor == BUREAU.name for e in events)
    with pytest.raises(InvalidTransition):
        amend_order(city_store, order_id, OrderAmend(why="again"), BUREAU)


def test_every_transition_is_in_the_change_log_with_who_and_why(city_store: Store):
    order_id = curfew(city_store)
    suspend_order(city_store, order_id, "inspection", BUREAU)
    resume_order(city_store, order_id, "inspection over", BUREAU)
    revoke_order(city_store, order_id, "appeal upheld", BUREAU)
    log = city_store.changes(ChangeFilter(order_id=order_id))
    assert [c.action for c in log] == [
        "order_issued", "order_suspended", "order_resumed", "order_revoked",
    ]  # fmt: skip
    assert all(c.actor == BUREAU.name for c in log)
    assert "appeal upheld" in log[-1].detail


def test_a_bureau_cannot_touch_another_authoritys_order(city_store: Store):
    order_id = curfew(city_store)
    stranger = Actor("bureau:other", "bureau", authority_id=99, regions=("620100",))
    for action in (suspend_order, revoke_order):
        with pytest.raises(Forbidden):
            action(city_store, order_id, "mine now", stranger)


def test_a_curfew_under_a_disconnect_says_which_governs(city_store: Store):
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(create_app(settings, city_store)) as client:
        base = {"venue": "网吧 One", "reason": "unlicensed",
                "effective_from": "2026-11-20T00:00:00+08:00"}  # fmt: skip
        first = client.post(
            "/api/v1/orders", json={**base, "kind": "disconnect",
                                    "legal_basis": "临兰文执发〔2026〕1号"}, headers=auth,
        )  # fmt: skip
        assert first.status_code == 201 and first.json()["notices"] == []
        second = client.post(
            "/api/v1/orders", json={**base, "kind": "curfew", "reason": "after_hours",
                                    "legal_basis": "临兰文执发〔2026〕2号"}, headers=auth,
        )  # fmt: skip
        assert second.status_code == 201
        assert any(f"disconnect order {first.json()['id']}" in n for n in second.json()["notices"])
        history_view = client.get(f"/api/v1/orders/{second.json()['id']}/history", headers=auth)
        assert [e["action"] for e in history_view.json()["events"]] == ["issue"]
        public = client.get("/public/venues-under-order").json()
        assert {p["kind"] for p in public} == {"disconnect", "curfew"}
        assert all(set(p) == {"venue", "address", "kind", "legal_basis", "legal_basis_date",
                              "effective_from", "effective_until"} for p in public)  # fmt: skip
