"""Metrics, readiness and alerts over a lab night: real routers (one of them failing), a real
store on SQLite and PostgreSQL, the app through TestClient, the scheduler's wake-up rule on a
simulated clock, and a webhook receiver on 127.0.0.1 that counts what it is sent."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.metrics import exposed_names
from controller.audit import Checkpointer, generate_key, load_key
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order
from controller.reconciler import Reconciler
from controller.scheduler import PassScheduler, simulate
from controller.settings import Settings
from controller.store import Store
from controller.tokens import create_token
from lab.topology import Lab, city
from tests.conftest import ADMIN_TOKEN, SHANGHAI

pytestmark = pytest.mark.lab

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
TICK = timedelta(minutes=10)


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it (at most 100)."""

    def __init__(self) -> None:
        self.posts: list[list[dict]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server spelling
                length = int(self.headers.get("content-length", 0))
                if len(received) < 100:
                    received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v2/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def alerts(self, **labels: str) -> list[dict]:
        return [
            alert
            for post in self.posts
            for alert in post
            if all(alert["labels"].get(k) == v for k, v in labels.items())
        ]


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series of a Prometheus exposition, None if absent."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return None


@pytest.fixture
def lab() -> Iterator[Lab]:
    specs, inventory = city(devices=2, lines_per_device=2)
    with Lab(specs) as running:
        running.city_inventory = inventory  # type: ignore[attr-defined]
        yield running


@pytest.fixture
def lab_store(store: Store, lab: Lab) -> Store:
    import_document(store, lab.inventory(lab.city_inventory), "lab city")  # type: ignore[attr-defined]
    for venue in ("Venue R1-1", "Venue R2-1"):
        issue_order(
            store,
            OrderCreate(
                venue=venue, kind="curfew", reason="after_hours",
                legal_basis="临兰文执发〔2018〕3号", effective_from=NIGHT - timedelta(days=7),
            ),
            actor="bureau:test",
        )  # fmt: skip
    return store


def test_a_night_with_a_failing_router_shows_in_metrics_and_alerts_once_then_resolves(
    lab: Lab, lab_store: Store
):
    clock = lab_store.clock
    auditor = {"Authorization": f"Bearer {create_token(lab_store, 'auditor', 'test')[1]}"}
    reconciler = Reconciler(lab_store, device_timeout=5)
    with Receiver() as receiver:
        settings = Settings(
            database_url="sqlite://", admin_token=ADMIN_TOKEN, alert_webhook=receiver.url,
            alert_failed_passes=3,
        )  # fmt: skip
        app = create_app(settings, lab_store, checkpoints_disabled=True)
        hook = app.state.monitor.on_pass
        with TestClient(app) as client:
            # R2 refuses every session from before midnight: its cut at 00:00 cannot be made
            lab.set_fault("R2", refuse_connections=True)
            night = simulate(reconciler, clock, NIGHT - TICK, NIGHT + 3 * TICK, TICK, on_pass=hook)
            assert len(night) == 5 and all(
                any(r.device == "R2" and not r.verified for r in report.results)
                for report in night
            )

            metrics = client.get("/metrics", headers=auditor)
            assert metrics.status_code == 200, metrics.text
            text = metrics.text
            assert sample(text, "curfew_device_reachable", device="R2") == 0
            assert sample(text, "curfew_device_reachable", device="R1") == 1
            assert sample(text, "curfew_lines_not_in_desired_state", device="R2") == 2
            assert sample(text, "curfew_lines_not_in_desired_state", device="R1") == 0
            # R1's cut verified at its instant; R2's none yet
            assert sample(text, "curfew_change_lateness_seconds_count", action="cut") == 1
            assert sample(text, "curfew_change_lateness_seconds_bucket", action="cut", le="1.0")
            assert sample(
                text, "curfew_outcomes_total", action="cut", result="Unreachable",
                platform="cisco_ios",
            ) == 4  # fmt: skip
            assert sample(text, "curfew_passes_total") == 5
            assert sample(text, "curfew_next_transition_timestamp_seconds") == (
                NIGHT + timedelta(hours=8)
            ).timestamp()

            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text

            # one alert for R2, fired at its third failed pass, and nothing else
            wait_for(lambda: len(receiver.posts) >= 1)
            time.sleep(0.3)  # anything more would have come by now
            [firing] = receiver.alerts(device="R2")
            assert firing["labels"]["alertname"] == "CurfewDeviceFailing"
            assert firing["labels"]["severity"] == "critical"
            # fired by the third failed pass (23:50, 00:00, 00:10), the store's clock's instant
            assert datetime.fromisoformat(firing["startsAt"]) == NIGHT + TICK
            assert "endsAt" not in firing and firing["annotations"]["summary"]
            assert "Unreachable" in firing["annotations"]["description"]
            assert receiver.alerts() == [firing]

            # a restarted server reads R2's run of failed passes back from the change log
            with TestClient(create_app(settings, lab_store, checkpoints_disabled=True)) as again:
                assert again.app.state.monitor.alerts.failed_passes == {"R2": 5}

            # R2 answers again: its cut is made 40 minutes late, the alert resolves, and the
            # night ends with both restores at 08:00
            lab.set_fault("R2", refuse_connections=False)
            simulate(
                reconciler, clock, NIGHT + 4 * TICK, NIGHT + timedelta(hours=8, minutes=5), TICK,
                on_pass=hook,
            )  # fmt: skip
            wait_for(lambda: len(receiver.alerts(device="R2")) == 2)
            resolved = receiver.alerts(device="R2")[1]
            assert resolved["labels"] == firing["labels"]
            assert resolved["startsAt"] == firing["startsAt"]
            assert datetime.fromisoformat(resolved["endsAt"]) == NIGHT + 4 * TICK
            text = client.get("/metrics", headers=auditor).text
            assert sample(text, "curfew_device_reachable", device="R2") == 1
            assert sample(text, "curfew_lines_not_in_desired_state", device="R2") == 0
            assert sample(text, "curfew_change_lateness_seconds_count", action="cut") == 2
            assert sample(text, "curfew_change_lateness_seconds_sum", action="cut") == 2400
            assert sample(text, "curfew_change_lateness_seconds_count", action="restore") == 2
            assert sample(text, "curfew_change_lateness_seconds_sum", action="restore") == 0
            # what /metrics shows is what it documents (and the deploy examples are checked on)
            shown = {line.split("{")[0].split(" ")[0] for line in text.splitlines()}
            shown = {name for name in shown if name[:1] != "#" and not name.endswith("_created")}
            assert shown <= exposed_names()
        time.sleep(0.3)
        assert len(receiver.alerts()) == 2, receiver.posts


def test_metrics_are_for_noc_auditor_and_admin_tokens(lab_store: Store):
    app = create_app(Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN), lab_store)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        for role in ("noc", "auditor"):
            token = create_token(lab_store, role, "test")[1]
            answer = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200 and "curfew_store_up 1.0" in answer.text
        bureau = create_token(lab_store, "bureau", "test", authority="city-bureau")[1]
        refused = client.get("/metrics", headers={"Authorization": f"Bearer {bureau}"})
        assert refused.status_code == 403


def test_readyz_says_why_not_ready(lab: Lab, lab_store: Store, tmp_path: Path):
    clock = lab_store.clock
    key = tmp_path / "key.pem"
    generate_key(key)
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN, signing_key_file=key)
    # no checkpointer on this store, though a key is configured
    app = create_app(settings, lab_store)
    with TestClient(app) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["reasons"] == [
            "a signing key is configured but this store signs no checkpoints"
        ]

    # a key that cannot be read; no key and checkpoints not turned off
    key.write_text("not a key")
    with TestClient(create_app(settings, lab_store)) as client:
        [reason] = client.get("/readyz").json()["reasons"]
        assert reason.startswith("the signing key (CURFEW_SIGNING_KEY_FILE) is unusable")
    plain = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(plain, lab_store)) as client:
        [reason] = client.get("/readyz").json()["reasons"]
        assert reason.startswith("no signing key")

    # a running scheduler: ready after its first pass, not once its last pass is 3 ticks old,
    # and not after it stopped
    scheduler = PassScheduler(Reconciler(lab_store), clock, tick=timedelta(minutes=1))
    app = create_app(plain, lab_store, scheduler, checkpoints_disabled=True)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(app) as client:
        # the pass is done once its hook (metrics, alerts) has run too: the scheduler publishes
        # its report first, so a scrape in between shows no last pass yet
        def last_pass_shown() -> bool:
            text = client.get("/metrics", headers=admin).text
            return sample(text, "curfew_last_pass_timestamp_seconds") is not None

        wait_for(lambda: scheduler.last_report is not None and last_pass_shown())
        answer = client.get("/readyz")
        assert answer.status_code == 200, answer.text
        assert answer.json()["notes"] == ["checkpoints are off (--no-checkpoints)"]
        clock.advance(timedelta(minutes=3, seconds=1))
        answer = client.get("/readyz")
        assert answer.status_code == 503
        [reason] = answer.json()["reasons"]
        assert "is older than 3 ticks (180 s)" in reason
        text = client.get("/metrics", headers=admin).text
        assert sample(text, "curfew_ready") == 0 and sample(text, "curfew_scheduler_running") == 1
        assert sample(text, "curfew_last_pass_timestamp_seconds") is not None
    answer = TestClient(app).get("/readyz")
    assert answer.status_code == 503
    assert "the scheduler is not running" in answer.json()["reasons"]


def test_readyz_without_a_database(tmp_path: Path):
    import sqlalchemy as sa

    gone = Store(sa.create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'curfew.db'}"))
    app = create_app(Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN), gone, None, True)
    with TestClient(app) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        [reason] = answer.json()["reasons"]
        assert reason.startswith("the database does not answer")
        text = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).text
        assert sample(text, "curfew_store_up") == 0 and sample(text, "curfew_ready") == 0


def test_a_checkpoint_copy_that_fails_alerts_without_failing_the_pass_and_resolves(
    lab: Lab, lab_store: Store, tmp_path: Path
):
    key = tmp_path / "key.pem"
    generate_key(key)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    clock = lab_store.clock
    lab_store.checkpointer = Checkpointer(load_key(key), clock, directory=blocked / "checkpoints")
    reconciler = Reconciler(lab_store, device_timeout=5)
    with Receiver() as receiver:
        settings = Settings(
            database_url="sqlite://", admin_token=ADMIN_TOKEN, signing_key_file=key,
            alert_webhook=receiver.url,
        )  # fmt: skip
        app = create_app(settings, lab_store)
        with TestClient(app) as client:
            hook = app.state.monitor.on_pass
            [night] = simulate(reconciler, clock, NIGHT, NIGHT, TICK, on_pass=hook)
            assert night.ok and len(night.results) == 4  # the pass went on to its end
            wait_for(lambda: receiver.alerts(alertname="CurfewCheckpointNotPublished"))
            [alert] = receiver.alerts(alertname="CurfewCheckpointNotPublished")
            assert "not written to" in alert["annotations"]["description"]
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            text = client.get("/metrics", headers=admin).text
            assert sample(text, "curfew_checkpoint_publish_ok") == 0
            assert sample(text, "curfew_checkpoint_seq") == sample(text, "curfew_log_head_seq")
            ready = client.get("/readyz").json()
            assert ready["ready"] is True
            assert any("a checkpoint copy outside failed" in note for note in ready["notes"])

            outside = tmp_path / "outside"
            lab_store.checkpointer.directory = outside
            simulate(
                reconciler, clock, NIGHT + timedelta(hours=8), NIGHT + timedelta(hours=8), TICK,
                on_pass=hook,
            )  # fmt: skip
            wait_for(lambda: len(receiver.alerts(alertname="CurfewCheckpointNotPublished")) == 2)
            assert "endsAt" in receiver.alerts(alertname="CurfewCheckpointNotPublished")[1]
            text = client.get("/metrics", headers=admin).text
            assert sample(text, "curfew_checkpoint_publish_ok") == 1
            head = sample(text, "curfew_log_head_seq")
            assert sample(text, "curfew_checkpoint_outside_seq") == head
            assert sample(text, "curfew_checkpoint_outside_age_seconds") == 0
