"""Administrative changes keep their rows and their change-log record together: when the record
cannot be appended, no token, key, feed, pull bookkeeping, violation, proposal decision,
register or device flag of that change is left behind, and the next attempt works. On SQLite
and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlmodel import select

from api.app import create_app
from controller import changelog, feeds
from controller.audit import public_hex
from controller.escalation import (
    confirm_proposal,
    list_proposals,
    record_violation,
    reject_proposal,
)
from controller.licences import import_register, register
from controller.models import AuthorityKey, Feed, Line, Proposal, Token, Violation
from controller.settings import Settings
from controller.store import Store
from controller.tokens import actor_for, create_token, revoke_token
from controller.verification import verify_inventory
from drivers.base import DeviceFacts
from tests.conftest import ADMIN_TOKEN

BUREAU = "city-bureau"
SOURCE = "https://bureau.example/orders.json"


def break_the_log(
    monkeypatch: pytest.MonkeyPatch, only: Callable[[str], bool] = lambda action: True
) -> None:
    """Appending records whose action `only` picks fails, as a full disk would."""
    real = changelog.append_in

    def append_in(connection, entries):  # noqa: ANN001, ANN202 - the log's signature
        if any(only(entry.action) for entry in entries):
            raise RuntimeError("disk full")
        return real(connection, entries)

    monkeypatch.setattr(changelog, "append_in", append_in)


def rows(store: Store, model: type) -> list:
    with store.session() as s:
        return list(s.exec(select(model)))


def recorded(store: Store, action: str) -> list:
    return [c for c in store.changes() if c.action == action]


# -- tokens -------------------------------------------------------------------------------------


def test_a_token_whose_record_fails_is_not_created(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_the_log(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        create_token(city_store, "bureau", "admin", authority=BUREAU)
    monkeypatch.undo()
    assert rows(city_store, Token) == [], "no token the log does not name"
    row, secret = create_token(city_store, "bureau", "admin", authority=BUREAU)
    assert actor_for(city_store, secret) is not None
    assert [c.detail for c in recorded(city_store, "token_created")] == [
        f"token {row.id} (bureau:{BUREAU}), role bureau"
    ]


def test_a_revocation_whose_record_fails_leaves_the_token_in_force(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    row, secret = create_token(city_store, "noc", "admin")
    break_the_log(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        revoke_token(city_store, row.id, "admin")
    monkeypatch.undo()
    assert actor_for(city_store, secret) is not None and recorded(city_store, "token_revoked") == []
    assert revoke_token(city_store, row.id, "admin").revoked_at is not None
    assert actor_for(city_store, secret) is None
    assert len(recorded(city_store, "token_revoked")) == 1


# -- feeds --------------------------------------------------------------------------------------


def test_a_key_or_feed_whose_record_fails_is_not_registered(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = public_hex(Ed25519PrivateKey.generate().public_key())
    break_the_log(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        feeds.add_key(city_store, BUREAU, key, actor="test")
    with pytest.raises(RuntimeError, match="disk full"):
        feeds.add_feed(city_store, BUREAU, SOURCE, 60, actor="test")
    monkeypatch.undo()
    assert rows(city_store, AuthorityKey) == [] and rows(city_store, Feed) == []
    # the retry is not refused as a duplicate of a row nobody recorded
    added = feeds.add_key(city_store, BUREAU, key, actor="test")
    feed = feeds.add_feed(city_store, BUREAU, SOURCE, 60, actor="test")
    assert [k.id for k in feeds.authority_keys(city_store)] == [added.id]
    assert [f.id for f in feeds.list_feeds(city_store)] == [feed.id]
    assert len(recorded(city_store, "authority_key_added")) == 1
    assert len(recorded(city_store, "feed_added")) == 1


def test_a_key_revocation_whose_record_fails_leaves_the_key_accepted(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = feeds.add_key(city_store, BUREAU, public_hex(Ed25519PrivateKey.generate().public_key()))
    break_the_log(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        feeds.revoke_key(city_store, key.id)
    monkeypatch.undo()
    assert [k.revoked_at for k in feeds.authority_keys(city_store)] == [None]
    assert feeds.revoke_key(city_store, key.id).revoked_at is not None
    assert len(recorded(city_store, "authority_key_revoked")) == 1


def test_a_pull_whose_record_fails_does_not_mark_its_sequence_applied(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = Ed25519PrivateKey.generate()
    feeds.add_key(city_store, BUREAU, public_hex(signer.public_key()))
    feed = feeds.add_feed(city_store, BUREAU, SOURCE, 60)
    entry = {"id": "2026-07", "action": "issue", "venue": "网吧 One", "kind": "curfew",
             "reason": "after_hours", "legal_basis": "临兰文执发〔2026〕7号",
             "effective_from": "2026-11-25T00:00:00+08:00"}  # fmt: skip
    document = json.dumps(
        {"format": "curfew-feed/1", "authority": BUREAU, "sequence": 1,
         "published_at": "2026-11-24T21:00:00+08:00", "orders": [entry]}
    )  # fmt: skip
    envelope = feeds.sign_document(signer, document).encode()
    break_the_log(monkeypatch, only=lambda action: action.startswith("feed_"))
    with pytest.raises(RuntimeError, match="disk full"):
        feeds.pull_feed(city_store, feed.id, lambda source: envelope)
    monkeypatch.undo()
    untouched = feeds.find_feed(city_store, feed.id)
    assert (untouched.last_pulled_at, untouched.last_sequence) == (None, None)
    assert recorded(city_store, "feed_pulled") == []
    (order,) = city_store.orders()  # the entry's order is its own change, issued and recorded
    report = feeds.pull_feed(city_store, feed.id, lambda source: envelope)
    assert report.outcome == "applied" and [e.result for e in report.entries] == ["unchanged"]
    assert feeds.find_feed(city_store, feed.id).last_sequence == 1
    assert [c.seq for c in recorded(city_store, "feed_pulled")] == [report.change_seq]
    assert [o.id for o in city_store.orders()] == [order.id]


# -- escalation ---------------------------------------------------------------------------------


def observe(store: Store, hours_ago: int) -> tuple[Violation, list[Proposal]]:
    seen = store.clock.now() - timedelta(hours=hours_ago)
    return record_violation(store, "网吧 One", "minors_admitted", seen, "", "admin")


def test_a_violation_whose_record_fails_leaves_no_violation_or_proposal(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    observe(city_store, 10)
    break_the_log(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):  # the second would propose a suspension
        observe(city_store, 9)
    monkeypatch.undo()
    assert len(rows(city_store, Violation)) == 1 and rows(city_store, Proposal) == []
    _, proposals = observe(city_store, 9)
    assert [p.step for p in proposals] == ["suspension"]
    assert len(rows(city_store, Violation)) == 2
    assert len(recorded(city_store, "violation_recorded")) == 2
    assert len(recorded(city_store, "proposal_created")) == 1


def test_a_rejection_whose_record_fails_leaves_the_proposal_pending(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    observe(city_store, 10)
    _, (suspension,) = observe(city_store, 9)
    break_the_log(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        reject_proposal(city_store, suspension.id, "admin", "first offence")
    monkeypatch.undo()
    assert [p.status for p in list_proposals(city_store)] == ["pending"]
    assert reject_proposal(city_store, suspension.id, "admin", "first offence").status == "rejected"
    assert len(recorded(city_store, "proposal_rejected")) == 1


def test_a_confirmation_whose_record_fails_issues_no_order_and_leaves_the_proposal_pending(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    observe(city_store, 10)
    _, (suspension,) = observe(city_store, 9)
    # the order's own record goes through; the confirmation's record fails after it
    break_the_log(monkeypatch, only=lambda action: action == "proposal_confirmed")
    with pytest.raises(RuntimeError, match="disk full"):
        confirm_proposal(city_store, suspension.id, "admin", "临兰文执发〔2026〕7号")
    monkeypatch.undo()
    assert city_store.orders() == [], "no order without the confirmation that issued it"
    assert [p.status for p in list_proposals(city_store)] == ["pending"]
    assert recorded(city_store, "order_issued") == []
    order = confirm_proposal(city_store, suspension.id, "admin", "临兰文执发〔2026〕7号")
    assert [p.order_id for p in list_proposals(city_store)] == [order.id]
    assert [c.order_ids for c in recorded(city_store, "proposal_confirmed")] == [[order.id]]


# -- licences, inventory checks, devices --------------------------------------------------------


def test_a_register_whose_record_fails_keeps_the_previous_register(
    city_store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text("licence,venue,valid_until,status\nLIC-1,网吧 One,2027-12-31,valid\n")
    new.write_text("licence,venue,valid_until,status\nLIC-2,Cafe Two,2027-12-31,valid\n")
    import_register(city_store, old)
    break_the_log(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        import_register(city_store, new)
    monkeypatch.undo()
    assert [entry.number for entry in register(city_store)] == ["LIC-1"]
    import_register(city_store, new)
    assert [entry.number for entry in register(city_store)] == ["LIC-2"]


class Blank:
    """A device that answers, and has none of the inventory's interfaces."""

    def __enter__(self) -> Blank:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def facts(self) -> DeviceFacts:
        return DeviceFacts(interfaces={})


def test_lines_are_not_blocked_unless_their_blocking_is_recorded(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_the_log(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        verify_inventory(city_store, lambda device, timeout: Blank())
    monkeypatch.undo()
    assert {(line.blocked, line.verified_at) for line in rows(city_store, Line)} == {(None, None)}
    verify_inventory(city_store, lambda device, timeout: Blank())
    assert all(line.blocked for line in rows(city_store, Line))
    assert len(recorded(city_store, "line_blocked")) == 2


def test_a_freeze_whose_record_fails_leaves_the_device_as_it_was(
    city_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(create_app(settings, city_store)) as client:
        break_the_log(monkeypatch)
        with pytest.raises(RuntimeError, match="disk full"):
            client.post("/api/v1/devices/1/freeze", headers=admin)
        monkeypatch.undo()
        assert [d.frozen for d in city_store.devices()] == [False]
        assert client.post("/api/v1/devices/1/freeze", headers=admin).json()["frozen"] is True
    assert [d.frozen for d in city_store.devices()] == [True]
    assert len(recorded(city_store, "device_frozen")) == 1
