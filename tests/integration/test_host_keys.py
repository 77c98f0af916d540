"""Pinned SSH host keys end to end: a router whose key changed is refused and logged, and cut
only after the NOC accepts its new key (CLI and API); a key is learnt on first use only when
the NOC said so at import, and recorded. Real SSH to lab twins, real SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from controller.inventory import InventoryError, import_document
from controller.models import Change, Device
from controller.orders import OrderCreate, issue_order
from controller.reconciler import PassReport, Reconciler
from controller.settings import Settings
from controller.store import ChangeFilter, Store
from controller.tokens import create_token
from drivers.host_keys import fingerprint
from lab.topology import Lab, city
from tests.conftest import ADMIN_TOKEN, SHANGHAI

pytestmark = pytest.mark.lab

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
CUT_AT = NIGHT + timedelta(seconds=5)
RESTORE_AT = NIGHT + timedelta(hours=8, seconds=5)


class Router:
    """R1 of a one-router lab city; a test restarts it on the same port with new host keys
    (as after `crypto key generate`, or a replaced router answering at the same address)."""

    def __init__(self) -> None:
        specs, self.city = city(1, 1)
        self.lab = Lab(specs).start()

    @property
    def key(self) -> str:
        key = self.lab.host_key("R1")
        assert key is not None
        return key

    def inventory(self, **device_changes: Any) -> dict[str, Any]:
        document = self.lab.inventory(self.city)
        document["devices"][0].update(device_changes)
        return document

    def regenerate_keys(self, seed: str) -> None:
        spec = self.lab.specs[0]
        self.lab.stop()
        self.lab = Lab([dataclasses.replace(spec, host_key_seed=seed)]).start()

    def cut(self) -> bool:
        return "ip access-group CURFEW-L1 in" in self.lab.router("R1").running_config()


@pytest.fixture
def router() -> Iterator[Router]:
    running = Router()
    yield running
    running.lab.stop()


def order(store: Store) -> None:
    issue_order(
        store,
        OrderCreate(
            venue="Venue R1-1", kind="curfew", reason="after_hours",
            legal_basis="临兰文执发〔2018〕3号", effective_from=NIGHT - timedelta(days=7),
        ),
        actor="bureau:test",
    )  # fmt: skip


def run_pass(store: Store, at: datetime = CUT_AT) -> PassReport:
    store.clock.set(at)  # type: ignore[attr-defined]
    return Reconciler(store, device_timeout=5).run_pass(at)


def device(store: Store) -> Device:
    return store.devices()[0]


def records(store: Store, action: str) -> list[Change]:
    return [c for c in store.changes(ChangeFilter(kinds=("admin",))) if c.action == action]


def refused_with(report: PassReport, error: str) -> str:
    assert not report.ok
    [result] = report.results
    assert result.error is not None and result.error.startswith(f"{error}: "), result.error
    assert not result.retryable
    return result.error


def last_outcome(store: Store) -> Change:
    return store.changes(ChangeFilter(kinds=("outcome",)))[-1]


def test_import_pins_the_given_key_in_the_transaction_that_writes_the_device(
    router: Router, store: Store
):
    broken = router.inventory()
    broken["lines"][0]["prefixes"] = ["198.18.0.1/24"]  # host bits: the file is refused whole
    with pytest.raises(InventoryError):
        import_document(store, broken, "broken.yaml")
    assert store.devices() == [] and records(store, "host_key_pinned") == []

    import_document(store, router.inventory(), "lab.yaml", actor="cli:noc")
    assert device(store).host_key == router.key
    [imported] = records(store, "inventory_imported")
    [pinned] = records(store, "host_key_pinned")
    assert pinned.seq == imported.seq - 1  # appended together, in the import's transaction
    assert pinned.device_id == device(store).id and pinned.actor == "cli:noc"
    detail = json.loads(pinned.detail)
    assert detail["key"] == router.key and detail["fingerprint"] == fingerprint(router.key)

    import_document(store, router.inventory(), "again.yaml")  # same key: nothing to record
    assert len(records(store, "host_key_pinned")) == 1


def test_a_changed_key_is_refused_and_logged_and_cut_after_the_noc_accepts_it_on_the_cli(
    router: Router, store: Store, database_url: str
):
    import_document(store, router.inventory(), "lab city")
    order(store)
    old = router.key
    router.regenerate_keys("regenerated")
    new = router.key

    report = run_pass(store)
    error = refused_with(report, "HostKeyMismatch")
    assert fingerprint(old) in error and fingerprint(new) in error
    assert last_outcome(store).error == error  # the change log says why, like any driver error
    assert not router.cut() and router.lab.passwords_offered("R1") == 0

    def accept(*args: str, answer: str = "") -> Any:
        return CliRunner().invoke(
            cli, ["devices", "accept-host-key", "R1", *args, "--database-url", database_url],
            input=answer,
        )  # fmt: skip

    wrong = accept("--fingerprint", fingerprint(old))
    assert wrong.exit_code == 1
    assert f"offers {fingerprint(new)}, not {fingerprint(old)}" in wrong.output
    declined = accept(answer="n\n")
    assert declined.exit_code != 0 and fingerprint(new) in declined.output
    assert device(store).host_key == old and records(store, "host_key_accepted") == []
    assert not run_pass(store).ok

    accepted = accept("--fingerprint", fingerprint(new))
    assert accepted.exit_code == 0, accepted.output
    assert f"pinned {fingerprint(new)} for R1" in accepted.output
    assert device(store).host_key == new
    [record] = records(store, "host_key_accepted")
    assert record.device_id == device(store).id and record.actor.startswith("cli:")
    detail = json.loads(record.detail)
    assert detail["old_fingerprint"] == fingerprint(old)
    assert detail["new_fingerprint"] == fingerprint(new)
    assert router.lab.passwords_offered("R1") == 0  # accepting never logged in

    assert run_pass(store).ok and router.cut()


def test_a_changed_key_is_accepted_over_the_api_by_the_noc_naming_its_fingerprint(
    router: Router, store: Store
):
    import_document(store, router.inventory(), "lab city")
    order(store)
    old = router.key
    router.regenerate_keys("replaced router")
    new = router.key
    refused_with(run_pass(store), "HostKeyMismatch")

    _, noc = create_token(store, "noc", "admin", label="noc desk")
    _, auditor = create_token(store, "auditor", "admin")
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN, device_timeout=5)
    url = f"/api/v1/devices/{device(store).id}/host-key"
    with TestClient(create_app(settings, store)) as client:

        def post(token: str, fingerprint_given: str) -> Any:
            return client.post(
                url, json={"fingerprint": fingerprint_given},
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip

        assert post(auditor, fingerprint(new)).status_code == 403
        wrong = post(noc, fingerprint(old))
        assert wrong.status_code == 409 and fingerprint(new) in wrong.json()["detail"]
        assert device(store).host_key == old
        assert post(noc, "SHA256:not-a-fingerprint").status_code == 422

        accepted = post(noc, fingerprint(new))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {
            "device_id": device(store).id, "device": "R1", "fingerprint": fingerprint(new),
            "previous_fingerprint": fingerprint(old), "changed": True,
        }  # fmt: skip
        listed = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {noc}"})
        assert listed.json()[0]["host_key_fingerprint"] == fingerprint(new)
    [record] = records(store, "host_key_accepted")
    assert "noc desk" in record.actor
    assert json.loads(record.detail)["old_fingerprint"] == fingerprint(old)

    assert run_pass(store).ok and router.cut()


def test_a_key_is_learnt_on_first_use_only_when_the_import_says_so_and_only_once(
    router: Router, store: Store
):
    unpinned = router.inventory()
    del unpinned["devices"][0]["host_key"]
    import_document(store, unpinned, "lab city")
    order(store)

    error = refused_with(run_pass(store), "HostKeyUnknown")
    assert fingerprint(router.key) in error and "--trust-new-host-keys" in error
    assert device(store).host_key is None and router.lab.passwords_offered("R1") == 0

    import_document(store, unpinned, "lab city", actor="cli:noc", trust_new_host_keys=True)
    assert device(store).host_key_tofu_by == "cli:noc"
    assert json.loads(records(store, "inventory_imported")[-1].detail)["host_keys_to_learn"] == [
        "R1"
    ]
    assert run_pass(store).ok and router.cut()
    learnt = device(store)
    assert learnt.host_key == router.key and learnt.host_key_tofu_by is None
    [pinned] = records(store, "host_key_pinned")
    assert pinned.device_id == learnt.id and pinned.actor == "cli:noc"
    detail = json.loads(pinned.detail)
    assert detail["key"] == router.key and detail["fingerprint"] == fingerprint(router.key)
    assert "trust on first use" in detail["how"]

    # once: asking again does not reopen a pinned key, and a changed key is refused
    import_document(store, unpinned, "lab city", trust_new_host_keys=True)
    assert device(store).host_key_tofu_by is None
    router.regenerate_keys("someone in the path")
    refused_with(run_pass(store, RESTORE_AT), "HostKeyMismatch")
    assert device(store).host_key == learnt.host_key


def test_the_api_import_allows_learning_keys_only_when_asked(router: Router, store: Store):
    unpinned = router.inventory()
    del unpinned["devices"][0]["host_key"]
    _, noc = create_token(store, "noc", "admin")
    headers = {"Authorization": f"Bearer {noc}"}
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, store)) as client:
        assert client.post("/api/v1/inventory", json=unpinned, headers=headers).status_code == 200
        listed = client.get("/api/v1/devices", headers=headers).json()
        assert listed[0]["host_key_learn_once"] is False
        allowed = client.post(
            "/api/v1/inventory", params={"trust_new_host_keys": "true"}, json=unpinned,
            headers=headers,
        )  # fmt: skip
        assert allowed.status_code == 200, allowed.text
        shown = client.get("/api/v1/devices", headers=headers).json()[0]
        assert shown["host_key_learn_once"] is True and shown["host_key_fingerprint"] is None
    order(store)
    assert run_pass(store).ok
    assert device(store).host_key == router.key
