"""Evidence an auditor can check offline: signed checkpoints, exports, and verification.

A checkpoint signs (log id, seq, head hash, time) with Ed25519; the key comes from a file named
in the settings, never from the database, and every checkpoint is also written where the
database's owner cannot reach (a directory, a webhook). Verification walks the hash chain and
checks every checkpoint it is given, naming the first bad sequence number and what is wrong.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlmodel import Session, select

from controller.changelog import GENESIS, HASHED_FIELDS, body_hash, canonical, hashed_fields
from controller.clock import Clock
from controller.models import MAX_ROW_ID, Change, Checkpoint, LogMeta

log = logging.getLogger("curfew.audit")

CHECKPOINT_TAG = b"curfew/checkpoint/v1\x00"
EXPORT_FORMAT = "curfew-audit-export/1"


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


def log_id(engine: sa.Engine) -> str:
    with Session(engine) as session:
        meta = session.get(LogMeta, "log_id")
        if meta is None:
            raise RuntimeError("the store has no log id: run the migrations")
        return meta.value


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
        with Session(engine, expire_on_commit=False) as session:
            head = session.exec(select(Change).order_by(Change.seq.desc()).limit(1)).first()  # type: ignore[union-attr]
            if head is None:
                return None
            latest = session.exec(
                select(Checkpoint).order_by(Checkpoint.seq.desc()).limit(1)  # type: ignore[union-attr]
            ).first()
            if latest is not None and latest.seq == head.seq:
                return latest
            meta = session.get(LogMeta, "log_id")
            assert meta is not None
            at = self.clock.now()
            signature = self.key.sign(
                checkpoint_message(meta.value, head.seq, head.hash, at.isoformat())
            )
            checkpoint = Checkpoint(
                log_id=meta.value,
                seq=head.seq,
                head_hash=head.hash,
                at=at,
                public_key=public_hex(self.key.public_key()),
                signature=signature.hex(),
            )
            session.add(checkpoint)
            session.commit()
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


def _chain_problem(records: list[Mapping[str, Any]], index: int, prev: str) -> Problem:
    """Classify the first break, with the whole record list at hand (rare path)."""
    record = records[index]
    seq = record["seq"]
    by_hash = {r["hash"]: r["seq"] for r in records}
    if record["prev_hash"] != prev:
        earlier = by_hash.get(record["prev_hash"])
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


def verify_records(
    records: Iterable[Mapping[str, Any]],
    checkpoints: Iterable[Mapping[str, Any]] = (),
    public_key: Ed25519PublicKey | None = None,
    outside: Iterable[Mapping[str, Any]] = (),
    expected_log_id: str | None = None,
) -> VerifyReport:
    """Check the chain and every checkpoint; `records` must be in stored order."""
    report = VerifyReport()
    rows = records if isinstance(records, list) else list(records)
    hashes: dict[int, str] = {}
    prev: str | None = None
    expected: int | None = None
    for index, record in enumerate(rows):
        seq = record["seq"]
        if prev is None:
            report.first_seq = seq
            prev = GENESIS if seq == 1 else record["prev_hash"]
            if seq != 1:
                report.notes.append(f"the records start at seq {seq}: the chain is anchored there")
            expected = seq
        assert expected is not None
        if seq != expected:
            if seq > expected:
                missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
                report.problems.append(
                    Problem(expected, "deleted", f"record(s) {missing} are missing")
                )
            else:
                report.problems.append(
                    Problem(seq, "reordered", f"record {seq} appears after record {expected - 1}")
                )
            break
        if record["prev_hash"] != prev or body_hash(seq, prev, record) != record["hash"]:
            report.problems.append(_chain_problem(rows, index, prev))
            break
        hashes[seq] = record["hash"]
        prev, expected = record["hash"], seq + 1
        report.records += 1
        report.last_seq, report.head_hash = seq, record["hash"]

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
        if seq > last and not report.problems:
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
            first = rows[0]
            if first["prev_hash"] != document["head_hash"]:
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


def _record_dicts(engine: sa.Engine) -> Iterator[dict[str, Any]]:
    with Session(engine) as session:
        for change in session.exec(
            select(Change).order_by(Change.seq).execution_options(yield_per=5000)
        ):  # type: ignore[arg-type]
            yield record_document(change)


def record_document(change: Change) -> dict[str, Any]:
    return {
        "seq": change.seq,
        **hashed_fields(change),
        "prev_hash": change.prev_hash,
        "hash": change.hash,
    }


def stored_checkpoints(
    engine: sa.Engine, first: int = 0, last: int | None = None
) -> list[dict[str, Any]]:
    with Session(engine) as session:
        query = select(Checkpoint).where(Checkpoint.seq >= first).order_by(Checkpoint.seq)
        if last is not None:
            query = query.where(Checkpoint.seq <= last)
        return [checkpoint_document(c) for c in session.exec(query)]


def verify_store(
    engine: sa.Engine,
    public_key: Ed25519PublicKey | None = None,
    outside: Iterable[Mapping[str, Any]] = (),
) -> VerifyReport:
    outside = list(outside)
    report = verify_records(
        list(_record_dicts(engine)),
        stored_checkpoints(engine),
        public_key,
        outside,
        expected_log_id=log_id(engine),
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
    """Write records first..last with their checkpoints as JSON Lines; returns the count."""
    with Session(engine) as session:
        query = select(Change).where(Change.seq >= first).order_by(Change.seq)
        if last is not None:
            query = query.where(Change.seq <= last)
        records = [record_document(c) for c in session.exec(query)]
    checkpoints = stored_checkpoints(engine, max(first - 1, 0), last)
    keys = sorted({c["public_key"] for c in checkpoints})
    header = {
        "type": "header",
        "format": EXPORT_FORMAT,
        "log_id": log_id(engine),
        "from": first,
        "to": records[-1]["seq"] if records else last,
        "records": len(records),
        "public_keys": keys,
        "hashed_fields": list(HASHED_FIELDS),
        "exported_at": now.isoformat(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(header, ensure_ascii=False) + "\n")
        for record in records:
            handle.write(json.dumps({"type": "record", **record}, ensure_ascii=False) + "\n")
        for checkpoint in checkpoints:
            handle.write(json.dumps({"type": "checkpoint", **checkpoint}) + "\n")
    return len(records)


def verify_export(
    path: Path,
    public_key: Ed25519PublicKey | None = None,
    outside: Iterable[Mapping[str, Any]] = (),
) -> VerifyReport:
    header: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
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
    if header is None or header.get("format") != EXPORT_FORMAT:
        report = VerifyReport()
        report.problems.append(Problem(None, "unreadable", f"{path} is not a {EXPORT_FORMAT} file"))
        return report
    keys = header.get("public_keys") or []
    pinned = public_key is not None
    if public_key is None and len(keys) == 1:
        public_key = public_from_hex(keys[0])
    outside = list(outside)
    report = verify_records(records, checkpoints, public_key, outside, header.get("log_id"))
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
