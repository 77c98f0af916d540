"""FreeRADIUS's accounting, read: which subscriber session held an address at an instant (for
whois; the driver reads the open sessions it disconnects itself, on the same table,
`drivers.radius_nas.RADACCT`). FreeRADIUS (rlm_sql) writes `radacct`; curfew only
reads it, with SQLAlchemy Core, from the database a `radius_nas` device names in its options
(`radius_db`, an SQLAlchemy URL without password; the password is the device's `secret`).

Instants in radacct are the RADIUS server's, not ours, and are stored three ways:
- Debian's SQLite queries (FreeRADIUS 3.2) write epoch seconds (integers: UTC by definition);
  older ones wrote text `YYYY-MM-DD HH:MM:SS`;
- its PostgreSQL schema holds `timestamp with time zone` (aware);
- a naive timestamp (text, or a `timestamp` column) is in the server's time zone, which is UTC
  in our lab and must be UTC in production: it is read as UTC. A server keeping local time
  would shift every answer by its offset (README, "Who serves this café?").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from controller.db import database_url
from controller.errors import Unavailable
from drivers.radius_nas import RADACCT, radius_db_query_problem

CONNECT_SECONDS = 5  # a RADIUS database that does not answer by then is unavailable


class BadRow(ValueError):
    """A row of radacct whose instant is no instant."""


@dataclass(frozen=True)
class AccountingSession:
    """One row of radacct: a subscriber's session on a NAS, as accounting recorded it."""

    username: str
    session_id: str  # Acct-Session-Id, as the NAS names the session
    unique_id: str  # acctuniqueid, FreeRADIUS's hash of the session's attributes
    nas_ip: str  # NAS-IP-Address
    framed_ip: str  # Framed-IP-Address (or Framed-IPv6-Address), "" if none
    started: datetime | None
    updated: datetime | None  # the last Interim-Update, or the start
    stopped: datetime | None  # None: no Stop yet (active, or the NAS never said)

    @property
    def active(self) -> bool:
        return self.stopped is None


def accounting_engine(url: str, password: str = "", username: str | None = None) -> sa.Engine:
    """An engine on the RADIUS database at `url` (SQLite or PostgreSQL), with `password` if
    the URL needs one, as `username` when the URL names no user (the NAS device's, as its
    driver logs in). SQLite is opened read-only: a file that is not there is unavailable,
    never created empty. ValueError if the URL is not one of a supported database."""
    parsed = database_url(url)
    problem = radius_db_query_problem(parsed)
    if problem is not None:  # checked at import too; a store older than that check
        raise ValueError(problem)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("the RADIUS database must be a file, not an in-memory database")
        path = Path(parsed.database)

        def read_only() -> sqlite3.Connection:
            if not path.is_file():
                raise sqlite3.OperationalError(f"no database file {path}")
            return sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=CONNECT_SECONDS,
                check_same_thread=False,
            )  # fmt: skip

        return sa.create_engine("sqlite://", creator=read_only, poolclass=sa.pool.NullPool)
    if password:
        parsed = parsed.set(password=password)
        if parsed.username is None and username:
            parsed = parsed.set(username=username)
    return sa.create_engine(
        parsed, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": CONNECT_SECONDS}
    )


@contextmanager
def reading(engine: sa.Engine, what: str) -> Iterator[sa.Connection]:
    """A connection to read radacct; a database that cannot be read is `Unavailable`, named
    by `what` (never by its URL, which may say more than the reader should see)."""
    try:
        with engine.connect() as connection:
            yield connection
    except sa.exc.DBAPIError as exc:
        reason = (str(exc.orig or exc).strip().splitlines() or ["no reason given"])[0]
        raise Unavailable(f"{what}: its accounting cannot be read ({reason})") from None
    except BadRow as exc:
        raise Unavailable(f"{what}: its accounting holds {exc}") from None


def _instant(value: object) -> datetime | None:
    """An instant of radacct as an aware UTC datetime (see the module's note on zones)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError):
            raise BadRow(f"an instant that is none: {value!r}") from None
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.isdigit():
                return datetime.fromtimestamp(int(text), UTC)
            value = datetime.fromisoformat(text)
        except (ValueError, OverflowError):
            raise BadRow(f"an instant that is none: {value[:40]!r}") from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    raise BadRow(f"an instant that is none: {value!r:.40}")


def _stored(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """A radacct instant as something comparable with `_bound`: epoch seconds on SQLite
    (an integer as stored, a text as its UTC reading), the column itself elsewhere."""
    if dialect != "sqlite":
        return column
    return sa.case(
        (sa.func.typeof(column).in_(("integer", "real")), column),
        else_=sa.cast(sa.func.strftime("%s", column), sa.Integer),
    )


def _bound(at: datetime, dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "sqlite":
        return sa.literal(int(at.timestamp()), sa.Integer)
    return sa.literal(at.astimezone(UTC), sa.DateTime(timezone=True))


def _address(column: str, ip: IPv4Address | IPv6Address, dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":  # inet columns there: compare as inet, not as text
        return RADACCT.c[column] == sa.literal(str(ip), postgresql.INET)
    return RADACCT.c[column] == str(ip)


def _session(row: sa.Row[Any]) -> AccountingSession:
    return AccountingSession(
        username=row.username or "",
        session_id=row.acctsessionid or "",
        unique_id=row.acctuniqueid or "",
        nas_ip=str(row.nasipaddress or ""),
        framed_ip=str(row.framedipaddress or row.framedipv6address or ""),
        started=_instant(row.acctstarttime),
        updated=_instant(row.acctupdatetime),
        stopped=_instant(row.acctstoptime),
    )


def _select(with_ipv6: bool) -> sa.Select[Any]:
    """radacct's columns; framedipv6address only where asked (older schemas lack it)."""
    columns = [c for c in RADACCT.c if with_ipv6 or c.name != "framedipv6address"]
    if not with_ipv6:
        columns.append(sa.literal("").label("framedipv6address"))
    return sa.select(*columns)


def sessions_at(
    connection: sa.Connection,
    ip: IPv4Address | IPv6Address,
    at: datetime,
    nas_ips: Sequence[str] | None = None,
) -> list[AccountingSession]:
    """The sessions that held `ip` at `at`: started at or before it, and not stopped by then
    (acctstarttime <= at and (acctstoptime IS NULL or acctstoptime > at)); of the NAS at
    `nas_ips` only, if given. Newest start first: a session with no Stop that a newer one
    overlaps is usually a Stop the NAS never sent, which its `updated` shows."""
    dialect = connection.dialect.name
    column = "framedipaddress" if ip.version == 4 else "framedipv6address"
    started = _stored(RADACCT.c.acctstarttime, dialect)
    stopped = _stored(RADACCT.c.acctstoptime, dialect)
    query = _select(with_ipv6=ip.version == 6).where(
        _address(column, ip, dialect),
        started <= _bound(at, dialect),
        sa.or_(RADACCT.c.acctstoptime.is_(None), stopped > _bound(at, dialect)),
    )
    if nas_ips is not None:
        query = query.where(_nas_in(nas_ips, dialect))
    found = [_session(row) for row in connection.execute(query.order_by(RADACCT.c.radacctid))]
    return sorted(found, key=lambda s: s.started or at, reverse=True)


def _nas_in(nas_ips: Sequence[str], dialect: str) -> sa.ColumnElement[bool]:
    addresses = [str(ip_address(a)) for a in nas_ips]
    if dialect == "postgresql":
        return RADACCT.c.nasipaddress.in_([sa.literal(a, postgresql.INET) for a in addresses])
    return RADACCT.c.nasipaddress.in_(addresses)


__all__ = [
    "RADACCT",
    "AccountingSession",
    "BadRow",
    "accounting_engine",
    "reading",
    "sessions_at",
]
