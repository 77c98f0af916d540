"""A BNG twin: a NAS on its own loopback address whose simulated subscribers dial in through a
real RADIUS server, are accounted for (Start, Interim-Update, Stop), and are torn down or changed
by RFC 5176 Disconnect-Request and CoA-Request on its own UDP port (the DAE port).

Time is a parameter: every accounting packet carries an Event-Timestamp read from the `clock`
the twin is given, so a test that moves its clock moves radacct's instants with it.
"""

from __future__ import annotations

import ipaddress
import secrets
import select
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pyrad import packet

from lab.freeradius import check_secret, check_username
from lab.radius import access_request, accounting_request, dictionary

# RFC 5176 section 3.6 Error-Cause values the twin answers with
RESIDUAL_SESSION_REMOVED = 201
MISSING_ATTRIBUTE = 402
NAS_IDENTIFICATION_MISMATCH = 403
UNSUPPORTED_SERVICE = 405
RESOURCES_UNAVAILABLE = 506
SESSION_CONTEXT_NOT_FOUND = 503

FAULTS = ("nak", "silent", "wrong_secret")
# the attributes that name a session in a Disconnect/CoA-Request (RFC 5176 section 3)
_SESSION_KEYS = ("User-Name", "Acct-Session-Id", "Framed-IP-Address")


@dataclass(frozen=True)
class Session:
    """One subscriber session the BNG holds, as its accounting describes it."""

    username: str
    session_id: str  # Acct-Session-Id, unique across the twin's restarts
    framed_ip: str
    nas_ip: str
    nas_port: int
    started: datetime
    input_octets: int = 0
    output_octets: int = 0
    changes: tuple[tuple[str, str], ...] = ()  # what CoA-Requests set (attribute, value)


@dataclass(frozen=True)
class Rejected:
    """A dial that did not make a session: the server rejected it, did not answer, or the BNG
    had no address left."""

    username: str
    reason: str
    answered: bool = True  # False: the RADIUS server did not answer


@dataclass(frozen=True)
class DaeRequest:
    """One Disconnect/CoA-Request the BNG received, and what it did with it."""

    kind: str  # "disconnect" | "coa"
    attributes: dict[str, str]
    answer: str  # "ack" | "nak" | "dropped" (bad authenticator, or the silent fault)
    error_cause: int | None = None
    sessions: tuple[str, ...] = ()  # Acct-Session-Ids it matched


@dataclass
class Faults:
    """`mode`: None (behave), "nak" (NAK every request with `error_cause`), "silent" (never
    answer), "wrong_secret" (act, but sign the answer with another secret: the client cannot
    verify it and must treat it as no answer)."""

    mode: str | None = None
    error_cause: int = RESOURCES_UNAVAILABLE

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in FAULTS:
            raise ValueError(f"BNG fault {self.mode!r} not one of {', '.join(FAULTS)}")
        if not isinstance(self.error_cause, int) or not 0 < self.error_cause < 2**32:
            raise ValueError(f"error_cause must be an RFC 5176 Error-Cause, got {self.error_cause}")


@dataclass
class _Held:
    session: Session
    password: str = field(repr=False)


class BngTwin:
    """A NAS at `address` (127.0.0.21, .22, …): its NAS-IP-Address and the source of its RADIUS
    packets. `radius` is the server's (host, auth port, acct port); `radius_secret` the secret it
    shares with the server, `dae_secret` the one Disconnect/CoA clients (curfew) must use.

    `start()` binds the DAE port and serves it in one thread; `close()` stops it (bounded).
    """

    def __init__(
        self,
        name: str,
        address: str,
        radius: tuple[str, int, int],
        radius_secret: str,
        dae_secret: str,
        pool: IPv4Network | str,
        clock: Callable[[], datetime],
        dae_port: int = 0,
        timeout: float = 2.0,
        faults: Faults | None = None,
    ) -> None:
        self.name = name
        parsed = IPv4Address(address)
        if not parsed.is_loopback:
            raise ValueError(f"BNG {name}: {address} is not on 127.0.0.0/8 (the lab stays there)")
        self.address = str(parsed)
        self.radius = radius
        self.radius_secret = check_secret(radius_secret)
        self.dae_secret = check_secret(dae_secret)
        self.pool = IPv4Network(pool)
        if self.pool.num_addresses < 4:
            raise ValueError(f"BNG {name}: pool {self.pool} has no room for subscribers")
        self.clock = clock
        self.timeout = timeout
        self.faults = faults or Faults()
        self._requested_port = dae_port
        self._lock = threading.RLock()
        self._held: dict[str, _Held] = {}  # by Acct-Session-Id
        self._next_port = 1
        self._boot = secrets.token_hex(3).upper()  # sessions of another run never collide
        self._counter = 0
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.requests: list[DaeRequest] = []
        # answers by (client, identifier, authenticator): a client's retransmission of a request
        # already acted on gets the same answer again, not a second action (RFC 5080 2.2.2)
        self._answered: OrderedDict[tuple[Any, int, bytes], bytes] = OrderedDict()
        self.retransmissions = 0

    # ------------------------------------------------------------------ life cycle

    @property
    def dae_port(self) -> int:
        if self._socket is None:
            return self._requested_port
        return int(self._socket.getsockname()[1])

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, announce: bool = True) -> BngTwin:
        """Bind the DAE port and serve it; with `announce`, tell the server the NAS (re)booted
        (Accounting-On: it closes every session the server still thinks this NAS holds)."""
        if self.running:
            raise RuntimeError(f"BNG {self.name} already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.address, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self._requested_port = int(sock.getsockname()[1])  # a restart keeps the inventory's port
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"curfew-bng-{self.name}", daemon=True
        )
        self._thread.start()
        if announce:
            try:
                self._account("Accounting-On", {})
            except BaseException:
                self.close()
                raise
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving the DAE port (bounded join) and close it. Sessions are forgotten without
        accounting, as when a NAS loses power; the next `start()` announces Accounting-On."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        with self._lock:
            self._held.clear()

    def __enter__(self) -> BngTwin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_fault(self, mode: str | None = None, error_cause: int = RESOURCES_UNAVAILABLE) -> None:
        """Change how the DAE port answers, e.g. `set_fault("nak", 501)`; `set_fault()` heals."""
        self.faults = Faults(mode, error_cause)

    # ------------------------------------------------------------------ subscribers

    def dial(self, username: str, password: str) -> Session | Rejected:
        """A subscriber dials in: PAP Access-Request to the server; on Accept an address from
        the pool (or the one the server assigns) and an Accounting Start."""
        check_username(username)
        nas_port = self._take_nas_port()
        try:
            answer = access_request(
                server=(self.radius[0], self.radius[1]),
                source=self.address,
                secret=self.radius_secret,
                username=username,
                password=password,
                timeout=self.timeout,
                attributes={
                    "NAS-IP-Address": self.address,
                    "NAS-Port": nas_port,
                    "NAS-Port-Type": "Virtual",
                    "Service-Type": "Framed-User",
                    "Framed-Protocol": "PPP",
                },
            )
        except TimeoutError as exc:
            return Rejected(username, str(exc), answered=False)
        if not answer.accepted:
            return Rejected(username, answer.reply_message or "Access-Reject")
        with self._lock:
            framed_ip = answer.framed_ip or self._free_address()
            if framed_ip is None:
                return Rejected(username, f"address pool {self.pool} exhausted")
            self._counter += 1
            session = Session(
                username=username,
                session_id=f"{self.name}-{self._boot}{self._counter:06X}",
                framed_ip=framed_ip,
                nas_ip=self.address,
                nas_port=nas_port,
                started=self.clock(),
            )
            self._held[session.session_id] = _Held(session, password)
        self._account("Start", self._session_attributes(session))
        return session

    def sessions(self, username: str | None = None) -> list[Session]:
        """The sessions the BNG holds now (of one subscriber, or all), oldest first."""
        with self._lock:
            held = [h.session for h in self._held.values()]
        return [s for s in held if username is None or s.username == username]

    def hangup(
        self,
        username: str | None = None,
        session_id: str | None = None,
        cause: str = "User-Request",
    ) -> list[Session]:
        """End sessions (a subscriber's, or one by its id) with an Accounting Stop each."""
        if username is None and session_id is None:
            raise ValueError("hang up whose session? give a username or a session id")
        ended = self._remove(lambda s: _matches(s, username, session_id, None))
        for session in ended:
            self._stop_accounting(session, cause)
        return ended

    def redial(self, username: str, password: str | None = None) -> Session | Rejected:
        """Hang up the subscriber's sessions and dial again (with the last password used when
        none is given)."""
        check_username(username)
        if password is None:
            with self._lock:
                known = [h.password for h in self._held.values() if h.session.username == username]
            if not known:
                raise ValueError(f"no session of {username} to redial: give the password")
            password = known[-1]
        self.hangup(username=username)
        return self.dial(username, password)

    def interim(self, octets: int = 1500) -> int:
        """One Interim-Update per session (each having moved `octets` each way); how many."""
        with self._lock:
            for held in self._held.values():
                s = held.session
                held.session = replace(
                    s, input_octets=s.input_octets + octets, output_octets=s.output_octets + octets
                )
            current = [h.session for h in self._held.values()]
        for session in current:
            self._account(
                "Interim-Update",
                {
                    **self._session_attributes(session),
                    **self._usage(session),
                },
            )
        return len(current)

    # ------------------------------------------------------------------ internals

    def _take_nas_port(self) -> int:
        with self._lock:
            port = self._next_port
            self._next_port += 1
            return port

    def _free_address(self) -> str | None:
        used = {h.session.framed_ip for h in self._held.values()}
        hosts = self.pool.hosts()
        next(hosts, None)  # the first host is the BNG's own gateway address
        for host in hosts:
            if str(host) not in used:
                return str(host)
        return None

    def _remove(self, match: Callable[[Session], bool]) -> list[Session]:
        with self._lock:
            ended = [h.session for h in self._held.values() if match(h.session)]
            for session in ended:
                del self._held[session.session_id]
        return ended

    def _session_attributes(self, session: Session) -> dict[str, Any]:
        return {
            "User-Name": session.username,
            "Acct-Session-Id": session.session_id,
            "NAS-Port": session.nas_port,
            "NAS-Port-Type": "Virtual",
            "Service-Type": "Framed-User",
            "Framed-Protocol": "PPP",
            "Framed-IP-Address": session.framed_ip,
            "Acct-Authentic": "RADIUS",
        }

    def _usage(self, session: Session) -> dict[str, Any]:
        seconds = max(0, int((self.clock() - session.started).total_seconds()))
        return {
            "Acct-Session-Time": seconds,
            "Acct-Input-Octets": session.input_octets % 2**32,
            "Acct-Output-Octets": session.output_octets % 2**32,
        }

    def _stop_accounting(self, session: Session, cause: str) -> None:
        self._account(
            "Stop",
            {
                **self._session_attributes(session),
                **self._usage(session),
                "Acct-Terminate-Cause": cause,
            },
        )

    def _account(self, status: str, attributes: dict[str, Any]) -> None:
        """One Accounting-Request stamped with the clock's instant; waits (bounded) for the
        server's answer, so the row is in radacct when this returns."""
        accounting_request(
            server=(self.radius[0], self.radius[2]),
            source=self.address,
            secret=self.radius_secret,
            attributes={
                "Acct-Status-Type": status,
                "NAS-IP-Address": self.address,
                "Event-Timestamp": int(self.clock().timestamp()),
                **attributes,
            },
            timeout=self.timeout,
        )

    # ------------------------------------------------------------------ the DAE port

    def _serve(self) -> None:
        sock = self._socket
        assert sock is not None
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                return
            key = (peer, data[1], data[4:20]) if len(data) >= 20 else None
            reply = self._answered.get(key) if key is not None else None
            if reply is not None:
                self.retransmissions += 1
            else:
                try:
                    reply = self._answer(data)
                except Exception as exc:  # a malformed packet must not end the NAS
                    self.requests.append(DaeRequest("unknown", {"error": str(exc)}, "dropped"))
                    continue
                if reply is not None and key is not None:
                    self._answered[key] = reply
                    while len(self._answered) > 256:
                        self._answered.popitem(last=False)
            if reply is not None:
                try:
                    sock.sendto(reply, peer)
                except OSError:
                    return

    def _answer(self, data: bytes) -> bytes | None:
        """The reply to one datagram, or None to drop it: a request whose authenticator does not
        verify with the DAE secret is dropped without an answer, as a RADIUS server drops an
        Accounting-Request signed with the wrong secret (a NAK would tell a forger the port is
        alive)."""
        request = packet.CoAPacket(secret=self.dae_secret.encode(), dict=dictionary(), packet=data)
        if request.code == packet.DisconnectRequest:
            kind = "disconnect"
        elif request.code == packet.CoARequest:
            kind = "coa"
        else:
            self.requests.append(DaeRequest("unknown", {"code": str(request.code)}, "dropped"))
            return None
        attributes = _readable(request)
        verified = request.VerifyCoARequest()
        if verified and request.message_authenticator:
            verified = request.verify_message_authenticator()
        faults = self.faults
        if not verified or faults.mode == "silent":
            self.requests.append(DaeRequest(kind, attributes, "dropped"))
            return None
        reply = request.CreateReply()
        nak_code = packet.DisconnectNAK if kind == "disconnect" else packet.CoANAK
        error_cause, matched = self._act(kind, request, faults)
        if error_cause is not None:
            reply.code = nak_code
            reply["Error-Cause"] = error_cause
            self.requests.append(DaeRequest(kind, attributes, "nak", error_cause))
        else:
            self.requests.append(
                DaeRequest(kind, attributes, "ack", sessions=tuple(s.session_id for s in matched))
            )
        if faults.mode == "wrong_secret":
            reply.secret = b"not-" + self.dae_secret.encode()
        return bytes(reply.ReplyPacket())

    def _act(
        self, kind: str, request: packet.CoAPacket, faults: Faults
    ) -> tuple[int | None, list[Session]]:
        """Do what the request asks: (None, sessions acted on) or (Error-Cause, [])."""
        if faults.mode == "nak":
            return faults.error_cause, []
        nas_ip = _first(request, "NAS-IP-Address")
        if nas_ip is not None and str(nas_ip) != self.address:
            return NAS_IDENTIFICATION_MISMATCH, []
        if not any(key in request for key in _SESSION_KEYS):
            return MISSING_ATTRIBUTE, []
        username = _first(request, "User-Name")
        session_id = _first(request, "Acct-Session-Id")
        framed = _first(request, "Framed-IP-Address")
        framed_ip = str(ipaddress.IPv4Address(framed)) if framed is not None else None

        def match(session: Session) -> bool:
            return _matches(session, username, session_id, framed_ip)

        if kind == "disconnect":
            ended = self._remove(match)
            if not ended:
                return SESSION_CONTEXT_NOT_FOUND, []
            for session in ended:  # the Stop is written before the ACK leaves
                try:
                    self._stop_accounting(session, "Admin-Reset")
                except TimeoutError:
                    pass  # a real NAS queues it; the session is gone all the same
            return None, ended
        changes = tuple(
            (name, str(values[0]))
            for name, values in _decoded(request).items()
            if name not in (*_SESSION_KEYS, "NAS-IP-Address", "Message-Authenticator")
        )
        with self._lock:
            changed = []
            for held in self._held.values():
                if match(held.session):
                    held.session = replace(held.session, changes=held.session.changes + changes)
                    changed.append(held.session)
        if not changed:
            return SESSION_CONTEXT_NOT_FOUND, []
        return None, changed


def _matches(
    session: Session, username: str | None, session_id: str | None, framed_ip: str | None
) -> bool:
    """Every identifier the request gives must match (RFC 5176 section 3: they select the
    session together); at least one is given."""
    given = [v for v in (username, session_id, framed_ip) if v is not None]
    return bool(given) and (
        (username is None or session.username == username)
        and (session_id is None or session.session_id == session_id)
        and (framed_ip is None or session.framed_ip == framed_ip)
    )


def _first(request: packet.Packet, name: str) -> Any:
    values = request.get(name)
    return values[0] if values else None


def _decoded(request: packet.Packet) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for key in request.keys():
        if isinstance(key, str):
            out[key] = request[key]
    return out


def _readable(request: packet.Packet) -> dict[str, str]:
    return {
        name: str(values[0])
        for name, values in _decoded(request).items()
        if name not in ("Message-Authenticator", "User-Password")
    }


def bng_addresses(count: int, first: int = 21) -> list[str]:
    """The lab's BNG addresses: 127.0.0.21, .22, …"""
    if not 0 < count <= 254 - first:
        raise ValueError(f"{count} BNGs do not fit from 127.0.0.{first}")
    return [f"127.0.0.{first + i}" for i in range(count)]


def close_all(twins: Iterable[BngTwin]) -> None:
    for twin in twins:
        twin.close()


__all__ = [
    "FAULTS",
    "SESSION_CONTEXT_NOT_FOUND",
    "BngTwin",
    "DaeRequest",
    "Faults",
    "Rejected",
    "Session",
    "bng_addresses",
    "close_all",
]
