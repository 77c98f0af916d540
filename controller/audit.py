"""Evidence an auditor can check offline: signed checkpoints, exports, and verification.

A checkpoint signs (log id, seq, head hash, time) with Ed25519; the key comes from a file named
in the settings, never from the database, and every checkpoint is also written where the
database's owner cannot reach (a directory, a webhook). Verification walks the hash chain and
checks every checkpoint it is given, naming the first bad sequence number and what is wrong.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlmodel import Session

from controller.changelog import (
    DOMAIN_TAG,
    GENESIS,
    HASHED_FIELDS,
    HASHED_WHEN_SET,
    OUTPUT_REFERENCE,
    body_hash,
    canonical,
    hashed_fields,
    output_sha256,
    stored_outputs,
)
from controller.clock import Clock
from controller.db import IMMEDIATE
from controller.models import MAX_ROW_ID, Change, Checkpoint, LogMeta

log = logging.getLogger("curfew.audit")

CHECKPOINT_TAG = b"curfew/checkpoint/v1\x00"
# /2 carries the stored device outputs its records cite ("output" lines); /1 still verifies
EXPORT_FORMAT = "curfew-audit-export/2"
EXPORT_FORMATS = ("curfew-audit-export/1", EXPORT_FORMAT)


# -- keys ----------------------------------------------------------------------------------


def generate_key(path: Path) -> str:
    """Write a new Ed25519 private key (PEM, mode 0600); return the public key in hex."""
    if path.exists():
        raise FileExistsError(f"{path} exists; refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return public_hex(key.public_key())


def load_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load the signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def public_from_hex(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.strip()))
    except ValueError:
        raise ValueError(f"{text[:20]!r}… is not a hex Ed25519 public key") from None


# -- checkpoints ---------------------------------------------------------------------------


def checkpoint_message(log_id: str, seq: int, head_hash: str, at: str) -> bytes:
    return CHECKPOINT_TAG + canonical(
        {"log_id": log_id, "seq": seq, "head_hash": head_hash, "at": at}
    )


def checkpoint_document(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "log_id": checkpoint.log_id,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "at": checkpoint.at.isoformat(),
        "public_key": checkpoint.public_key,
        "signature": checkpoint.signature,
    }


_CHANGES = Change.__table__  # type: ignore[attr-defined]
_CHECKPOINTS = Checkpoint.__table__  # type: ignore[attr-defined]
_LOG_META = LogMeta.__table__  # type: ignore[attr-defined]


def log_id(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        return _log_id(connection)


def _log_id(connection: sa.Connection) -> str:
    found = connection.execute(
        sa.select(_LOG_META.c.value).where(_LOG_META.c.key == "log_id")
    ).scalar()
    if found is None:
        raise RuntimeError("the store has no log id: run the migrations")
    return str(found)


@dataclass
class Checkpointer:
    """Signs the log's head every `every` records and when asked (at the end of a pass)."""

    key: Ed25519PrivateKey
    clock: Clock
    every: int = 100
    directory: Path | None = None
    webhook: str | None = None
    # the newest checkpoint every outside copy of which was written, and why the last one that
    # failed did (None once a later one succeeds): read by /metrics and the alerts
    published: Checkpoint | None = field(default=None, compare=False)
    publish_error: str | None = field(default=None, compare=False)

    def after_append(self, engine: sa.Engine, rows: list[Change]) -> Checkpoint | None:
        if not rows:
            return None
        first, last = rows[0].seq, rows[-1].seq
        if (first - 1) // self.every != last // self.every:
            return self.sign_head(engine)
        return None

    def sign_head(self, engine: sa.Engine) -> Checkpoint | None:
        # Core, not the ORM: the head's seq and hash are all a checkpoint reads of the log.
        # BEGIN IMMEDIATE on SQLite: a read that turns into a write in a deferred transaction
        # fails at once ("database is locked") when another writer committed in between.
        with engine.execution_options(**IMMEDIATE).begin() as connection:
            head = connection.execute(
                sa.select(_CHANGES.c.seq, _CHANGES.c.hash).order_by(_CHANGES.c.seq.desc()).limit(1)
            ).first()
            if head is None:
                return None
            latest = connection.execute(
                sa.select(_CHECKPOINTS).order_by(_CHECKPOINTS.c.seq.desc()).limit(1)
            ).first()
            if latest is not None and latest.seq == head.seq:
                return Checkpoint(**latest._mapping)
            at, signed_log = self.clock.now(), _log_id(connection)
            signature = self.key.sign(
                checkpoint_message(signed_log, head.seq, head.hash, at.isoformat())
            )
            checkpoint = Checkpoint(
                log_id=signed_log,
                seq=head.seq,
                head_hash=head.hash,
                at=at,
                public_key=public_hex(self.key.public_key()),
                signature=signature.hex(),
            )
            values = checkpoint.model_dump(exclude={"id"})
            inserted = connection.execute(sa.insert(_CHECKPOINTS).values(**values))
            checkpoint.id = inserted.inserted_primary_key[0]
        self._publish(checkpoint)
        return checkpoint

    def _publish(self, checkpoint: Checkpoint) -> None:
        """Copies kept where the database's owner cannot reach. A failure never stops a pass:
        it is logged and kept in `publish_error` until a later copy succeeds."""
        document = checkpoint_document(checkpoint)
        problems = []
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                target = self.directory / f"checkpoint-{checkpoint.seq:012d}.json"
                temporary = target.with_suffix(".tmp")
                temporary.write_text(json.dumps(document, indent=1), encoding="utf-8")
                temporary.replace(target)
            except OSError as exc:
                problems.append(f"not written to {self.directory}: {exc}")
                log.warning(
                    "checkpoint %s not written to %s: %s", checkpoint.seq, self.directory, exc
                )
        if self.webhook:
            import httpx  # a tenth of a second of start-up, paid only where a webhook is set

            try:
                httpx.post(self.webhook, json=document, timeout=5).raise_for_status()
            except httpx.HTTPError as exc:
                problems.append(f"not posted to {self.webhook}: {exc}")
                log.warning("checkpoint %s not posted to %s: %s", checkpoint.seq, self.webhook, exc)
        if problems:
            self.publish_error = f"checkpoint {checkpoint.seq} " + "; ".join(problems)
        elif self.directory is not None or self.webhook:
            self.published, self.publish_error = checkpoint, None


def read_checkpoint_dir(directory: Path) -> list[dict[str, Any]]:
    documents = []
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            documents.append(json.loads(path.read_text(encoding="utf-8")) | {"source": str(path)})
        except (OSError, json.JSONDecodeError) as exc:
            documents.append({"source": str(path), "unreadable": str(exc)})
    return documents


# -- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    seq: int | None
    kind: str  # edited | deleted | reordered | broken | truncated | forged_checkpoint | ...
    message: str

    def __str__(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"{where}{self.kind}: {self.message}"


@dataclass
class VerifyReport:
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str | None = None
    checkpoints: int = 0
    outside_checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # what this verification cannot prove with the evidence it was given (no checkpoint held
    # outside, no pinned key): a log can pass and still have been truncated or rewritten
    limits: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def proven(self) -> bool:
        """Nothing wrong found, and nothing left that tampering could hide behind."""
        return self.ok and not self.limits

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None


# One record as the chain walk sees it: seq, prev_hash, hash, the hash its content gives when
# chained after its own prev_hash, and the stored output it cites (None: none, or inline).
Link = tuple[int, str, str, str, str | None]
# For the stored outputs named (by SHA-256) that exist, the SHA-256 their text has now; a
# missing one is left out.
OutputDigests = Callable[[Sequence[str]], Mapping[str, str]]

_OUTPUT_BATCH = 2000  # distinct outputs looked up and hashed at a time


def _chain_problem(
    seq: int, prev_hash: str, prev: str, locate: Callable[[str], int | None]
) -> Problem:
    """Classify the first break (rare path): `locate` finds the record with a given hash."""
    if prev_hash != prev:
        earlier = locate(prev_hash)
        if earlier is not None and earlier != seq - 1:
            return Problem(
                seq,
                "reordered",
                f"record {seq} was chained after record {earlier}, not after {seq - 1}",
            )
        return Problem(
            seq,
            "broken",
            f"record {seq} names a predecessor that is not record {seq - 1}: "
            "a record before it was replaced or removed",
        )
    return Problem(seq, "edited", f"record {seq}'s content does not match its hash")


def _check_outputs(
    pending: dict[str, int], digests: OutputDigests, report: VerifyReport
) -> set[str]:
    """Each stored output cited (by SHA-256, with the first record citing it) exists and
    still hashes to its name; returns the names of those that do not."""
    found = digests(list(pending))
    bad = set()
    for ref, seq in pending.items():
        digest = found.get(ref)
        if digest != ref:
            bad.add(ref)
        if digest is None:
            report.problems.append(
                Problem(seq, "deleted", f"the stored device output {ref[:16]}… that record "
                        f"{seq} cites is missing: it was deleted")
            )  # fmt: skip
        elif digest != ref:
            report.problems.append(
                Problem(seq, "edited", f"the stored device output {ref[:16]}… that record "
                        f"{seq} cites was edited: its text no longer hashes to that name")
            )  # fmt: skip
    return bad


def _walk(
    links: Iterable[Link],
    checkpoints: Iterable[Mapping[str, Any]],
    public_key: Ed25519PublicKey | None,
    outside: Iterable[Mapping[str, Any]],
    expected_log_id: str | None,
    outputs: OutputDigests | None,
    locate: Callable[[str], int | None],
) -> VerifyReport:
    """Walk the chain (records in stored order), check the stored outputs the records cite
    and every checkpoint against it. Streams: only checkpointed seqs' hashes are kept."""
    report = VerifyReport()
    checkpoints, outside = list(checkpoints), list(outside)
    vouched: set[int] = set()  # the seqs whose hash a checkpoint names
    for document in (*checkpoints, *outside):
        try:
            vouched.add(int(document["seq"]))
        except (KeyError, TypeError, ValueError):
            pass
    hashes: dict[int, str] = {}
    pending: dict[str, int] = {}  # cited outputs not checked yet -> the first seq citing them
    recent: set[str] = set()  # checked in the last batch: a router's records cite one output
    bad: set[str] = set()  # named once, with the first record citing them
    unchecked = 0
    chain_broken = False  # (a stored output's problem does not break the chain)
    first_prev: str | None = None
    count = 0
    records = iter(links)
    first = next(records, None)
    if first is not None:
        seq, first_prev = first[0], first[1]
        report.first_seq = seq
        prev = GENESIS if seq == 1 else first_prev
        if seq != 1:
            report.notes.append(f"the records start at seq {seq}: the chain is anchored there")
        expected = seq
        for seq, prev_hash, hash_, content, ref in itertools.chain((first,), records):
            if seq != expected:
                if seq > expected:
                    missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
                    report.problems.append(
                        Problem(expected, "deleted", f"record(s) {missing} are missing")
                    )
                else:
                    report.problems.append(
                        Problem(seq, "reordered",
                                f"record {seq} appears after record {expected - 1}")
                    )  # fmt: skip
                chain_broken = True
                break
            if prev_hash != prev or content != hash_:
                report.problems.append(_chain_problem(seq, prev_hash, prev, locate))
                chain_broken = True
                break
            if seq in vouched:
                hashes[seq] = hash_
            if ref is not None and ref not in recent and ref not in pending and ref not in bad:
                if outputs is None:
                    unchecked += 1
                else:
                    pending[ref] = seq
                    if len(pending) >= _OUTPUT_BATCH:
                        bad |= _check_outputs(pending, outputs, report)
                        recent, pending = set(pending), {}
            prev, expected = hash_, seq + 1
            count += 1
        if count:
            report.records, report.last_seq, report.head_hash = count, expected - 1, prev
    if pending and outputs is not None:
        _check_outputs(pending, outputs, report)
    if unchecked:
        report.limits.append(
            f"{unchecked} stored device output(s) cited by the records were not given to this "
            "verification: whether they still match their records is not checked"
        )

    def check(document: Mapping[str, Any], where: str) -> None:
        if "unreadable" in document:
            report.problems.append(
                Problem(None, "unreadable_checkpoint", f"{where}: {document['unreadable']}")
            )
            return
        seq = int(document["seq"])
        key = public_key or public_from_hex(document["public_key"])
        if public_key is not None and document.get("public_key") not in (
            None,
            public_hex(public_key),
        ):
            report.problems.append(
                Problem(seq, "forged_checkpoint", f"{where} is signed by another key")
            )
            return
        try:
            key.verify(
                bytes.fromhex(document["signature"]),
                checkpoint_message(document["log_id"], seq, document["head_hash"], document["at"]),
            )
        except (InvalidSignature, ValueError):
            report.problems.append(
                Problem(seq, "forged_checkpoint", f"{where}: signature does not verify")
            )
            return
        if expected_log_id is not None and document["log_id"] != expected_log_id:
            report.problems.append(
                Problem(seq, "foreign_checkpoint", f"{where} belongs to log {document['log_id']}")
            )
            return
        last = report.last_seq or 0
        if seq > last and not chain_broken:
            report.problems.append(
                Problem(
                    last + 1,
                    "truncated",
                    f"{where} vouches for {seq} records but the log ends at {last}: "
                    f"records {last + 1}..{seq} were removed",
                )
            )
        elif seq in hashes and hashes[seq] != document["head_hash"]:
            report.problems.append(
                Problem(
                    seq, "rewritten", f"{where} does not match record {seq}: the log was rewritten"
                )
            )
        elif report.first_seq is not None and seq == report.first_seq - 1:
            if first_prev != document["head_hash"]:
                report.problems.append(
                    Problem(seq + 1, "broken", f"{where} does not match the export's anchor")
                )

    for document in checkpoints:
        report.checkpoints += 1
        check(document, f"checkpoint at seq {document.get('seq')}")
    for document in outside:
        report.outside_checkpoints += 1
        check(
            document, f"outside checkpoint {document.get('source', '')} (seq {document.get('seq')})"
        )
    report.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return report


def verify_records(
    records: Iterable[Mapping[str, Any]],
    checkpoints: Iterable[Mapping[str, Any]] = (),
    public_key: Ed25519PublicKey | None = None,
    outside: Iterable[Mapping[str, Any]] = (),
    expected_log_id: str | None = None,
    outputs: Mapping[str, str] | None = None,
) -> VerifyReport:
    """Check the chain and every checkpoint; `records` (documents as `record_document` makes
    them) must be in stored order. `outputs` holds the stored device outputs the records cite,
    by SHA-256; without it they are not checked, and the report says so."""
    rows = records if isinstance(records, list) else list(records)
    by_hash: dict[str, int] = {}

    def locate(hash_: str) -> int | None:
        if not by_hash:
            by_hash.update((r["hash"], r["seq"]) for r in rows)
        return by_hash.get(hash_)

    links = (
        (r["seq"], r["prev_hash"], r["hash"], body_hash(r["seq"], r["prev_hash"], r),
         r.get(OUTPUT_REFERENCE))
        for r in rows
    )  # fmt: skip
    digests = None
    if outputs is not None:
        given = outputs

        def digests(refs: Sequence[str]) -> Mapping[str, str]:
            return {ref: output_sha256(given[ref]) for ref in refs if ref in given}

    return _walk(links, checkpoints, public_key, outside, expected_log_id, digests, locate)


def record_document(change: Change) -> dict[str, Any]:
    return {
        "seq": change.seq,
        **hashed_fields(change),
        "prev_hash": change.prev_hash,
        "hash": change.hash,
    }


def _document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A record as exports carry it, from a Core row of `changes` (what `record_document`
    makes of the ORM's)."""
    document = {"seq": row["seq"], **{name: row[name] for name in HASHED_FIELDS}}
    document["at"] = row["at"].isoformat()
    for name in HASHED_WHEN_SET:
        if row[name] is not None:
            document[name] = row[name]
    document["prev_hash"], document["hash"] = row["prev_hash"], row["hash"]
    return document


# -- the live log, read without the ORM ----------------------------------------------------

# sorted(HASHED_FIELDS): the order of the keys in a record's canonical JSON, which
# `_StoredRecords` writes without `json.dumps` (tests pin it to `canonical`)
_SORTED = (
    "action", "actor", "at", "commands_json", "detail", "device_id", "device_output", "error",
    "intent_seq", "kind", "line_id", "order_ids_json", "pass_id", "state_after", "venue_id",
    "verified",
)  # fmt: skip
assert _SORTED == tuple(sorted(HASHED_FIELDS)) and HASHED_WHEN_SET == (OUTPUT_REFERENCE,)
assert sorted(_SORTED + HASHED_WHEN_SET).index(OUTPUT_REFERENCE) == _SORTED.index("error")
_TEMPLATE = "{" + ",".join(f'"{name}":%s' for name in _SORTED) + "}"
# the optional reference goes right after device_output, before error (sorted order)
_TEMPLATE = _TEMPLATE.replace(',"error":', '%s,"error":')
_REFERENCE_KEY = f',"{OUTPUT_REFERENCE}":'
_BOOLEAN = {None: "null", 0: "false", 1: "true"}  # True == 1 and False == 0 as keys
_NULL = {None: "null"}  # an integer column: anything but an int or None is not the fast case
_CHUNK = 5000


def _sqlite_json() -> str:
    """A record's canonical JSON as SQLite's json_object() writes it, as UTF-8 bytes: the keys
    in sorted order, no spaces, strings escaped as the json module escapes them (every code
    point alike; a test pins it). `at` is left as the placeholder `_AT_PLACEHOLDER`, for
    `_at_json` to fill (cheaper in Python, once per run of records sharing an instant). A
    `verified` outside the plain case is written as a string, which cannot match, so that
    record is hashed again the exact way."""
    verified = (
        "CASE WHEN verified IS NULL THEN json('null') WHEN typeof(verified) = 'integer' "
        "AND verified = 1 THEN json('true') WHEN typeof(verified) = 'integer' AND verified = 0 "
        "THEN json('false') ELSE 'not a boolean' END"
    )
    values = {"at": "''", "verified": verified}

    def json_object(names: Sequence[str]) -> str:
        pairs = (f"'{name}', {values.get(name, name)}" for name in names)
        return f"json_object({', '.join(pairs)})"

    cited = sorted(_SORTED + HASHED_WHEN_SET)
    return (
        f"CAST(CASE WHEN {OUTPUT_REFERENCE} IS NULL THEN {json_object(_SORTED)} "
        f"ELSE {json_object(cited)} END AS BLOB)"
    )


# Only the keys "action" and "actor" come before "at", and a JSON string never holds an
# unescaped quote: the first occurrence of the placeholder is the key `at` itself.
_AT_PLACEHOLDER = b'"at":""'


def _at_json(at: Any, sqlite: bool) -> str:
    """`at` as `datetime.isoformat()` of the aware UTC value writes it, quoted, from what the
    driver returned; ValueError where that is not the plain case (the exact way judges)."""
    if sqlite:  # SQLAlchemy's text form: "2026-11-25 00:00:00.000000"
        if not isinstance(at, str) or len(at) != 26 or at[10] != " " or at[19] != ".":
            raise ValueError(at)
        fraction = "" if at[20:] == "000000" else at[19:]
        return f'"{at[:10]}T{at[11:19]}{fraction}+00:00"'
    if not isinstance(at, datetime) or at.tzinfo is not None:
        raise ValueError(at)
    return f'"{at.isoformat()}+00:00"'


class _StoredRecords:
    """The change log's rows in seq order, a chunk at a time through the DB-API cursor, each
    hashed with hashlib directly into a `Link`.

    A record's canonical JSON is not built with `json.dumps` of a dict: SQLite writes it with
    json_object() (`_sqlite_json`); from PostgreSQL (or an SQLite without JSON functions) the
    values come back one by one and a template holds them (escaped by the json module's own
    string encoder). Where a value is not the plain case (an `at` not in the store's own text
    form, a type a column should not hold) or the hash does not match, the record is hashed
    again the exact way, through SQLAlchemy's column types and `body_hash`: a fast path can
    only send a record there, never pass one the exact way would fail. (For a hash to match,
    the fast JSON must equal the JSON the record was written with, and JSON strings decode to
    one text only.)
    """

    json_in_sqlite: ClassVar[bool] = True  # tests turn it off to pin the template

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self.dbapi_error = connection.dialect.loaded_dbapi.Error
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        columns = ("seq", "prev_hash", "hash", *_SORTED, OUTPUT_REFERENCE)
        self.template_pages = self._pages(f"SELECT {', '.join(columns)}", mark)
        self.json_pages: tuple[str, str] | None = None
        if self.sqlite and self.json_in_sqlite:
            json_select = f"SELECT seq, prev_hash, hash, at, {_sqlite_json()}, {OUTPUT_REFERENCE}"
            try:
                connection.exec_driver_sql("SELECT json_object('a', json('true'))")
                self.json_pages = self._pages(json_select, mark)
            except sa.exc.DBAPIError:
                pass  # no JSON functions in this SQLite: the template it is

    @staticmethod
    def _pages(select: str, mark: str) -> tuple[str, str]:
        return (
            f"{select} FROM changes ORDER BY seq LIMIT {_CHUNK}",
            f"{select} FROM changes WHERE seq > {mark} ORDER BY seq LIMIT {_CHUNK}",
        )

    def chunks(self) -> Iterator[list[Link]]:
        cursor = self.connection.connection.cursor()
        after: int | None = None
        try:
            while True:
                rows = None
                if self.json_pages is not None:
                    try:
                        rows = self._page(cursor, self.json_pages, after)
                    except self.dbapi_error:
                        rows = None  # a value json_object() refuses (a BLOB): one by one
                    else:
                        if not rows:
                            return
                        yield self.json_links(rows)
                if rows is None:
                    rows = self._page(cursor, self.template_pages, after)
                    if not rows:
                        return
                    yield self.links(rows)
                after = rows[-1][0]
        finally:
            cursor.close()

    @staticmethod
    def _page(cursor: Any, pages: tuple[str, str], after: int | None) -> list[Any]:
        if after is None:
            cursor.execute(pages[0])
        else:
            cursor.execute(pages[1], (after,))
        rows: list[Any] = cursor.fetchall()
        return rows

    def json_links(self, rows: list[Any]) -> list[Link]:
        sha256, tag, fromhex = hashlib.sha256, DOMAIN_TAG, bytes.fromhex
        placeholder = _AT_PLACEHOLDER
        links: list[Link] = []
        add = links.append
        last_hex, last_bytes = "", b""
        raw_at, at_key = None, b""  # a router's records share their instant
        for seq, prev_hash, hash_, at, body, ref in rows:
            try:
                if at != raw_at:
                    at_key = b'"at":' + _at_json(at, sqlite=True).encode()
                    raw_at = at
                # the predecessor's hash in bytes: the previous record's digest, in a sound chain
                prev_bytes = last_bytes if prev_hash == last_hex else fromhex(prev_hash)
                body = body.replace(placeholder, at_key, 1)
                digest = sha256(tag + seq.to_bytes(8, "big") + prev_bytes + body).digest()
                content = digest.hex()
                if content == hash_:
                    last_hex, last_bytes = content, digest
                else:  # a break, or a value outside the plain case
                    content = self.exact(seq, prev_hash)
            except (TypeError, ValueError, AttributeError, OverflowError):
                content = self.exact(seq, prev_hash)
            add((seq, prev_hash, hash_, content, ref))
        return links

    def links(self, rows: list[Any]) -> list[Link]:
        sha256, tag, fromhex = hashlib.sha256, DOMAIN_TAG, bytes.fromhex
        q, template, reference_key = encode_basestring, _TEMPLATE, _REFERENCE_KEY
        boolean, null, sqlite = _BOOLEAN, _NULL, self.sqlite
        links: list[Link] = []
        add = links.append
        last_hex, last_bytes = "", b""
        raw_at, at_json = None, ""  # a router's records share their instant
        for (seq, prev_hash, hash_, action, actor, at, commands, detail, device_id, output,
             error, intent_seq, kind, line_id, order_ids, pass_id, state_after, venue_id,
             verified, ref) in rows:  # fmt: skip
            try:
                if at != raw_at:
                    at_json = _at_json(at, sqlite)
                    raw_at = at
                body = template % (
                    q(action), q(actor), at_json, q(commands), q(detail),
                    device_id if device_id.__class__ is int else null[device_id], q(output),
                    "" if ref is None else reference_key + q(ref),
                    "null" if error is None else q(error),
                    intent_seq if intent_seq.__class__ is int else null[intent_seq], q(kind),
                    line_id if line_id.__class__ is int else null[line_id], q(order_ids),
                    "null" if pass_id is None else q(pass_id),
                    "null" if state_after is None else q(state_after),
                    venue_id if venue_id.__class__ is int else null[venue_id], boolean[verified],
                )  # fmt: skip
                # the predecessor's hash in bytes: the previous record's digest, in a sound chain
                prev_bytes = last_bytes if prev_hash == last_hex else fromhex(prev_hash)
                digest = sha256(tag + seq.to_bytes(8, "big") + prev_bytes + body.encode()).digest()
                content = digest.hex()
                if content == hash_:
                    last_hex, last_bytes = content, digest
                else:  # a break, or a value the fast path wrote unlike `canonical`
                    content = self.exact(seq, prev_hash)
            except (TypeError, KeyError, ValueError, AttributeError, OverflowError):
                content = self.exact(seq, prev_hash)
            add((seq, prev_hash, hash_, content, ref))
        return links

    def exact(self, seq: int, prev_hash: str) -> str:
        """The record's hash computed as the ORM path computes it (rare: a break, or a value
        the fast path does not take); "" if its values cannot be hashed at all."""
        row = self.connection.execute(sa.select(_CHANGES).where(_CHANGES.c.seq == seq)).first()
        if row is None:
            return ""
        try:
            return body_hash(seq, str(prev_hash), _document(row._mapping))
        except (TypeError, ValueError, AttributeError, OverflowError):
            return ""

    def locate(self, hash_: str) -> int | None:
        found = self.connection.execute(
            sa.select(_CHANGES.c.seq).where(_CHANGES.c.hash == hash_).limit(1)
        ).scalar()
        return None if found is None else int(found)

    def output_digests(self, refs: Sequence[str]) -> Mapping[str, str]:
        """The SHA-256 of each stored output's UTF-8 bytes, hashed as the database holds them
        (no decoding to text and encoding again)."""
        as_bytes = "CAST(text AS BLOB)" if self.sqlite else "convert_to(text, 'UTF8')"
        query = f"SELECT sha256, {as_bytes} FROM device_outputs WHERE sha256 IN ({{}})"
        mark = "?" if self.sqlite else "%s"
        found: dict[str, str] = {}
        cursor = self.connection.connection.cursor()
        try:
            for start in range(0, len(refs), 500):
                chunk = refs[start : start + 500]
                cursor.execute(query.format(", ".join([mark] * len(chunk))), chunk)
                for ref, stored in cursor.fetchall():
                    found[ref] = hashlib.sha256(stored).hexdigest()
        finally:
            cursor.close()
        return found


def _read_snapshot(connection: sa.Connection) -> None:
    """Read the log at one instant: PostgreSQL's REPEATABLE READ gives the whole
    verification one snapshot (SQLite's read transaction in WAL mode does by itself)."""
    if connection.dialect.name == "postgresql":
        connection.execution_options(isolation_level="REPEATABLE READ")


def stored_checkpoints(
    engine: sa.Engine, first: int = 0, last: int | None = None
) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return _stored_checkpoints(connection, first, last)


def _stored_checkpoints(
    connection: sa.Connection, first: int = 0, last: int | None = None
) -> list[dict[str, Any]]:
    query = sa.select(_CHECKPOINTS).where(_CHECKPOINTS.c.seq >= first)
    if last is not None:
        query = query.where(_CHECKPOINTS.c.seq <= last)
    return [
        checkpoint_document(Checkpoint(**row))
        for row in connection.execute(query.order_by(_CHECKPOINTS.c.seq)).mappings()
    ]


def verify_store(
    engine: sa.Engine,
    public_key: Ed25519PublicKey | None = None,
    outside: Iterable[Mapping[str, Any]] = (),
) -> VerifyReport:
    """Verify the live log: its rows are read through the DB-API cursor in chunks and hashed
    with hashlib (see `_StoredRecords`), never held all at once."""
    outside = list(outside)
    with engine.connect() as connection:
        _read_snapshot(connection)
        with connection.begin():
            # the checkpoints first: the log only grows, so every one is older than its tail
            checkpoints = _stored_checkpoints(connection)
            expected_log_id = _log_id(connection)
            reader = _StoredRecords(connection)
            report = _walk(
                itertools.chain.from_iterable(reader.chunks()),
                checkpoints,
                public_key,
                outside,
                expected_log_id,
                reader.output_digests,
                reader.locate,
            )
    _state_limits(report, outside, "the database")
    if public_key is None and report.checkpoints + report.outside_checkpoints:
        report.notes.append(
            "no --public-key: each checkpoint was checked against the key it names itself; "
            "give the signer's public key to prove who signed them"
        )
    return report


def _state_limits(report: VerifyReport, outside: list[Mapping[str, Any]], holder: str) -> None:
    """Say what a passing verification does not prove with the checkpoints it was given."""
    blind = (
        "truncation of the log's tail and a chain rewritten from an edited record onwards "
        "cannot be detected"
    )
    if report.checkpoints == 0 and report.outside_checkpoints == 0:
        report.limits.append(
            f"no signed checkpoint at all: {blind} (anyone able to write {holder} can "
            "recompute every hash); sign checkpoints with CURFEW_SIGNING_KEY_FILE and keep "
            "copies outside with CURFEW_CHECKPOINT_DIR"
        )
        return
    if report.outside_checkpoints == 0:
        report.limits.append(
            f"no checkpoint held outside {holder} (--checkpoints DIR not given or empty): "
            f"whoever rewrote {holder} could also remove its newest checkpoints, so {blind}"
        )
        return
    seqs = [int(d["seq"]) for d in outside if "seq" in d and "unreadable" not in d]
    newest = max(seqs, default=0)
    if report.last_seq is not None and newest < report.last_seq:
        report.notes.append(
            f"records {newest + 1}..{report.last_seq} come after the newest checkpoint held "
            f"outside (seq {newest}): their removal from the tail would not be detected"
        )


# -- export --------------------------------------------------------------------------------


def export(
    engine: sa.Engine, out: Path, now: datetime, first: int = 1, last: int | None = None
) -> int:
    """Write records first..last with their checkpoints as JSON Lines; returns the count.

    Each stored device output the records cite is written once ("output" line) before the
    first record citing it, so the export verifies offline with no database.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with engine.connect() as connection:
        _read_snapshot(connection)
        with connection.begin(), out.open("w", encoding="utf-8") as handle:
            span = _CHANGES.c.seq >= first
            if last is not None:
                span = sa.and_(span, _CHANGES.c.seq <= last)
            count, to = connection.execute(
                sa.select(sa.func.count(), sa.func.max(_CHANGES.c.seq)).where(span)
            ).one()
            checkpoints = _stored_checkpoints(connection, max(first - 1, 0), last)
            keys = sorted({c["public_key"] for c in checkpoints})
            header = {
                "type": "header",
                "format": EXPORT_FORMAT,
                "log_id": _log_id(connection),
                "from": first,
                "to": to if count else last,
                "records": count,
                "public_keys": keys,
                "hashed_fields": list(HASHED_FIELDS),
                "hashed_when_set": list(HASHED_WHEN_SET),
                "exported_at": now.isoformat(),
            }
            handle.write(json.dumps(header, ensure_ascii=False) + "\n")
            if count:
                _export_records(connection, sa.and_(span, _CHANGES.c.seq <= to), handle)
            for checkpoint in checkpoints:
                handle.write(json.dumps({"type": "checkpoint", **checkpoint}) + "\n")
    return int(count)


def _export_records(connection: sa.Connection, span: sa.ColumnElement[bool], handle: Any) -> None:
    query = sa.select(_CHANGES).where(span).order_by(_CHANGES.c.seq)
    rows = connection.execute(query.execution_options(yield_per=_CHUNK))
    written: set[str] = set()
    for chunk in rows.mappings().partitions():
        documents = [_document(row) for row in chunk]
        cited = {d[OUTPUT_REFERENCE] for d in documents if OUTPUT_REFERENCE in d} - written
        texts = stored_outputs(connection, sorted(cited))
        for document in documents:
            ref = document.get(OUTPUT_REFERENCE)
            if ref is not None and ref not in written and ref in texts:
                item = {"type": "output", "sha256": ref, "text": texts[ref]}
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
                written.add(ref)
            handle.write(json.dumps({"type": "record", **document}, ensure_ascii=False) + "\n")


def verify_export(
    path: Path,
    public_key: Ed25519PublicKey | None = None,
    outside: Iterable[Mapping[str, Any]] = (),
) -> VerifyReport:
    header: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    outputs: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            try:
                item = json.loads(text)
            except json.JSONDecodeError as exc:
                report = VerifyReport()
                report.problems.append(Problem(None, "unreadable", f"{path}:{number}: {exc}"))
                return report
            kind = item.pop("type", None)
            if kind == "header":
                header = item
            elif kind == "record":
                records.append(item)
            elif kind == "checkpoint":
                checkpoints.append(item)
            elif kind == "output":
                ref, body = str(item.get("sha256")), item.get("text")
                if not isinstance(body, str) or outputs.get(ref, body) != body:
                    body = "\x00"  # not text, or two texts under one name: neither is trusted
                outputs[ref] = body
    if header is None or header.get("format") not in EXPORT_FORMATS:
        report = VerifyReport()
        report.problems.append(Problem(None, "unreadable", f"{path} is not a {EXPORT_FORMAT} file"))
        return report
    keys = header.get("public_keys") or []
    pinned = public_key is not None
    if public_key is None and len(keys) == 1:
        public_key = public_from_hex(keys[0])
    outside = list(outside)
    report = verify_records(
        records, checkpoints, public_key, outside, header.get("log_id"), outputs
    )
    _state_limits(report, outside, "the export")
    if not pinned and report.checkpoints + report.outside_checkpoints:
        report.limits.append(
            "no --public-key: the checkpoints were checked against the key(s) the export "
            f"itself names ({', '.join(k[:16] + '…' for k in keys) or 'none'}); anyone who "
            "rewrote the export could have re-signed it with a key of their own, so give the "
            "signer's public key, obtained apart from the export"
        )
    if header.get("records") != len(records):
        report.problems.append(
            Problem(None, "truncated", f"the header promises {header.get('records')} records, "
                    f"the file holds {len(records)}")
        )  # fmt: skip
    if not keys:
        report.notes.append("the export holds no checkpoint: the chain is checked, not its signer")
    return report


# -- corrections -----------------------------------------------------------------------------


def append_correction(store: Any, seq: int, note: str, actor: str) -> Change:
    """Nothing in the log is ever edited: a correction is a new record pointing at the old."""
    if not note.strip() or any(ord(c) < 32 for c in note):
        raise ValueError("a correction needs a one-line note saying what was wrong")
    with Session(store.engine) as session:
        original = session.get(Change, seq) if 0 < seq <= MAX_ROW_ID else None
    if original is None:
        raise LookupError(f"no change record {seq}")
    return store.log_admin(
        "correction",
        actor,
        order_ids=original.order_ids,
        line_id=original.line_id,
        venue_id=original.venue_id,
        device_id=original.device_id,
        detail=json.dumps({"corrects": seq, "note": note}, ensure_ascii=False),
    )  # type: ignore[no-any-return]
