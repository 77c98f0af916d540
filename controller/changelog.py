"""The change log: append-only records, each hash-chained to the one before it.

hash = SHA-256(domain tag || seq || prev_hash || canonical JSON of the record). Appends are
serialized (SQLite BEGIN IMMEDIATE, PostgreSQL an advisory transaction lock) and a fork is
refused by the schema (prev_hash is unique). Nothing here updates or deletes a row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from controller.db import IMMEDIATE
from controller.models import Change, ChangeOrder

DOMAIN_TAG = b"curfew/change-log/v1\x00"
GENESIS = "0" * 64
_PG_LOCK_KEY = 0x43555246  # "CURF"


@dataclass(frozen=True)
class NewChange:
    at: datetime
    kind: str  # intent | outcome | admin
    action: str
    actor: str
    pass_id: str | None = None
    order_ids: Sequence[int] = ()
    line_id: int | None = None
    venue_id: int | None = None
    device_id: int | None = None
    intent_seq: int | None = None
    commands: Sequence[str] = ()
    device_output: str = ""
    state_after: str | None = None
    verified: bool | None = None
    error: str | None = None
    detail: str = ""


HASHED_FIELDS = (
    "at", "pass_id", "kind", "action", "order_ids_json", "line_id", "venue_id", "device_id",
    "intent_seq", "actor", "commands_json", "device_output", "state_after", "verified",
    "error", "detail",
)  # fmt: skip


def hashed_fields(change: Change) -> dict[str, Any]:
    """The fields a record's hash covers, as JSON values (`at` as ISO 8601 UTC)."""
    body = {name: getattr(change, name) for name in HASHED_FIELDS}
    body["at"] = change.at.isoformat()
    return body


def canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def body_hash(seq: int, prev_hash: str, body: Mapping[str, Any]) -> str:
    """SHA-256(domain tag || seq || prev_hash || canonical JSON of the hashed fields)."""
    digest = hashlib.sha256()
    digest.update(DOMAIN_TAG)
    digest.update(seq.to_bytes(8, "big"))
    try:
        digest.update(bytes.fromhex(prev_hash))
    except (ValueError, TypeError):
        digest.update(str(prev_hash).encode())
    digest.update(canonical({name: body.get(name) for name in HASHED_FIELDS}))
    return digest.hexdigest()


def record_hash(seq: int, prev_hash: str, change: Change) -> str:
    return body_hash(seq, prev_hash, hashed_fields(change))


def serialize(connection: sa.Connection) -> None:
    """Take the log's write lock for the rest of this transaction: PostgreSQL's advisory
    transaction lock (on SQLite the transaction began IMMEDIATE, which serializes it)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def append(
    engine: sa.Engine,
    entries: Sequence[NewChange],
    then: Callable[[sa.Connection, list[Change]], None] | None = None,
) -> list[Change]:
    """Append records in one serialized transaction; returns them with seq and hash.

    `then` writes what the records are the evidence of (e.g. the lines' verified states) in
    the same transaction: both are kept, or neither.
    """
    if not entries:
        return []
    with engine.execution_options(**IMMEDIATE).begin() as connection:
        serialize(connection)
        written = append_in(connection, entries)
        if then is not None:
            then(connection, written)
        return written


def append_in(connection: sa.Connection, entries: Sequence[NewChange]) -> list[Change]:
    """Append records inside the caller's transaction, which must hold the log's write lock
    (began IMMEDIATE on SQLite, `serialize`d on PostgreSQL)."""
    if not entries:
        return []
    table = Change.__table__  # type: ignore[attr-defined]
    head = connection.execute(
        sa.select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    written = []
    for entry in entries:
        seq += 1
        row = Change(
            seq=seq,
            at=entry.at.astimezone(UTC),
            pass_id=entry.pass_id,
            kind=entry.kind,
            action=entry.action,
            order_ids_json=json.dumps(sorted(entry.order_ids)),
            line_id=entry.line_id,
            venue_id=entry.venue_id,
            device_id=entry.device_id,
            intent_seq=entry.intent_seq,
            actor=entry.actor,
            commands_json=json.dumps(list(entry.commands), ensure_ascii=False),
            device_output=entry.device_output,
            state_after=entry.state_after,
            verified=entry.verified,
            error=entry.error,
            detail=entry.detail,
            prev_hash=prev,
            hash="",
        )
        row.hash = record_hash(seq, prev, row)
        prev = row.hash
        written.append(row)
    connection.execute(
        sa.insert(table),
        [{c.name: getattr(row, c.name) for c in table.columns} for row in written],
    )
    cited = [
        {"seq": row.seq, "order_id": order_id} for row in written for order_id in row.order_ids
    ]
    if cited:
        connection.execute(sa.insert(ChangeOrder.__table__), cited)  # type: ignore[attr-defined]
    return written
