"""The HTTP API against a real SQLite store: orders, auth, validation, listings."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from controller.settings import Settings
from controller.store import Store
from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ORDER = {
    "venue": "网吧 One",
    "kind": "curfew",
    "reason": "after_hours",
    "legal_basis": "临兰文执发〔2018〕3号",
    "effective_from": "2026-11-24T00:00:00+08:00",
}


@pytest.fixture
def client(city_store: Store) -> TestClient:
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, city_store)) as test_client:
        yield test_client


def test_healthz_needs_no_token(client: TestClient):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-wrong-token"}])
def test_every_api_route_refuses_a_missing_or_wrong_token(client: TestClient, headers):
    for path in (
        "/api/v1/orders",
        "/api/v1/venues",
        "/api/v1/lines",
        "/api/v1/devices",
        "/api/v1/changes",
    ):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/v1/orders", json=ORDER, headers=headers).status_code == 401


def test_create_get_list_and_revoke_an_order(client: TestClient, city_store: Store):
    created = client.post("/api/v1/orders", json=ORDER, headers=AUTH)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["id"] > 0 and order["venue"] == "网吧 One" and order["state"] == "in_force"
    assert order["policy"] == "curfew-nightly"
    assert order["effective_from"].startswith("2026-11-23T16:00:00")
    assert client.get(f"/api/v1/orders/{order['id']}", headers=AUTH).json()["id"] == order["id"]
    assert [o["id"] for o in client.get("/api/v1/orders", headers=AUTH).json()] == [order["id"]]

    revoked = client.post(
        f"/api/v1/orders/{order['id']}/revoke", json={"reason": "appeal upheld"}, headers=AUTH
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_at"] is not None
    log = client.get("/api/v1/changes", params={"order": order["id"]}, headers=AUTH).json()
    assert [c["action"] for c in log] == ["order_issued", "order_revoked"]
    assert all(c["order_ids"] == [order["id"]] for c in log)


def test_an_order_may_name_the_venue_by_id(client: TestClient, city_store: Store):
    venue_id = city_store.find_venue("Cafe Two").id
    created = client.post("/api/v1/orders", json={**ORDER, "venue": venue_id}, headers=AUTH)
    assert created.status_code == 201 and created.json()["venue"] == "Cafe Two"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"venue": "Nowhere"}, "venue", "no venue"),
        ({"venue": "网吧 One\nconfigure terminal"}, "venue", "one line"),
        ({"kind": "forever"}, "kind", "curfew"),
        ({"effective_from": "2026-11-24T00:00:00"}, "effective_from", "timezone"),
        ({"effective_until": "2026-11-23T00:00:00+08:00"}, "body", "effective_until must be after"),
        ({"legal_basis": ""}, "legal_basis", "at least 1"),
        ({"reason": "x\r\ny"}, "reason", "after_hours"),
        ({"legal_basis": "see attached"}, "legal_basis", "document number"),
        ({"authority": "Other bureau"}, "authority", "no authority"),
        ({"surprise": 1}, "surprise", "Extra inputs"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_why(client: TestClient, change, field, words):
    response = client.post("/api/v1/orders", json={**ORDER, **change}, headers=AUTH)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(field in map(str, e["loc"]) and words in e["msg"] for e in errors), errors


def test_a_duplicate_order_is_a_409_with_the_existing_id(client: TestClient):
    first = client.post("/api/v1/orders", json=ORDER, headers=AUTH).json()
    again = client.post("/api/v1/orders", json=ORDER, headers=AUTH)
    assert again.status_code == 409
    assert again.json()["detail"]["existing_id"] == first["id"]


def test_unknown_order_is_404(client: TestClient):
    assert client.get("/api/v1/orders/999", headers=AUTH).status_code == 404
    revoke = client.post("/api/v1/orders/999/revoke", json={"reason": "x"}, headers=AUTH)
    assert revoke.status_code == 404


def test_inventory_listings_never_show_credentials(client: TestClient):
    devices = client.get("/api/v1/devices", headers=AUTH).json()
    assert (
        devices[0]["name"] == "R1" and "password" not in devices[0] and "secret" not in devices[0]
    )
    lines = client.get("/api/v1/lines", headers=AUTH).json()
    assert {ln["name"]: ln["state"] for ln in lines} == {"R1-L1": "unknown", "R1-L2": "unknown"}
    venues = client.get("/api/v1/venues", headers=AUTH).json()
    assert {v["zone"] for v in venues} == {"Asia/Shanghai", "Europe/Berlin"}


def test_changes_filters_need_zoned_instants(client: TestClient):
    response = client.get("/api/v1/changes", params={"since": "2026-11-24T00:00:00"}, headers=AUTH)
    assert response.status_code == 422


def test_openapi_schema_is_served(client: TestClient):
    schema = client.get("/openapi.json").json()
    assert "/api/v1/orders" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_settings_refuse_a_placeholder_token():
    with pytest.raises(ValueError, match="16\\+ characters"):
        Settings(admin_token="changeme")


def test_the_order_index_finds_exactly_the_records_citing_an_order(city_store: Store):
    from controller.changelog import NewChange
    from controller.store import ChangeFilter

    at = city_store.clock.now()
    city_store.append(
        [
            NewChange(at=at, kind="admin", action="note", actor="t", order_ids=[3]),
            NewChange(at=at, kind="admin", action="note", actor="t", order_ids=[3, 13]),
            NewChange(at=at, kind="admin", action="note", actor="t", order_ids=[13]),
            NewChange(at=at, kind="admin", action="note", actor="t"),
        ]
    )
    assert [c.order_ids for c in city_store.changes(ChangeFilter(order_id=3))] == [[3], [3, 13]]
    assert [c.order_ids for c in city_store.changes(ChangeFilter(order_id=13))] == [[3, 13], [13]]
    assert city_store.changes(ChangeFilter(order_id=1)) == []
