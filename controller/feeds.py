"""Pulled order feeds: a bureau publishes its orders as a signed JSON document, the controller
pulls it on an interval, checks signature and sequence, and applies each entry as an API call.

On the wire a feed is an envelope `{"document": "<feed JSON as text>", "signature": "<hex>",
"key": "<hex>"}`. The Ed25519 signature covers FEED_TAG followed by the UTF-8 bytes of that text
exactly as published, so neither side needs a canonical JSON form. The document is parsed only
after the signature verifies with a key registered (and not revoked) for the feed's authority:

    {"format": "curfew-feed/1", "authority": "city-bureau", "sequence": 7,
     "published_at": "2026-11-24T21:00:00+08:00",
     "orders": [{"id": "2026-07", "action": "issue", "venue": "网吧 One", ...}, ...]}

Each entry says the state the bureau wants for the order it names (`id`, the bureau's own id,
kept as `Order.external_id`): `issue` (fields of OrderCreate), `amend` (OrderAmend), `revoke`,
`suspend`, `resume` (OrderTransition). Entries are idempotent against the store, so a feed
that keeps its entries from one document to the next changes only what changed. A document
whose sequence is lower than the last applied one is a replay and is rejected whole; the same
sequence again is "unchanged" if its bytes are the same, else rejected.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import col, select

from controller.access import Actor, Forbidden
from controller.audit import public_from_hex, public_hex
from controller.bounds import reason
from controller.clock import as_utc
from controller.errors import NOT_FOUND, CurfewError, Invalid, Unavailable
from controller.models import Authority, AuthorityKey, Change, Feed, Order
from controller.orders import (
    DuplicateOrder,
    OrderAmend,
    OrderCreate,
    OrderTransition,
    amend_order,
    issue_order,
    resume_order,
    revoke_order,
    suspend_order,
)
from controller.store import NotFound, Store

log = logging.getLogger("curfew.feeds")

FEED_FORMAT = "curfew-feed/1"
FEED_TAG = b"curfew/feed/v1\x00"  # signed before the document: a feed signature means nothing else
MAX_FEED_BYTES = 8 * 1024 * 1024
MAX_ENTRIES = 10_000
MAX_ENTRY_ID = 100
FETCH_TIMEOUT = 15.0
FUTURE_SKEW = timedelta(minutes=10)  # a document "published" further ahead is a clock error
MIN_INTERVAL, MAX_INTERVAL = 10, 86_400
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
ENTRY_ACTIONS = ("issue", "amend", "revoke", "suspend", "resume")
ENVELOPE_KEYS = frozenset({"document", "signature", "key"})

Fetch = Callable[[str], bytes]


class FeedError(Invalid):
    """A feed or key is refused at registration (bad source, unknown authority, duplicate);
    `field` names the value at fault."""


class FetchFailed(Unavailable):
    """The source could not be read: the pull fails and the next interval tries again."""


class FeedRejected(Invalid):
    """The document is refused whole; nothing in it is applied.

    `code` is one of: unsigned, bad_signature, unknown_key, malformed, wrong_authority, replay,
    sequence_reused, future.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- results ---------------------------------------------------------------------------------

EntryResult = Literal[
    "issued", "amended", "revoked", "suspended", "resumed", "unchanged", "rejected"
]
PullOutcome = Literal["applied", "unchanged", "rejected", "failed"]


@dataclass(frozen=True)
class EntryOutcome:
    position: int  # 1-based place of the entry in the document
    entry_id: str | None
    action: str | None
    result: EntryResult
    order_id: int | None = None  # the order the entry now stands for
    reason: str = ""  # why it was rejected

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "position": self.position,
            "id": self.entry_id,
            "action": self.action,
            "result": self.result,
        }
        if self.order_id is not None:
            record["order_id"] = self.order_id
        if self.reason:
            record["reason"] = self.reason
        return record


@dataclass(frozen=True)
class PullReport:
    feed_id: int
    authority: str
    source: str
    outcome: PullOutcome
    sequence: int | None = None
    published_at: datetime | None = None
    entries: tuple[EntryOutcome, ...] = ()
    code: str | None = None  # for a rejected document: FeedRejected.code
    reason: str = ""  # why the document was rejected or the pull failed
    sha256: str | None = None  # of the signed document text
    received_sha256: str | None = None  # of the bytes fetched, kept as evidence of a rejection
    key_id: int | None = None
    change_seq: int | None = None  # the change-log record of this pull
    touched_order_ids: tuple[int, ...] = field(default=())

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(e.result for e in self.entries))

    @property
    def rejected(self) -> tuple[EntryOutcome, ...]:
        return tuple(e for e in self.entries if e.result == "rejected")

    @property
    def changed(self) -> bool:
        """Whether any order changed: if so, a pass should follow at once."""
        return any(e.result not in ("unchanged", "rejected") for e in self.entries)


# -- keys and feeds ----------------------------------------------------------------------------


def add_key(store: Store, authority: str, public_key: str, actor: str = "cli") -> AuthorityKey:
    """Register a bureau's Ed25519 public key (hex) for its feed."""
    try:
        owner = store.find_authority(authority)
    except NotFound as exc:
        raise FeedError(str(exc), "authority", NOT_FOUND) from None
    try:
        key_hex = public_hex(public_from_hex(public_key))
    except ValueError as exc:  # not hex, or not a point of Ed25519
        raise FeedError(str(exc), "public_key") from None
    with store.transaction() as tx:  # checked inside: two registrations cannot both pass it
        existing = tx.session.exec(
            select(AuthorityKey).where(AuthorityKey.public_key == key_hex)
        ).first()
        if existing is not None:
            raise FeedError(f"this key is already registered (key {existing.id})", "public_key")
        assert owner.id is not None
        row = AuthorityKey(
            authority_id=owner.id, public_key=key_hex, added_at=store.clock.now(), added_by=actor
        )
        tx.session.add(row)
        tx.session.flush()
        tx.log_admin(
            "authority_key_added",
            actor,
            detail=_json({"authority": owner.name, "key_id": row.id, "public_key": key_hex}),
        )
    return row


def authority_keys(store: Store, authority: str | None = None) -> list[AuthorityKey]:
    with store.session() as s:
        query = select(AuthorityKey).order_by(col(AuthorityKey.id))
        if authority is not None:
            query = query.where(AuthorityKey.authority_id == store.find_authority(authority).id)
        return list(s.exec(query))


def revoke_key(store: Store, key_id: int, actor: str = "cli") -> AuthorityKey:
    """Stop accepting feeds signed with this key, from now on."""
    with store.transaction() as tx:
        row = tx.session.get(AuthorityKey, key_id)
        if row is None:
            raise NotFound(f"no authority key {key_id}")
        if row.revoked_at is not None:
            return row
        row.revoked_at = store.clock.now()
        tx.session.add(row)
        tx.log_admin(
            "authority_key_revoked",
            actor,
            detail=_json(
                {"authority_id": row.authority_id, "key_id": row.id, "public_key": row.public_key}
            ),
        )
    return row


def check_source(source: str) -> str:
    """An https URL, an http URL on loopback (tests, a local mirror), or a file path."""
    text = source.strip()
    if "://" not in text:
        if not text:
            raise FeedError("the feed source is empty", "source")
        return str(Path(text).expanduser().resolve())
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise FeedError(f"{text!r} is not a URL: {exc}", "source") from None
    if url.scheme == "https" and url.host:
        return str(url)
    if url.scheme == "http" and url.host in LOOPBACK_HOSTS:
        return str(url)
    raise FeedError(
        f"{text!r}: a feed is pulled over https (http only from 127.0.0.1) or from a file path",
        "source",
    )


def add_feed(
    store: Store, authority: str, source: str, interval_seconds: int = 300, actor: str = "cli"
) -> Feed:
    if not MIN_INTERVAL <= interval_seconds <= MAX_INTERVAL:
        raise FeedError(
            f"the interval must be {MIN_INTERVAL}..{MAX_INTERVAL} seconds", "interval_seconds"
        )
    try:
        owner = store.find_authority(authority)
    except NotFound as exc:
        raise FeedError(str(exc), "authority", NOT_FOUND) from None
    checked = check_source(source)
    with store.transaction() as tx:  # checked inside: two registrations cannot both pass it
        existing = tx.session.exec(select(Feed).where(Feed.source == checked)).first()
        if existing is not None:
            raise FeedError(f"feed {existing.id} already pulls {checked}", "source")
        assert owner.id is not None
        row = Feed(authority_id=owner.id, source=checked, interval_seconds=interval_seconds)
        tx.session.add(row)
        tx.session.flush()
        tx.log_admin(
            "feed_added",
            actor,
            detail=_json(
                {
                    "feed_id": row.id,
                    "authority": owner.name,
                    "source": checked,
                    "interval_seconds": interval_seconds,
                }
            ),
        )
    return row


def list_feeds(store: Store) -> list[Feed]:
    with store.session() as s:
        return list(s.exec(select(Feed).order_by(col(Feed.id))))


def find_feed(store: Store, feed_id: int) -> Feed:
    with store.session() as s:
        row = s.get(Feed, feed_id)
        if row is None:
            raise NotFound(f"no feed {feed_id}")
        return row


def feed_actor(authority: Authority) -> Actor:
    """A feed acts as a bureau user of its authority, so jurisdiction rules apply to it."""
    return Actor(
        name=f"feed:{authority.name}",
        role="bureau",
        authority_id=authority.id,
        regions=tuple(authority.regions),
    )


# -- signing and reading a document ------------------------------------------------------------


def sign_document(key: Ed25519PrivateKey, document: str) -> str:
    """The signed envelope (JSON text) that publishes `document` exactly as given."""
    signature = key.sign(FEED_TAG + document.encode("utf-8"))
    envelope = {
        "document": document,
        "signature": signature.hex(),
        "key": public_hex(key.public_key()),
    }
    return json.dumps(envelope, ensure_ascii=False, indent=1) + "\n"


@dataclass(frozen=True)
class SignedDocument:
    text: str  # the document exactly as signed
    signature: bytes
    key: str | None  # hex public key the publisher names, if any


class FeedDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["curfew-feed/1"]
    authority: str = Field(min_length=1, max_length=100)
    sequence: int = Field(strict=True, ge=0)
    published_at: AwareDatetime
    orders: list[Any] = Field(max_length=MAX_ENTRIES)  # entries are checked one by one


def _strict_json(text: str) -> Any:
    """json.loads that refuses duplicate keys and NaN/Infinity: a signed text has one meaning."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen = Counter(k for k, _ in pairs)
        twice = [k for k, n in seen.items() if n > 1]
        if twice:
            raise ValueError(f"duplicate key {twice[0]!r}")
        return dict(pairs)

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, object_pairs_hook=unique, parse_constant=constant)


def read_envelope(raw: bytes) -> SignedDocument:
    try:
        outer = _strict_json(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedRejected("malformed", f"the feed is not UTF-8 JSON: {exc}") from None
    if not isinstance(outer, dict):
        raise FeedRejected("malformed", "the feed is not a JSON object")
    if "signature" not in outer:
        raise FeedRejected(
            "unsigned", "the feed is not signed: expected {document, signature, key}"
        )
    unknown = set(outer) - ENVELOPE_KEYS
    if unknown:
        raise FeedRejected("malformed", f"unknown envelope fields: {', '.join(sorted(unknown))}")
    text, signature, key = outer.get("document"), outer["signature"], outer.get("key")
    if not isinstance(text, str):
        raise FeedRejected("malformed", "'document' must be the feed document as a JSON string")
    if not isinstance(signature, str) or len(signature) != 128:
        raise FeedRejected("bad_signature", "'signature' must be 64 bytes of hex")
    try:
        signature_bytes = bytes.fromhex(signature)
    except ValueError:
        raise FeedRejected("bad_signature", "'signature' is not hex") from None
    if key is not None and not isinstance(key, str):
        raise FeedRejected("malformed", "'key' must be a hex public key")
    return SignedDocument(text, signature_bytes, key.strip().lower() if key else None)


def verify_signature(store: Store, authority: Authority, signed: SignedDocument) -> AuthorityKey:
    """The registered, unrevoked key of `authority` that signed the document."""
    with store.session() as s:
        keys = list(
            s.exec(
                select(AuthorityKey)
                .where(AuthorityKey.authority_id == authority.id)
                .where(col(AuthorityKey.revoked_at).is_(None))
                .order_by(col(AuthorityKey.id))
            )
        )
    if signed.key is not None:
        keys = [k for k in keys if k.public_key == signed.key]
        if not keys:
            raise FeedRejected(
                "unknown_key",
                f"key {signed.key[:16]}… is not a registered, unrevoked key of {authority.name!r}",
            )
    if not keys:
        raise FeedRejected("unknown_key", f"{authority.name!r} has no registered feed key")
    message = FEED_TAG + signed.text.encode("utf-8")
    for key in keys:
        try:
            public_from_hex(key.public_key).verify(signed.signature, message)
        except InvalidSignature:
            continue
        return key
    raise FeedRejected(
        "bad_signature", f"the signature does not verify with the key(s) of {authority.name!r}"
    )


def read_document(text: str) -> FeedDocument:
    try:
        return FeedDocument.model_validate(_strict_json(text))
    except ValueError as exc:  # ValidationError is a ValueError
        detail = describe(exc) if isinstance(exc, ValidationError) else str(exc)
        raise FeedRejected("malformed", f"the feed document is malformed: {detail}") from None


def describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {reason(err)}"
        for err in exc.errors(include_url=False)
    )


# -- fetching ----------------------------------------------------------------------------------


def fetch_source(source: str) -> bytes:
    """The feed's bytes from its URL or file, at most MAX_FEED_BYTES. Raises FetchFailed."""
    if "://" not in source:
        try:
            with open(source, "rb") as handle:
                body = handle.read(MAX_FEED_BYTES + 1)
        except OSError as exc:
            raise FetchFailed(f"cannot read {source}: {exc.strerror or exc}") from None
        if len(body) > MAX_FEED_BYTES:
            raise FetchFailed(f"{source} is larger than {MAX_FEED_BYTES} bytes")
        return body
    url = httpx.URL(source)
    try:  # loopback sources bypass any proxy from the environment
        with httpx.Client(
            timeout=FETCH_TIMEOUT, follow_redirects=False, trust_env=url.host not in LOOPBACK_HOSTS
        ) as client:
            with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise FetchFailed(f"{source} answered HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_FEED_BYTES:
                        raise FetchFailed(f"{source} sent more than {MAX_FEED_BYTES} bytes")
                return bytes(body)
    except httpx.HTTPError as exc:
        raise FetchFailed(f"cannot fetch {source}: {type(exc).__name__}: {exc}") from None


# -- applying entries --------------------------------------------------------------------------


def _versions(store: Store, authority_id: int, entry_id: str) -> list[Order]:
    with store.session() as s:
        return list(
            s.exec(
                select(Order)
                .where(Order.authority_id == authority_id, Order.external_id == entry_id)
                .order_by(col(Order.id))
            )
        )


def _current(versions: list[Order]) -> Order:
    """The version in effect: the newest one not superseded by an amendment."""
    live = [o for o in versions if o.status != "superseded"]
    return live[-1] if live else versions[-1]


def _issued_terms(store: Store, request: OrderCreate) -> tuple[object, ...]:
    venue = store.find_venue(request.venue)
    until = as_utc(request.effective_until) if request.effective_until else None
    return (
        venue.id,
        request.kind,
        request.reason,
        request.legal_basis,
        request.legal_basis_date,
        as_utc(request.effective_from),
        until,
    )


def _order_terms(order: Order) -> tuple[object, ...]:
    return (
        order.venue_id,
        order.kind,
        order.reason,
        order.legal_basis,
        order.legal_basis_date,
        order.effective_from,
        order.effective_until,
    )


def _amended_terms(order: Order, change: OrderAmend) -> tuple[object, ...]:
    until: datetime | None = order.effective_until
    if change.open_ended:
        until = None
    elif change.effective_until is not None:
        until = as_utc(change.effective_until)
    basis_date: date | None = change.legal_basis_date or order.legal_basis_date
    return (
        order.venue_id,
        order.kind,
        change.reason or order.reason,
        change.legal_basis or order.legal_basis,
        basis_date,
        as_utc(change.effective_from) if change.effective_from else order.effective_from,
        until,
    )


def _entry_id(entry: dict[str, Any]) -> str:
    value = entry.get("id")
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ENTRY_ID:
        raise ValueError(f"'id' must be a string of 1..{MAX_ENTRY_ID} characters")
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("'id' must be printable, without leading/trailing spaces")
    return value


def apply_entry(
    store: Store, actor: Actor, authority: Authority, entry: dict[str, Any]
) -> tuple[EntryResult, int | None]:
    """Bring the order the entry names to the state it asks for; validates before any write.

    Raises what an API call would (ValidationError, a CurfewError: NotFound, Forbidden, a
    Conflict, Invalid; ValueError); the order functions check everything before writing.
    """
    entry_id = _entry_id(entry)
    action = entry.get("action")
    if action not in ENTRY_ACTIONS:
        raise ValueError(f"'action' must be one of {', '.join(ENTRY_ACTIONS)}")
    body = {k: v for k, v in entry.items() if k not in ("id", "action")}
    assert authority.id is not None
    versions = _versions(store, authority.id, entry_id)
    if action == "issue":
        request = OrderCreate.model_validate(body)
        if request.authority is not None and request.authority != authority.name:
            raise Forbidden(f"a feed of {authority.name!r} issues orders only as that authority")
        if versions:
            first = versions[0]
            same = _issued_terms(store, request) == _order_terms(first) and (
                request.issued_by is None or request.issued_by == first.issued_by
            )
            if not same:
                raise DuplicateOrder(
                    f"entry {entry_id!r} was issued as order {first.id} with other terms; "
                    "publish an 'amend' entry to change it",
                    first.id or 0,
                )
            return "unchanged", _current(versions).id
        return "issued", issue_order(store, request, actor, external_id=entry_id).id
    if not versions:
        raise NotFound(f"no order was issued from entry {entry_id!r}; issue it first")
    current = _current(versions)
    assert current.id is not None
    if action == "amend":
        change = OrderAmend.model_validate(body)
        if _amended_terms(current, change) == _order_terms(current):
            return "unchanged", current.id
        return "amended", amend_order(store, current.id, change, actor).id
    reason = OrderTransition.model_validate(body).reason
    if action == "revoke":
        if current.status == "revoked":
            return "unchanged", current.id
        return "revoked", revoke_order(store, current.id, reason, actor).id
    if action == "suspend":
        if current.status == "suspended":
            return "unchanged", current.id
        return "suspended", suspend_order(store, current.id, reason, actor).id
    if current.status == "active":
        return "unchanged", current.id
    return "resumed", resume_order(store, current.id, reason, actor).id


ENTRY_ERRORS = (ValidationError, CurfewError, ValueError)


def apply_entries(
    store: Store, actor: Actor, authority: Authority, entries: Iterable[Any]
) -> list[EntryOutcome]:
    """Apply every entry in order; a bad entry is reported and skipped, the rest still apply."""
    listed = list(entries)
    ids = Counter(
        e.get("id") for e in listed if isinstance(e, dict) and isinstance(e.get("id"), str)
    )
    outcomes = []
    for position, entry in enumerate(listed, start=1):
        if not isinstance(entry, dict):
            outcomes.append(
                EntryOutcome(
                    position, None, None, "rejected", reason="an entry must be a JSON object"
                )
            )
            continue
        entry_id = entry.get("id") if isinstance(entry.get("id"), str) else None
        action = entry.get("action") if isinstance(entry.get("action"), str) else None
        if entry_id is not None and ids[entry_id] > 1:
            outcomes.append(
                EntryOutcome(
                    position,
                    entry_id,
                    action,
                    "rejected",
                    reason=(
                        f"entry id {entry_id!r} appears {ids[entry_id]} times in this document; "
                        "give each order one entry, in the state it should be in"
                    ),
                )
            )
            continue
        try:
            result, order_id = apply_entry(store, actor, authority, entry)
        except ENTRY_ERRORS as exc:
            reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
            outcomes.append(
                EntryOutcome(position, entry_id, action, "rejected", reason=reason[:500])
            )
            continue
        outcomes.append(EntryOutcome(position, entry_id, action, result, order_id))
    return outcomes


# -- pulling -----------------------------------------------------------------------------------


def _last_digest(store: Store, feed_id: int) -> str | None:
    """The SHA-256 of the document last applied from this feed, as its pull record says."""
    with store.session() as s:
        details = s.exec(
            select(Change.detail)
            .where(Change.action == "feed_pulled", Change.kind == "admin")
            .order_by(col(Change.seq).desc())
        )
        for detail in details:
            record = json.loads(detail or "{}")
            if record.get("feed_id") == feed_id and record.get("sha256"):
                return str(record["sha256"])
    return None


def _freshness(store: Store, feed: Feed, document: FeedDocument, digest: str) -> PullOutcome:
    """'applied' for a new document, 'unchanged' for the last one again; else FeedRejected."""
    last = feed.last_sequence
    if last is not None and document.sequence < last:
        raise FeedRejected(
            "replay",
            f"sequence {document.sequence} is older than the last applied sequence {last}: "
            "a replayed or stale feed",
        )
    if last is not None and document.sequence == last:
        previous = _last_digest(store, feed.id) if feed.id is not None else None
        if previous is not None and previous != digest:
            raise FeedRejected(
                "sequence_reused",
                f"sequence {last} was already applied with other content; "
                "a changed feed needs a higher sequence",
            )
        return "unchanged"
    published = as_utc(document.published_at)
    if feed.last_published_at is not None and published < feed.last_published_at:
        raise FeedRejected(
            "replay",
            f"published_at {published.isoformat()} is older than the last applied feed "
            f"({feed.last_published_at.isoformat()})",
        )
    if published > store.clock.now() + FUTURE_SKEW:
        raise FeedRejected(
            "future", f"published_at {published.isoformat()} is ahead of the controller's clock"
        )
    return "applied"


def pull_feed(store: Store, feed_id: int, fetch: Fetch = fetch_source) -> PullReport:
    """Fetch, authenticate and apply one feed now; always recorded, never raises on its input."""
    feed = find_feed(store, feed_id)
    authority = store.authority(feed.authority_id)
    base = {"feed_id": feed_id, "authority": authority.name, "source": feed.source}
    try:
        raw = fetch(check_source(feed.source))
    except (FeedError, FetchFailed) as exc:
        return _record(store, feed, PullReport(**base, outcome="failed", reason=str(exc)))
    received = hashlib.sha256(raw).hexdigest()
    digest = None
    try:
        signed = read_envelope(raw)
        key = verify_signature(store, authority, signed)
        digest = hashlib.sha256(signed.text.encode("utf-8")).hexdigest()
        document = read_document(signed.text)
        if document.authority != authority.name:
            raise FeedRejected(
                "wrong_authority",
                f"the document is {document.authority!r}'s feed, this feed is {authority.name!r}'s",
            )
        outcome = _freshness(store, feed, document, digest)
    except FeedRejected as exc:
        rejected = PullReport(
            **base, outcome="rejected", code=exc.code, reason=str(exc), received_sha256=received
        )
        return _record(store, feed, rejected)
    found = {
        **base,
        "sequence": document.sequence,
        "published_at": document.published_at,
        "sha256": digest,
        "key_id": key.id,
    }
    if outcome == "unchanged":
        return _record(store, feed, PullReport(**found, outcome="unchanged"))
    try:
        entries = apply_entries(store, feed_actor(authority), authority, document.orders)
    except Exception as exc:  # the store failed mid-way: entries are idempotent, retry it whole
        log.exception("applying feed %s failed", feed_id)
        return _record(
            store,
            feed,
            PullReport(**found, outcome="failed", reason=f"{type(exc).__name__}: {exc}"),
        )
    return _record(store, feed, PullReport(**found, outcome="applied", entries=tuple(entries)))


def _record(store: Store, feed: Feed, report: PullReport) -> PullReport:
    """One change-log record per pull, and the feed's bookkeeping with it."""
    touched = tuple(
        sorted(
            {
                e.order_id
                for e in report.entries
                if e.order_id is not None and e.result not in ("unchanged", "rejected")
            }
        )
    )
    detail: dict[str, Any] = {
        "feed_id": report.feed_id,
        "authority": report.authority,
        "source": report.source,
        "outcome": report.outcome,
        "sequence": report.sequence,
        "published_at": report.published_at.isoformat() if report.published_at else None,
        "sha256": report.sha256,
        "key_id": report.key_id,
    }
    if report.outcome in ("applied", "unchanged"):
        detail["counts"] = report.counts
        detail["entries"] = [e.as_record() for e in report.entries if e.result != "unchanged"]
    else:
        detail["code"] = report.code
        detail["received_sha256"] = report.received_sha256
        detail["reason"] = report.reason
    action = {
        "applied": "feed_pulled",
        "unchanged": "feed_pulled",
        "rejected": "feed_rejected",
        "failed": "feed_failed",
    }[report.outcome]
    problems = [f"entry {e.position} ({e.entry_id}): {e.reason}" for e in report.rejected]
    # The record and the feed's bookkeeping together: a sequence is never marked applied
    # without its pull record, nor recorded without the feed moving on.
    with store.transaction() as tx:
        row = tx.session.get(Feed, feed.id)
        assert row is not None
        row.last_pulled_at = store.clock.now()
        row.last_error = (report.reason or "; ".join(problems))[:1000] or None
        if report.outcome == "applied" and (  # a concurrent pull may have gone further already
            row.last_sequence is None or (report.sequence or 0) > row.last_sequence
        ):
            row.last_sequence = report.sequence
            row.last_published_at = as_utc(report.published_at) if report.published_at else None
        tx.session.add(row)
        tx.log_admin(
            action,
            f"feed:{report.authority}",
            order_ids=list(touched),
            error=report.reason or None,
            detail=_json(detail),
        )
    (change,) = tx.written
    if report.outcome in ("rejected", "failed"):
        log.warning("feed %s %s: %s", report.feed_id, report.outcome, report.reason)
    return replace(report, change_seq=change.seq, touched_order_ids=touched)


def due(feed: Feed, now: datetime) -> bool:
    return feed.last_pulled_at is None or (
        feed.last_pulled_at + timedelta(seconds=feed.interval_seconds) <= now
    )


def pull_due(store: Store, fetch: Fetch = fetch_source) -> list[PullReport]:
    """Pull every feed whose interval has passed since its last pull."""
    now = store.clock.now()
    return [pull_feed(store, f.id, fetch) for f in list_feeds(store) if f.id and due(f, now)]


def pull_all(store: Store, fetch: Fetch = fetch_source) -> list[PullReport]:
    return [pull_feed(store, f.id, fetch) for f in list_feeds(store) if f.id is not None]


def feed_job(store: Store, fetch: Fetch = fetch_source) -> Callable[[], bool]:
    """The scheduler's feed job: pull what is due; True if any order changed."""

    def pull() -> bool:
        return any(report.changed for report in pull_due(store, fetch))

    return pull


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


__all__ = [
    "FEED_FORMAT",
    "FEED_TAG",
    "EntryOutcome",
    "FeedDocument",
    "FeedError",
    "FeedRejected",
    "FetchFailed",
    "PullReport",
    "add_feed",
    "add_key",
    "apply_entries",
    "apply_entry",
    "authority_keys",
    "check_source",
    "feed_actor",
    "feed_job",
    "fetch_source",
    "find_feed",
    "list_feeds",
    "pull_all",
    "pull_due",
    "pull_feed",
    "read_document",
    "read_envelope",
    "revoke_key",
    "sign_document",
    "verify_signature",
]
