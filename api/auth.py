"""Who may call what: bearer tokens, and the role x endpoint matrix, enforced in one place.

Every route of the app passes through `authorize`. A route absent from `RULES` and `PUBLIC` is
refused to everyone (and the matrix test fails), so a new endpoint cannot ship unguarded. The
web console's pages have their rules in `CONSOLE`, from the same role sets, applied to the
actor of a session cookie by the console's own gate.
401: no token, or a token that is unknown, revoked or expired. 403: a valid token whose role
may not call this endpoint (jurisdiction and ownership are checked by the domain, also 403).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controller.access import Actor
from controller.settings import Settings
from controller.store import Store
from controller.tokens import actor_for

ALL = frozenset({"bureau", "noc", "auditor", "admin"})
READERS = frozenset({"noc", "auditor", "admin"})
ISSUERS = frozenset({"bureau", "admin"})
OPERATORS = frozenset({"noc", "admin"})
AUDITORS = frozenset({"auditor", "admin"})
ADMIN = frozenset({"admin"})

PUBLIC = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
        ("GET", "/public/venues-under-order"),
    }
)

RULES: dict[tuple[str, str], frozenset[str]] = {
    # orders: bureaus issue and manage their own; everyone reads (bureaus only their own)
    ("POST", "/api/v1/orders"): ISSUERS,
    ("GET", "/api/v1/orders"): ALL,
    ("GET", "/api/v1/orders/{order_id}"): ALL,
    ("GET", "/api/v1/orders/{order_id}/history"): ALL,
    ("GET", "/api/v1/orders/{order_id}/changes"): ALL,
    ("POST", "/api/v1/orders/{order_id}/amend"): ISSUERS,
    ("POST", "/api/v1/orders/{order_id}/suspend"): ISSUERS,
    ("POST", "/api/v1/orders/{order_id}/resume"): ISSUERS,
    ("POST", "/api/v1/orders/{order_id}/revoke"): ISSUERS,
    # inventory: the NOC keeps it; bureaus see the venues of their jurisdiction
    ("GET", "/api/v1/venues"): ALL,
    ("GET", "/api/v1/lines"): READERS,
    ("GET", "/api/v1/devices"): READERS,
    ("POST", "/api/v1/inventory"): OPERATORS,
    ("POST", "/api/v1/devices/{device_id}/freeze"): OPERATORS,
    ("POST", "/api/v1/devices/{device_id}/unfreeze"): OPERATORS,
    ("POST", "/api/v1/devices/{device_id}/host-key"): OPERATORS,
    ("POST", "/api/v1/reconcile"): OPERATORS,
    ("GET", "/api/v1/holds"): READERS,
    ("POST", "/api/v1/holds/{hold_id}/approve"): OPERATORS,
    ("POST", "/api/v1/holds/{hold_id}/reject"): OPERATORS,
    # the record
    ("GET", "/api/v1/changes"): READERS,
    ("GET", "/api/v1/audit/checkpoints"): READERS,
    ("GET", "/api/v1/audit/changes"): READERS,
    ("GET", "/api/v1/audit/orders/{order_id}/timeline"): READERS,
    ("GET", "/api/v1/audit/violations"): READERS,
    ("GET", "/api/v1/audit/interrupted-intents"): READERS,
    ("GET", "/api/v1/audit/compliance"): READERS,
    # escalation: bureaus record violations and decide the proposals they make due
    ("POST", "/api/v1/venues/{venue_id}/violations"): ISSUERS,
    ("GET", "/api/v1/proposals"): ALL,
    ("POST", "/api/v1/proposals/{proposal_id}/confirm"): ISSUERS,
    ("POST", "/api/v1/proposals/{proposal_id}/reject"): ISSUERS,
    # licences: the NOC's list of venues without a valid licence, and the lines serving them
    ("GET", "/api/v1/venues/unlicensed"): READERS,
    # who held an address at an instant: every role, each seeing what it may (controller.whois)
    ("GET", "/api/v1/whois"): ALL,
    # order feeds and the keys that sign them
    ("GET", "/api/v1/feeds"): READERS,
    ("POST", "/api/v1/feeds"): ADMIN,
    ("POST", "/api/v1/feeds/{feed_id}/pull"): OPERATORS,
    ("GET", "/api/v1/authority-keys"): READERS,
    ("POST", "/api/v1/authority-keys"): ADMIN,
    ("POST", "/api/v1/authority-keys/{key_id}/revoke"): ADMIN,
    # metrics: what the network looks like now, for Prometheus (which sends a bearer token);
    # like the lines and devices they describe, not for bureaus
    ("GET", "/metrics"): READERS,
    # tokens
    ("POST", "/api/v1/tokens"): ADMIN,
    ("GET", "/api/v1/tokens"): ADMIN,
    ("POST", "/api/v1/tokens/{token_id}/revoke"): ADMIN,
}

# The web console (`api/console`): HTML pages under /console, reached with a session cookie
# instead of a bearer token. `authorize` lets these through to the console's own gate, which
# applies the same role sets from the session's actor (and a CSRF token on every POST). Its
# static files (CSS, JS) are a mount, outside every rule: they carry no data.
CONSOLE_PUBLIC = frozenset({("GET", "/console/login"), ("POST", "/console/login")})
CONSOLE: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/console"): ALL,  # to the role's first page
    ("POST", "/console/logout"): ALL,
    ("GET", "/console/tonight"): READERS,
    ("GET", "/console/passes"): READERS,
    ("GET", "/console/passes/progress"): READERS,
    ("POST", "/console/passes"): OPERATORS,
    ("GET", "/console/failures"): READERS,
    ("POST", "/console/devices/{device_id}/freeze"): OPERATORS,
    ("POST", "/console/devices/{device_id}/unfreeze"): OPERATORS,
    ("POST", "/console/holds/{hold_id}/approve"): OPERATORS,
    ("POST", "/console/holds/{hold_id}/reject"): OPERATORS,
    ("GET", "/console/orders"): ALL,
    ("POST", "/console/orders"): ISSUERS,
    ("GET", "/console/orders/{order_id}"): ALL,
    ("POST", "/console/orders/{order_id}/amend"): ISSUERS,
    ("POST", "/console/orders/{order_id}/suspend"): ISSUERS,
    ("POST", "/console/orders/{order_id}/resume"): ISSUERS,
    ("POST", "/console/orders/{order_id}/revoke"): ISSUERS,
    ("GET", "/console/changes"): READERS,
    ("GET", "/console/audit"): READERS,
    ("GET", "/console/compliance"): READERS,
    ("GET", "/console/inventory"): READERS,
}

_bearer = HTTPBearer(auto_error=False, description="a curfew API token")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def authenticate(request: Request, token: str) -> Actor | None:
    settings: Settings = request.app.state.settings
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    if admin is not None and secrets.compare_digest(token.encode(), admin.encode()):
        return Actor(name="admin", role="admin")
    store: Store = request.app.state.store
    return actor_for(store, token)


def authorize(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor | None:
    """The one gate every route passes: public, a console page (gated by its session), or a
    valid token whose role the rule allows."""
    route = request.scope.get("route")
    key = (request.method, getattr(route, "path", request.url.path))
    if key in PUBLIC or (request.method == "HEAD" and ("GET", key[1]) in PUBLIC):
        return None
    if key in CONSOLE or key in CONSOLE_PUBLIC:
        return None  # the console's gate (api/console/sessions.py) checks its session
    if credentials is None:
        raise _unauthorized("a bearer token is required")
    actor = authenticate(request, credentials.credentials)
    if actor is None:
        raise _unauthorized("unknown, revoked or expired token")
    allowed = RULES.get(key)
    if allowed is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"no access rule for {key[0]} {key[1]}")
    if actor.role not in allowed:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {actor.role!r} may not {key[0]} {key[1]}"
        )
    return actor


def _actor(actor: Annotated[Actor | None, Depends(authorize)]) -> Actor:
    assert actor is not None, "protected routes always have an actor"
    return actor


ActorDep = Annotated[Actor, Depends(_actor)]
