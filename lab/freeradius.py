"""A real FreeRADIUS 3 for the lab: a configuration generated in a directory of its own, the SQL
backend (rlm_sql) on a SQLite file with Debian's schema, started as a subprocess on loopback.

Subscribers' passwords and curfew's refusals live in its `radcheck` table, accounting goes to
`radacct`, exactly as on a carrier's server; nothing here depends on /etc/freeradius being sane
beyond the schema file Debian ships with the package.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from drivers.identifiers import check_username  # the pattern curfew's inventory accepts

HOST = "127.0.0.1"
# Debian's copy of the upstream SQLite schema (package freeradius-config); read at start
SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql")
# a shared secret written into the generated configuration: printable, no quotes or escapes
_SECRET = re.compile(r"[A-Za-z0-9._~+=@-]{1,128}")


class RadiusUnavailable(RuntimeError):
    """FreeRADIUS is not installed here, or it would not start (the reason says which)."""


def freeradius_binary() -> str | None:
    """The `freeradius` executable (Debian keeps it in /usr/sbin, off a user's PATH), or None."""
    found = shutil.which("freeradius")
    if found:
        return found
    for candidate in ("/usr/sbin/freeradius", "/usr/sbin/radiusd"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def unavailable_reason() -> str | None:
    """Why a RadiusServer cannot start on this machine (None: it can)."""
    if freeradius_binary() is None:
        return (
            "FreeRADIUS is not installed (Debian: apt-get install freeradius, or make system-deps)"
        )
    if not SCHEMA.is_file():
        return f"FreeRADIUS's SQLite schema {SCHEMA} is missing (package freeradius-config)"
    return None


def check_secret(secret: object) -> str:
    if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
        raise ValueError("a RADIUS shared secret must be 1-128 of A-Z a-z 0-9 . _ ~ + = @ -")
    return secret


def _loopback(address: object) -> str:
    try:
        parsed = ipaddress.IPv4Address(address)  # type: ignore[arg-type]
    except (ipaddress.AddressValueError, ValueError):
        raise ValueError(f"RADIUS client {address!r} is not an IPv4 address") from None
    if not parsed.is_loopback:
        raise ValueError(f"RADIUS client {address} is not on 127.0.0.0/8 (the lab stays there)")
    return str(parsed)


def _free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class RadiusServer:
    """FreeRADIUS on 127.0.0.1, auth and accounting on free UDP ports, SQL on a SQLite file.

    `clients` maps each NAS address (a BNG twin's 127.0.0.x) to its shared secret. The server
    also knows 127.0.0.1 as a client of its own (`authenticate()` asks from there), unless that
    address is one of `clients`. Use as a context manager, or `start()` and `stop()`.
    """

    def __init__(
        self,
        clients: Mapping[str, str],
        directory: str | Path | None = None,
        host: str = HOST,
        max_servers: int = 4,
    ) -> None:
        self.host = _loopback(host)
        self.clients = {_loopback(a): check_secret(s) for a, s in clients.items()}
        self._own_secret = self.clients.get(self.host) or secrets.token_hex(12)
        self.max_servers = max(1, max_servers)
        self._given_directory = Path(directory) if directory is not None else None
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self.directory: Path | None = None
        self.auth_port = 0
        self.acct_port = 0
        self._process: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ where things are

    @property
    def db_path(self) -> Path:
        return self._dir / "radius.sqlite"

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL of the server's SQL database (SQLite: no password)."""
        return f"sqlite:///{self.db_path}"

    @property
    def log_path(self) -> Path:
        return self._dir / "log" / "radius.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def _dir(self) -> Path:
        if self.directory is None:
            raise RuntimeError("the RADIUS server has no directory yet (start it first)")
        return self.directory

    # ------------------------------------------------------------------ life cycle

    def start(self, timeout: float = 15.0) -> RadiusServer:
        """Write the configuration and the database, start `freeradius -f`, and wait (bounded)
        until an Access-Request for a user nobody created is answered with a reject."""
        if self.running:
            raise RuntimeError("the RADIUS server is already running")
        reason = unavailable_reason()
        if reason:
            raise RadiusUnavailable(reason)
        binary = freeradius_binary()
        assert binary is not None
        if self.directory is None:
            if self._given_directory is not None:
                self._given_directory.mkdir(parents=True, exist_ok=True)
                self.directory = self._given_directory
            else:
                self._temporary = tempfile.TemporaryDirectory(prefix="curfew-radius-")
                self.directory = Path(self._temporary.name)
        os.chmod(self._dir, 0o700)  # FreeRADIUS refuses a world-writable configuration
        for sub in ("log", "run", "radacct"):
            (self._dir / sub).mkdir(exist_ok=True)
        self._create_database()
        deadline = time.monotonic() + timeout
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between the probe and the bind
            self.auth_port, self.acct_port = self._pick_ports()
            (self._dir / "radiusd.conf").write_text(self._configuration(), encoding="utf-8")
            output = open(self._dir / "log" / "stdout.log", "ab")
            try:
                self._process = subprocess.Popen(
                    [binary, "-f", "-d", str(self._dir), "-n", "radiusd"],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                output.close()
            try:
                self._wait_ready(deadline)
                return self
            except RadiusUnavailable as exc:
                last_error = str(exc)
                self.stop()
                if "in use" not in last_error or time.monotonic() > deadline:
                    break
        raise RadiusUnavailable(last_error)

    def stop(self, grace: float = 5.0) -> None:
        """End the server by its PID: SIGTERM, then SIGKILL after a bounded wait."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def close(self) -> None:
        """Stop the server and remove its directory if it made one."""
        self.stop()
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None
            self.directory = None

    def __enter__(self) -> RadiusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _pick_ports(self) -> tuple[int, int]:
        auth = _free_udp_port(self.host)
        acct = _free_udp_port(self.host)
        while acct == auth:
            acct = _free_udp_port(self.host)
        return auth, acct

    def _wait_ready(self, deadline: float) -> None:
        probe_user = "curfew-probe-" + secrets.token_hex(4)
        while True:
            if self._process is None or self._process.poll() is not None:
                raise RadiusUnavailable(f"freeradius exited at start: {self._log_tail()}")
            try:
                if self.authenticate(probe_user, "none", timeout=0.3) is False:
                    return
            except TimeoutError:
                pass
            if time.monotonic() > deadline:
                raise RadiusUnavailable(f"freeradius did not answer in time: {self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self, lines: int = 8) -> str:
        texts = []
        for path in (self._dir / "log" / "stdout.log", self.log_path):
            if path.is_file():
                texts += path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        return " | ".join(t.strip() for t in texts if t.strip()) or "no output"

    # ------------------------------------------------------------------ the database

    def _create_database(self) -> None:
        schema = SCHEMA.read_text(encoding="utf-8")
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # the server and curfew write side by side
            db.executescript(schema)  # CREATE ... IF NOT EXISTS: a restart keeps the rows

    def connect(self) -> sqlite3.Connection:
        """A connection to the server's database (commits on leaving a `with` block)."""
        db = sqlite3.connect(self.db_path, timeout=10)
        db.row_factory = sqlite3.Row
        return db

    def add_subscriber(self, username: str, password: str) -> None:
        """The carrier's part: the subscriber's credentials (radcheck Cleartext-Password)."""
        check_username(username)
        if not isinstance(password, str) or not password or not password.isprintable():
            raise ValueError("a subscriber password must be printable, non-empty text")
        with self.connect() as db:
            db.execute(
                "DELETE FROM radcheck WHERE username = ? AND attribute = 'Cleartext-Password'",
                (username,),
            )
            db.execute(
                "INSERT INTO radcheck (username, attribute, op, value) "
                "VALUES (?, 'Cleartext-Password', ':=', ?)",
                (username, password),
            )
        db.close()

    def remove_subscriber(self, username: str) -> None:
        """Remove every radcheck row of the subscriber (the carrier ends the contract)."""
        check_username(username)
        with self.connect() as db:
            db.execute("DELETE FROM radcheck WHERE username = ?", (username,))
        db.close()

    def add_check(self, username: str, attribute: str, op: str, value: str) -> None:
        """One radcheck row, as a NOC engineer would write it by hand."""
        check_username(username)
        with self.connect() as db:
            db.execute(
                "INSERT INTO radcheck (username, attribute, op, value) VALUES (?, ?, ?, ?)",
                (username, attribute, op, value),
            )
        db.close()

    def delete_checks(self, username: str, attribute: str) -> int:
        """Delete the user's radcheck rows of one attribute; how many there were."""
        check_username(username)
        with self.connect() as db:
            cursor = db.execute(
                "DELETE FROM radcheck WHERE username = ? AND attribute = ?", (username, attribute)
            )
        db.close()
        return cursor.rowcount

    def checks(self, username: str) -> list[dict[str, Any]]:
        """The user's radcheck rows, in order."""
        with self.connect() as db:
            rows = db.execute(
                "SELECT id, username, attribute, op, value FROM radcheck "
                "WHERE username = ? ORDER BY id",
                (username,),
            ).fetchall()
        db.close()
        return [dict(row) for row in rows]

    def accounting(self, username: str | None = None) -> list[dict[str, Any]]:
        """radacct rows (of one user, or all), oldest first."""
        query = "SELECT * FROM radacct"
        params: tuple[str, ...] = ()
        if username is not None:
            query += " WHERE username = ?"
            params = (username,)
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY radacctid", params).fetchall()
        db.close()
        return [dict(row) for row in rows]

    # ------------------------------------------------------------------ asking it

    def authenticate(self, username: str, password: str, timeout: float = 2.0) -> bool:
        """One PAP Access-Request from the server's own client address: True on Access-Accept,
        False on Access-Reject; TimeoutError when nothing answers."""
        from lab.radius import access_request  # pyrad is imported only when asked

        return access_request(
            server=(self.host, self.auth_port),
            source=self.host,
            secret=self._own_secret,
            username=username,
            password=password,
            timeout=timeout,
        ).accepted

    # ------------------------------------------------------------------ configuration

    def _configuration(self) -> str:
        """radiusd.conf, complete: paths, log, one virtual server, modules pap and sql."""
        d = self._dir
        clients = dict(self.clients)
        clients.setdefault(self.host, self._own_secret)
        client_blocks = "\n".join(
            f"client lab-{address.replace('.', '-')} {{\n"
            f"\tipaddr = {address}\n\tsecret = {secret}\n"
            f"\trequire_message_authenticator = no\n\tnas_type = other\n}}"
            for address, secret in clients.items()
        )
        return _CONFIGURATION.format(
            dir=d,
            log=self.log_path,
            db=self.db_path,
            host=self.host,
            auth_port=self.auth_port,
            acct_port=self.acct_port,
            max_servers=self.max_servers,
            clients=client_blocks,
            queries=_QUERIES,
        )


# The instant of an accounting event: the NAS's Event-Timestamp (the lab's clock, which tests
# move), else when the request arrived; stored as naive UTC text, as SQLite's datetime() writes it
_EVENT_TIME = "datetime(%{%{integer:Event-Timestamp}:-%l}, 'unixepoch')"

_QUERIES = r"""
	sql_user_name = "%{User-Name}"
	authorize_check_query = "SELECT id, username, attribute, value, op FROM radcheck \
		WHERE username = '%{SQL-User-Name}' ORDER BY id"
	authorize_reply_query = "SELECT id, username, attribute, value, op FROM radreply \
		WHERE username = '%{SQL-User-Name}' ORDER BY id"
	group_membership_query = "SELECT groupname FROM radusergroup \
		WHERE username = '%{SQL-User-Name}' ORDER BY priority"
	authorize_group_check_query = "SELECT id, groupname, attribute, value, op \
		FROM radgroupcheck WHERE groupname = '%{Sql-Group}' ORDER BY id"
	authorize_group_reply_query = "SELECT id, groupname, attribute, value, op \
		FROM radgroupreply WHERE groupname = '%{Sql-Group}' ORDER BY id"
	accounting {
		reference = "%{tolower:type.%{Acct-Status-Type}.query}"
		type {
			accounting-on {
				query = "UPDATE radacct SET acctstoptime = EVENT_TIME, \
					acctterminatecause = '%{%{Acct-Terminate-Cause}:-NAS-Reboot}' \
					WHERE acctstoptime IS NULL AND nasipaddress = '%{NAS-IP-Address}'"
			}
			accounting-off {
				query = "${..accounting-on.query}"
			}
			start {
				query = "INSERT INTO radacct (acctsessionid, acctuniqueid, username, \
					nasipaddress, nasportid, nasporttype, acctstarttime, acctupdatetime, \
					acctsessiontime, acctauthentic, acctinputoctets, acctoutputoctets, \
					calledstationid, callingstationid, servicetype, framedprotocol, \
					framedipaddress) VALUES ('%{Acct-Session-Id}', \
					'%{Acct-Unique-Session-Id}', '%{SQL-User-Name}', '%{NAS-IP-Address}', \
					'%{%{NAS-Port-Id}:-%{NAS-Port}}', '%{NAS-Port-Type}', EVENT_TIME, \
					EVENT_TIME, 0, '%{Acct-Authentic}', 0, 0, '%{Called-Station-Id}', \
					'%{Calling-Station-Id}', '%{Service-Type}', '%{Framed-Protocol}', \
					'%{Framed-IP-Address}')"
			}
			interim-update {
				query = "UPDATE radacct SET acctupdatetime = EVENT_TIME, \
					acctsessiontime = '%{%{Acct-Session-Time}:-0}', \
					acctinputoctets = '%{%{Acct-Input-Octets}:-0}', \
					acctoutputoctets = '%{%{Acct-Output-Octets}:-0}', \
					framedipaddress = '%{Framed-IP-Address}' \
					WHERE acctuniqueid = '%{Acct-Unique-Session-Id}' AND acctstoptime IS NULL"
			}
			stop {
				query = "UPDATE radacct SET acctstoptime = EVENT_TIME, \
					acctupdatetime = EVENT_TIME, \
					acctsessiontime = '%{%{Acct-Session-Time}:-0}', \
					acctinputoctets = '%{%{Acct-Input-Octets}:-0}', \
					acctoutputoctets = '%{%{Acct-Output-Octets}:-0}', \
					acctterminatecause = '%{Acct-Terminate-Cause}' \
					WHERE acctuniqueid = '%{Acct-Unique-Session-Id}' AND acctstoptime IS NULL"
			}
		}
	}
""".replace("EVENT_TIME", _EVENT_TIME)

# Doubled braces are literal braces (str.format); everything FreeRADIUS needs is here.
_CONFIGURATION = """# Generated by curfew's lab (lab/freeradius.py) for one run; not for editing.
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {dir}
sbindir = /usr/sbin
logdir = {dir}/log
raddbdir = {dir}
radacctdir = {dir}/radacct
name = radiusd
confdir = {dir}
modconfdir = {dir}/mods-config
run_dir = {dir}/run
db_dir = {dir}
libdir = /usr/lib/freeradius
pidfile = {dir}/run/radiusd.pid
max_request_time = 10
cleanup_delay = 2
max_requests = 4096
hostname_lookups = no

log {{
	destination = files
	file = {log}
	colourise = no
	auth = yes
	auth_badpass = no
	auth_goodpass = no
}}

security {{
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = yes
}}

thread pool {{
	start_servers = 1
	max_servers = {max_servers}
	min_spare_servers = 1
	max_spare_servers = {max_servers}
	max_requests_per_server = 0
	auto_limit_acct = no
}}

{clients}

modules {{
	# %{{tolower:}}, %{{md5:}} and %{{integer:}} come from rlm_expr
	expr {{
	}}
	always ok {{
		rcode = ok
	}}
	pap {{
		normalise = yes
	}}
	sql {{
		dialect = "sqlite"
		driver = "rlm_sql_sqlite"
		sqlite {{
			filename = "{db}"
			busy_timeout = 5000
		}}
		radius_db = "radius"
		acct_table1 = "radacct"
		acct_table2 = "radacct"
		postauth_table = "radpostauth"
		authcheck_table = "radcheck"
		groupcheck_table = "radgroupcheck"
		authreply_table = "radreply"
		groupreply_table = "radgroupreply"
		usergroup_table = "radusergroup"
		read_groups = no
		read_profiles = no
		read_clients = no
		delete_stale_sessions = no
		pool {{
			start = 1
			min = 1
			max = {max_servers}
			spare = 1
			uses = 0
			retry_delay = 1
			lifetime = 0
			idle_timeout = 0
		}}
{queries}
	}}
}}

instantiate {{
	expr
}}

server curfew-lab {{
	listen {{
		type = auth
		ipaddr = {host}
		port = {auth_port}
	}}
	listen {{
		type = acct
		ipaddr = {host}
		port = {acct_port}
	}}
	authorize {{
		sql
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
	}}
	preacct {{
		# one radacct row per session of a NAS, as Debian's acct_unique policy keys it
		update request {{
			&Acct-Unique-Session-Id := "%{{md5:%{{User-Name}},%{{Acct-Session-Id}},\
%{{NAS-IP-Address}},%{{NAS-Port}}}}"
		}}
	}}
	accounting {{
		# a failed write returns (no answer: the NAS sends again); nothing to update (a Stop
		# for a session radacct never saw, an Accounting-On with nothing open) is answered
		sql
		ok
	}}
}}
"""

__all__ = [
    "RadiusServer",
    "RadiusUnavailable",
    "check_secret",
    "check_username",
    "freeradius_binary",
    "unavailable_reason",
]
