"""Device claims: several controller instances share one database, and a device's batch is
worked by one instance at a time.

A pass claims each device just before it plans and pushes that device's batch, and holds the
claim until the outcome is logged. A device another instance holds is skipped in this pass
(that instance is doing the work); a claim dies with the instance that held it, so nothing is
lost when one stops mid-night. No home-made consensus: the database's or the kernel's locks.

- PostgreSQL: session advisory locks `pg_try_advisory_lock(CLAIM_SPACE, device_id)`, all on
  one connection per pass. An instance that dies drops its connection, and its locks with it.
- SQLite in a file: `flock` on one lock file per device beside the database (one host, as
  the database file is). The kernel releases the lock of a process that dies.
- SQLite in memory: one process; claims are locks within it.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

CLAIM_SPACE = 0x43555246  # "CURF": the first key of every device claim's advisory lock


class Claims(Protocol):
    """The claims one pass holds; released when the pass ends, or dies with the process."""

    def try_claim(self, device_id: int) -> bool: ...

    def release(self, device_id: int) -> None: ...


@contextmanager
def claims_for(engine: sa.Engine) -> Iterator[Claims]:
    """The claims of one pass on this database; whatever is still held is released at exit."""
    if engine.dialect.name == "postgresql":
        claims: _PostgresClaims | _FileClaims | _ProcessClaims = _PostgresClaims(engine)
    elif engine.url.database not in (None, "", ":memory:"):
        claims = _FileClaims(Path(engine.url.database).resolve())
    else:
        claims = _ProcessClaims(id(engine))
    try:
        yield claims
    finally:
        claims.close()


class _PostgresClaims:
    def __init__(self, engine: sa.Engine) -> None:
        self._connection = engine.connect()
        self._mutex = threading.Lock()  # one connection, used by the pass's worker threads
        self._held: set[int] = set()

    def try_claim(self, device_id: int) -> bool:
        with self._mutex:
            if device_id in self._held:
                return False  # advisory locks nest within a session: refuse a second claim
            got = self._connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:space, :device)"),
                {"space": CLAIM_SPACE, "device": device_id},
            ).scalar_one()
            self._connection.commit()
            if got:
                self._held.add(device_id)
            return bool(got)

    def release(self, device_id: int) -> None:
        with self._mutex:
            if device_id in self._held:
                self._connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:space, :device)"),
                    {"space": CLAIM_SPACE, "device": device_id},
                )
                self._connection.commit()
                self._held.discard(device_id)

    def close(self) -> None:
        with self._mutex:
            try:
                if self._held:
                    self._connection.execute(sa.text("SELECT pg_advisory_unlock_all()"))
                    self._connection.commit()
            except Exception:
                # the locks may still be held: this connection must never serve another pass
                self._connection.invalidate()
                raise
            finally:
                self._held.clear()
                self._connection.close()


class _FileClaims:
    def __init__(self, database: Path) -> None:
        self._directory = database.with_name(database.name + ".claims")
        self._held: dict[int, int] = {}  # device id -> open lock file descriptor
        self._mutex = threading.Lock()

    def try_claim(self, device_id: int) -> bool:
        with self._mutex:
            if device_id in self._held:
                return False  # flock is per open file: refuse a second claim in-process too
            self._directory.mkdir(exist_ok=True)
            path = self._directory / f"device-{int(device_id)}.lock"
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                return False
            self._held[device_id] = descriptor
            return True

    def release(self, device_id: int) -> None:
        with self._mutex:
            descriptor = self._held.pop(device_id, None)
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)

    def close(self) -> None:
        for device_id in list(self._held):
            self.release(device_id)


_PROCESS_CLAIMS: dict[tuple[int, int], threading.Lock] = {}
_PROCESS_MUTEX = threading.Lock()


class _ProcessClaims:
    def __init__(self, database: int) -> None:
        self._database = database
        self._held: set[int] = set()

    def _lock(self, device_id: int) -> threading.Lock:
        with _PROCESS_MUTEX:
            return _PROCESS_CLAIMS.setdefault((self._database, device_id), threading.Lock())

    def try_claim(self, device_id: int) -> bool:
        if self._lock(device_id).acquire(blocking=False):
            self._held.add(device_id)
            return True
        return False

    def release(self, device_id: int) -> None:
        if device_id in self._held:
            self._held.discard(device_id)
            self._lock(device_id).release()

    def close(self) -> None:
        for device_id in list(self._held):
            self.release(device_id)
