"""A throwaway PostgreSQL server for the tests: its own data directory, a loopback port, and
a fresh database per test. Started once per test session, stopped by its PID.

`make test` installs Debian's `postgresql` where it runs as root; elsewhere the tests that
need a server skip, saying why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from itertools import count
from pathlib import Path

import psycopg

READY_SECONDS = 30
STOP_SECONDS = 30
ROLE = "curfew"


def find_bindir() -> Path | None:
    """The newest installed server's bin directory (Debian keeps it off PATH)."""
    override = os.environ.get("CURFEW_TEST_PG_BINDIR")
    candidates = [Path(override)] if override else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


def why_unavailable() -> str | None:
    """Why no server can be started here, or None if one can."""
    if find_bindir() is None:
        return (
            "no PostgreSQL server binaries "
            "(Debian package postgresql; `make test` installs it as root)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One postgres process on 127.0.0.1 with trust authentication for role `curfew`."""

    def __init__(self) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError(why_unavailable() or "no PostgreSQL")
        self.bindir = bindir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="curfew-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._names = count(1)
        # postgres refuses to run as root: as root, run it as the `postgres` user
        self._user = "postgres" if os.geteuid() == 0 else None

    def start(self) -> PostgresServer:
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o755)
        subprocess.run(
            [
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", ROLE, "-A", "trust",
                "-E", "UTF8", "--no-locale", "--no-sync",
            ],
            user=self._user, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                    "-k", str(self.root), "-c", "listen_addresses=127.0.0.1",
                    "-c", "fsync=off", "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off", "-c", "max_connections=200",
                ],
                user=self._user, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if self._user is not None:
            os.chmod(self.log, 0o644)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited at start-up:\n{self.log.read_text()}")
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"postgres not ready in {READY_SECONDS} s:\n{self.log.read_text()}"
                    ) from None
                time.sleep(0.1)

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={ROLE} dbname={database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one database on this server."""
        return f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the process this object started; removes its files."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_SECONDS)
        shutil.rmtree(self.root, ignore_errors=True)
