"""Every bad input to the HTTP API is a clear 4xx naming the field, nothing is stored, and the
answer never repeats the input in bulk: the attacks of issue 8, each against a real store."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from api.app import create_app
from api.auth import PUBLIC
from api.cli import app as cli
from controller.clock import SimulatedClock, parse_instant
from controller.inventory import import_document
from controller.models import Change, Order
from controller.settings import Settings
from controller.store import Store
from controller.tokens import create_token
from tests.conftest import ADMIN_TOKEN, SMALL_CITY

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ORDER = {
    "venue": "网吧 One",
    "kind": "curfew",
    "reason": "after_hours",
    "legal_basis": "临兰文执发〔2018〕3号",
    "effective_from": "2026-11-24T00:00:00+08:00",
}
BODY_LIMIT, INVENTORY_LIMIT = 8 * 1024, 256 * 1024


@pytest.fixture
def settings() -> Settings:
    return Settings(
        database_url="sqlite://", admin_token=ADMIN_TOKEN,
        max_body_bytes=BODY_LIMIT, max_inventory_bytes=INVENTORY_LIMIT,
    )  # fmt: skip


@pytest.fixture
def client(city_store: Store, settings: Settings) -> TestClient:
    with TestClient(create_app(settings, city_store)) as test_client:
        yield test_client


def refused(response, status: int, *field: str | int) -> dict:
    """The answer is `status`, names the field, and carries neither the input nor its ctx."""
    assert response.status_code == status, response.text
    body = response.json()
    if field:
        locs = [tuple(e["loc"]) for e in body["detail"]]
        where = ("body", *field)
        assert any(loc[: len(where)] == where for loc in locs), locs
        for error in body["detail"]:
            assert set(error) == {"loc", "msg", "type"}, error
    return body


def order_count(store: Store) -> int:
    with store.session() as s:
        return len(list(s.exec(select(Order))))


# -- the attacks of issue 8 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "words"),
    [
        ("A" * 5000, "at most 64"),  # was a 500: File name too long
        ("America", "not an IANA time zone"),  # a directory of the zone database
        ("../../../../etc/passwd", "IANA time zone name"),
        ("Asia/Shanghai\n", "IANA time zone name"),
    ],
)
def test_a_venue_zone_that_is_no_zone_is_a_422_and_no_venue(
    client: TestClient, city_store: Store, zone: str, words: str
):
    response = client.post(
        "/api/v1/inventory", json={"venues": [{"name": "Cafe Z", "zone": zone}]}, headers=AUTH
    )
    body = refused(response, 422, "venues", 0, "zone")
    assert any(words in e["msg"] for e in body["detail"]), body
    assert "AAAAAAAAAA" not in response.text
    assert "Cafe Z" not in {v.name for v in city_store.venues()}


@pytest.mark.parametrize(
    "region",
    ["6201\r\n00", "6201\x0000", "\x1b[31m620100", "6" * 5000, " 620100", "620100 ", "62 01", ""],
)
def test_a_region_code_with_control_characters_or_5000_characters_is_refused(
    client: TestClient, city_store: Store, region: str
):
    response = client.post(
        "/api/v1/inventory",
        json={"venues": [{"name": "Cafe R", "zone": "Asia/Shanghai", "region": region}]},
        headers=AUTH,
    )
    body = refused(response, 422, "venues", 0, "region")
    assert any("region code" in e["msg"] for e in body["detail"]), body
    assert "666666" not in response.text
    assert "Cafe R" not in {v.name for v in city_store.venues()}


def test_an_authority_region_is_bounded_the_same_way(client: TestClient, city_store: Store):
    response = client.post(
        "/api/v1/inventory",
        json={"authorities": [{"name": "evil", "regions": ["620100", "x\r\ny"]}]},
        headers=AUTH,
    )
    refused(response, 422, "authorities", 0, "regions", 1)
    assert "evil" not in {a.name for a in city_store.authorities()}


def test_a_good_region_code_is_stored(client: TestClient, city_store: Store):
    response = client.post(
        "/api/v1/inventory",
        json={"venues": [{"name": "Cafe G", "zone": "Asia/Shanghai", "region": "620102"}]},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    assert city_store.find_venue("Cafe G").region == "620102"


@pytest.mark.parametrize(
    ("field", "instant"),
    [
        ("effective_from", "9999-12-31T23:59:59-12:00"),  # was a 500: out of the range of dates
        ("effective_from", "0001-01-01T00:00:00+14:00"),
        ("effective_from", "1999-12-31T23:59:59+00:00"),
        ("effective_until", "2200-01-01T00:00:00+08:00"),
    ],
)
def test_an_instant_outside_the_years_2000_to_2199_is_a_422_and_no_order(
    client: TestClient, city_store: Store, field: str, instant: str
):
    response = client.post("/api/v1/orders", json={**ORDER, field: instant}, headers=AUTH)
    body = refused(response, 422, field)
    assert any("2000-2199" in e["msg"] for e in body["detail"]), body
    assert order_count(city_store) == 0


def test_the_last_instant_of_2199_written_west_of_greenwich_is_accepted(client: TestClient):
    response = client.post(
        "/api/v1/orders", json={**ORDER, "effective_until": "2199-12-31T23:59:59-12:00"},
        headers=AUTH,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["effective_until"].startswith("2200-01-01T11:59:59")


def test_a_number_is_not_an_instant(client: TestClient, city_store: Store):
    # pydantic would read 2000000000 as seconds since 1970: an instant nobody wrote
    response = client.post("/api/v1/orders", json={**ORDER, "effective_from": 2e9}, headers=AUTH)
    refused(response, 422, "effective_from")
    assert order_count(city_store) == 0


def test_parse_instant_holds_the_same_range():
    with pytest.raises(ValueError, match="2000-2199"):
        parse_instant("9999-12-31T23:59:59-12:00")
    assert parse_instant("2199-12-31T23:59:59-12:00").year == 2200


def test_query_instants_are_bounded_too(client: TestClient):
    response = client.get(
        "/api/v1/changes", params={"since": "9999-12-31T23:59:59-12:00"}, headers=AUTH
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "since"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"issued_by": "x" * 101}, "issued_by"),
        ({"issued_by": "mayor\x1b[2J"}, "issued_by"),
        ({"issued_by": "mayor\u202e"}, "issued_by"),  # a bidi override: reads as another name
        ({"authority": "b" * 201}, "authority"),
        ({"venue": "v" * 201}, "venue"),
        ({"legal_basis": "临兰文执发〔2018〕3号\n"}, "legal_basis"),
        ({"legal_basis": "临兰文执发〔2018〕٣号"}, "legal_basis"),  # an Arabic-Indic digit
    ],
)
def test_every_string_of_an_order_is_bounded(
    client: TestClient, city_store: Store, change: dict, field: str
):
    response = client.post("/api/v1/orders", json={**ORDER, **change}, headers=AUTH)
    refused(response, 422, field)
    assert order_count(city_store) == 0


# -- no echo ---------------------------------------------------------------------------------


def test_a_422_never_repeats_a_large_input(client: TestClient, city_store: Store):
    big = "x" * 3500  # two of them under the body limit, far over the fields' limits
    response = client.post(
        "/api/v1/orders", json={**ORDER, "issued_by": big, "legal_basis": big}, headers=AUTH
    )
    refused(response, 422, "issued_by")
    assert "xxxxxxxxxx" not in response.text
    assert len(response.content) < 1000
    assert order_count(city_store) == 0


def test_a_long_unknown_key_is_named_but_clipped(client: TestClient):
    key = "k" * 5000
    response = client.post("/api/v1/orders", json={**ORDER, key: 1}, headers=AUTH)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "extra_forbidden"
    assert error["loc"][0] == "body" and 0 < len(error["loc"][1]) <= 64
    assert len(response.content) < 500


def test_an_inventory_of_many_bad_rows_answers_a_capped_list(client: TestClient):
    rows = [{"name": f"V{i}", "zone": "Nowhere/Zone"} for i in range(2000)]
    response = client.post("/api/v1/inventory", json={"venues": rows}, headers=AUTH)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert len(detail) == 51 and detail[-1] == {
        "loc": ["body"], "msg": "and 1950 more", "type": "too_many_errors"
    }  # fmt: skip
    assert len(response.content) < 20_000


# -- 413 -------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_413_and_nothing_is_stored(client: TestClient, city_store):
    body = json.dumps({**ORDER, "issued_by": "x" * BODY_LIMIT}).encode()
    response = client.post(
        "/api/v1/orders", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"the request body is larger than {BODY_LIMIT} bytes (CURFEW_MAX_BODY_BYTES)"
    }
    assert "xxxxxxxxxx" not in response.text
    assert order_count(city_store) == 0


def test_a_streamed_body_without_a_length_is_counted_and_refused(client: TestClient, city_store):
    def chunks():
        yield json.dumps(ORDER)[:-1].encode() + b', "issued_by": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = client.post(
        "/api/v1/orders", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert order_count(city_store) == 0


def test_the_limit_is_met_before_the_body_is_read_whole(city_store: Store, settings: Settings):
    """A 100 MB body offered in 1 KiB chunks: the app reads no further than the limit."""
    app = create_app(settings, city_store)
    pulled, sent = 0, []

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": pulled < 100_000}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/orders", "raw_path": b"/api/v1/orders",
        "root_path": "", "query_string": b"", "server": ("testserver", 80),
        "client": ("127.0.0.1", 1), "app": app,
        "headers": [(b"authorization", f"Bearer {ADMIN_TOKEN}".encode()),
                    (b"content-type", b"application/json")],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert pulled <= BODY_LIMIT // 1024 + 1
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


def test_a_declared_length_over_the_limit_is_refused_unread(city_store, settings: Settings):
    app = create_app(settings, city_store)
    pulled, sent = 0, []

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/orders", "raw_path": b"/api/v1/orders",
        "root_path": "", "query_string": b"", "server": ("testserver", 80),
        "client": ("127.0.0.1", 1), "app": app,
        "headers": [(b"content-length", b"52428800"), (b"content-type", b"application/json")],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and pulled == 0


def test_the_inventory_has_its_own_larger_limit(client: TestClient, city_store: Store):
    venues = [{"name": f"Cafe {i:05d}", "zone": "Asia/Shanghai"} for i in range(1500)]
    document = json.dumps({"venues": venues}).encode()
    assert BODY_LIMIT < len(document) < INVENTORY_LIMIT
    headers = {**AUTH, "Content-Type": "application/json"}
    assert client.post("/api/v1/inventory", content=document, headers=headers).status_code == 200
    assert city_store.find_venue("Cafe 01499").zone == "Asia/Shanghai"
    big = json.dumps({"venues": venues * 10}).encode()
    assert len(big) > INVENTORY_LIMIT
    assert client.post("/api/v1/inventory", content=big, headers=headers).status_code == 413


def test_the_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CURFEW_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("CURFEW_MAX_INVENTORY_BYTES", "4096")
    settings = Settings()
    assert (settings.max_body_bytes, settings.max_inventory_bytes) == (2048, 4096)
    assert Settings.model_fields["max_body_bytes"].default == 1024 * 1024


# -- 409 -------------------------------------------------------------------------------------


def test_revoking_a_revoked_order_is_a_409_and_records_nothing(client: TestClient, city_store):
    order = client.post("/api/v1/orders", json=ORDER, headers=AUTH).json()
    url = f"/api/v1/orders/{order['id']}/revoke"
    assert client.post(url, json={"reason": "appeal upheld"}, headers=AUTH).status_code == 200
    again = client.post(url, json={"reason": "twice"}, headers=AUTH)
    assert again.status_code == 409
    assert "already revoked" in again.json()["detail"]
    stored = city_store.order(order["id"])
    assert stored.revoke_reason == "appeal upheld"
    with city_store.session() as s:
        actions = [c.action for c in s.exec(select(Change).order_by(Change.seq))]
    assert actions.count("order_revoked") == 1


def test_suspend_and_resume_refuse_states_that_do_not_allow_them(client: TestClient, city_store):
    order = client.post("/api/v1/orders", json=ORDER, headers=AUTH).json()
    base = f"/api/v1/orders/{order['id']}"
    why = {"reason": "test"}
    assert client.post(f"{base}/resume", json=why, headers=AUTH).status_code == 409
    assert client.post(f"{base}/suspend", json=why, headers=AUTH).status_code == 200
    assert client.post(f"{base}/suspend", json=why, headers=AUTH).status_code == 409
    assert client.post(f"{base}/resume", json=why, headers=AUTH).status_code == 200
    assert client.post(f"{base}/revoke", json=why, headers=AUTH).status_code == 200
    for action in ("suspend", "resume", "revoke"):
        response = client.post(f"{base}/{action}", json=why, headers=AUTH)
        assert response.status_code == 409, action
        assert "revoked" in response.json()["detail"]


def test_an_expired_order_cannot_be_suspended(client: TestClient, city_store: Store):
    order = client.post(
        "/api/v1/orders", json={**ORDER, "effective_until": "2026-11-25T00:00:00+08:00"},
        headers=AUTH,
    ).json()  # fmt: skip
    city_store.clock.advance(timedelta(days=2))
    response = client.post(
        f"/api/v1/orders/{order['id']}/suspend", json={"reason": "late"}, headers=AUTH
    )
    assert response.status_code == 409 and "expired" in response.json()["detail"]
    assert city_store.order(order["id"]).status == "active"


# -- token list ------------------------------------------------------------------------------


def test_the_token_list_shows_an_expired_token_and_its_authority_by_name(
    client: TestClient, city_store: Store
):
    soon = city_store.clock.now() + timedelta(minutes=5)
    row, _ = create_token(city_store, "bureau", "test", authority="city-bureau", expires_at=soon)
    listed = {t["id"]: t for t in client.get("/api/v1/tokens", headers=AUTH).json()}
    assert listed[row.id]["state"] == "active"
    city_store.clock.advance(timedelta(minutes=6))
    listed = {t["id"]: t for t in client.get("/api/v1/tokens", headers=AUTH).json()}
    assert listed[row.id]["state"] == "expired"
    assert listed[row.id]["authority"] == "city-bureau"


def test_the_cli_token_list_says_expired_by_the_store_clock(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'curfew.db'}"
    store = Store.open(url, clock=SimulatedClock(datetime(2001, 1, 1, tzinfo=UTC)))
    import_document(store, json.loads(json.dumps(SMALL_CITY)), "small city")
    expiring, _ = create_token(
        store, "bureau", "test", authority="city-bureau",
        expires_at=datetime(2001, 1, 1, 0, 5, tzinfo=UTC), label="short-lived",
    )  # fmt: skip
    lasting, _ = create_token(store, "auditor", "test", label="lasting")
    store.close()
    # the CLI's store reads the real clock, which is past 2001 whenever this runs
    result = CliRunner().invoke(cli, ["token", "list", "--database-url", url])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:] if line}
    assert rows[str(expiring.id)][-1] == "expired"
    assert "city-bureau" in rows[str(expiring.id)]
    assert rows[str(lasting.id)][-1] == "active"


# -- offline docs and the schema -------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_nothing_from_another_host(client: TestClient, page: str):
    html = client.get(page)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
    urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html.text)
    urls += re.findall(r"""spec-url=["']([^"']+)["']""", html.text)
    assert urls, "the page names its assets"
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url
    assert not re.search(r"https?://", html.text), "no absolute URL at all"
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts and all(len(client.get(u).content) > 100_000 for u in scripts)


def test_the_schema_documents_every_refusal_with_its_body(client: TestClient):
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if (method.upper(), path) in PUBLIC:
                assert "security" not in operation, (method, path)
            else:  # every other operation needs a token: the API's, and /metrics
                assert {"401", "403"} <= codes, (method, path)
                assert operation["security"] == [{"HTTPBearer": []}], (method, path)
            if path.startswith("/api/v1"):
                assert "404" in codes, (method, path)
            if "requestBody" in operation:
                assert {"413", "422"} <= codes, (method, path)
    revoke = schema["paths"]["/api/v1/orders/{order_id}/revoke"]["post"]["responses"]
    assert "409" in revoke
    field = schema["components"]["schemas"]["FieldError"]
    assert set(field["properties"]) == {"loc", "msg", "type"}
    order = schema["components"]["schemas"]["OrderCreate"]["properties"]
    assert order["issued_by"]["anyOf"][0]["maxLength"] == 100
    assert order["effective_from"]["pattern"].startswith("^(?:20")
