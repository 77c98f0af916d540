"""Escalation through the API: violations propose orders, only a bureau user's confirmation
issues them, and nothing is cut before that — shown with the reconciler's dry run."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from controller.escalation import list_proposals, record_violation
from controller.inventory import import_document
from controller.reconciler import Reconciler
from controller.settings import Settings
from controller.store import Store
from controller.tokens import create_token
from drivers.base import Action, LineState
from tests.conftest import ADMIN_TOKEN

LINE = 1  # R1-L1, the line of 网吧 One (venue 1, region 620100, city-bureau)
VENUE = 1
BASIS_1 = "临兰文执发〔2026〕7号"
BASIS_2 = "临兰文执发〔2026〕8号"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_client(store: Store, **settings: object) -> TestClient:
    return TestClient(
        create_app(Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN, **settings), store)
    )


@pytest.fixture
def client(city_store: Store) -> TestClient:
    with make_client(city_store) as test_client:
        yield test_client


@pytest.fixture
def bureau(city_store: Store) -> dict[str, str]:
    return bearer(create_token(city_store, "bureau", "test", authority="city-bureau")[1])


def record(
    client: TestClient, headers: dict[str, str], hours_ago: int, venue: int = VENUE, **body
) -> dict:
    observed = client.app.state.store.clock.now() - timedelta(hours=hours_ago)
    response = client.post(
        f"/api/v1/venues/{venue}/violations",
        json={"kind": "minors_admitted", "observed_at": observed.isoformat(),
              "note": "two pupils at the counter", **body},
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def cuts(store: Store, at: datetime) -> dict[int, tuple[int, ...]]:
    """Dry run at `at`: the lines a pass would cut and the orders each cut cites."""
    plan, batches = Reconciler(store).diff(at)
    planned = {c.line_id: c.order_ids for b in batches for c in b.changes if c.action is Action.CUT}
    assert {ln for ln, p in plan.lines.items() if p.desired is LineState.CUT} == set(planned)
    return planned


def test_three_minors_violations_propose_two_orders_that_cut_only_once_confirmed(
    client: TestClient, bureau: dict[str, str], city_store: Store
):
    now = city_store.clock.now()
    assert record(client, bureau, 72)["proposals"] == []
    (suspension,) = record(client, bureau, 48)["proposals"]
    assert (suspension["step"], suspension["order_kind"], suspension["term_days"]) == (
        "suspension", "disconnect", 30,
    )  # fmt: skip
    assert suspension["status"] == "pending" and len(suspension["violation_ids"]) == 2
    (revocation,) = record(client, bureau, 24)["proposals"]
    assert (revocation["step"], revocation["term_days"]) == ("revocation", None)
    assert len(revocation["violation_ids"]) == 3

    listed = client.get("/api/v1/proposals?status=pending", headers=bureau).json()
    assert [p["id"] for p in listed] == [suspension["id"], revocation["id"]]

    # Nothing is cut before confirmation: no order exists, and no pass now or later cuts.
    assert city_store.orders() == []
    for later in (timedelta(0), timedelta(hours=3), timedelta(days=40), timedelta(days=400)):
        assert LINE not in cuts(city_store, now + later)

    confirmed = client.post(
        f"/api/v1/proposals/{suspension['id']}/confirm",
        json={"legal_basis": BASIS_1, "legal_basis_date": "2026-11-24"}, headers=bureau,
    )  # fmt: skip
    assert confirmed.status_code == 201, confirmed.text
    order = confirmed.json()["order"]
    assert (order["kind"], order["reason"], order["legal_basis"]) == (
        "disconnect", "suspension", BASIS_1,
    )  # fmt: skip
    assert datetime.fromisoformat(order["effective_from"]) == now
    assert datetime.fromisoformat(order["effective_until"]) == now + timedelta(days=30)
    assert order["state"] == "in_force"
    assert confirmed.json()["proposal"]["status"] == "confirmed"
    assert confirmed.json()["proposal"]["order_id"] == order["id"]

    # The confirmed disconnect order is in force: cut now and around the clock, until its term.
    assert cuts(city_store, now) == {LINE: (order["id"],)}
    assert cuts(city_store, now + timedelta(hours=13)) == {LINE: (order["id"],)}  # 11:00 local
    assert LINE not in cuts(city_store, now + timedelta(days=30))

    revoked = client.post(
        f"/api/v1/proposals/{revocation['id']}/confirm", json={"legal_basis": BASIS_2},
        headers=bureau,
    ).json()["order"]  # fmt: skip
    assert (revoked["reason"], revoked["effective_until"]) == ("revocation", None)
    assert cuts(city_store, now + timedelta(days=400)) == {LINE: (revoked["id"],)}
    assert client.get("/api/v1/proposals?status=pending", headers=bureau).json() == []

    actions = Counter(c.action for c in city_store.changes() if c.venue_id == VENUE)
    assert actions["violation_recorded"] == 3
    assert actions["proposal_created"] == 2
    assert actions["proposal_confirmed"] == 2
    assert actions["order_issued"] == 2
    confirmations = [c for c in city_store.changes() if c.action == "proposal_confirmed"]
    assert [c.order_ids for c in confirmations] == [[order["id"]], [revoked["id"]]]
    assert all("city-bureau" in c.actor for c in confirmations)


def test_a_rejected_proposal_orders_nothing_and_is_not_proposed_again(
    client: TestClient, bureau: dict[str, str], city_store: Store
):
    record(client, bureau, 10)
    (suspension,) = record(client, bureau, 9)["proposals"]
    rejected = client.post(
        f"/api/v1/proposals/{suspension['id']}/reject",
        json={"why": "the second visit was the same incident"}, headers=bureau,
    )  # fmt: skip
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert city_store.orders() == []
    assert LINE not in cuts(city_store, city_store.clock.now())
    (revocation,) = record(client, bureau, 8)["proposals"]
    assert revocation["step"] == "revocation"
    log = [c for c in city_store.changes() if c.action == "proposal_rejected"]
    assert len(log) == 1 and "same incident" in log[0].detail
    again = client.post(
        f"/api/v1/proposals/{suspension['id']}/confirm", json={"legal_basis": BASIS_1},
        headers=bureau,
    )  # fmt: skip
    assert again.status_code == 409 and "already rejected" in again.json()["detail"]


def test_a_proposal_is_confirmed_once(client: TestClient, bureau: dict[str, str]):
    record(client, bureau, 10)
    (suspension,) = record(client, bureau, 9)["proposals"]
    url = f"/api/v1/proposals/{suspension['id']}"
    assert client.post(f"{url}/confirm", json={"legal_basis": BASIS_1}, headers=bureau).is_success
    twice = client.post(f"{url}/confirm", json={"legal_basis": BASIS_2}, headers=bureau)
    assert twice.status_code == 409 and "already confirmed" in twice.json()["detail"]
    assert client.post(f"{url}/reject", json={"why": "late"}, headers=bureau).status_code == 409


def test_a_refused_order_leaves_the_proposal_pending(
    client: TestClient, bureau: dict[str, str], city_store: Store
):
    for hours in (10, 9, 8):
        record(client, bureau, hours)
    suspension, revocation = list_proposals(city_store)
    ok = client.post(
        f"/api/v1/proposals/{suspension.id}/confirm", json={"legal_basis": BASIS_1}, headers=bureau
    )
    assert ok.status_code == 201
    same_basis = client.post(
        f"/api/v1/proposals/{revocation.id}/confirm", json={"legal_basis": BASIS_1}, headers=bureau
    )
    assert same_basis.status_code == 409
    assert same_basis.json()["detail"]["existing_id"] == ok.json()["order"]["id"]
    assert list_proposals(city_store, status="pending") == [
        p for p in list_proposals(city_store) if p.id == revocation.id
    ]
    bad = client.post(
        f"/api/v1/proposals/{revocation.id}/confirm", json={"legal_basis": "decision 8"},
        headers=bureau,
    )  # fmt: skip
    assert bad.status_code == 422 and "document number" in bad.text
    assert client.post(
        f"/api/v1/proposals/{revocation.id}/confirm", json={"legal_basis": BASIS_2}, headers=bureau
    ).is_success


@pytest.fixture
def two_bureaus(city_store: Store, small_city: dict) -> Store:
    small_city["authorities"].append({"name": "east-bureau", "regions": ["620200"]})
    import_document(city_store, small_city, "two bureaus")
    return city_store


def test_jurisdiction_bounds_who_records_sees_and_confirms(
    client: TestClient, bureau: dict[str, str], two_bureaus: Store
):
    east = bearer(create_token(two_bureaus, "bureau", "test", authority="east-bureau")[1])
    admin = bearer(ADMIN_TOKEN)
    observed = (two_bureaus.clock.now() - timedelta(hours=1)).isoformat()
    refused = client.post(
        f"/api/v1/venues/{VENUE}/violations",
        json={"kind": "minors_admitted", "observed_at": observed}, headers=east,
    )  # fmt: skip
    assert refused.status_code == 403 and "outside the jurisdiction" in refused.json()["detail"]
    record(client, bureau, 10)
    (suspension,) = record(client, admin, 9)["proposals"]  # an admin records for any venue
    assert suspension["authority_id"] == 1  # the venue's authority, city-bureau
    assert client.get("/api/v1/proposals", headers=east).json() == []
    assert len(client.get("/api/v1/proposals", headers=bureau).json()) == 1
    for role in ("noc", "auditor"):
        token = bearer(create_token(two_bureaus, role, "test")[1])
        assert len(client.get("/api/v1/proposals", headers=token).json()) == 1
        assert (
            client.post(f"/api/v1/venues/{VENUE}/violations", json={}, headers=token).status_code
            == 403
        )
    url = f"/api/v1/proposals/{suspension['id']}"
    forbidden = client.post(f"{url}/confirm", json={"legal_basis": BASIS_1}, headers=east)
    assert forbidden.status_code == 403
    assert client.post(f"{url}/reject", json={"why": "not ours"}, headers=east).status_code == 403
    by_admin = client.post(f"{url}/confirm", json={"legal_basis": BASIS_1}, headers=admin)
    assert by_admin.status_code == 201
    assert by_admin.json()["order"]["authority_id"] == 1, "issued as the venue's authority"


def test_a_venue_outside_every_jurisdiction_cannot_be_ordered_by_confirmation(
    client: TestClient, city_store: Store
):
    admin = bearer(ADMIN_TOKEN)
    cafe_two = 2  # no region: no bureau's jurisdiction holds it
    record(client, admin, 10, venue=cafe_two)
    (suspension,) = record(client, admin, 9, venue=cafe_two)["proposals"]
    assert suspension["authority_id"] is None
    refused = client.post(
        f"/api/v1/proposals/{suspension['id']}/confirm", json={"legal_basis": BASIS_1},
        headers=admin,
    )  # fmt: skip
    assert refused.status_code == 409 and "no authority" in refused.json()["detail"]
    assert list_proposals(city_store)[0].status == "pending"
    assert city_store.orders() == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"kind": "jaywalking"}, "kind"),
        ({"observed_at": "2026-11-24T10:00:00"}, "observed_at"),  # no offset
        ({"observed_at": "2026-11-25T10:00:00+08:00"}, "observed_at"),  # in the future
        ({"note": "line one\nline two"}, "note"),
    ],
)
def test_bad_violations_are_422_and_recorded_nowhere(
    client: TestClient, bureau: dict[str, str], city_store: Store, body: dict, where: str
):
    observed = (city_store.clock.now() - timedelta(hours=1)).isoformat()
    response = client.post(
        f"/api/v1/venues/{VENUE}/violations",
        json={"kind": "minors_admitted", "observed_at": observed, **body}, headers=bureau,
    )  # fmt: skip
    assert response.status_code == 422, response.text
    assert where in response.text
    assert not [c for c in city_store.changes() if c.action == "violation_recorded"]


def test_after_hours_violations_are_recorded_but_propose_nothing(
    client: TestClient, bureau: dict[str, str], city_store: Store
):
    for hours in (30, 20, 10):
        assert record(client, bureau, hours, kind="after_hours")["proposals"] == []
    assert list_proposals(city_store) == []


def test_the_suspension_term_comes_from_the_settings(city_store: Store, bureau: dict[str, str]):
    with make_client(city_store, suspension_days=14) as client:
        record(client, bureau, 10)
        (suspension,) = record(client, bureau, 9)["proposals"]
    assert suspension["term_days"] == 14


def test_concurrent_recordings_propose_each_step_once(city_store: Store):
    observed = city_store.clock.now() - timedelta(hours=1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda i: record_violation(
                    city_store, "网吧 One", "minors_admitted", observed, f"visit {i}", "admin"
                ),
                range(8),
            )
        )
    assert sorted(p.step for p in list_proposals(city_store)) == ["revocation", "suspension"]


def test_ids_beyond_the_database_are_client_errors(client: TestClient, bureau: dict[str, str]):
    big = 2**63
    confirm = {"legal_basis": BASIS_1}
    assert (
        client.post(f"/api/v1/proposals/{big}/confirm", json=confirm, headers=bureau).status_code
        == 422
    )
    assert (
        client.post(
            f"/api/v1/proposals/{big}/reject", json={"why": "x"}, headers=bureau
        ).status_code
        == 422
    )
    assert (
        client.post(f"/api/v1/venues/{big}/violations", json={}, headers=bureau).status_code == 422
    )
    for venue in (str(big), "²"):
        listed = client.get("/api/v1/proposals", params={"venue": venue}, headers=bureau)
        assert listed.status_code == 404
    assert (
        client.post("/api/v1/proposals/7/confirm", json=confirm, headers=bureau).status_code == 404
    )
