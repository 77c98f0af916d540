"""Every read and write of the product's state goes through this one store.

It owns the engine and the clock, turns rows into the planner's terms and the drivers'
targets, and writes every order event and line state together with its change-log record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from controller import changelog
from controller.audit import Checkpointer, load_key
from controller.clock import Clock, SystemClock
from controller.credentials import STORE_OF_ROW, Vault
from controller.db import IMMEDIATE, make_engine, migrate
from controller.errors import Conflict
from controller.errors import NotFound as NotFound  # raised here, imported from here
from controller.models import (
    MAX_ROW_ID,
    Authority,
    Change,
    ChangeOrder,
    Checkpoint,
    Device,
    InventoryRevision,
    Line,
    LineStatus,
    LogMeta,
    Order,
    OrderEvent,
    Venue,
    decode_nas,
    decode_prefixes,
)
from controller.planner import LineRef, OrderTerm
from controller.settings import Settings
from controller.terms import order_term
from drivers.base import LineTarget
from policies import load_jurisdictions

GAP_ACTIONS = ("suspend", "resume")

# What a store is for, fixed when it is created: a production store's passes act only now;
# a lab store (simulated routers, trials) may run passes at any instant.
STORE_KINDS = ("production", "lab")
# A pass planned for an instant this close to the real time is a pass "now".
PASS_AT_TOLERANCE = timedelta(seconds=5)


class SimulatedInstantRefused(Conflict):
    """A pass for an instant other than now, asked of a production store."""


def _fits(row_id: int) -> bool:
    """Ids beyond the id columns' range are no row's id (and would overflow the driver)."""
    return -MAX_ROW_ID <= row_id <= MAX_ROW_ID


class Transaction:
    """What `Store.transaction()` yields: a session inside the serialized transaction, and
    the change-log records to append at its end."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock
        self.entries: list[changelog.NewChange] = []
        self.written: list[Change] = []  # the appended records, once the block has ended

    def log_admin(self, action: str, actor: str, **fields: object) -> None:
        self.entries.append(
            changelog.NewChange(
                at=self.clock.now(), kind="admin", action=action, actor=actor,
                **fields,  # type: ignore[arg-type]
            )
        )  # fmt: skip


@sa.event.listens_for(Device, "load")
def _remember_store(device: Device, context: sa.orm.QueryContext) -> None:
    """A device row remembers the store it was read from: a driver session for it resolves its
    secrets with that store's vault and records a host key it learns in that store's log
    (`controller.credentials.session_credentials`, whose signature is the reconciler's)."""
    store = context.session.info.get(STORE_OF_ROW)
    if store is not None:
        sa.inspect(device).info[STORE_OF_ROW] = store


class StateRow(NamedTuple):
    """A line's recorded state as a pass writes it (the columns of `LineStatus`): a tuple,
    since building thousands of model objects per pass cost more than writing them."""

    line_id: int
    state: str
    checked_at: datetime
    change_seq: int | None
    order_ids_json: str

    @property
    def order_ids(self) -> list[int]:
        return list(json.loads(self.order_ids_json))


_STATE_COLUMNS = StateRow._fields
# what a snapshot reads of the tables with a row per line, as plain rows
_VENUES = Venue.__table__  # type: ignore[attr-defined]
_LINES = Line.__table__  # type: ignore[attr-defined]
_ORDERS = Order.__table__  # type: ignore[attr-defined]
_STATUSES = LineStatus.__table__  # type: ignore[attr-defined]
_LINE_COLUMNS = (
    "id", "venue_id", "device_id", "interface", "prefixes_json", "kind", "username", "nas_json",
    "blocked",
)  # fmt: skip
_ORDER_COLUMNS = ("id", "venue_id", "kind", "effective_from", "effective_until", "ended_at")
# what an append is the evidence of: the lines' states, built from its written records
StatesOf = Callable[[list[Change]], Sequence[LineStatus | StateRow]]
_UPSERTS: dict[str, sa.Insert] = {}


def _upsert_statement(dialect: str) -> sa.Insert:
    """`INSERT ... ON CONFLICT (line_id) DO UPDATE`, built once per dialect, so each write
    reuses its compiled form (a statement carrying its rows would be compiled every time)."""
    found = _UPSERTS.get(dialect)
    if found is None:
        table = LineStatus.__table__  # type: ignore[attr-defined]
        assert tuple(c.name for c in table.columns) == _STATE_COLUMNS, "StateRow != LineStatus"
        insert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)
        changing = {name: insert.excluded[name] for name in _STATE_COLUMNS if name != "line_id"}
        found = _UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=["line_id"], set_=changing
        )
    return found


def upsert_states(connection: sa.Connection, states: Sequence[LineStatus | StateRow]) -> None:
    """Insert or replace lines' recorded states (SQLite and PostgreSQL spell it alike)."""
    if not states:
        return
    rows = [{name: getattr(state, name) for name in _STATE_COLUMNS} for state in states]
    connection.execute(_upsert_statement(connection.dialect.name), rows)


class Orphan(NamedTuple):
    """An intent a line's recorded state rests on, whose push never logged an outcome."""

    seq: int
    action: str
    pass_id: str | None


@dataclass(frozen=True)
class PushCheck:
    """`Store.push_check`: a claimed router's state just before its push."""

    order_mark: int
    frozen: bool
    statuses: dict[int, tuple[str, datetime | None]]  # line -> (state, checked_at)
    orphans: dict[int, Orphan]


_CHANGES = Change.__table__  # type: ignore[attr-defined]
_STATUS = LineStatus.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _PushSql:
    """`Store.push_check`'s reads as the dialect's SQL, sent on the DB-API cursor: through
    SQLAlchemy's `Connection` they cost seven times as much (0.38 against 0.05 ms a router
    on SQLite), and every router of a pass makes them just before its push."""

    head: str  # the newest order event and the router's frozen flag, in one statement
    states: str  # the lines' recorded states and the records they rest on: `{marks}` to fill
    mark: str
    checked_at: Callable[[Any], Any] | None  # the column's conversion, as the ORM reads it

    def states_of(self, count: int) -> str:
        return self.states.format(marks=", ".join([self.mark] * count))


_PUSH_SQL: dict[str, _PushSql] = {}


def _push_sql(dialect: sa.Dialect) -> _PushSql:
    found = _PUSH_SQL.get(dialect.name)
    if found is None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        events = OrderEvent.__table__.name  # type: ignore[attr-defined]
        devices = Device.__table__.name  # type: ignore[attr-defined]
        found = _PUSH_SQL[dialect.name] = _PushSql(
            head=f"SELECT (SELECT max(id) FROM {events}), "
            f"(SELECT frozen FROM {devices} WHERE id = {mark})",
            states=f"SELECT s.line_id, s.state, s.checked_at, c.seq, c.kind, c.action, "
            f"c.pass_id FROM {_STATUS.name} AS s LEFT OUTER JOIN {_CHANGES.name} AS c "
            "ON c.seq = s.change_seq WHERE s.line_id IN ({marks})",
            mark=mark,
            checked_at=_STATUS.c.checked_at.type._cached_result_processor(dialect, None),
        )
    return found


_REVISION = InventoryRevision.__table__  # type: ignore[attr-defined]
_QUIET_SQL = sa.select(
    sa.select(sa.func.max(OrderEvent.__table__.c.id)).scalar_subquery(),  # type: ignore[attr-defined]
    sa.select(_REVISION.c.revision).where(_REVISION.c.id == 1).scalar_subquery(),
    sa.select(sa.func.max(_CHANGES.c.seq)).scalar_subquery(),
)


def _quiet_mark(connection: sa.Connection) -> QuietMark:
    events, inventory, record = connection.execute(_QUIET_SQL).one()
    return QuietMark(int(events or 0), int(inventory or 0), int(record or 0))


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit()


@dataclass(frozen=True)
class Snapshot:
    """Everything one pass needs, read in one transaction."""

    orders: tuple[OrderTerm, ...]
    lines: tuple[LineRef, ...]
    targets: dict[int, LineTarget]
    line_venue: dict[int, int]
    devices: dict[int, Device]
    states: dict[int, StateRow]
    # the newest order event as the read began: any order issued, amended, suspended, resumed
    # or revoked since moves it (see Store.order_mark)
    order_mark: int = 0
    # what `Store.quiet_mark` said as the read began: equal later, nothing it read has changed
    quiet: QuietMark | None = None


class QuietMark(NamedTuple):
    """Three marks that move with whatever a snapshot reads: the newest order event (orders),
    the inventory's revision (devices, venues, lines; moved by the database's own triggers)
    and the newest record (line states are written with records, under the log's lock)."""

    order_event: int
    inventory: int
    record: int


@dataclass(frozen=True)
class ChangeFilter:
    order_id: int | None = None
    venue_id: int | None = None
    line_id: int | None = None
    device_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    kinds: tuple[str, ...] = ()
    limit: int = 10_000


class Store:
    def __init__(
        self,
        engine: sa.Engine,
        clock: Clock | None = None,
        checkpointer: Checkpointer | None = None,
        vault: Vault | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()
        self.checkpointer = checkpointer
        self.jurisdictions = load_jurisdictions()
        # device secrets: their key, the credentials directory, the management networks
        self.vault = vault if vault is not None else Vault.from_environment()

    @classmethod
    def open(cls, url: str, clock: Clock | None = None, vault: Vault | None = None) -> Store:
        """The store at `url`, migrated; its vault as given, else from the environment
        (CURFEW_SECRETS_KEY_FILE, CURFEW_CREDENTIALS_DIR, CURFEW_MANAGEMENT_NETWORKS)."""
        vault = vault if vault is not None else Vault.from_environment()
        engine = make_engine(url)
        migrate(engine, vault)
        return cls(engine, clock, vault=vault)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Store:
        """The store as the settings describe it, signing checkpoints if a key is configured."""
        store = cls.open(settings.database_url, clock, Vault.from_settings(settings))
        if settings.signing_key_file is not None:
            store.checkpointer = Checkpointer(
                key=load_key(settings.signing_key_file),
                clock=store.clock,
                every=settings.checkpoint_every,
                directory=settings.checkpoint_dir,
                webhook=settings.checkpoint_webhook,
            )
        return store

    def close(self) -> None:
        self.engine.dispose()

    # -- what the store is for -----------------------------------------------------------

    @property
    def kind(self) -> str:
        """`lab` for a store created as one (`curfew store init --lab`), else `production`."""
        with self.session() as s:
            meta = s.get(LogMeta, "store_kind")
            return meta.value if meta is not None else "production"

    def declare_kind(self, kind: str, actor: str) -> bool:
        """Fix the store's kind at its creation; True if this call set it. A store's kind
        never changes: a store that already holds records was created as a production one."""
        if kind not in STORE_KINDS:
            raise ValueError(f"a store is one of {', '.join(STORE_KINDS)}, not {kind!r}")
        with self.transaction() as tx:
            meta = tx.session.get(LogMeta, "store_kind")
            if meta is not None:
                if meta.value != kind:
                    raise ValueError(
                        f"this store was created as a {meta.value} store; a store's kind is "
                        "set once, when it is created"
                    )
                return False
            held = tx.session.exec(select(sa.func.count()).select_from(Change)).one()
            if held and kind != "production":
                raise ValueError(
                    f"this store already holds {held} records: it was created as a production "
                    "store, and a store's kind is set once, when it is created"
                )
            tx.session.add(LogMeta(key="store_kind", value=kind))
            tx.log_admin(
                "store_created", actor,
                detail=f"{kind} store" + (
                    ": passes may run at simulated instants" if kind == "lab"
                    else ": passes act only at the real time"
                ),
            )  # fmt: skip
        return True

    def check_pass_instant(self, at: datetime) -> None:
        """Refuse a pass for an instant other than now on a production store: the network
        must never see cuts or restores planned for another time than the real one."""
        if self.clock.simulated or abs(at - self.clock.now()) <= PASS_AT_TOLERANCE:
            return
        if self.kind == "lab":
            return
        raise SimulatedInstantRefused(
            f"refusing a pass at {at.isoformat()}: this is a production store, whose passes "
            "act only at the real time (now). Passes at a simulated instant are for lab "
            "stores, created with `curfew store init --lab`; to see what a pass at that "
            "instant would change, use `curfew plan --at`"
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False, info={STORE_OF_ROW: self}) as session:
            yield session

    # -- inventory -----------------------------------------------------------------------

    def devices(self) -> list[Device]:
        with self.session() as s:
            return list(s.exec(select(Device).order_by(Device.name)))

    def venues(self) -> list[Venue]:
        with self.session() as s:
            return list(s.exec(select(Venue).order_by(Venue.name)))

    def lines(self) -> list[Line]:
        with self.session() as s:
            return list(s.exec(select(Line).order_by(Line.name)))

    def authorities(self) -> list[Authority]:
        with self.session() as s:
            return list(s.exec(select(Authority).order_by(Authority.name)))

    def find_venue(self, key: str | int) -> Venue:
        with self.session() as s:
            venue = None
            number = key if isinstance(key, int) else int(key) if _is_id(key) else None
            if number is not None and _fits(number):
                venue = s.get(Venue, number)
            if venue is None and isinstance(key, str):
                venue = s.exec(select(Venue).where(Venue.name == key)).first()
            if venue is None:
                raise NotFound(f"no venue {key!r}")
            return venue

    def authority(self, authority_id: int) -> Authority:
        with self.session() as s:
            found = s.get(Authority, authority_id) if _fits(authority_id) else None
            if found is None:
                raise NotFound(f"no authority {authority_id}")
            return found

    def find_authority(self, name: str | None) -> Authority:
        with self.session() as s:
            if name is not None:
                found = s.exec(select(Authority).where(Authority.name == name)).first()
                if found is None:
                    raise NotFound(f"no authority {name!r}")
                return found
            every = list(s.exec(select(Authority)))
            if len(every) != 1:
                raise NotFound(
                    f"name the issuing authority: {len(every)} authorities are registered"
                )
            return every[0]

    # -- orders --------------------------------------------------------------------------

    def order_terms(self) -> list[OrderTerm]:
        """Every order's term (revocations, amendments, suspensions, governing policy)."""
        return list(self.snapshot().orders)

    def orders(self, venue_id: int | None = None, status: str | None = None) -> list[Order]:
        with self.session() as s:
            query = select(Order).order_by(Order.id)
            if venue_id is not None:
                query = query.where(Order.venue_id == venue_id)
            if status is not None:
                query = query.where(Order.status == status)
            return list(s.exec(query))

    def order(self, order_id: int) -> Order:
        with self.session() as s:
            found = s.get(Order, order_id) if _fits(order_id) else None
            if found is None:
                raise NotFound(f"no order {order_id}")
            return found

    # -- the change log ------------------------------------------------------------------

    def log_admin(self, action: str, actor: str, **fields: object) -> Change:
        entry = changelog.NewChange(
            at=self.clock.now(),
            kind="admin",
            action=action,
            actor=actor,
            **fields,  # type: ignore[arg-type]
        )
        return self.append([entry])[0]

    def append(
        self,
        entries: Sequence[changelog.NewChange],
        states: StatesOf | None = None,
    ) -> list[Change]:
        """Append records; with `states`, also record the line states they are the evidence
        of (built from the written records) in the same transaction."""
        rows = self.commit_records(entries, states)
        self.after_append(rows)
        return rows

    def commit_records(
        self, entries: Sequence[changelog.NewChange], states: StatesOf | None = None
    ) -> list[Change]:
        """`append`'s transaction alone: when it returns, the records are committed; when it
        raises, nothing was (`controller.group_commit` relies on it)."""
        then = None
        if states is not None:

            def then(connection: sa.Connection, written: list[Change]) -> None:
                upsert_states(connection, states(written))

        return changelog.append(self.engine, entries, then)

    def after_append(self, rows: list[Change]) -> None:
        """What follows a commit: a checkpoint signed if one is due."""
        if self.checkpointer is not None:
            self.checkpointer.after_append(self.engine, rows)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One serialized write: rows and the change-log records that account for them, kept
        together or not at all. It holds the log's write lock (SQLite BEGIN IMMEDIATE,
        PostgreSQL the advisory transaction lock), so what it reads is what it writes over:
        a check made inside cannot be raced by another writer or instance."""
        with self.engine.execution_options(**IMMEDIATE).begin() as connection:
            changelog.serialize(connection)
            with Session(
                bind=connection, expire_on_commit=False, info={STORE_OF_ROW: self}
            ) as session:
                tx = Transaction(session, self.clock)
                yield tx
                session.flush()
                tx.written = changelog.append_in(connection, tx.entries)
        if self.checkpointer is not None and tx.written:
            self.checkpointer.after_append(self.engine, tx.written)

    def checkpoint(self) -> Checkpoint | None:
        """Sign the log's head now (end of a pass), if a signing key is configured."""
        if self.checkpointer is None:
            return None
        return self.checkpointer.sign_head(self.engine)

    def checkpoints(self) -> list[Checkpoint]:
        with self.session() as s:
            return list(s.exec(select(Checkpoint).order_by(col(Checkpoint.seq))))

    def changes(self, where: ChangeFilter = ChangeFilter()) -> list[Change]:
        with self.session() as s:
            query = select(Change).order_by(col(Change.seq))
            if where.venue_id is not None:
                query = query.where(Change.venue_id == where.venue_id)
            if where.line_id is not None:
                query = query.where(Change.line_id == where.line_id)
            if where.device_id is not None:
                query = query.where(Change.device_id == where.device_id)
            if where.since is not None:
                query = query.where(col(Change.at) >= where.since)
            if where.until is not None:
                query = query.where(col(Change.at) < where.until)
            if where.kinds:
                query = query.where(col(Change.kind).in_(where.kinds))
            if where.order_id is not None:
                cites = select(ChangeOrder.seq).where(ChangeOrder.order_id == where.order_id)
                query = query.where(col(Change.seq).in_(cites))
            found = list(s.exec(query.limit(where.limit)))
            # each record shows the device output it cites, read once per distinct output
            changelog.resolve_outputs(s.connection(), found)
            return found

    # -- what a pass reads and writes ----------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Everything a pass plans from, read in one transaction. The big tables (venues,
        lines, orders, states: one row each per line of a city) are read as plain rows, not
        model objects: at 10,000 lines, building those objects was most of the read, and
        every pass reads it before its first push."""
        with self.session() as s:
            connection = s.connection()
            # first: whatever commits while the tables are read moves it past this reading
            quiet = _quiet_mark(connection)
            venues = {
                row.id: row
                for row in connection.execute(
                    sa.select(_VENUES.c.id, _VENUES.c.zone, _VENUES.c.region)
                )
            }
            devices = {d.id: d for d in s.exec(select(Device))}
            lines = connection.execute(sa.select(*(_LINES.c[name] for name in _LINE_COLUMNS))).all()
            orders = connection.execute(
                sa.select(*(_ORDERS.c[name] for name in _ORDER_COLUMNS))
            ).all()
            events: dict[int, list[OrderEvent]] = {}
            for event in s.exec(select(OrderEvent).where(col(OrderEvent.action).in_(GAP_ACTIONS))):
                events.setdefault(event.order_id, []).append(event)
            states = {
                row[0]: StateRow(*row)
                for row in connection.execute(sa.select(*(_STATUSES.c[n] for n in _STATE_COLUMNS)))
            }
        refs, targets = [], {}
        for line in lines:
            venue = venues[line.venue_id]
            refs.append(LineRef(line.id, line.venue_id, line.device_id, venue.zone, line.blocked))
            if line.kind == "subscriber":
                nas = decode_nas(line.nas_json)
                targets[line.id] = LineTarget(line.id, "", (), username=line.username, nas=nas)
            else:
                targets[line.id] = LineTarget(
                    line.id, line.interface, decode_prefixes(line.prefixes_json)
                )
        return Snapshot(
            orders=tuple(
                order_term(
                    order,
                    events.get(order.id),
                    self.jurisdictions.policy(order.kind, venues[order.venue_id].region),
                )
                for order in orders
            ),
            lines=tuple(refs),
            targets=targets,
            line_venue={line.id: line.venue_id for line in lines},
            devices={d_id: d for d_id, d in devices.items() if d_id is not None},
            states=states,
            order_mark=quiet.order_event,
            quiet=quiet,
        )

    def quiet_mark(self) -> QuietMark:
        """The marks a snapshot records as its read begins (`Snapshot.quiet`): the same now
        means no order, inventory row or line state it read has changed since. One statement."""
        with self.engine.connect() as connection:
            return _quiet_mark(connection)

    def is_frozen(self, device_id: int) -> bool:
        """Whether the NOC has frozen the device (read now, not from a snapshot)."""
        with self.session() as s:
            device = s.get(Device, device_id)
            return bool(device is not None and device.frozen)

    def push_check(self, device_id: int, line_ids: Sequence[int]) -> PushCheck:
        """What a pass reads of one claimed router just before pushing it, in one read: the
        newest order event, whether the NOC froze the router, these lines' recorded states
        and those of them resting on an intent whose push never logged an outcome (killed
        mid-push: asked with the router claimed, so no push of it is under way)."""
        statuses: dict[int, tuple[str, datetime | None]] = {}
        orphans: dict[int, Orphan] = {}
        with self.engine.connect() as connection:
            sql = _push_sql(connection.dialect)
            cursor = connection.connection.cursor()
            try:
                with changelog.driver_errors(connection.dialect):
                    cursor.execute(sql.head, (device_id,))
                    mark, frozen = cursor.fetchone()
                    wanted = list(dict.fromkeys(line_ids))
                    if wanted:
                        cursor.execute(sql.states_of(len(wanted)), wanted)
                        rows = cursor.fetchall()
                    else:
                        rows = []
            finally:
                cursor.close()
        convert = sql.checked_at
        for line_id, state, checked_at, seq, kind, action, pass_id in rows:
            statuses[line_id] = (state, convert(checked_at) if convert else checked_at)
            if kind == "intent":
                orphans[line_id] = Orphan(seq, action, pass_id)
        return PushCheck(int(mark or 0), bool(frozen), statuses, orphans)

    def order_mark(self) -> int:
        """The newest order event's id: it moves whenever any order changes."""
        with self.session() as s:
            return s.exec(select(sa.func.max(OrderEvent.id))).one() or 0

    def line_statuses(self, line_ids: Sequence[int] | None = None) -> dict[int, LineStatus]:
        """Each line's last recorded state (of these lines only, if given)."""
        query = select(LineStatus)
        if line_ids is not None:
            query = query.where(col(LineStatus.line_id).in_(list(line_ids)))
        with self.session() as s:
            return {st.line_id: st for st in s.exec(query)}
