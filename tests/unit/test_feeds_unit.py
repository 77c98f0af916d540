"""Order feeds piece by piece: the envelope and its signature, the document's shape, sources,
keys and feeds at registration, due-ness, and the scheduler's feed job."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller import feeds
from controller.audit import public_hex
from controller.models import Feed
from controller.scheduler import PassScheduler
from controller.store import Store

KEY = Ed25519PrivateKey.generate()
DOCUMENT = json.dumps(
    {"format": "curfew-feed/1", "authority": "city-bureau", "sequence": 1,
     "published_at": "2026-11-24T21:00:00+08:00", "orders": []}
)  # fmt: skip


def test_the_signature_covers_the_tag_and_the_exact_document_text():
    signed = feeds.read_envelope(feeds.sign_document(KEY, DOCUMENT).encode())

    assert signed.text == DOCUMENT and signed.key == public_hex(KEY.public_key())
    KEY.public_key().verify(signed.signature, feeds.FEED_TAG + DOCUMENT.encode())
    with pytest.raises(InvalidSignature):  # a signature of the bare text is not a feed's
        KEY.public_key().verify(signed.signature, DOCUMENT.encode())
    with pytest.raises(InvalidSignature):  # one space more is another document
        KEY.public_key().verify(signed.signature, feeds.FEED_TAG + (DOCUMENT + " ").encode())


@pytest.mark.parametrize(
    ("envelope", "code", "message"),
    [
        ([1, 2], "malformed", "not a JSON object"),
        ({"document": DOCUMENT}, "unsigned", "not signed"),
        ({"document": DOCUMENT, "signature": "ab" * 64, "note": "x"}, "malformed", "note"),
        ({"document": {"format": 1}, "signature": "ab" * 64}, "malformed", "as a JSON string"),
        ({"document": DOCUMENT, "signature": "ab" * 10}, "bad_signature", "64 bytes of hex"),
        ({"document": DOCUMENT, "signature": "zz" * 64}, "bad_signature", "not hex"),
        ({"document": DOCUMENT, "signature": "ab" * 64, "key": 7}, "malformed", "hex public key"),
    ],
)
def test_a_malformed_envelope_is_rejected_with_a_reason(envelope, code: str, message: str):
    with pytest.raises(feeds.FeedRejected) as caught:
        feeds.read_envelope(json.dumps(envelope).encode())
    assert caught.value.code == code and message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DOCUMENT.replace('"sequence": 1', '"sequence": 1, "sequence": 9'), "duplicate key"),
        (DOCUMENT.replace('"sequence": 1', '"sequence": NaN'), "NaN is not JSON"),
        (DOCUMENT.replace('"sequence": 1', '"sequence": true'), "sequence"),
        (DOCUMENT.replace('"sequence": 1', '"sequence": -1'), "sequence"),
        (DOCUMENT.replace("+08:00", ""), "published_at"),
        (DOCUMENT.replace("curfew-feed/1", "curfew-feed/2"), "format"),
        (DOCUMENT.replace('"orders": []', '"orders": [], "extra": 1'), "extra"),
        (DOCUMENT.replace('"orders": []', '"orders": {}'), "orders"),
    ],
)
def test_a_malformed_document_is_rejected_whole(text: str, message: str):
    with pytest.raises(feeds.FeedRejected) as caught:
        feeds.read_document(text)
    assert caught.value.code == "malformed" and message in str(caught.value)


def test_a_well_formed_document_reads_back():
    document = feeds.read_document(DOCUMENT)
    assert (document.authority, document.sequence, document.orders) == ("city-bureau", 1, [])
    assert document.published_at == datetime(2026, 11, 24, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "accepted"),
    [
        ("https://bureau.example.cn/feed.json", "https://bureau.example.cn/feed.json"),
        ("http://127.0.0.1:8080/feed.json", "http://127.0.0.1:8080/feed.json"),
        ("http://[::1]:8080/f", "http://[::1]:8080/f"),
        ("http://bureau.example.cn/feed.json", None),
        ("ftp://bureau.example.cn/feed.json", None),
        ("https:///feed.json", None),
        ("   ", None),
    ],
)
def test_sources_are_https_loopback_http_or_files(source: str, accepted: str | None):
    if accepted is None:
        with pytest.raises(feeds.FeedError):
            feeds.check_source(source)
    else:
        assert feeds.check_source(source) == accepted


def test_a_file_source_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert feeds.check_source("feeds/city.json") == str(tmp_path / "feeds" / "city.json")


def test_reading_a_missing_or_oversized_file_fails_the_pull(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    with pytest.raises(feeds.FetchFailed, match="cannot read"):
        feeds.fetch_source(str(tmp_path / "absent.json"))
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * 101)
    monkeypatch.setattr(feeds, "MAX_FEED_BYTES", 100)
    with pytest.raises(feeds.FetchFailed, match="larger than 100 bytes"):
        feeds.fetch_source(str(big))


def test_a_closed_port_fails_the_pull():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(feeds.FetchFailed, match="cannot fetch"):
        feeds.fetch_source(f"http://127.0.0.1:{port}/feed.json")


def test_keys_are_checked_normalised_and_unique(city_store: Store):
    public = public_hex(KEY.public_key())

    row = feeds.add_key(city_store, "city-bureau", public.upper(), actor="test")

    assert row.public_key == public and row.added_by == "test" and row.revoked_at is None
    with pytest.raises(feeds.FeedError, match="already registered"):
        feeds.add_key(city_store, "city-bureau", public)
    with pytest.raises(ValueError, match="not a hex Ed25519 public key"):
        feeds.add_key(city_store, "city-bureau", "abcd")
    with pytest.raises(feeds.FeedError, match="no authority"):
        feeds.add_key(city_store, "nobody", public_hex(Ed25519PrivateKey.generate().public_key()))
    revoked = feeds.revoke_key(city_store, row.id, actor="test")
    assert revoked.revoked_at == city_store.clock.now()
    assert feeds.revoke_key(city_store, row.id).revoked_at == revoked.revoked_at
    actions = [c.action for c in city_store.changes()]
    assert actions == ["inventory_imported", "authority_key_added", "authority_key_revoked"]


def test_feeds_are_checked_at_registration(city_store: Store, tmp_path: Path):
    source = str(tmp_path / "feed.json")
    row = feeds.add_feed(city_store, "city-bureau", source, 120)
    assert (row.source, row.interval_seconds, row.last_sequence) == (source, 120, None)
    with pytest.raises(feeds.FeedError, match="already pulls"):
        feeds.add_feed(city_store, "city-bureau", source)
    with pytest.raises(feeds.FeedError, match="interval"):
        feeds.add_feed(city_store, "city-bureau", str(tmp_path / "other.json"), 5)
    with pytest.raises(feeds.FeedError, match="no authority"):
        feeds.add_feed(city_store, "nobody", str(tmp_path / "other.json"))
    assert [f.id for f in feeds.list_feeds(city_store)] == [row.id]


def test_a_feed_acts_as_a_bureau_user_of_its_authority(city_store: Store):
    actor = feeds.feed_actor(city_store.find_authority("city-bureau"))
    assert (actor.name, actor.role, actor.regions) == ("feed:city-bureau", "bureau", ("620100",))


def _pull_text(store: Store, text: str) -> feeds.PullReport:
    feeds.add_key(store, "city-bureau", public_hex(KEY.public_key()))
    feed = feeds.add_feed(store, "city-bureau", "/srv/feeds/city.json")
    return feeds.pull_feed(
        store, feed.id, fetch=lambda source: feeds.sign_document(KEY, text).encode()
    )


def test_a_document_published_ahead_of_the_clock_is_rejected(city_store: Store):
    ahead = (city_store.clock.now() + timedelta(minutes=11)).isoformat()
    report = _pull_text(city_store, DOCUMENT.replace("2026-11-24T21:00:00+08:00", ahead))
    assert report.outcome == "rejected" and report.code == "future"


def test_a_document_published_just_ahead_is_within_the_allowed_skew(city_store: Store):
    ahead = (city_store.clock.now() + timedelta(minutes=9)).isoformat()
    report = _pull_text(city_store, DOCUMENT.replace("2026-11-24T21:00:00+08:00", ahead))
    assert report.outcome == "applied" and report.entries == ()
    assert feeds.find_feed(city_store, report.feed_id).last_sequence == 1


def test_a_feed_is_due_when_its_interval_has_passed():
    at = datetime(2026, 11, 24, 12, tzinfo=UTC)
    feed = Feed(authority_id=1, source="/f", interval_seconds=300)
    assert feeds.due(feed, at)
    feed.last_pulled_at = at
    assert not feeds.due(feed, at + timedelta(seconds=299))
    assert feeds.due(feed, at + timedelta(seconds=300))


def test_a_report_changes_orders_only_when_an_entry_did():
    def report(*results: str) -> feeds.PullReport:
        entries = tuple(
            feeds.EntryOutcome(i, str(i), "issue", r)
            for i, r in enumerate(results, start=1)  # type: ignore[arg-type]
        )
        return feeds.PullReport(1, "city-bureau", "/f", "applied", entries=entries)

    assert not report("unchanged", "rejected").changed
    assert report("unchanged", "revoked").changed
    assert report("issued", "issued", "rejected").counts == {"issued": 2, "rejected": 1}


def test_a_failing_feed_job_does_not_stop_the_scheduler():
    calls = threading.Event()
    count = {"feeds": 0, "passes": 0}

    def failing_feeds() -> bool:
        count["feeds"] += 1
        if count["feeds"] >= 2:
            calls.set()
        raise RuntimeError("the store is locked")

    def run_pass(at: datetime) -> SimpleNamespace:
        count["passes"] += 1
        return SimpleNamespace(plan=SimpleNamespace(next_change=None))

    clock = SimpleNamespace(now=lambda: datetime(2026, 11, 24, 12, tzinfo=UTC))
    scheduler = PassScheduler(
        SimpleNamespace(run_pass=run_pass), clock, tick=timedelta(seconds=0.1), feeds=failing_feeds
    )
    scheduler.start()
    try:
        assert calls.wait(5)
    finally:
        scheduler.shutdown()
    assert count["feeds"] >= 2 and count["passes"] >= 1
