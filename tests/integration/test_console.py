"""The web console without a browser: its sessions and CSRF tokens, its role rules over every
route, forms refused in the API's words, and the pass progress the reconciler feeds.

(`tests/e2e/test_console_browser.py` lives a lab night in a real Chromium.)
"""

from __future__ import annotations

import copy
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import CONSOLE, CONSOLE_PUBLIC
from api.console.progress import PassProgress
from api.console.sessions import SESSION_COOKIE, Sessions
from controller.access import ROLES, Actor
from controller.clock import SimulatedClock
from controller.inventory import import_document
from controller.models import Device
from controller.reconciler import Reconciler
from controller.settings import Settings
from controller.store import ChangeFilter, Store
from controller.tokens import create_token, revoke_token
from drivers.base import Unreachable
from tests.conftest import ADMIN_TOKEN, SHANGHAI, SMALL_CITY

ORDER = {
    "venue": "网吧 One",
    "kind": "curfew",
    "reason": "after_hours",
    "legal_basis": "临兰文执发〔2018〕3号",
    "effective_from": "2026-11-24T00:00:00+08:00",
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """The small city on SQLite, with a second bureau governing Cafe East."""
    opened = Store.open(
        f"sqlite:///{tmp_path / 'curfew.db'}",
        clock=SimulatedClock(datetime(2026, 11, 24, 22, tzinfo=SHANGHAI)),
    )
    city = copy.deepcopy(SMALL_CITY)
    city["authorities"].append({"name": "east-bureau", "regions": ["620200"]})
    city["venues"].append({"name": "Cafe East", "zone": "Asia/Shanghai", "region": "620200"})
    city["lines"].append(
        {"name": "R1-L3", "venue": "Cafe East", "device": "R1",
         "interface": "GigabitEthernet0/3", "prefixes": ["198.18.3.0/24"]}
    )  # fmt: skip
    import_document(opened, city, "small city")
    yield opened
    opened.close()


@pytest.fixture
def tokens(store: Store) -> dict[str, str]:
    made = {role: create_token(store, role, "test")[1] for role in ("noc", "auditor")}
    made["admin"] = ADMIN_TOKEN
    made["bureau"] = create_token(store, "bureau", "test", authority="city-bureau")[1]
    made["east"] = create_token(store, "bureau", "test", authority="east-bureau")[1]
    return made


@pytest.fixture
def app(store: Store):
    return create_app(Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN), store)


def client_of(app, https: bool = False) -> TestClient:
    base = "https://testserver" if https else "http://testserver"
    return TestClient(app, base_url=base, follow_redirects=False)


def logged_in(app, token: str, https: bool = False) -> TestClient:
    client = client_of(app, https)
    page = client.get("/console/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = client.post("/console/login", data={"csrf": nonce, "token": token})
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: TestClient) -> str:
    page = client.get("/console/audit")
    if page.status_code == 403:
        page = client.get("/console/orders")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


# -- routes and rules ---------------------------------------------------------------------------


def served(routes) -> set[tuple[str, str]]:
    """Every (method, path) of these routes, inside the routers they include too."""
    found = set()
    for route in routes:
        if isinstance(route, APIRoute):
            found |= {(method, route.path) for method in route.methods}
        elif hasattr(route, "original_router"):  # FastAPI's included router
            found |= served(route.original_router.routes)
    return found


def test_every_console_route_has_one_rule_and_none_is_in_the_openapi_schema(app):
    routes = {(m, p) for m, p in served(app.routes) if p.startswith("/console")}
    assert routes == set(CONSOLE) | CONSOLE_PUBLIC
    assert not set(CONSOLE) & CONSOLE_PUBLIC
    assert not [p for p in app.openapi()["paths"] if p.startswith("/console")]


def test_the_console_rules_hold_for_every_route_and_every_role(app, tokens, store):
    clients = {role: logged_in(app, tokens[role]) for role in ROLES}
    csrf = {role: csrf_of(client) for role, client in clients.items()}
    anonymous = client_of(app)
    for method, path in sorted(CONSOLE):
        if path == "/console/logout":
            continue  # it would end the session the loop goes on with (tested below)
        url = concrete(path)
        unknown = anonymous.request(method, url, data={"csrf": "x"})
        if method == "GET":
            assert unknown.status_code == 303, (method, path)
            assert unknown.headers["location"] == "/console/login"
        else:
            assert unknown.status_code == 403, (method, path)
        for role in ROLES:
            answer = clients[role].request(
                method, url, data={"csrf": csrf[role], "reason": "test"}
            )
            if role in CONSOLE[(method, path)]:
                assert answer.status_code != 403 or "may not" not in answer.text, (role, path)
                assert "/console/login" not in answer.headers.get("location", ""), (role, path)
            else:
                assert answer.status_code == 403, (role, method, path, answer.status_code)
                assert f"role {role!r} may not" in answer.text.replace("&#39;", "'")


def test_an_auditor_sees_no_write_control_and_a_forged_post_is_refused(app, tokens, store):
    auditor = logged_in(app, tokens["auditor"])
    for method, path in CONSOLE:
        if method == "GET" and "{" not in path and not path.endswith("/progress"):
            page = auditor.get(path, follow_redirects=True)
            assert page.status_code == 200, path
            assert not re.search(r'<form[^>]*class="[^"]*\bwrite\b', page.text), path
            for control in ("Freeze</button>", "Issue the order", "Start a pass", "Retry"):
                assert control not in page.text, (path, control)
    forged = auditor.post(
        "/console/devices/1/freeze", data={"csrf": csrf_of(auditor), "reason": "forged"}
    )
    assert forged.status_code == 403
    assert not store.is_frozen(1)


# -- sessions -----------------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_strict_limited_and_not_the_token(app, tokens):
    for https in (False, True):
        client = logged_in(app, tokens["noc"], https=https)
        [cookie] = [c for c in client.cookies.jar if c.name == SESSION_COOKIE]
        assert cookie.value != tokens["noc"] and tokens["noc"] not in cookie.value
        assert cookie.path == "/console"
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert cookie.get_nonstandard_attr("SameSite").lower() == "strict"
        assert cookie.secure is https
        assert cookie.expires is not None
        lifetime = cookie.expires - time.time()
        assert 7.9 * 3600 < lifetime <= 8 * 3600


def test_log_in_needs_its_forms_nonce_and_a_valid_token(app, tokens):
    client = client_of(app)
    client.get("/console/login")
    refused = client.post("/console/login", data={"token": tokens["noc"]})
    assert refused.status_code == 403 and "CSRF" in refused.text
    nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text)[1]
    wrong = client.post("/console/login", data={"csrf": nonce, "token": "cfw_nope"})
    assert wrong.status_code == 401 and SESSION_COOKIE not in client.cookies
    nonce = re.search(r'name="csrf" value="([^"]+)"', wrong.text)[1]
    right = client.post("/console/login", data={"csrf": nonce, "token": tokens["noc"]})
    assert right.status_code == 303 and right.headers["location"] == "/console/tonight"


def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(app, tokens, store):
    noc = logged_in(app, tokens["noc"])
    other = logged_in(app, tokens["noc"])  # another session's token is not this one's
    for sent in ({}, {"csrf": ""}, {"csrf": "x" * 43}, {"csrf": csrf_of(other)}):
        answer = noc.post("/console/devices/1/freeze", data={**sent, "reason": "test"})
        assert answer.status_code == 403 and "CSRF" in answer.text, sent
    assert not store.is_frozen(1)
    done = noc.post("/console/devices/1/freeze", data={"csrf": csrf_of(noc), "reason": "test"})
    assert done.status_code == 303 and store.is_frozen(1)


def test_logging_out_or_revoking_the_token_ends_the_session(app, tokens, store):
    noc = logged_in(app, tokens["noc"])
    assert noc.post("/console/logout", data={"csrf": csrf_of(noc)}).status_code == 303
    assert noc.get("/console/tonight").headers["location"].startswith("/console/login")
    row, secret = create_token(store, "auditor", "test")
    auditor = logged_in(app, secret)
    assert auditor.get("/console/audit").status_code == 200
    revoke_token(store, row.id, "test")
    ended = auditor.get("/console/audit")
    assert ended.status_code == 303 and ended.headers["location"] == "/console/login?why=expired"


def test_a_session_expires_after_its_lifetime():
    now = [0.0]
    sessions = Sessions(lifetime=10, clock=lambda: now[0])
    session_id, session = sessions.open(Actor("noc", "noc"), "token")
    assert sessions.get(session_id) is session and sessions.get("another") is None
    now[0] = 9.9
    assert sessions.get(session_id) is session
    now[0] = 10.0
    assert sessions.get(session_id) is None and len(sessions) == 0


# -- forms answer as the API does ---------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"effective_from": "2026-11-25T00:00:00"},  # no UTC offset
        {"legal_basis": "order 3"},  # not a document number
        {"kind": "forever"},
        {"effective_until": "2026-11-23T00:00:00+08:00"},  # before the start
        {"venue": ""},
        {"effective_from": "1999-01-01T00:00:00+08:00"},
    ],
)
def test_the_issue_form_is_refused_in_the_apis_words(app, tokens, change):
    bureau = logged_in(app, tokens["bureau"])
    api = client_of(app)
    body = {k: v for k, v in {**ORDER, **change}.items() if v != ""}
    expected = api.post(
        "/api/v1/orders", json=body, headers={"Authorization": f"Bearer {tokens['bureau']}"}
    )
    assert expected.status_code == 422
    page = bureau.post("/console/orders", data={**ORDER, **change, "csrf": csrf_of(bureau)})
    assert page.status_code == 422
    for error in expected.json()["detail"]:
        assert escape(error["msg"]) in page.text, error


def test_a_bureau_is_refused_another_jurisdiction_and_a_duplicate_as_by_the_api(app, tokens):
    bureau = logged_in(app, tokens["bureau"])
    token = csrf_of(bureau)
    outside = bureau.post("/console/orders", data={**ORDER, "venue": "Cafe East", "csrf": token})
    assert outside.status_code == 403
    assert "outside the jurisdiction of this authority" in outside.text
    issued = bureau.post("/console/orders", data={**ORDER, "csrf": token})
    assert issued.status_code == 303
    assert re.fullmatch(r"/console/orders/\d+", issued.headers["location"])
    again = bureau.post("/console/orders", data={**ORDER, "csrf": token})
    assert again.status_code == 409 and "already orders a curfew" in again.text
    east = logged_in(app, tokens["east"])
    theirs = east.get(issued.headers["location"])
    assert theirs.status_code == 403 and "issued by another authority" in theirs.text


def test_an_order_is_suspended_resumed_amended_and_revoked_from_its_page(app, tokens, store):
    bureau = logged_in(app, tokens["bureau"])
    token = csrf_of(bureau)
    page = bureau.post("/console/orders", data={**ORDER, "csrf": token}).headers["location"]
    order_id = int(page.rsplit("/", 1)[1])
    refused = bureau.post(f"{page}/resume", data={"csrf": token, "reason": "why not"})
    assert refused.status_code == 409 and "only a suspended order resumes" in refused.text
    for action in ("suspend", "resume"):
        done = bureau.post(f"{page}/{action}", data={"csrf": token, "reason": "t"})
        assert done.status_code == 303
    amended = bureau.post(
        f"{page}/amend",
        data={"csrf": token, "why": "longer", "effective_until": "2027-01-01T00:00:00+08:00"},
    )
    assert amended.status_code == 303 and amended.headers["location"] != page
    new_page = amended.headers["location"]
    revoked = bureau.post(f"{new_page}/revoke", data={"csrf": token, "reason": "done"})
    assert revoked.status_code == 303
    assert store.order(order_id).status == "superseded"
    shown = bureau.get(new_page, follow_redirects=True).text
    assert "revoked" in shown and "order_issued" not in shown
    assert [e.action for e in store.changes(ChangeFilter(order_id=order_id, kinds=("admin",)))] == [
        "order_issued", "order_suspended", "order_resumed", "order_superseded"
    ]  # fmt: skip


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        "'", "&#39;"
    ).replace('"', "&#34;")


# -- what the pages show ------------------------------------------------------------------------


def test_a_freeze_records_its_reason_and_pages_show_it(app, tokens, store):
    noc = logged_in(app, tokens["noc"])
    token = csrf_of(noc)
    empty = noc.post("/console/devices/1/freeze", data={"csrf": token, "reason": ""})
    assert empty.status_code == 303 and not store.is_frozen(1)
    assert "reason" in noc.get("/console/failures").text  # the refusal, on the next page
    noc.post("/console/devices/1/freeze", data={"csrf": token, "reason": "cabinet work"})
    [record] = [c for c in store.changes() if c.action == "device_frozen"]
    assert record.detail == "cabinet work" and record.device_id == 1
    assert "cabinet work" in noc.get("/console/tonight").text
    noc.post("/console/devices/1/unfreeze", data={"csrf": token})
    assert not store.is_frozen(1)


def test_times_are_shown_in_the_venues_zone_or_in_utc(app, tokens):
    bureau = logged_in(app, tokens["bureau"])
    bureau.post("/console/orders", data={**ORDER, "csrf": csrf_of(bureau)})
    local = bureau.get("/console/orders").text
    assert "2026-11-24 00:00:00+08:00" in local
    utc = bureau.get("/console/orders?tz=utc").text
    assert "2026-11-23 16:00:00 UTC" in utc and 'href="/console/orders?tz=utc"' in utc


def test_the_compliance_report_downloads_as_csv_html_and_pdf(app, tokens):
    auditor = logged_in(app, tokens["auditor"])
    query = "carrier=default&since=2026-11-20T00:00:00%2B08:00&until=2026-11-25T00:00:00%2B08:00"
    page = auditor.get(f"/console/compliance?{query}")
    assert page.status_code == 200 and 'data-figure="due"' in page.text
    csv = auditor.get(f"/console/compliance?{query}&format=csv&table=summary")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("carrier,since,until")
    html = auditor.get(f"/console/compliance?{query}&format=html")
    assert "Curfew compliance report: default" in html.text
    pdf = auditor.get(f"/console/compliance?{query}&format=pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]
    bad = auditor.get("/console/compliance?since=yesterday")
    assert bad.status_code == 422 and "since" in bad.text


def test_every_page_carries_a_strict_content_security_policy(app, tokens):
    noc = logged_in(app, tokens["noc"])
    page = noc.get("/console/tonight")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in page.text and "http://" not in page.text.replace(
        "http://testserver", ""
    )
    assert noc.get("/console/static/console.js").status_code == 200


# -- the pass in progress -----------------------------------------------------------------------


def test_the_progress_tracker_follows_a_pass_router_by_router(store: Store):
    def unreachable(device: Device, timeout: float):
        raise Unreachable(f"{device.name}: connection refused")

    progress = PassProgress()
    reconciler = Reconciler(store, driver_factory=unreachable)
    reconciler.observers.append(progress)
    report = reconciler.run_pass(store.clock.now() + timedelta(seconds=1))
    run = progress.latest()
    assert run is not None and run.pass_id == report.pass_id and run.finished
    assert run.devices == ["R1"] and run.done == ["R1"] and run.lines == 3
    shown = progress.as_json({1: "R1-L1", 2: "R1-L2", 3: "R1-L3"})["pass"]
    assert shown["running"] is False and shown["devices_done"] == shown["devices"] == 1
    assert shown["failed"] == 3 and shown["verified"] == 0
    assert {f["line"] for f in shown["failures"]} == {"R1-L1", "R1-L2", "R1-L3"}
    assert all("connection refused" in f["error"] for f in shown["failures"])
    # a dry run is not a pass in progress
    reconciler.run_pass(store.clock.now(), dry_run=True)
    assert progress.latest() is run


def test_the_audit_page_verifies_the_chain_and_says_what_it_cannot_prove(app, tokens, store):
    auditor = logged_in(app, tokens["auditor"])
    page = auditor.get("/console/audit").text
    verdict = re.search(r"data-verdict>([^<]+)<", page)[1]
    assert verdict == "intact, with limits"  # this app signs no checkpoint
    assert "Cannot prove: no signed checkpoint at all" in page
    records = len(store.changes())
    assert f"{records} records" in page
