"""Subscribers on a carrier's NAS (a BNG): refused at authentication in FreeRADIUS's own SQL
tables, and their active sessions torn down by RFC 5176 Disconnect-Requests to the NAS.

The device is a NAS and the RADIUS database it authenticates against: host = its
NAS-IP-Address, port = its Disconnect (DAE) UDP port, password = its DAE shared secret,
options `radius_db` = the SQLAlchemy URL of FreeRADIUS's rlm_sql database (secret = that
database's password, if any). The only object curfew owns there is one radcheck row per cut
subscriber, `Auth-Type := Reject`: FreeRADIUS refuses the subscriber as long as it exists,
whether curfew runs or not. radacct is FreeRADIUS's, read only: it says which NAS holds which
session. A session on another NAS of the line is disconnected there (`Credentials.peers`).
"""

from __future__ import annotations

import functools
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from ipaddress import ip_address
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from pyrad import packet
from pyrad.client import Client
from pyrad.client import Timeout as NoAnswer
from pyrad.dictionary import Dictionary

from drivers.base import (
    Action,
    AuthFailed,
    Batch,
    BatchResult,
    Credentials,
    Driver,
    DriverError,
    InvalidIdentifier,
    LineOutcome,
    LineState,
    LineTarget,
    OwnedLine,
    Peer,
    Timeout,
    Unreachable,
)
from drivers.identifiers import IdentifierError, check_username

# the refusal curfew writes, and the only row it ever deletes (all four columns alike)
REFUSAL = ("Auth-Type", ":=", "Reject")
RADIUS_DB = "radius_db"
# how long a Disconnect-ACKed session may take to be closed in accounting (the NAS sends its
# Accounting-Stop after the ACK): past it, read-back still shows the session, not verified
DEFAULT_STOP_WAIT = 5.0
DEFAULT_DAE_TIMEOUT = 2.0  # seconds for each try of a Disconnect-Request
DEFAULT_DAE_TRIES = 2
_POLL_SECONDS = 0.05
_QUERY_CHUNK = 500  # usernames per IN (...) query
_PRINTABLE_ID = re.compile(r"[\x21-\x7e]{1,253}")

_METADATA = sa.MetaData()
# only the columns curfew reads or writes, named as in FreeRADIUS's schema.sql (every backend)
RADCHECK = sa.Table(
    "radcheck",
    _METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64)),
    sa.Column("attribute", sa.String(64)),
    sa.Column("op", sa.String(2)),
    sa.Column("value", sa.String(253)),
)
# the driver reads the open sessions; `controller.accounting` (whois) reads the rest. The
# instants are untyped so each value comes back as the server stored it (epoch seconds, text or
# a timestamp); framedipv6address is selected only where asked (older schemas lack it).
RADACCT = sa.Table(
    "radacct",
    _METADATA,
    sa.Column("radacctid", sa.BigInteger, primary_key=True),
    sa.Column("acctsessionid", sa.String),
    sa.Column("acctuniqueid", sa.String),
    sa.Column("username", sa.String),
    sa.Column("nasipaddress", sa.String),
    sa.Column("framedipaddress", sa.String),
    sa.Column("framedipv6address", sa.String),
    sa.Column("acctstarttime", sa.types.NullType),
    sa.Column("acctupdatetime", sa.types.NullType),
    sa.Column("acctstoptime", sa.types.NullType),
)


# The query parameters a PostgreSQL radius_db may carry. Any other is refused: libpq's `host`,
# `hostaddr` or `service` would send the database password to a server other than the URL's
# host, which is the one held to the management networks; `password` or `passfile` would be
# credentials outside the credentials store.
RADIUS_DB_QUERY = ("application_name", "sslmode")


def radius_db_query_problem(url: sa.URL) -> str | None:
    """Why a radius_db URL's query parameters are refused, or None (SQLite's are its own)."""
    if url.drivername.startswith("sqlite"):
        return None
    refused = sorted(set(url.query) - set(RADIUS_DB_QUERY))
    if not refused:
        return None
    return (
        f"radius_db: the URL may not give {', '.join(refused)} (only "
        f"{', '.join(RADIUS_DB_QUERY)}): the server is the URL's host, held to the management "
        "networks, and the password is the device's secret"
    )


class Misconfigured(DriverError):
    """The NAS's inventory entry cannot work (no radius_db, an option out of range): retrying
    will not help until the inventory is corrected."""

    retryable = False


@functools.cache
def dictionary() -> Dictionary:
    """The RADIUS attributes curfew speaks (drivers/radius_dictionary), loaded once."""
    with resources.as_file(resources.files("drivers") / "radius_dictionary") as path:
        return Dictionary(str(path))


@dataclass(frozen=True)
class ActiveSession:
    """A session accounting shows open (no stop recorded): where it is and how it is named."""

    username: str
    session_id: str  # Acct-Session-Id, the NAS's own name for it
    nas_ip: str  # NAS-IP-Address: which NAS holds it
    framed_ip: str  # Framed-IP-Address ("" if none)

    @property
    def shown(self) -> str:
        """The session id as logged: printable as it is, else its repr; at most 100
        characters (radacct may hold anything)."""
        sid = self.session_id
        text = sid if _PRINTABLE_ID.fullmatch(sid) else repr(sid)
        return text if len(text) <= 100 else text[:99] + "…"


@dataclass(frozen=True)
class SubscriberHold(OwnedLine):
    """What the RADIUS server holds for one subscriber line: curfew's refusal rows and the
    sessions accounting shows active. CUT: refused and no session left; OPEN: not refused."""

    username: str = ""
    refusals: int = 0
    sessions: tuple[ActiveSession, ...] = ()

    def state_for(self, target: LineTarget) -> LineState:
        if target.username != self.username:
            return LineState.UNKNOWN
        if not self.refusals:
            return LineState.OPEN
        return LineState.UNKNOWN if self.sessions else LineState.CUT

    def staged_for(self, target: LineTarget) -> bool:
        return False  # a refusal has no half without effect: nothing is ever staged


@dataclass
class _Answer:
    """One Disconnect-Request and what became of it."""

    line_id: int
    session: ActiveSession
    nas: str  # the NAS's name (or its address, when no NAS of the line has it)
    command: str | None  # what was sent, as logged; None if nothing could be sent
    acked: bool = False
    error: str | None = None  # "NAK: Error-Cause …", "Timeout: …", or why nothing was sent


@dataclass
class _Progress:
    commands: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    output: list[str] = field(default_factory=list)

    @property
    def sent(self) -> tuple[str, ...]:
        return tuple(c for commands in self.commands.values() for c in commands)


class RadiusNasDriver(Driver):
    """A NAS and its FreeRADIUS SQL database, reached with SQLAlchemy and pyrad."""

    platform: ClassVar[str] = "radius_nas"
    needs_peers: ClassVar[bool] = True

    def __init__(self, name: str, credentials: Credentials) -> None:
        super().__init__(name, credentials)
        self._engine: sa.Engine | None = None
        self._targets: dict[int, LineTarget] = {}

    # -- the session ----------------------------------------------------------------------

    def open(self) -> None:
        if self._engine is not None:
            return
        engine = sa.create_engine(self._url(), poolclass=sa.pool.NullPool, **self._connect_args())
        try:
            with engine.connect() as connection:
                connection.execute(sa.select(RADCHECK.c.id).limit(1)).all()
                connection.execute(sa.select(RADACCT.c.radacctid).limit(1)).all()
        except sa.exc.SQLAlchemyError as exc:
            engine.dispose()
            raise self._database_error(exc) from None
        self._engine = engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextmanager
    def _opened(self) -> Iterator[sa.Engine]:
        """The engine, opening the session for this call only if it is not open."""
        opened_here = self._engine is None
        self.open()
        assert self._engine is not None
        try:
            yield self._engine
        finally:
            if opened_here:
                self.close()

    def _url(self) -> sa.URL:
        text = self.credentials.extra.get(RADIUS_DB)
        if not text:
            raise Misconfigured(f"{self.name}: no radius_db option: where is its RADIUS database?")
        try:
            url = sa.make_url(text)
        except sa.exc.ArgumentError:
            raise Misconfigured(f"{self.name}: radius_db is not an SQLAlchemy URL") from None
        if url.drivername.startswith("sqlite"):
            if not url.database or not Path(url.database).is_file():
                # SQLite would create an empty file: a missing database is not reachable
                raise Unreachable(f"{self.name}: no RADIUS database file {url.database!r}")
            return url
        problem = radius_db_query_problem(url)
        if problem is not None:  # checked at import too; a store older than that check
            raise Misconfigured(f"{self.name}: {problem}")
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")  # the driver this product ships
        if self.credentials.secret:
            url = url.set(password=self.credentials.secret)
            if url.username is None:
                url = url.set(username=self.credentials.username)
        return url

    def _connect_args(self) -> dict[str, Any]:
        wait = max(1, int(self.credentials.timeout))
        if self._url().drivername.startswith("sqlite"):
            # FreeRADIUS writes the same file: wait for its lock rather than fail at once
            return {"connect_args": {"timeout": wait}}
        return {"connect_args": {"connect_timeout": wait}}

    def _database_error(self, exc: sa.exc.SQLAlchemyError) -> DriverError:
        text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if "password authentication failed" in text or "authentication failed" in text:
            return AuthFailed(f"{self.name}: RADIUS database refused the login: {text}")
        if isinstance(exc, sa.exc.OperationalError) and "no such table" not in text:
            if "locked" in text or "timeout" in text.lower():
                return Timeout(f"{self.name}: RADIUS database: {text}")
            return Unreachable(f"{self.name}: RADIUS database: {text}")
        return Misconfigured(
            f"{self.name}: RADIUS database: {text} (is it FreeRADIUS's rlm_sql schema?)"
        )

    # -- the contract ---------------------------------------------------------------------

    @classmethod
    def check_target(cls, target: LineTarget) -> None:
        if target.username is None:
            raise InvalidIdentifier(
                f"line {target.line_id}: a {cls.platform} device serves subscriber lines only"
            )
        try:
            check_username(target.username)
        except IdentifierError as exc:
            raise InvalidIdentifier(str(exc)) from None

    def learn(self, targets: Iterable[LineTarget]) -> None:
        """The device's rows are named by usernames, not line ids: the lines to look for."""
        for target in targets:
            if target.username is not None:
                self._targets[target.line_id] = target

    def read(self) -> dict[int, OwnedLine]:
        with self._opened() as engine:
            try:
                return self._read(engine, owned_only=True)
            except sa.exc.SQLAlchemyError as exc:
                raise self._database_error(exc) from None

    def _valid_targets(self) -> dict[str, LineTarget]:
        found = {}
        for target in self._targets.values():
            try:
                self.check_target(target)
            except InvalidIdentifier:
                continue
            assert target.username is not None
            found[target.username] = target
        return found

    def _read(self, engine: sa.Engine, owned_only: bool = False) -> dict[int, OwnedLine]:
        """Each learnt line's refusals and active sessions: of the lines curfew refuses only
        (`owned_only`, what `read` answers), or also of those merely online (what a cut must
        disconnect)."""
        by_user = self._valid_targets()
        refusals = self._refusals(engine, list(by_user))
        sessions = self._sessions(engine, list(by_user))
        return {
            target.line_id: SubscriberHold(
                target.line_id,
                username=user,
                refusals=refusals.get(user, 0),
                sessions=tuple(sessions.get(user, ())),
            )
            for user, target in by_user.items()
            if refusals.get(user) or (sessions.get(user) and not owned_only)
        }

    def render(self, batch: Batch, owned: dict[int, OwnedLine]) -> list[str]:
        commands: list[str] = []
        for target in batch.restores:
            hold = owned.get(target.line_id)
            if isinstance(hold, SubscriberHold) and hold.refusals:
                commands.append(_delete_command(hold.username))
        for target in batch.cuts:
            hold = owned.get(target.line_id)
            if not (isinstance(hold, SubscriberHold) and hold.refusals):
                commands.append(_insert_command(target.username or ""))
            if isinstance(hold, SubscriberHold):
                commands += [
                    _disconnect_command(s, self._peer_name(s.nas_ip, target) or s.nas_ip)
                    for s in hold.sessions
                ]
        return commands

    def apply(self, batch: Batch) -> BatchResult:
        """Restores (delete the refusal), cuts (write it, then disconnect every active session
        of the subscriber on its NAS devices), then read back every line."""
        if not len(batch):
            return BatchResult(self.name, ())
        progress = _Progress()
        refused: dict[int, str] = {}
        for target in (*batch.restores, *batch.cuts):
            try:
                self.check_target(target)
            except InvalidIdentifier as exc:
                refused[target.line_id] = f"{InvalidIdentifier.__name__}: {exc}"
        valid = Batch(
            cuts=tuple(t for t in batch.cuts if t.line_id not in refused),
            restores=tuple(t for t in batch.restores if t.line_id not in refused),
        )
        self.learn((*valid.restores, *valid.cuts))
        answers: list[_Answer] = []
        try:
            with self._opened() as engine:
                try:
                    before = self._read(engine)
                    self._write_refusals(engine, valid, before, progress)
                    answers = self._disconnect(engine, valid.cuts, progress)
                    after = self._read(engine)
                except sa.exc.SQLAlchemyError as exc:
                    raise self._database_error(exc) from None
        except DriverError as exc:
            return self._failed(batch, refused, progress, exc)
        return BatchResult(
            self.name,
            self._outcomes(batch, refused, answers, after, progress),
            progress.sent,
            "\n".join(progress.output),
        )

    # -- the steps of an apply ------------------------------------------------------------

    def _write_refusals(
        self, engine: sa.Engine, batch: Batch, before: dict[int, OwnedLine], progress: _Progress
    ) -> None:
        """Every restore's refusal deleted and every cut's written, in one transaction."""
        with engine.begin() as connection:
            for target in batch.restores:
                hold = before.get(target.line_id)
                if not (isinstance(hold, SubscriberHold) and hold.refusals):
                    continue
                assert target.username is not None
                deleted = connection.execute(
                    sa.delete(RADCHECK).where(*_refusal_of(target.username))
                ).rowcount
                command = _delete_command(target.username)
                progress.commands[target.line_id].append(command)
                progress.output.append(f"{command}: {deleted} row(s) deleted")
            for target in batch.cuts:
                hold = before.get(target.line_id)
                if isinstance(hold, SubscriberHold) and hold.refusals:
                    continue
                assert target.username is not None
                attribute, op, value = REFUSAL
                # written only if absent, in the statement itself: a cut applied twice (or by
                # two passes at once) leaves one row
                absent = ~sa.exists().where(*_refusal_of(target.username))
                inserted = connection.execute(
                    sa.insert(RADCHECK).from_select(
                        ["username", "attribute", "op", "value"],
                        sa.select(
                            sa.literal(target.username),
                            sa.literal(attribute),
                            sa.literal(op),
                            sa.literal(value),
                        ).where(absent),
                    )
                ).rowcount
                command = _insert_command(target.username)
                progress.commands[target.line_id].append(command)
                progress.output.append(f"{command}: {inserted} row(s) inserted")

    def _disconnect(
        self, engine: sa.Engine, cuts: Sequence[LineTarget], progress: _Progress
    ) -> list[_Answer]:
        """A Disconnect-Request for every session accounting shows active for a cut subscriber
        (read after the refusal is written: a session that starts later is refused), then a
        bounded wait for the ACKed ones' Accounting-Stop."""
        by_user = {t.username: t for t in cuts if t.username is not None}
        sessions = self._sessions(engine, list(by_user))
        answers = []
        for user, target in by_user.items():
            for session in sessions.get(user, ()):
                answer = self._send_disconnect(target, session)
                if answer.command is not None:
                    progress.commands[target.line_id].append(answer.command)
                progress.output.append(_answer_text(answer))
                answers.append(answer)
        acked = [a.session for a in answers if a.acked]
        if acked:
            self._wait_for_stops(engine, acked, progress)
        return answers

    def _send_disconnect(self, target: LineTarget, session: ActiveSession) -> _Answer:
        peer = self._peer_for(session.nas_ip, target)
        nas = peer.name if peer is not None else session.nas_ip
        if peer is None:
            return _Answer(
                target.line_id, session, nas, None,
                error=f"Rejected: session {session.shown} is on NAS-IP-Address {session.nas_ip}, "
                "which is no NAS of the line: not disconnected (add that NAS to the line)",
            )  # fmt: skip
        if peer.problem is not None:
            return _Answer(
                target.line_id, session, nas, None,
                error=f"Unreachable: NAS {peer.name}: {peer.problem}",
            )  # fmt: skip
        command = _disconnect_command(session, peer.name)
        tries, each = self._dae_timing()
        client = Client(
            server=peer.host, coaport=peer.port, secret=peer.secret.encode(),
            dict=dictionary(), retries=tries, timeout=each,
        )  # fmt: skip
        try:
            try:
                request = client.CreateCoAPacket(code=packet.DisconnectRequest)
                request["User-Name"] = session.username
                request["Acct-Session-Id"] = session.session_id
                for attribute, address in (
                    ("Framed-IP-Address", session.framed_ip),
                    ("NAS-IP-Address", session.nas_ip),
                ):
                    if _is_ipv4(address):
                        request[attribute] = address
            except (ValueError, TypeError, UnicodeError) as exc:
                # pyrad encodes each attribute as it is set. radacct is written by the NAS, or by
                # hand: a session id longer than an attribute holds (253 bytes) is no session a
                # Disconnect-Request can name, and no reason to stop the device's pass
                return _Answer(
                    target.line_id, session, nas, None,
                    error=f"Rejected: session {session.shown} cannot be named in a "
                    f"Disconnect-Request ({exc}): not disconnected",
                )  # fmt: skip
            try:
                reply = client.SendPacket(request)
            except NoAnswer:
                return _Answer(
                    target.line_id, session, nas, command,
                    error=f"Timeout: no answer from {peer.name} ({peer.host}:{peer.port}) to the "
                    f"Disconnect-Request for session {session.shown} ({tries} tries of {each:g} s)",
                )  # fmt: skip
            except OSError as exc:
                return _Answer(
                    target.line_id, session, nas, command,
                    error=f"Unreachable: {peer.name} ({peer.host}:{peer.port}): {exc}",
                )  # fmt: skip
        finally:
            client._CloseSocket()  # pyrad keeps its socket open otherwise
        if reply.code == packet.DisconnectACK:
            return _Answer(target.line_id, session, nas, command, acked=True)
        if reply.code == packet.DisconnectNAK:
            return _Answer(
                target.line_id, session, nas, command,
                error=f"NAK: {_error_cause(reply)} from {peer.name} for session {session.shown}",
            )  # fmt: skip
        return _Answer(
            target.line_id, session, nas, command,
            error=f"Rejected: {peer.name} answered code {reply.code}, neither ACK nor NAK",
        )  # fmt: skip

    def _wait_for_stops(
        self, engine: sa.Engine, acked: list[ActiveSession], progress: _Progress
    ) -> None:
        """Until accounting shows every ACKed session stopped, or the wait is over (the NAS
        sends its Accounting-Stop after its ACK; read-back says what came of it)."""
        deadline = time.monotonic() + self._option_seconds("acct_stop_wait", DEFAULT_STOP_WAIT)
        wanted = {(s.username, s.session_id, s.nas_ip) for s in acked}
        while True:
            open_now = self._sessions(engine, sorted({s.username for s in acked}))
            still = wanted & {
                (s.username, s.session_id, s.nas_ip) for group in open_now.values() for s in group
            }
            if not still or time.monotonic() >= deadline:
                break
            time.sleep(_POLL_SECONDS)
        if still:
            progress.output.append(
                f"accounting: {len(still)} acknowledged session(s) not stopped yet"
            )

    def _outcomes(
        self,
        batch: Batch,
        refused: dict[int, str],
        answers: list[_Answer],
        after: dict[int, OwnedLine],
        progress: _Progress,
    ) -> tuple[LineOutcome, ...]:
        problems: dict[int, list[str]] = defaultdict(list)
        for answer in answers:
            if answer.error is not None:
                problems[answer.line_id].append(answer.error)
        outcomes = []
        for action, targets in ((Action.RESTORE, batch.restores), (Action.CUT, batch.cuts)):
            for target in targets:
                commands = tuple(progress.commands.get(target.line_id, ()))
                if target.line_id in refused:
                    outcomes.append(
                        LineOutcome(target.line_id, action, (), LineState.UNKNOWN, False,
                                    refused[target.line_id])
                    )  # fmt: skip
                    continue
                hold = after.get(target.line_id)
                state = hold.state_for(target) if hold is not None else LineState.OPEN
                if problems[target.line_id]:
                    # a NAS that did not answer (or NAKed) may still hold the session whatever
                    # accounting says: not cut until a read with nothing left to send says so
                    state = LineState.UNKNOWN
                wanted = LineState.CUT if action is Action.CUT else LineState.OPEN
                verified = state is wanted
                error = None
                if not verified:
                    error = "; ".join(problems[target.line_id]) or _verify_failure(hold)
                # no answer, or a session not yet stopped, may be over by the next attempt; a
                # NAK or a session on no NAS of the line is an answer
                retryable = not verified and not any(
                    p.startswith(("NAK", "Rejected")) for p in problems[target.line_id]
                )
                outcomes.append(
                    LineOutcome(target.line_id, action, commands, state, verified, error, retryable)
                )
        return tuple(outcomes)

    def _failed(
        self, batch: Batch, refused: dict[int, str], progress: _Progress, error: DriverError
    ) -> BatchResult:
        """Nothing could be read back: every line's state is unknown."""
        outcomes = tuple(
            LineOutcome(
                t.line_id,
                action,
                tuple(progress.commands.get(t.line_id, ())),
                LineState.UNKNOWN,
                False,
                refused.get(t.line_id) or f"{type(error).__name__}: {error}",
            )  # fmt: skip
            for action, targets in ((Action.RESTORE, batch.restores), (Action.CUT, batch.cuts))
            for t in targets
        )
        output = "\n".join([*progress.output, f"{type(error).__name__}: {error}"])
        return BatchResult(self.name, outcomes, progress.sent, output, error)

    # -- reading the RADIUS tables --------------------------------------------------------

    def _refusals(self, engine: sa.Engine, users: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        attribute, op, value = REFUSAL
        with engine.connect() as connection:
            for chunk in _chunks(users):
                query = (
                    sa.select(RADCHECK.c.username, sa.func.count())
                    .where(
                        RADCHECK.c.username.in_(chunk),
                        RADCHECK.c.attribute == attribute,
                        RADCHECK.c.op == op,
                        RADCHECK.c.value == value,
                    )
                    .group_by(RADCHECK.c.username)
                )
                found.update({user: count for user, count in connection.execute(query)})
        return found

    def _sessions(self, engine: sa.Engine, users: list[str]) -> dict[str, list[ActiveSession]]:
        found: dict[str, list[ActiveSession]] = defaultdict(list)
        with engine.connect() as connection:
            for chunk in _chunks(users):
                query = (
                    sa.select(
                        RADACCT.c.username, RADACCT.c.acctsessionid, RADACCT.c.nasipaddress,
                        RADACCT.c.framedipaddress,
                    )
                    .where(RADACCT.c.username.in_(chunk), RADACCT.c.acctstoptime.is_(None))
                    .order_by(RADACCT.c.radacctid)
                )  # fmt: skip
                for user, sid, nas_ip, framed in connection.execute(query):
                    found[user].append(
                        ActiveSession(user, str(sid), _address(nas_ip), _address(framed))
                    )
        return found

    # -- the NAS devices a line's sessions may be on --------------------------------------

    def _peers(self) -> dict[str, Peer]:
        """The NAS devices this session may send to, by name: this device, and the other NAS
        devices its lines name (`Credentials.peers`, given by the controller)."""
        mine = Peer(self.name, self.credentials.host, self.credentials.port,
                    self.credentials.password)  # fmt: skip
        peers = {p.name: p for p in self.credentials.peers}
        peers.setdefault(self.name, mine)
        return peers

    def _peer_for(self, nas_ip: str, target: LineTarget) -> Peer | None:
        """The NAS of the line whose address is `nas_ip`."""
        for name in target.nas or (self.name,):
            peer = self._peers().get(name)
            if peer is not None and _same_address(peer.host, nas_ip):
                return peer
        return None

    def _peer_name(self, nas_ip: str, target: LineTarget) -> str | None:
        peer = self._peer_for(nas_ip, target)
        return peer.name if peer is not None else None

    # -- options --------------------------------------------------------------------------

    def _option_seconds(self, name: str, default: float) -> float:
        text = self.credentials.extra.get(name)
        if text is None:
            return default
        problem = _option_problem(name, text)
        if problem is not None:
            raise Misconfigured(f"{self.name}: {problem}")
        return float(text)

    def _dae_timing(self) -> tuple[int, float]:
        tries_text = self.credentials.extra.get("dae_tries", str(DEFAULT_DAE_TRIES))
        problem = _option_problem("dae_tries", tries_text)
        if problem is not None:
            raise Misconfigured(f"{self.name}: {problem}")
        return int(tries_text), self._option_seconds("dae_timeout", DEFAULT_DAE_TIMEOUT)


# -- options (checked at inventory import, and again by the driver) -------------------------

SECONDS_OPTIONS = ("dae_timeout", "acct_stop_wait")


def _option_problem(name: str, text: str) -> str | None:
    """What is wrong with one of the driver's timing options, or None."""
    if name == "dae_tries":
        if not text.isdigit() or not 1 <= int(text) <= 10:
            return f"option dae_tries must be 1..10, not {text!r}"
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 60:  # also NaN
        return f"option {name} must be seconds in (0, 60], not {text!r}"
    return None


def option_problems(options: dict[str, str]) -> list[str]:
    """What is wrong with a NAS device's timing options (dae_tries, dae_timeout,
    acct_stop_wait): the inventory refuses them at import rather than every pass failing."""
    return [
        problem
        for name in ("dae_tries", *SECONDS_OPTIONS)
        if name in options
        for problem in [_option_problem(name, options[name])]
        if problem is not None
    ]


# -- renderings (what the change log shows as commands: never a secret) ------------------------


def _insert_command(username: str) -> str:
    return f"radcheck insert Auth-Type := Reject for {username}"


def _delete_command(username: str) -> str:
    return f"radcheck delete Auth-Type := Reject for {username}"


def _disconnect_command(session: ActiveSession, nas: str) -> str:
    framed = f" ({session.framed_ip})" if session.framed_ip else ""
    return f"disconnect {session.username} session {session.shown}{framed} at {nas}"


def _answer_text(answer: _Answer) -> str:
    what = answer.command or f"disconnect {answer.session.username} session {answer.session.shown}"
    if answer.acked:
        return f"{what}: Disconnect-ACK"
    return f"{what}: {answer.error}"


def _error_cause(reply: packet.Packet) -> str:
    """ "Error-Cause 503 Session-Context-Not-Found" (RFC 5176 §3.5), or that none was given."""
    raw = reply.get(101)
    if not raw:
        return "no Error-Cause"
    number = int.from_bytes(raw[0], "big")
    try:
        name = reply["Error-Cause"][0]
    except (KeyError, IndexError):
        name = None
    return f"Error-Cause {number}" + (f" {name}" if isinstance(name, str) else "")


def _verify_failure(hold: OwnedLine | None) -> str:
    if isinstance(hold, SubscriberHold) and hold.refusals and hold.sessions:
        shown = ", ".join(f"{s.shown} at {s.nas_ip}" for s in hold.sessions)
        return (
            f"VerifyFailed: refused, but accounting still shows session(s) {shown} active "
            "(no Accounting-Stop recorded)"
        )
    if isinstance(hold, SubscriberHold) and hold.refusals:
        return "VerifyFailed: the refusal is still in radcheck"
    return "VerifyFailed: read-back shows no refusal in radcheck"


def _refusal_of(username: str) -> tuple[sa.ColumnElement[bool], ...]:
    attribute, op, value = REFUSAL
    return (
        RADCHECK.c.username == username,
        RADCHECK.c.attribute == attribute,
        RADCHECK.c.op == op,
        RADCHECK.c.value == value,
    )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _QUERY_CHUNK):
        yield items[start : start + _QUERY_CHUNK]


def _address(value: object) -> str:
    """An address column as text ("" when empty; PostgreSQL's inet may come back as an object
    with a prefix length)."""
    if value is None:
        return ""
    return str(value).split("/")[0]


def _is_ipv4(text: str) -> bool:
    try:
        return ip_address(text).version == 4
    except ValueError:
        return False


def _same_address(a: str, b: str) -> bool:
    try:
        return ip_address(a) == ip_address(b)
    except ValueError:
        return a == b
