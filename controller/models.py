"""The domain model as SQLModel tables: devices, authorities, venues, lines, orders, changes.

Times are stored as UTC and come back timezone-aware. The schema itself is owned by the
Alembic migrations in `controller/migrations`; these classes must match them.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, date, datetime
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Row ids and sequence numbers are INTEGER columns: 32-bit on PostgreSQL. A larger number is
# no row's id, and is answered as such before it reaches the database driver.
MAX_ROW_ID = 2**31 - 1

# where a change record read with its stored device output keeps it (InstanceState.info)
RESOLVED_OUTPUT = "curfew.device_output"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _json_list(items: list[Any]) -> str:
    return json.dumps(items, ensure_ascii=False)


class Device(SQLModel, table=True):
    __tablename__ = "devices"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    platform: str
    host: str
    port: int
    username: str
    # Secrets (see `controller.credentials`): by reference to the credentials directory or a
    # CURFEW_DEVICE_SECRET_* variable, or inline from the import file and then only encrypted
    # ("enc:v1:…"); never plain text here
    password: str = ""
    password_ref: str | None = None
    secret: str = ""
    secret_ref: str | None = None
    # the pinned SSH host key (`ssh-ed25519 AAAA…`), and who allowed learning it once when the
    # device had none (import --trust-new-host-keys); `controller.host_keys` changes both
    host_key: str | None = None
    host_key_tofu_by: str | None = None
    frozen: bool = False
    carrier: str = Field(default="default", index=False)
    # driver settings, not commands: e.g. {"transport": "https"}, {"version": "2c"}
    options_json: str = "{}"

    @property
    def options(self) -> dict[str, str]:
        return dict(json.loads(self.options_json))


class Authority(SQLModel, table=True):
    __tablename__ = "authorities"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    regions_json: str = "[]"

    @property
    def regions(self) -> list[str]:
        return list(json.loads(self.regions_json))


class Venue(SQLModel, table=True):
    __tablename__ = "venues"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    licence: str = ""
    zone: str = "Asia/Shanghai"
    region: str | None = None
    address: str | None = None


@functools.lru_cache(maxsize=1 << 16)
def decode_prefixes(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """A line's stored prefixes, parsed once per distinct text: every pass's snapshot reads
    every line, and parsing 20,000 prefixes took most of a 10,000-line snapshot. The tuple and
    the networks in it are immutable, so sharing them is safe."""
    return tuple(ip_network(p) for p in json.loads(text))


def decode_nas(text: str) -> tuple[str, ...]:
    """A subscriber line's stored NAS names."""
    return tuple(json.loads(text))


class Line(SQLModel, table=True):
    __tablename__ = "lines"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    venue_id: int = Field(foreign_key="venues.id", index=True)
    device_id: int = Field(foreign_key="devices.id", index=True)
    interface: str  # "" for a subscriber line
    prefixes_json: str = "[]"
    # "port": an interface and its prefixes on a router; "subscriber": a RADIUS username whose
    # sessions live on the NAS devices named in nas_json (device_id is the first of them)
    kind: str = "port"
    username: str | None = None
    nas_json: str = "[]"
    # why cuts are refused on this line (inventory does not match the device), set by
    # `curfew inventory verify` and cleared by a verification that passes
    blocked: str | None = None
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def prefixes(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return decode_prefixes(self.prefixes_json)

    @property
    def nas(self) -> tuple[str, ...]:
        """The names of the NAS devices a subscriber line's sessions may be held on."""
        return decode_nas(self.nas_json)

    @staticmethod
    def encode_prefixes(prefixes: list[IPv4Network | IPv6Network]) -> str:
        return _json_list([str(p) for p in prefixes])


class Order(SQLModel, table=True):
    __tablename__ = "orders"

    id: int | None = Field(default=None, primary_key=True)
    authority_id: int = Field(foreign_key="authorities.id", index=True)
    venue_id: int = Field(foreign_key="venues.id", index=True)
    kind: str
    reason: str
    legal_basis: str
    effective_from: datetime = Field(sa_type=UTCDateTime)
    effective_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    issued_by: str
    issued_at: datetime = Field(sa_type=UTCDateTime)
    # active | suspended | revoked | superseded (by an amended version); "in force", "issued"
    # (not yet in force) and "expired" are read off the clock, see `controller.orders.state_of`
    status: str = "active"
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = None
    revoke_reason: str | None = None
    version: int = 1
    supersedes_id: int | None = None
    legal_basis_date: date | None = None
    external_id: str | None = None  # the entry id in a bureau's feed
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # revoked/superseded


class Change(SQLModel, table=True):
    """One append-only, hash-chained record of the change log."""

    __tablename__ = "changes"

    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    pass_id: str | None = Field(default=None, index=True)
    kind: str  # intent | outcome | admin
    action: str  # cut | restore | order_issued | order_revoked | ...
    order_ids_json: str = "[]"
    line_id: int | None = Field(default=None, index=True)
    venue_id: int | None = Field(default=None, index=True)
    device_id: int | None = Field(default=None, index=True)
    intent_seq: int | None = Field(default=None, index=True)
    actor: str
    commands_json: str = "[]"
    # What the device answered: inline in records written before outputs were stored once
    # (migration 0010); since then "" here and the stored output's SHA-256 below, which the
    # record's hash covers (see `controller.changelog`)
    device_output: str = ""
    state_after: str | None = None
    verified: bool | None = None
    error: str | None = None
    detail: str = ""
    prev_hash: str = Field(unique=True)
    hash: str = Field(unique=True)
    device_output_sha256: str | None = None

    @property
    def order_ids(self) -> list[int]:
        return list(json.loads(self.order_ids_json))

    @property
    def commands(self) -> list[str]:
        return list(json.loads(self.commands_json))

    @property
    def output(self) -> str | None:
        """What the device answered, inline or by reference; None when the stored output the
        record references is missing (`curfew audit verify` names it). A referenced output is
        read by `Store.changes` and the change log's appends; a record read otherwise raises."""
        if self.device_output_sha256 is None:
            return self.device_output
        state = sa.inspect(self)
        if RESOLVED_OUTPUT not in state.info:
            raise LookupError(f"record {self.seq}'s device output was not read with it")
        resolved: str | None = state.info[RESOLVED_OUTPUT]
        return resolved

    def resolve_output(self, text: str | None) -> None:
        """Attach the stored output the record references (None: it is missing)."""
        sa.inspect(self).info[RESOLVED_OUTPUT] = text


class DeviceOutput(SQLModel, table=True):
    """A router's session output, stored once and named by the SHA-256 of its UTF-8 text.

    Outcome records cite it by that hash (`Change.device_output_sha256`); append-only, like
    the records (triggers refuse UPDATE and DELETE, and TRUNCATE on PostgreSQL).
    """

    __tablename__ = "device_outputs"

    sha256: str = Field(primary_key=True)
    text: str


class ChangeOrder(SQLModel, table=True):
    """Which orders each change record cites: an index for "every change of order N".

    Derived from `Change.order_ids` at append time; the hash chain covers the record itself.
    """

    __tablename__ = "change_orders"

    seq: int = Field(foreign_key="changes.seq", primary_key=True)
    order_id: int = Field(primary_key=True, index=True)


class LineStatus(SQLModel, table=True):
    """The last verified state of each line: the reconciler's view of the device."""

    __tablename__ = "line_status"

    line_id: int = Field(primary_key=True, foreign_key="lines.id")
    state: str
    checked_at: datetime = Field(sa_type=UTCDateTime)
    change_seq: int | None = None
    order_ids_json: str = "[]"  # the orders the device's current cut executes

    @property
    def order_ids(self) -> list[int]:
        return list(json.loads(self.order_ids_json))


class CutHold(SQLModel, table=True):
    """A pass whose cuts exceeded the blast-radius bounds: its cuts wait for the NOC.

    Restores never wait. An approval lets passes push up to `cuts` cuts from then on, until
    the hold's night is over (see `controller.holds`).
    """

    __tablename__ = "cut_holds"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    pass_at: datetime = Field(sa_type=UTCDateTime)  # the instant the held pass planned for
    cuts: int  # cuts the pass would have pushed
    previous: int  # cuts pushed around the same instant the night before
    reason: str  # which bound was exceeded, in words
    status: str = Field(default="pending", index=True)  # pending | approved | rejected
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = None


class LogMeta(SQLModel, table=True):
    __tablename__ = "log_meta"

    key: str = Field(primary_key=True)
    value: str


class InventoryRevision(SQLModel, table=True):
    """One row, whose `revision` the database itself moves (triggers of migration 0013) on
    every insert, update or delete of a device, venue or line, whoever writes it: a plan made
    ahead of an instant is used at it only if this has not moved since (`Store.quiet_mark`)."""

    __tablename__ = "inventory_revision"

    id: int = Field(default=1, primary_key=True)
    revision: int = 0


class Checkpoint(SQLModel, table=True):
    """A signed statement that the log had `seq` records ending in `head_hash` at `at`."""

    __tablename__ = "checkpoints"

    id: int | None = Field(default=None, primary_key=True)
    log_id: str
    seq: int = Field(index=True)
    head_hash: str
    at: datetime = Field(sa_type=UTCDateTime)
    public_key: str
    signature: str


class Token(SQLModel, table=True):
    """An API bearer token: only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "tokens"

    id: int | None = Field(default=None, primary_key=True)
    label: str
    role: str  # bureau | noc | auditor | admin
    authority_id: int | None = Field(default=None, foreign_key="authorities.id")
    token_hash: str = Field(unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderEvent(SQLModel, table=True):
    """One transition in an order's life: issue, amend, suspend, resume, revoke."""

    __tablename__ = "order_events"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    action: str
    actor: str
    reason: str = ""
    detail: str = ""


class AuthorityKey(SQLModel, table=True):
    """A bureau's Ed25519 public key, used to authenticate its order feed."""

    __tablename__ = "authority_keys"

    id: int | None = Field(default=None, primary_key=True)
    authority_id: int = Field(foreign_key="authorities.id")
    public_key: str = Field(unique=True)
    added_at: datetime = Field(sa_type=UTCDateTime)
    added_by: str
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Feed(SQLModel, table=True):
    """A bureau's published order feed that the scheduler pulls."""

    __tablename__ = "feeds"

    id: int | None = Field(default=None, primary_key=True)
    authority_id: int = Field(foreign_key="authorities.id")
    source: str = Field(unique=True)  # https URL or file path
    interval_seconds: int = 300
    last_pulled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_sequence: int | None = None
    last_error: str | None = None


class Violation(SQLModel, table=True):
    """A violation the bureau recorded against a venue (admitted minors, after hours)."""

    __tablename__ = "violations"

    id: int | None = Field(default=None, primary_key=True)
    venue_id: int = Field(foreign_key="venues.id", index=True)
    kind: str
    observed_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    recorded_by: str
    authority_id: int | None = Field(default=None, foreign_key="authorities.id")
    note: str = ""


class Proposal(SQLModel, table=True):
    """An order the escalation rules propose; it waits for a bureau user to confirm it."""

    __tablename__ = "proposals"

    id: int | None = Field(default=None, primary_key=True)
    venue_id: int = Field(foreign_key="venues.id", index=True)
    authority_id: int | None = Field(default=None, foreign_key="authorities.id")
    step: str  # suspension | revocation
    order_kind: str
    term_days: int | None = None
    reason: str
    violation_ids_json: str = "[]"
    status: str = "pending"  # pending | confirmed | rejected
    created_at: datetime = Field(sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = None
    order_id: int | None = Field(default=None, foreign_key="orders.id")


class Licence(SQLModel, table=True):
    """One row of the bureau's licence register."""

    __tablename__ = "licences"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True)
    venue_name: str
    venue_id: int | None = Field(default=None, foreign_key="venues.id", index=True)
    valid_until: date | None = None
    status: str  # valid | expired | revoked | suspended
    imported_at: datetime = Field(sa_type=UTCDateTime)


class ArmedWindow(SQLModel, table=True):
    """A line's device-timed cut for one night (see `controller.device_timing`): armed on its
    router in the evening to cut at `window_start` by the router's own clock, until
    `window_end`. `status`: armed | disarmed (removed before it ended: no order cut it any
    more) | ended (its window is over; the ordinary restore removes what is left). `kind`:
    cut, or restore (a platform that arms a window's end apart: the restore at `window_start`,
    which is its `window_end` too; disarmed when an order keeps the line cut past it)."""

    __tablename__ = "armed_windows"
    __table_args__ = (sa.UniqueConstraint("line_id", "window_start"),)

    id: int | None = Field(default=None, primary_key=True)
    line_id: int = Field(foreign_key="lines.id", index=True)
    device_id: int = Field(foreign_key="devices.id", index=True)
    window_start: datetime = Field(sa_type=UTCDateTime)
    window_end: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="armed", index=True)
    order_ids_json: str = "[]"  # the orders whose cut it executes
    armed_at: datetime = Field(sa_type=UTCDateTime)
    change_seq: int | None = None  # the `armed` record citing it
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    kind: str = Field(default="cut", sa_column_kwargs={"server_default": "cut"})

    @property
    def order_ids(self) -> list[int]:
        return list(json.loads(self.order_ids_json))
