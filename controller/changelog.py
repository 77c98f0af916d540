"""The change log: append-only records, each hash-chained to the one before it.

hash = SHA-256(domain tag || seq || prev_hash || canonical JSON of the record). A router's
session output is stored once (`device_outputs`, named by its SHA-256) and each outcome cites
it by that hash, which the record's JSON carries, so the chain covers it. Appends are
serialized (SQLite BEGIN IMMEDIATE, PostgreSQL an advisory transaction lock) and a fork is
refused by the schema (prev_hash is unique). Nothing here updates or deletes a row.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from controller.db import IMMEDIATE
from controller.models import Change, DeviceOutput

DOMAIN_TAG = b"curfew/change-log/v1\x00"
GENESIS = "0" * 64
_PG_LOCK_KEY = 0x43555246  # "CURF"
_PG_LOCK = "SELECT pg_advisory_xact_lock(%s)"


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
# The stored output a record cites: hashed only when set, so records written before outputs
# were stored once (migration 0010) hash exactly as they did.
OUTPUT_REFERENCE = "device_output_sha256"
HASHED_WHEN_SET = (OUTPUT_REFERENCE,)


def output_sha256(text: str) -> str:
    """A stored device output's name: the SHA-256 of its UTF-8 text, in hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def hashed_fields(change: Change) -> dict[str, Any]:
    """The fields a record's hash covers, as JSON values (`at` as ISO 8601 UTC)."""
    body = {name: getattr(change, name) for name in HASHED_FIELDS}
    body["at"] = change.at.isoformat()
    if change.device_output_sha256 is not None:
        body[OUTPUT_REFERENCE] = change.device_output_sha256
    return body


def hashed_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """Exactly what the hash covers of a record's fields: every hashed field, and a field
    hashed when set only if it is."""
    hashed = {name: body.get(name) for name in HASHED_FIELDS}
    for name in HASHED_WHEN_SET:
        if body.get(name) is not None:
            hashed[name] = body[name]
    return hashed


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
    digest.update(canonical(hashed_body(body)))
    return digest.hexdigest()


def record_hash(seq: int, prev_hash: str, change: Change) -> str:
    return body_hash(seq, prev_hash, hashed_fields(change))


@contextlib.contextmanager
def driver_errors(dialect: sa.Dialect) -> Iterator[None]:
    """Raise the driver's errors from work done on the DB-API cursor as SQLAlchemy raises
    them (`sa.exc.IntegrityError`, `OperationalError`…), for callers that catch those."""
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        raise sa.exc.DBAPIError.instance(None, None, exc, dbapi_error, dialect=dialect) from exc


def serialize(connection: sa.Connection) -> None:
    """Take the log's write lock for the rest of this transaction: PostgreSQL's advisory
    transaction lock (on SQLite the transaction began IMMEDIATE, which serializes it)."""
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.cursor()
        try:
            with driver_errors(connection.dialect):
                cursor.execute(_PG_LOCK, (_PG_LOCK_KEY,))
        finally:
            cursor.close()


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
    if then is None:
        return _append_alone(engine, entries)
    with engine.connect() as connection:
        connection.execution_options(**IMMEDIATE)
        with connection.begin():
            serialize(connection)
            written = append_in(connection, entries)
            then(connection, written)
    return written


def _append_alone(engine: sa.Engine, entries: Sequence[NewChange]) -> list[Change]:
    """Records with nothing else to write: one transaction on the pool's DB-API connection,
    begun (IMMEDIATE on SQLite, the advisory lock on PostgreSQL) and committed directly,
    since SQLAlchemy's Connection and its events cost a sixth of a one-record append."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            with driver_errors(engine.dialect):
                if engine.dialect.name == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")
                else:
                    cursor.execute(_PG_LOCK, (_PG_LOCK_KEY,))
                written = _write(cursor, engine.dialect, entries)
                raw.commit()
        except BaseException:
            try:
                raw.rollback()
            except Exception:
                raw.invalidate()  # one that cannot roll back is not pooled again
            raise
        finally:
            cursor.close()
    finally:
        raw.close()  # back to the pool, which resets it
    return written


@dataclass(frozen=True)
class _Statements:
    """The append path's SQL in one driver's parameter style, and the columns' conversions
    to what the driver stores (e.g. `at` as SQLite's text form)."""

    head: str
    insert_change: str
    insert_order: str
    insert_output: str
    convert: tuple[tuple[int, Callable[[Any], Any]], ...]


_COLUMNS = tuple(c.name for c in Change.__table__.columns)  # type: ignore[attr-defined]
_STATEMENTS: dict[str, _Statements] = {}
_NEW_CHANGE = sa.orm.instrumentation.manager_of_class(Change).new_instance


def _statements(dialect: sa.Dialect) -> _Statements:
    found = _STATEMENTS.get(dialect.name)
    if found is None:
        sa.orm.configure_mappers()  # `_NEW_CHANGE` fills rows as the ORM does: set it up
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        table = Change.__table__  # type: ignore[attr-defined]
        convert = []
        for index, name in enumerate(_COLUMNS):
            processor = table.c[name].type._cached_bind_processor(dialect)
            if processor is not None:
                convert.append((index, processor))
        found = _STATEMENTS[dialect.name] = _Statements(
            head="SELECT seq, hash FROM changes ORDER BY seq DESC LIMIT 1",
            insert_change=f"INSERT INTO changes ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(_COLUMNS))})",
            insert_order=f"INSERT INTO change_orders (seq, order_id) VALUES ({mark}, {mark})",
            insert_output=f"INSERT INTO device_outputs (sha256, text) VALUES ({mark}, {mark}) "
            "ON CONFLICT (sha256) DO NOTHING",
            convert=tuple(convert),
        )
    return found


def append_in(connection: sa.Connection, entries: Sequence[NewChange]) -> list[Change]:
    """Append records inside the caller's transaction, which must hold the log's write lock
    (began IMMEDIATE on SQLite, `serialize`d on PostgreSQL).

    A non-empty device output is stored once in `device_outputs` and the record cites it by
    its SHA-256. The rows go through the DB-API cursor: the ORM and the SQL compiler cost
    more than the rest of a one-record append (see BENCHMARKS.md).
    """
    if not entries:
        return []
    cursor = connection.connection.cursor()
    try:
        with driver_errors(connection.dialect):
            return _write(cursor, connection.dialect, entries)
    finally:
        cursor.close()


def _write(cursor: Any, dialect: sa.Dialect, entries: Sequence[NewChange]) -> list[Change]:
    """Read the head, chain the records after it and write them, their cited orders' index
    rows and their outputs, on a cursor of a transaction that holds the log's write lock."""
    sql = _statements(dialect)
    cursor.execute(sql.head)
    head = cursor.fetchone()
    written, rows, cited, outputs = _records(entries, *(head or (0, GENESIS)), sql)
    # PostgreSQL: the writes in one round trip (psycopg's pipeline), not one each
    pipeline = cursor.connection.pipeline() if dialect.name == "postgresql" else None
    with pipeline or contextlib.nullcontext():
        if outputs:
            cursor.executemany(sql.insert_output, outputs)
        for statement, values in ((sql.insert_change, rows), (sql.insert_order, cited)):
            if len(values) == 1:
                cursor.execute(statement, values[0])
            elif values:
                cursor.executemany(statement, values)
    return written


def _records(
    entries: Sequence[NewChange], seq: int, prev: str, sql: _Statements
) -> tuple[list[Change], list[list[Any]], list[tuple[int, int]], list[tuple[str, str]]]:
    """The records chained after (seq, prev), their rows as the driver stores them, the
    orders they cite (seq, order id), and the outputs they cite (SHA-256, text), each once."""
    refs: dict[str, str] = {}  # output text -> its SHA-256: a router's batch shares one
    written, rows, cited = [], [], []
    for entry in entries:
        seq += 1
        text = entry.device_output
        ref = None
        if text:
            ref = refs.get(text)
            if ref is None:
                ref = refs[text] = output_sha256(text)
        at = entry.at.astimezone(UTC)
        order_ids = sorted(entry.order_ids)
        values = {
            "seq": seq,
            "at": at,
            "pass_id": entry.pass_id,
            "kind": entry.kind,
            "action": entry.action,
            "order_ids_json": json.dumps(order_ids),
            "line_id": entry.line_id,
            "venue_id": entry.venue_id,
            "device_id": entry.device_id,
            "intent_seq": entry.intent_seq,
            "actor": entry.actor,
            "commands_json": json.dumps(list(entry.commands), ensure_ascii=False),
            "device_output": "" if ref is not None else text,
            "state_after": entry.state_after,
            "verified": entry.verified,
            "error": entry.error,
            "detail": entry.detail,
            "prev_hash": prev,
            "device_output_sha256": ref,
        }
        body = {name: values[name] for name in HASHED_FIELDS}
        body["at"] = at.isoformat()
        if ref is not None:
            body[OUTPUT_REFERENCE] = ref
        values["hash"] = prev = body_hash(seq, values["prev_hash"], body)
        # filled as the ORM fills a row it loads: constructing the model costs ~40 µs
        change = _NEW_CHANGE()
        change.__dict__.update(values)
        if ref is not None:
            change.resolve_output(text)
        written.append(change)
        row = [values[name] for name in _COLUMNS]
        for index, convert in sql.convert:
            row[index] = convert(row[index])
        rows.append(row)
        cited.extend((seq, order_id) for order_id in order_ids)
    return written, rows, cited, [(ref, text) for text, ref in refs.items()]


def resolve_outputs(connection: sa.Connection, changes: Sequence[Change]) -> None:
    """Attach to each record citing a stored output that output's text (None if missing)."""
    refs = sorted({c.device_output_sha256 for c in changes if c.device_output_sha256})
    texts = stored_outputs(connection, refs)
    for change in changes:
        if change.device_output_sha256:
            change.resolve_output(texts.get(change.device_output_sha256))


def stored_outputs(connection: sa.Connection, refs: Sequence[str]) -> dict[str, str]:
    """The stored outputs of these SHA-256s that exist, by SHA-256."""
    table = DeviceOutput.__table__  # type: ignore[attr-defined]
    found: dict[str, str] = {}
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        query = sa.select(table.c.sha256, table.c.text).where(table.c.sha256.in_(chunk))
        found.update((row[0], row[1]) for row in connection.execute(query))
    return found
