"""Pulled order feeds end to end: signed documents served over HTTP on 127.0.0.1, pulled into a
real SQLite store, applied entry by entry like API calls, and every pull recorded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import col, select
from typer.testing import CliRunner

from api.cli.feeds import authority_app, feed_app
from controller import feeds
from controller.audit import public_hex
from controller.inventory import import_document
from controller.models import Feed, OrderEvent
from controller.scheduler import PassScheduler
from controller.store import Store

BUREAU = "city-bureau"
ACTOR = f"feed:{BUREAU}"
CUT_FROM = "2026-11-25T00:00:00+08:00"
UNTIL = "2026-12-25T00:00:00+08:00"


class FeedServer:
    """A bureau's web server: serves whatever bytes the test puts at a path."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.requests = 0
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                served.requests += 1
                body = served.documents.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def publish(self, path: str, body: str | bytes) -> None:
        self.documents[path] = body.encode() if isinstance(body, str) else body


@pytest.fixture
def server() -> Iterator[FeedServer]:
    running = FeedServer()
    running.thread.start()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()
    running.thread.join(timeout=5)


@pytest.fixture
def bureau_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def feed(city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey) -> Feed:
    feeds.add_key(city_store, BUREAU, public_hex(bureau_key.public_key()), actor="test")
    return feeds.add_feed(city_store, BUREAU, server.url("/orders.json"), 60, actor="test")


def document(sequence: int, published: str, orders: list[dict], authority: str = BUREAU) -> str:
    return json.dumps(
        {"format": "curfew-feed/1", "authority": authority, "sequence": sequence,
         "published_at": published, "orders": orders},
        ensure_ascii=False, indent=1,
    )  # fmt: skip


def issue(entry_id: str, kind: str, basis: str, until: str, **extra: object) -> dict:
    return {"id": entry_id, "action": "issue", "venue": "网吧 One", "kind": kind,
            "reason": "unlicensed" if kind == "disconnect" else "after_hours",
            "legal_basis": basis, "effective_from": CUT_FROM, "effective_until": until,
            **extra}  # fmt: skip


FIRST = document(
    1,
    "2026-11-24T20:00:00+08:00",
    [
        issue("2026-08", "disconnect", "临兰文执发〔2026〕8号", "2026-12-25T00:00:00+08:00"),
        issue("2026-09", "curfew", "临兰文执发〔2026〕9号", "2027-01-01T00:00:00+08:00"),
    ],
)
# one valid (new), one amended, one revoked and one malformed entry
SECOND = document(
    2,
    "2026-11-24T21:00:00+08:00",
    [
        issue("2026-07", "curfew", "临兰文执发〔2026〕7号", "2026-12-25T00:00:00+08:00"),
        {"id": "2026-08", "action": "amend", "why": "term extended on appeal",
         "effective_until": "2027-01-25T00:00:00+08:00"},
        {"id": "2026-09", "action": "revoke", "reason": "licence restored"},
        issue("2026-10", "curfew", "letter of 3 May", "2026-12-25T00:00:00+08:00"),
    ],
)  # fmt: skip


def orders(store: Store) -> list[tuple]:
    return [
        (o.id, store.find_venue(o.venue_id).name, o.kind, o.legal_basis, o.status, o.version,
         o.supersedes_id, o.external_id, o.effective_from, o.effective_until, o.issued_by)
        for o in store.orders()
    ]  # fmt: skip


def events(store: Store) -> list[tuple]:
    with store.session() as s:
        rows = s.exec(select(OrderEvent).order_by(col(OrderEvent.id)))
        return [(e.order_id, e.action, e.actor, e.reason) for e in rows]


def log(store: Store) -> list[tuple]:
    return [(c.seq, c.action, c.actor, c.hash) for c in store.changes()]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def pull_first_two(store: Store, server: FeedServer, key: Ed25519PrivateKey, feed: Feed):
    server.publish("/orders.json", feeds.sign_document(key, FIRST))
    first = feeds.pull_feed(store, feed.id)
    assert first.outcome == "applied" and first.counts == {"issued": 2}
    server.publish("/orders.json", feeds.sign_document(key, SECOND))
    return feeds.pull_feed(store, feed.id)


def test_a_feed_applies_new_amended_and_revoked_orders_and_reports_the_malformed_entry(
    city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey, feed: Feed
):
    report = pull_first_two(city_store, server, bureau_key, feed)

    assert report.outcome == "applied" and report.sequence == 2
    assert report.counts == {"issued": 1, "amended": 1, "revoked": 1, "rejected": 1}
    [rejected] = report.rejected
    assert (rejected.position, rejected.entry_id, rejected.action) == (4, "2026-10", "issue")
    assert rejected.reason.startswith("legal_basis: must be a document number")
    one = "网吧 One"
    assert orders(city_store) == [
        (1, one, "disconnect", "临兰文执发〔2026〕8号", "superseded", 1, None, "2026-08",
         utc(CUT_FROM), utc("2026-12-25T00:00:00+08:00"), ACTOR),
        (2, one, "curfew", "临兰文执发〔2026〕9号", "revoked", 1, None, "2026-09",
         utc(CUT_FROM), utc("2027-01-01T00:00:00+08:00"), ACTOR),
        (3, one, "curfew", "临兰文执发〔2026〕7号", "active", 1, None, "2026-07",
         utc(CUT_FROM), utc("2026-12-25T00:00:00+08:00"), ACTOR),
        (4, one, "disconnect", "临兰文执发〔2026〕8号", "active", 2, 1, "2026-08",
         utc(CUT_FROM), utc("2027-01-25T00:00:00+08:00"), ACTOR),
    ]  # fmt: skip
    assert events(city_store) == [
        (1, "issue", ACTOR, "unlicensed"),
        (2, "issue", ACTOR, "after_hours"),
        (3, "issue", ACTOR, "after_hours"),
        (1, "supersede", ACTOR, "term extended on appeal"),
        (4, "amend", ACTOR, "term extended on appeal"),
        (2, "revoke", ACTOR, "licence restored"),
    ]
    admin = [(c.action, c.actor) for c in city_store.changes()]
    assert admin == [
        ("inventory_imported", "cli"),
        ("authority_key_added", "test"),
        ("feed_added", "test"),
        ("order_issued", ACTOR),
        ("order_issued", ACTOR),
        ("feed_pulled", ACTOR),
        ("order_issued", ACTOR),
        ("order_superseded", ACTOR),
        ("order_amended", ACTOR),
        ("order_revoked", ACTOR),
        ("feed_pulled", ACTOR),
    ]
    record = city_store.changes()[-1]
    assert record.seq == report.change_seq and record.order_ids == [2, 3, 4]
    detail = json.loads(record.detail)
    assert detail["outcome"] == "applied" and detail["sequence"] == 2
    assert detail["counts"] == {"issued": 1, "amended": 1, "revoked": 1, "rejected": 1}
    assert [e["id"] for e in detail["entries"] if e["result"] == "rejected"] == ["2026-10"]
    row = feeds.find_feed(city_store, feed.id)
    assert row.last_sequence == 2 and row.last_published_at == utc("2026-11-24T21:00:00+08:00")
    assert row.last_error.startswith("entry 4 (2026-10): legal_basis")


def test_pulling_the_same_feed_again_changes_nothing_but_records_the_pull(
    city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey, feed: Feed
):
    pull_first_two(city_store, server, bureau_key, feed)
    before = (orders(city_store), events(city_store), log(city_store))

    again = feeds.pull_feed(city_store, feed.id)

    assert again.outcome == "unchanged" and again.sequence == 2 and not again.changed
    assert (orders(city_store), events(city_store)) == before[:2]
    after = log(city_store)
    assert after[:-1] == before[2] and len(after) == len(before[2]) + 1
    record = city_store.changes()[-1]
    assert record.action == "feed_pulled" and record.order_ids == []
    assert json.loads(record.detail)["outcome"] == "unchanged"
    assert feeds.find_feed(city_store, feed.id).last_sequence == 2


def _flip_signature(key: Ed25519PrivateKey, text: str) -> str:
    envelope = json.loads(feeds.sign_document(key, text))
    last = envelope["signature"][-1]
    envelope["signature"] = envelope["signature"][:-1] + ("0" if last != "0" else "1")
    return json.dumps(envelope)


def _edited_after_signing(key: Ed25519PrivateKey, text: str) -> str:
    envelope = json.loads(feeds.sign_document(key, text))
    envelope["document"] = envelope["document"].replace("2026-12-25", "2027-12-25")
    return json.dumps(envelope)


def _unregistered_key(key: Ed25519PrivateKey, text: str) -> str:
    return feeds.sign_document(Ed25519PrivateKey.generate(), text)


def _unregistered_key_claiming_the_bureau(key: Ed25519PrivateKey, text: str) -> str:
    envelope = json.loads(feeds.sign_document(Ed25519PrivateKey.generate(), text))
    envelope["key"] = public_hex(key.public_key())
    return json.dumps(envelope)


NEWER = document(3, "2026-11-24T21:30:00+08:00", [
    issue("2026-11", "curfew", "临兰文执发〔2026〕11号", "2026-12-25T00:00:00+08:00"),
    {"id": "2026-07", "action": "revoke", "reason": "forged"},
])  # fmt: skip


@pytest.mark.parametrize(
    ("served", "code", "reason"),
    [
        (_flip_signature, "bad_signature", "the signature does not verify"),
        (_edited_after_signing, "bad_signature", "the signature does not verify"),
        (_unregistered_key, "unknown_key", "is not a registered, unrevoked key"),
        (_unregistered_key_claiming_the_bureau, "bad_signature", "does not verify"),
        (lambda key, text: text, "unsigned", "the feed is not signed"),
        (lambda key, text: feeds.sign_document(key, FIRST), "replay",
         "sequence 1 is older than the last applied sequence 2"),
        (lambda key, text: feeds.sign_document(key, text.replace('"sequence": 3', '"sequence": 2')),
         "sequence_reused", "sequence 2 was already applied with other content"),
        (lambda key, text: feeds.sign_document(key, text.replace("21:30", "20:30")),
         "replay", "is older than the last applied feed"),
        (lambda key, text: feeds.sign_document(key, text.replace(BUREAU, "other-bureau")),
         "wrong_authority", "the document is 'other-bureau''s feed"),
        (lambda key, text: b"\x00not json", "malformed", "not UTF-8 JSON"),
    ],
    ids=["broken-signature", "edited-document", "unknown-key", "claimed-key", "unsigned",
         "older-feed-replayed", "sequence-reused", "published-earlier", "other-authority",
         "garbage"],
)  # fmt: skip
def test_a_rejected_feed_changes_nothing_and_is_reported(
    city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey, feed: Feed,
    served, code: str, reason: str,
):  # fmt: skip
    pull_first_two(city_store, server, bureau_key, feed)
    before = (orders(city_store), events(city_store), log(city_store))

    server.publish("/orders.json", served(bureau_key, NEWER))
    report = feeds.pull_feed(city_store, feed.id)

    assert report.outcome == "rejected" and report.code == code and reason in report.reason
    assert not report.entries and not report.changed
    assert (orders(city_store), events(city_store)) == before[:2]
    after = log(city_store)
    assert after[:-1] == before[2] and len(after) == len(before[2]) + 1
    record = city_store.changes()[-1]
    assert (record.action, record.actor, record.error) == ("feed_rejected", ACTOR, report.reason)
    detail = json.loads(record.detail)
    assert detail["code"] == code and detail["received_sha256"] == report.received_sha256
    row = feeds.find_feed(city_store, feed.id)
    assert row.last_sequence == 2 and row.last_error == report.reason


def test_a_valid_newer_feed_still_applies_after_a_rejected_one(
    city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey, feed: Feed
):
    pull_first_two(city_store, server, bureau_key, feed)
    server.publish("/orders.json", _flip_signature(bureau_key, NEWER))
    assert feeds.pull_feed(city_store, feed.id).outcome == "rejected"

    server.publish("/orders.json", feeds.sign_document(bureau_key, NEWER))
    report = feeds.pull_feed(city_store, feed.id)

    assert report.outcome == "applied" and report.counts == {"issued": 1, "revoked": 1}
    assert [(o.id, o.external_id, o.status) for o in city_store.orders()][2:] == [
        (3, "2026-07", "revoked"), (4, "2026-08", "active"), (5, "2026-11", "active"),
    ]  # fmt: skip
    assert feeds.find_feed(city_store, feed.id).last_error is None


def test_each_bad_entry_is_skipped_with_its_reason_while_the_rest_apply(
    city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey, feed: Feed
):
    basis = "临兰文执发〔2026〕{}号".format
    until = "2026-12-25T00:00:00+08:00"
    text = document(1, "2026-11-24T20:00:00+08:00", [
        issue("a", "curfew", basis(1), until, venue="Cafe Two"),
        issue("b", "curfew", basis(2), until, venue="网吧 Nowhere"),
        issue("c", "curfew", basis(3), until, colour="red"),
        issue("d", "curfew", basis(4), until, authority="other-bureau"),
        {"id": "e", "action": "amend", "why": "no such order", "open_ended": True},
        {"id": "f", "action": "cancel", "reason": "not an action"},
        issue("g", "curfew", basis(5), until),
        issue("g", "curfew", basis(6), until),
        "not an object",
        issue("h", "curfew", basis(7), until, effective_until="2026-11-24T00:00:00+08:00"),
        issue("i", "curfew", basis(8), until),
    ])  # fmt: skip
    server.publish("/orders.json", feeds.sign_document(bureau_key, text))

    report = feeds.pull_feed(city_store, feed.id)

    assert report.outcome == "applied"
    assert [(e.position, e.entry_id, e.result) for e in report.entries] == [
        (1, "a", "rejected"), (2, "b", "rejected"), (3, "c", "rejected"), (4, "d", "rejected"),
        (5, "e", "rejected"), (6, "f", "rejected"), (7, "g", "rejected"), (8, "g", "rejected"),
        (9, None, "rejected"), (10, "h", "rejected"), (11, "i", "issued"),
    ]  # fmt: skip
    reasons = [e.reason for e in report.rejected]
    assert "outside the jurisdiction" in reasons[0]
    assert reasons[1] == "no venue '网吧 Nowhere'"
    assert reasons[2] == "colour: Extra inputs are not permitted"
    assert reasons[3] == "a feed of 'city-bureau' issues orders only as that authority"
    assert reasons[4] == "no order was issued from entry 'e'; issue it first"
    assert reasons[5].startswith("'action' must be one of issue, amend")
    assert reasons[6] == reasons[7] and "appears 2 times" in reasons[6]
    assert reasons[8] == "an entry must be a JSON object"
    assert "effective_until must be after effective_from" in reasons[9]
    assert [(o.external_id, o.legal_basis) for o in city_store.orders()] == [("i", basis(8))]


def test_an_issue_entry_that_changes_an_issued_order_is_refused_not_reissued(
    city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey, feed: Feed
):
    server.publish("/orders.json", feeds.sign_document(bureau_key, FIRST))
    feeds.pull_feed(city_store, feed.id)
    changed = FIRST.replace('"sequence": 1', '"sequence": 2').replace("2026-12-25", "2026-12-31")
    server.publish("/orders.json", feeds.sign_document(bureau_key, changed))

    report = feeds.pull_feed(city_store, feed.id)

    assert [(e.entry_id, e.result) for e in report.entries] == [
        ("2026-08", "rejected"), ("2026-09", "unchanged"),
    ]  # fmt: skip
    assert "was issued as order 1 with other terms" in report.rejected[0].reason
    assert len(city_store.orders()) == 2


def test_suspend_and_resume_entries_are_states_not_toggles(
    city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey, feed: Feed
):
    def publish(sequence: int, action: str) -> feeds.PullReport:
        entry = {"id": "2026-08", "action": action, "reason": "appeal lodged"}
        if action == "issue":
            entry = issue("2026-08", "disconnect", "临兰文执发〔2026〕8号", UNTIL)
        text = document(sequence, f"2026-11-24T1{sequence}:00:00+08:00", [entry])
        server.publish("/orders.json", feeds.sign_document(bureau_key, text))
        return feeds.pull_feed(city_store, feed.id)

    assert publish(0, "issue").counts == {"issued": 1}
    assert publish(1, "resume").counts == {"unchanged": 1}  # active already
    assert publish(2, "suspend").counts == {"suspended": 1}
    assert publish(3, "suspend").counts == {"unchanged": 1}
    assert publish(4, "resume").counts == {"resumed": 1}
    assert [e[1] for e in events(city_store)] == ["issue", "suspend", "resume"]


def test_an_unreachable_feed_is_a_failed_pull_not_a_crash(
    city_store: Store, server: FeedServer, feed: Feed
):
    report = feeds.pull_feed(city_store, feed.id)  # nothing published: 404

    assert report.outcome == "failed" and "answered HTTP 404" in report.reason
    record = city_store.changes()[-1]
    assert record.action == "feed_failed" and "404" in record.error
    assert feeds.find_feed(city_store, feed.id).last_error == report.reason


def test_an_oversized_feed_is_cut_off_and_fails_the_pull(
    city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey, feed: Feed,
    monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    server.publish("/orders.json", feeds.sign_document(bureau_key, FIRST))
    monkeypatch.setattr(feeds, "MAX_FEED_BYTES", 100)

    report = feeds.pull_feed(city_store, feed.id)

    assert report.outcome == "failed" and "sent more than 100 bytes" in report.reason
    assert city_store.orders() == []


def test_a_revoked_key_no_longer_authenticates_the_feed(
    city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey, feed: Feed
):
    [key] = feeds.authority_keys(city_store, BUREAU)
    feeds.revoke_key(city_store, key.id, actor="test")
    server.publish("/orders.json", feeds.sign_document(bureau_key, FIRST))

    report = feeds.pull_feed(city_store, feed.id)

    assert report.outcome == "rejected" and report.code == "unknown_key"
    assert city_store.orders() == []


class CountingReconciler:
    """Stands in for the reconciler: the scheduler only needs run_pass()."""

    def __init__(self) -> None:
        self.passes = 0

    def run_pass(self, at: datetime) -> SimpleNamespace:
        self.passes += 1
        return SimpleNamespace(plan=SimpleNamespace(next_change=None))


def test_the_scheduler_pulls_due_feeds_and_a_changed_order_requests_a_pass(
    city_store: Store, server: FeedServer, bureau_key: Ed25519PrivateKey, feed: Feed
):
    server.publish("/orders.json", feeds.sign_document(bureau_key, FIRST))
    reconciler = CountingReconciler()
    scheduler = PassScheduler(
        reconciler, city_store.clock, tick=timedelta(seconds=0.2),
        feeds=feeds.feed_job(city_store),
    )  # fmt: skip
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(city_store.orders()) < 2:
            time.sleep(0.05)
        passes_after_pull = reconciler.passes
        time.sleep(0.6)  # several more ticks: the feed is not due again on a standing clock
    finally:
        scheduler.shutdown()
    assert [o.external_id for o in city_store.orders()] == ["2026-08", "2026-09"]
    assert server.requests == 1
    assert reconciler.passes > passes_after_pull >= 1
    assert [c.action for c in city_store.changes()].count("feed_pulled") == 1


def test_the_cli_registers_a_key_and_a_feed_signs_a_document_and_pulls_it(
    tmp_path: Path, small_city: dict
):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    setup = Store.open(url)
    import_document(setup, small_city, "small city")
    setup.close()
    runner = CliRunner()
    db = ["--database-url", url]
    pem, unsigned, signed = (
        tmp_path / "bureau.pem",
        tmp_path / "feed.json",
        tmp_path / "feed.signed",
    )
    # published long ago: the CLI runs on the system clock
    unsigned.write_text(FIRST.replace("2026-11-24T20:00:00", "2025-01-01T00:00:00"), "utf-8")

    made = runner.invoke(feed_app, ["keygen", "--out", str(pem)])
    assert made.exit_code == 0, made.output
    public = made.output.split("public key:")[1].split()[0]
    (tmp_path / "bureau.pub").write_text(public + "\n")
    added = runner.invoke(
        authority_app, ["add-key", "--authority", BUREAU, "--public-key",
                        str(tmp_path / "bureau.pub"), *db],
    )  # fmt: skip
    assert added.exit_code == 0 and f"key 1 registered for {BUREAU}: {public}" in added.output
    listed = runner.invoke(authority_app, ["keys", *db])
    assert public in listed.output and "active" in listed.output
    signing = runner.invoke(
        feed_app, ["sign", "--key", str(pem), "--document", str(unsigned), "--out", str(signed)]
    )
    assert signing.exit_code == 0 and "sequence 1, 2 entries" in signing.output
    assert json.loads(signed.read_text())["document"] == unsigned.read_text("utf-8")
    feed_added = runner.invoke(
        feed_app, ["add", "--authority", BUREAU, "--source", str(signed), "--interval", "60", *db]
    )
    assert feed_added.exit_code == 0, feed_added.output

    pulled = runner.invoke(feed_app, ["pull", *db])
    assert pulled.exit_code == 0, pulled.output
    assert "applied sequence 1" in pulled.output and "2 issued" in pulled.output
    again = runner.invoke(feed_app, ["pull", "--feed", "1", *db])
    assert again.exit_code == 0 and "unchanged sequence 1" in again.output
    table = runner.invoke(feed_app, ["list", *db])
    assert str(signed) in table.output and "60 s" in table.output

    signed.write_text(unsigned.read_text("utf-8"))
    refused = runner.invoke(feed_app, ["pull", *db])
    assert refused.exit_code == 1 and "REJECTED [unsigned]" in refused.output
    revoked = runner.invoke(authority_app, ["revoke-key", "1", *db])
    assert revoked.exit_code == 0 and "key 1 revoked" in revoked.output
    bad = runner.invoke(feed_app, ["add", "--authority", BUREAU, "--source", "http://x.org/f", *db])
    assert bad.exit_code == 2 and "https" in bad.output
