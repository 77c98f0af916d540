"""The role x endpoint matrix, tested exhaustively over every route of the app, plus the
jurisdiction and ownership rules a bureau lives by."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from api.app import create_app
from api.auth import PUBLIC, RULES
from controller.access import ROLES
from controller.inventory import import_document
from controller.settings import Settings
from controller.store import Store
from controller.tokens import create_token, revoke_token
from tests.conftest import ADMIN_TOKEN

ORDER = {
    "venue": "网吧 One",
    "kind": "curfew",
    "reason": "after_hours",
    "legal_basis": "临兰文执发〔2018〕3号",
    "effective_from": "2026-11-24T00:00:00+08:00",
}


@pytest.fixture
def two_bureaus(city_store: Store, small_city: dict) -> Store:
    """city-bureau governs region 620100 (网吧 One); east-bureau governs 620200 (Cafe East)."""
    small_city["authorities"].append({"name": "east-bureau", "regions": ["620200"]})
    small_city["venues"].append({"name": "Cafe East", "zone": "Asia/Shanghai", "region": "620200"})
    small_city["lines"].append(
        {"name": "R1-L3", "venue": "Cafe East", "device": "R1",
         "interface": "GigabitEthernet0/3", "prefixes": ["198.18.3.0/24"]}
    )  # fmt: skip
    import_document(city_store, small_city, "two bureaus")
    return city_store


@pytest.fixture
def tokens(two_bureaus: Store) -> dict[str, str]:
    # token 1 is a spare: the matrix test revokes /api/v1/tokens/1 before routes sorted after it
    create_token(two_bureaus, "auditor", "test", label="spare")
    made = {
        role: create_token(two_bureaus, role, "test")[1] for role in ("noc", "auditor", "admin")
    }
    made["bureau"] = create_token(two_bureaus, "bureau", "test", authority="city-bureau")[1]
    made["east"] = create_token(two_bureaus, "bureau", "test", authority="east-bureau")[1]
    return made


@pytest.fixture
def client(two_bureaus: Store) -> TestClient:
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, two_bureaus)) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    """Every (method, path) the app serves: top-level routes, and every operation of the
    OpenAPI schema (which includes the routes of included routers)."""
    found = set()
    for route in client.app.routes:
        if isinstance(route, APIRoute | Route):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))
    for path, operations in client.app.openapi()["paths"].items():
        for method in operations:
            found.add((method.upper(), path))
    return found


def test_every_route_has_exactly_one_rule(client: TestClient):
    routes = app_routes(client)
    unguarded = routes - set(RULES) - PUBLIC
    assert not unguarded, f"routes without an access rule: {sorted(unguarded)}"
    stale = set(RULES) - routes
    assert not stale, f"rules for routes that do not exist: {sorted(stale)}"
    assert not set(RULES) & PUBLIC


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_the_matrix_holds_for_every_route_and_every_role(client: TestClient, tokens, two_bureaus):
    # an order of city-bureau with id 1, so bureau calls on /orders/1 are its own
    assert (
        client.post("/api/v1/orders", json=ORDER, headers=bearer(tokens["bureau"])).status_code
        == 201
    )
    for method, path in sorted(RULES):
        url = concrete(path)
        anonymous = client.request(method, url)
        assert anonymous.status_code == 401, (method, path)
        assert client.request(method, url, headers=bearer("cfw_not-a-token")).status_code == 401
        for role in ROLES:
            response = client.request(method, url, headers=bearer(tokens[role]), json={})
            if role in RULES[(method, path)]:
                assert response.status_code not in (401, 403), (role, method, path, response.text)
            else:
                assert response.status_code == 403, (role, method, path, response.text)
                assert "may not" in response.json()["detail"]


def test_public_routes_need_no_token(client: TestClient):
    # /readyz answers without a token too: 503 here, as this app has no signing key
    answers = {("GET", "/readyz"): 503}
    for method, path in PUBLIC:
        assert client.request(method, path).status_code == answers.get((method, path), 200), path


def test_a_bureau_cannot_order_a_venue_outside_its_jurisdiction(client: TestClient, tokens):
    response = client.post(
        "/api/v1/orders", json={**ORDER, "venue": "Cafe East"}, headers=bearer(tokens["bureau"])
    )
    assert response.status_code == 403
    assert "outside the jurisdiction" in response.json()["detail"]
    east = client.post(
        "/api/v1/orders", json={**ORDER, "venue": "Cafe East"}, headers=bearer(tokens["east"])
    )
    assert east.status_code == 201


def test_noc_cannot_create_orders_and_auditors_cannot_write_anything(client: TestClient, tokens):
    assert (
        client.post("/api/v1/orders", json=ORDER, headers=bearer(tokens["noc"])).status_code == 403
    )
    writes = [(m, p) for m, p in RULES if m in ("POST", "PUT", "PATCH", "DELETE")]
    assert writes
    for method, path in writes:
        response = client.request(
            method, concrete(path), headers=bearer(tokens["auditor"]), json={}
        )
        assert response.status_code == 403, (method, path)


def test_a_bureau_sees_and_manages_only_its_own_orders(client: TestClient, tokens):
    mine = client.post("/api/v1/orders", json=ORDER, headers=bearer(tokens["bureau"])).json()
    theirs = client.post(
        "/api/v1/orders", json={**ORDER, "venue": "Cafe East"}, headers=bearer(tokens["east"])
    ).json()
    listed = client.get("/api/v1/orders", headers=bearer(tokens["bureau"])).json()
    assert [o["id"] for o in listed] == [mine["id"]]
    assert (
        client.get(f"/api/v1/orders/{theirs['id']}", headers=bearer(tokens["bureau"])).status_code
        == 403
    )
    revoke = client.post(
        f"/api/v1/orders/{theirs['id']}/revoke", json={"reason": "not mine"},
        headers=bearer(tokens["bureau"]),
    )  # fmt: skip
    assert revoke.status_code == 403
    venues = client.get("/api/v1/venues", headers=bearer(tokens["bureau"])).json()
    assert [v["name"] for v in venues] == ["网吧 One"]
    everything = client.get("/api/v1/orders", headers=bearer(tokens["auditor"])).json()
    assert {o["id"] for o in everything} == {mine["id"], theirs["id"]}


def test_revoked_and_expired_tokens_are_401(client: TestClient, two_bureaus: Store):
    row, secret = create_token(two_bureaus, "auditor", "test")
    assert client.get("/api/v1/orders", headers=bearer(secret)).status_code == 200
    revoke_token(two_bureaus, row.id, "test")
    assert client.get("/api/v1/orders", headers=bearer(secret)).status_code == 401
    from datetime import timedelta

    soon = two_bureaus.clock.now() + timedelta(minutes=5)
    _, expiring = create_token(two_bureaus, "auditor", "test", expires_at=soon)
    assert client.get("/api/v1/orders", headers=bearer(expiring)).status_code == 200
    two_bureaus.clock.advance(timedelta(minutes=6))
    assert client.get("/api/v1/orders", headers=bearer(expiring)).status_code == 401


def test_tokens_are_shown_once_and_stored_only_as_hashes(client: TestClient, two_bureaus: Store):
    created = client.post(
        "/api/v1/tokens", json={"role": "bureau", "authority": "city-bureau"},
        headers=bearer(ADMIN_TOKEN),
    )  # fmt: skip
    assert created.status_code == 201
    secret = created.json()["token"]
    listed = client.get("/api/v1/tokens", headers=bearer(ADMIN_TOKEN)).json()
    assert all("token" not in t and "token_hash" not in t for t in listed)
    with two_bureaus.session() as s:
        from sqlmodel import select

        from controller.models import Token

        stored = [t.token_hash for t in s.exec(select(Token))]
    assert secret not in stored and all(len(h) == 64 for h in stored)
    assert (
        client.post(
            "/api/v1/tokens", json={"role": "bureau"}, headers=bearer(ADMIN_TOKEN)
        ).status_code
        == 422
    ), "a bureau token needs an authority"
