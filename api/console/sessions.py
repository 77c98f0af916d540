"""Console sessions: a token is exchanged once, at log-in, for a random session id kept here in
memory (the cookie carries only that id), and every request passes the console's gate.

The gate: a session that exists, has not expired and whose token is still valid (a revoked or
expired token ends it); a role the rule in `api.auth.CONSOLE` allows; and on every POST the
session's CSRF token in the form, compared in constant time. The log-in form, before any
session, carries a nonce that must match its own cookie (double submit).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request, Response

from api.auth import CONSOLE, CONSOLE_PUBLIC, authenticate
from controller.access import Actor

SESSION_COOKIE = "curfew_console"
LOGIN_COOKIE = "curfew_console_login"  # the log-in form's CSRF nonce, before any session
COOKIE_PATH = "/console"
SESSION_SECONDS = 8 * 3600  # a working shift; then log in again
MAX_SESSIONS = 10_000  # past this, the oldest sessions are dropped (log-ins cannot fill memory)
MAX_FORM_FIELDS = 50


@dataclass
class Session:
    actor: Actor
    token: str  # kept in memory only, to check at each request that it is still valid
    csrf: str
    expires: float  # time.monotonic() deadline
    flash: list[str] = field(default_factory=list)  # messages for the next page shown


class Sessions:
    """The console's sessions, by the SHA-256 of their id (the id itself is only in the
    browser's cookie). Thread-safe; lost when the server stops (everyone logs in again)."""

    def __init__(
        self, lifetime: float = SESSION_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lifetime, self._clock = lifetime, clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def open(self, actor: Actor, token: str) -> tuple[str, Session]:
        """A new session for `actor`: its id (for the cookie) and the session."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(actor, token, secrets.token_urlsafe(32), now + self.lifetime)
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.expires <= now]:
                del self._sessions[key]
            while len(self._sessions) >= MAX_SESSIONS:  # insertion order: the oldest first
                del self._sessions[next(iter(self._sessions))]
            self._sessions[self._key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        key = self._key(session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and session.expires <= self._clock():
                del self._sessions[key]
                return None
            return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(self._key(session_id), None)

    def __len__(self) -> int:
        return len(self._sessions)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """HttpOnly, SameSite=Strict, limited to the console's paths, Secure when served over
    https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


# -- the gate ----------------------------------------------------------------------------------


class LoginRequired(Exception):
    """No valid session: a page sends the browser to the log-in page (`why` said there)."""

    def __init__(self, why: str = "") -> None:
        super().__init__(why)
        self.why = why


class Refused(Exception):
    """A console request refused: 403 (a role the rule does not allow, a missing or bad CSRF
    token, a POST without a session)."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def sessions_of(request: Request) -> Sessions:
    return request.app.state.console_sessions  # type: ignore[no-any-return]


def rule_key(request: Request) -> tuple[str, str]:
    route = request.scope.get("route")
    return request.method, getattr(route, "path", request.url.path)


def current(request: Request) -> tuple[str, Session] | None:
    """The request's session id and session, if it has a live one whose token still holds
    (a token revoked or expired since the log-in ends the session)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    session = sessions_of(request).get(session_id)
    if session_id is None or session is None:
        return None
    if authenticate(request, session.token) is None:
        sessions_of(request).close(session_id)
        return None
    return session_id, session


async def form_of(request: Request) -> dict[str, str]:
    """The POSTed form (application/x-www-form-urlencoded; the body's size is bounded by the
    app's middleware): the first value of each field."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    text = (await request.body()).decode("utf-8", errors="replace")
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise Refused("too many form fields", 400) from None
    return {name: values[0] for name, values in fields.items()}


def check_csrf(sent: str | None, expected: str) -> None:
    if not sent or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise Refused("missing or invalid CSRF token: reload the page and try again")


@dataclass
class Visit:
    """Who is asking, through which session; for a POST, its form (its CSRF token checked)."""

    session_id: str
    session: Session
    form: dict[str, str]

    @property
    def actor(self) -> Actor:
        return self.session.actor


async def gate(request: Request) -> Visit:
    """The console's gate for every route but the log-in: a live session, a role the rule
    allows, and on a POST the session's CSRF token."""
    key = rule_key(request)
    assert key not in CONSOLE_PUBLIC
    found = current(request)
    if found is None:
        if request.method == "GET":  # a cookie that no session answers has ended
            raise LoginRequired("expired" if SESSION_COOKIE in request.cookies else "")
        raise Refused("no console session: log in first")
    session_id, session = found
    allowed = CONSOLE.get(key)
    if allowed is None:
        raise Refused(f"no access rule for {key[0]} {key[1]}")
    if session.actor.role not in allowed:
        raise Refused(f"role {session.actor.role!r} may not {key[0]} {key[1]}")
    form: dict[str, str] = {}
    if request.method == "POST":
        form = await form_of(request)
        check_csrf(form.get("csrf"), session.csrf)
    return Visit(session_id, session, form)


VisitDep = Annotated[Visit, Depends(gate)]
