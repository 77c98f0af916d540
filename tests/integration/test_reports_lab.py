"""A night in the lab with one failing router, then the auditor's reports over its change log.

Three routers: R1 and R2 belong to carrier northnet, R3 to eastlink. R2 refuses connections
from 23:55 until 02:00 (its cuts come two hours late) and again from 07:55 until 08:30 (its
restore comes half an hour late). The night runs through the real reconciler, driver and SSH
on a simulated clock; the reports are then checked against counts made here from raw rows.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli.reports import app as report_cli
from api.routes.audit import router as audit_router
from controller import reports
from controller.clock import SimulatedClock
from controller.inventory import import_document
from controller.models import Change
from controller.orders import OrderCreate, issue_order
from controller.reconciler import Reconciler
from controller.scheduler import simulate
from controller.settings import Settings
from controller.store import ChangeFilter, Store
from lab.topology import Lab, city
from tests.conftest import ADMIN_TOKEN, SHANGHAI

pytestmark = pytest.mark.lab

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
SINCE, UNTIL = NIGHT - timedelta(hours=12), NIGHT + timedelta(hours=12)
THRESHOLD = timedelta(seconds=60)
CARRIERS = {"R1": "northnet", "R2": "northnet", "R3": "eastlink"}
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def at(hours: float, minutes: float = 0) -> datetime:
    return NIGHT + timedelta(hours=hours, minutes=minutes)


class Night:
    """The store after the night, and the names the tests look things up by."""

    def __init__(self, store: Store, url: str, orders: dict[str, int]) -> None:
        self.store, self.url, self.orders = store, url, orders
        self.lines = {ln.name: ln for ln in store.lines()}
        self.venues = {v.id: v.name for v in store.venues()}
        self.devices = {d.id: d.name for d in store.devices()}


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    specs, inventory = city(devices=3, lines_per_device=2)
    url = f"sqlite:///{tmp_path_factory.mktemp('reports') / 'night.db'}"
    clock = SimulatedClock(at(-3))
    with Lab(specs) as lab:
        store = Store.open(url, clock=clock)
        document = lab.inventory(inventory)
        for device in document["devices"]:
            device["carrier"] = CARRIERS[device["name"]]
        import_document(store, document, "lab city of two carriers")

        def order(name: str, venue: str, kind: str, start: datetime) -> tuple[str, int]:
            request = OrderCreate(
                venue=venue, kind=kind, reason="after_hours",
                legal_basis=f"临文执发〔2026〕{len(store.orders()) + 1}号",
                effective_from=start, issued_by="bureau official",
            )  # fmt: skip
            created = issue_order(store, request, actor="bureau:test")
            assert created.id is not None
            return name, created.id

        week_ago = at(-24 * 7)
        orders = dict(
            [
                order("R1-1 curfew", "Venue R1-1", "curfew", week_ago),
                order("R1-2 disconnect", "Venue R1-2", "disconnect", at(0, -8)),
                order("R1-2 curfew", "Venue R1-2", "curfew", week_ago),  # already cut at 00:00
                order("R2-1 curfew", "Venue R2-1", "curfew", week_ago),
                order("R2-2 disconnect", "Venue R2-2", "disconnect", at(0, -2)),
                order("R3-1 curfew", "Venue R3-1", "curfew", week_ago),
            ]
        )

        def fault(refuse: bool):
            return lambda: lab.set_fault("R2", refuse_connections=refuse)

        events = [
            (at(0, -5), fault(True)),
            (at(2), fault(False)),
            (at(8, -5), fault(True)),
            (at(8, 30), fault(False)),
        ]
        simulate(
            Reconciler(store, workers=4, device_timeout=5),
            clock,
            start=at(0, -10),
            end=at(8, 31),
            tick=timedelta(minutes=15),
            events=events,
        )
    clock.set(at(12))
    yield Night(store, url, orders)
    store.close()


def compliance_of(night: Night, carrier: str) -> reports.ComplianceReport:
    evidence = reports.load_evidence(night.store)
    return reports.compliance(evidence, carrier, SINCE, UNTIL, at(12), THRESHOLD)


def independent_on_time_share(night: Night, carrier: str) -> tuple[int, int]:
    """On time = the line's last verified outcome at window start + threshold left it cut.

    Windows are derived here from the orders themselves: a curfew's night starts at 00:00
    venue-local (or at its effective_from), a disconnect's term at its effective_from, both
    clipped to the period's start.
    """
    rows: list[Change] = night.store.changes(ChangeFilter(kinds=("outcome",), limit=10**9))
    devices = {d.id for d in night.store.devices() if d.carrier == carrier}
    due = []
    for order in night.store.orders():
        starts = [max(order.effective_from, SINCE)]
        if order.kind == "curfew":
            starts = [max(order.effective_from, NIGHT)]
        for line in night.lines.values():
            if line.venue_id == order.venue_id and line.device_id in devices:
                due.extend((line.id, start) for start in starts)
    on_time = 0
    for line_id, start in due:
        verified = [
            r for r in rows if r.line_id == line_id and r.verified and r.at <= start + THRESHOLD
        ]
        if verified and max(verified, key=lambda r: r.seq).state_after == "cut":
            on_time += 1
    return on_time, len(due)


# -- MUST SHOW ------------------------------------------------------------------------------


def test_the_compliance_report_names_the_failing_routers_late_and_failed_lines(night: Night):
    report = compliance_of(night, "northnet")
    o = night.orders
    # Late: exactly R2's two lines, by venue and order; both cut at 02:00 when R2 came back.
    late = {(w.line.device, w.line.line, w.line.venue, w.order_id) for w in report.late}
    assert late == {
        ("R2", "R2-L1", "Venue R2-1", o["R2-1 curfew"]),
        ("R2", "R2-L2", "Venue R2-2", o["R2-2 disconnect"]),
    }
    assert {w.cut_at for w in report.late} == {at(2)}
    assert {w.cut_status for w in report.late} == {"verified"}
    # Failed: only R2's outcomes, each naming its venue and order, each resolved later.
    failed = {(f.line.device, f.line.line, f.line.venue, f.order_ids) for f in report.failures}
    assert failed == {
        ("R2", "R2-L1", "Venue R2-1", (o["R2-1 curfew"],)),
        ("R2", "R2-L2", "Venue R2-2", (o["R2-2 disconnect"],)),
    }
    assert all("Unreachable" in f.error for f in report.failures)
    assert {(f.action, f.resolution, f.resolved_at) for f in report.failures} == {
        ("cut", "resolved", at(2)),
        ("restore", "resolved", at(8, 30)),
    }
    # Every northnet failure in the raw log is listed, no more, no less.
    northnet = {d.id for d in night.store.devices() if d.carrier == "northnet"}
    raw_failures = [
        c.seq
        for c in night.store.changes(ChangeFilter(kinds=("outcome",), limit=10**9))
        if c.verified is False and c.device_id in northnet and SINCE <= c.at < UNTIL
    ]
    assert [f.seq for f in report.failures] == raw_failures and len(raw_failures) == 19
    # The on-time share matches a count made from the raw change log rows.
    on_time, due = independent_on_time_share(night, "northnet")
    assert (report.on_time, report.windows_due) == (on_time, due) == (3, 5)
    assert report.on_time_share == on_time / due
    # The healthy carrier is all on time, with no failures.
    eastlink = compliance_of(night, "eastlink")
    assert (eastlink.on_time, eastlink.windows_due, eastlink.failures) == (1, 1, ())
    assert independent_on_time_share(night, "eastlink") == (1, 1)


def test_the_report_cites_the_log_head_it_was_computed_from(night: Night):
    report = compliance_of(night, "northnet")
    head = night.store.changes(ChangeFilter(limit=10**9))[-1]
    assert (report.head_seq, report.head_hash) == (head.seq, head.hash)
    assert set(report.orders_executed) == {
        night.orders[name]
        for name in ("R1-1 curfew", "R1-2 disconnect", "R2-1 curfew", "R2-2 disconnect")
    }
    assert report.orders_received == tuple(
        night.orders[n] for n in ("R1-1 curfew", "R1-2 disconnect", "R1-2 curfew",
                                  "R2-1 curfew", "R2-2 disconnect")
    )  # fmt: skip


def test_the_nights_violations_are_r2s_late_restore_and_nothing_else(night: Night):
    found = reports.find_violations(
        reports.load_evidence(night.store), SINCE, UNTIL, THRESHOLD, now=at(12)
    )
    assert [(v.kind, v.line.line, v.order_ids) for v in found] == [
        ("late_restore", "R2-L1", (night.orders["R2-1 curfew"],)),
        ("left_cut", "R2-L1", (night.orders["R2-1 curfew"],)),
    ]
    late = found[0]
    assert (late.at, late.verified_at, late.lateness_seconds) == (at(8), at(8, 30), 1800)
    assert late.line.carrier == "northnet" and late.line.venue == "Venue R2-1"
    proof = {c.seq: c for c in night.store.changes(ChangeFilter(line_id=late.line.line_id))}
    cut, *failed, restore = late.seqs
    assert proof[cut].action == "cut" and proof[cut].verified
    assert len(failed) == 2 and not any(proof[s].verified for s in failed)
    assert proof[restore].at == at(8, 30) and proof[restore].state_after == "open"


def test_the_order_timeline_shows_the_late_cut_and_restore(night: Night):
    order = night.orders["R2-1 curfew"]
    result = reports.order_timeline(reports.load_evidence(night.store), order, SINCE, UNTIL)
    [window] = result.windows
    assert (window.start, window.end, window.cut_at, window.restore_at) == (
        at(0),
        at(8),
        at(2),
        at(8, 30),
    )
    assert (window.cut_lateness_seconds, window.restore_lateness_seconds) == (7200, 1800)


# -- the API and the CLI over the same night ------------------------------------------------


@pytest.fixture
def client(night: Night) -> TestClient:
    app = create_app(Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN), night.store)
    if not any(getattr(r, "path", "").startswith("/api/v1/audit") for r in app.routes):
        app.include_router(audit_router)
    with TestClient(app) as test_client:
        yield test_client


PERIOD = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}


def test_the_api_serves_compliance_as_json_csv_and_html(client: TestClient, night: Night):
    query = {**PERIOD, "carrier": "northnet"}
    answer = client.get("/api/v1/audit/compliance", params=query, headers=AUTH)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["on_time"], body["windows_due"], body["on_time_share"]) == (3, 5, 0.6)
    assert {w["line"]["venue"] for w in body["late"]} == {"Venue R2-1", "Venue R2-2"}

    answer = client.get(
        "/api/v1/audit/compliance",
        params={**query, "format": "csv", "table": "summary"},
        headers=AUTH,
    )
    assert answer.headers["content-type"].startswith("text/csv")
    [summary] = list(csv.DictReader(io.StringIO(answer.text)))
    assert summary["on_time_share"] == "0.6000" and summary["failures"] == "19"

    page = client.get("/api/v1/audit/compliance", params={**query, "format": "html"}, headers=AUTH)
    assert page.headers["content-type"].startswith("text/html")
    assert "Signature" in page.text and "Venue R2-2" in page.text and "60.0%" in page.text


def test_the_api_judges_nothing_after_the_stores_now(client: TestClient, night: Night):
    """Asked at 03:00 about the whole day, the reports stop at 03:00: the night's restores are
    not yet due (not missing, and not the records a simulated clock left ahead of it)."""
    night.store.clock.set(at(3))
    try:
        order = night.orders["R1-1 curfew"]
        timeline = client.get(
            f"/api/v1/audit/orders/{order}/timeline", params=PERIOD, headers=AUTH
        ).json()
        assert timeline["clamped_to_now"] is True
        assert datetime.fromisoformat(timeline["until"]) == at(3)
        assert datetime.fromisoformat(timeline["requested_until"]) == UNTIL
        [window] = timeline["windows"]
        assert window["cut_status"] == "verified" and window["restore_status"] == "not yet due"
        assert window["restore_at"] is None and window["restore_seq"] is None

        query = {**PERIOD, "carrier": "northnet"}
        body = client.get("/api/v1/audit/compliance", params=query, headers=AUTH).json()
        assert body["clamped_to_now"] is True and datetime.fromisoformat(body["until"]) == at(3)
        assert {w["restore_status"] for w in body["windows"]} <= {"not yet due"}
        assert all(datetime.fromisoformat(f["at"]) < at(3) for f in body["failures"])
        page = client.get(
            "/api/v1/audit/compliance", params={**query, "format": "html"}, headers=AUTH
        )
        assert "Clamped to now" in page.text
    finally:
        night.store.clock.set(at(12))


def test_the_api_refuses_naive_instants_and_missing_tokens(client: TestClient):
    naive = {"since": "2026-11-24T12:00:00", "until": UNTIL.isoformat(), "carrier": "northnet"}
    assert client.get("/api/v1/audit/compliance", params=naive, headers=AUTH).status_code == 422
    assert client.get("/api/v1/audit/violations", params=naive, headers=AUTH).status_code == 422
    assert client.get("/api/v1/audit/violations", params=PERIOD).status_code == 401
    unknown = {**PERIOD, "carrier": "nobody"}
    assert client.get("/api/v1/audit/compliance", params=unknown, headers=AUTH).status_code == 404
    backwards = {"since": UNTIL.isoformat(), "until": SINCE.isoformat()}
    assert client.get("/api/v1/audit/violations", params=backwards, headers=AUTH).status_code == 422


def test_the_api_lists_violations_timelines_and_changes(client: TestClient, night: Night):
    found = client.get("/api/v1/audit/violations", params=PERIOD, headers=AUTH).json()
    assert [(v["kind"], v["line"]["line"]) for v in found] == [
        ("late_restore", "R2-L1"),
        ("left_cut", "R2-L1"),
    ]
    order = night.orders["R2-2 disconnect"]
    timeline = client.get(
        f"/api/v1/audit/orders/{order}/timeline", params=PERIOD, headers=AUTH
    ).json()
    [window] = timeline["windows"]
    assert window["cut_lateness_seconds"] == 7320 and window["restore_status"] == "not due"

    changes = client.get(
        "/api/v1/audit/changes", params={"carrier": "eastlink"}, headers=AUTH
    ).json()
    r3 = next(d.id for d in night.store.devices() if d.name == "R3")
    assert changes and {c["device_id"] for c in changes if c["device_id"]} == {r3}
    cut = next(c for c in changes if c["kind"] == "outcome" and c["action"] == "cut")
    assert cut["verified"] and cut["commands"] and cut["device_output"]
    by_device = client.get(
        "/api/v1/audit/changes", params={"device": "R2", **PERIOD}, headers=AUTH
    ).json()
    assert by_device and all(c["device_id"] == night.lines["R2-L1"].device_id for c in by_device)


def test_the_cli_writes_the_compliance_report(night: Night, tmp_path: Path):
    runner = CliRunner()
    common = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--database-url"]
    out = tmp_path / "northnet.html"
    result = runner.invoke(
        report_cli,
        ["compliance", "--carrier", "northnet", *common, night.url, "--format", "html",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Auditor" in out.read_text(encoding="utf-8")
    table = runner.invoke(report_cli, ["compliance", "--carrier", "northnet", *common, night.url])
    assert table.exit_code == 0, table.output
    assert "windows not cut on time: 2" in table.output and "Venue R2-1" in table.output
    violations = runner.invoke(report_cli, ["violations", *common, night.url, "--format", "csv"])
    assert violations.exit_code == 0 and violations.output.count("R2-L1") == 2
    timeline = runner.invoke(
        report_cli,
        ["timeline", "--order", str(night.orders["R1-2 curfew"]), *common, night.url],
    )
    assert timeline.exit_code == 0 and "already cut" in timeline.output
    naive = runner.invoke(
        report_cli, ["violations", "--since", "2026-11-24T12:00", "--until", UNTIL.isoformat()]
    )
    assert naive.exit_code == 2 and "offset" in naive.output
