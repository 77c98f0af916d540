"""API tokens: random secrets shown once; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from controller.access import ROLES, Actor
from controller.errors import NOT_FOUND, Invalid
from controller.models import Authority, Token
from controller.store import NotFound, Store

PREFIX = "cfw_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    store: Store,
    role: str,
    created_by: str,
    authority: str | None = None,
    expires_at: datetime | None = None,
    label: str | None = None,
) -> tuple[Token, str]:
    """A new token for `role`; returns the row and the secret (shown once, never stored).
    Invalid names the argument at fault."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", "role")
    authority_row: Authority | None = None
    if role == "bureau":
        if authority is None:
            raise Invalid("a bureau token needs --authority (the bureau it acts for)", "authority")
        try:
            authority_row = store.find_authority(authority)
        except NotFound as exc:
            raise Invalid(str(exc), "authority", NOT_FOUND) from None
    elif authority is not None:
        raise Invalid("only bureau tokens are bound to an authority", "authority")
    if expires_at is not None and expires_at <= store.clock.now():
        raise Invalid("the expiry is in the past", "expires_at")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = Token(
        label=label or (f"{role}:{authority_row.name}" if authority_row else role),
        role=role,
        authority_id=authority_row.id if authority_row else None,
        token_hash=token_hash(secret),
        created_at=store.clock.now(),
        created_by=created_by,
        expires_at=expires_at,
    )
    with store.transaction() as tx:  # the token and its record: no token the log does not name
        tx.session.add(row)
        tx.session.flush()
        tx.log_admin(
            "token_created", created_by, detail=f"token {row.id} ({row.label}), role {role}"
        )
    return row, secret


def list_tokens(store: Store) -> list[Token]:
    with store.session() as s:
        return list(s.exec(select(Token).order_by(Token.id)))


def token_state(token: Token, now: datetime) -> str:
    """active | expired | revoked, at instant `now` (the store's clock: the one `actor_for`
    refuses an expired token by)."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


@dataclass(frozen=True)
class TokenListing:
    """A token as `token list` shows it: its state now and its authority's name."""

    token: Token
    state: str
    authority: str | None


def listing_of(store: Store, token: Token) -> TokenListing:
    authority = store.authority(token.authority_id).name if token.authority_id else None
    return TokenListing(token, token_state(token, store.clock.now()), authority)


def token_listing(store: Store) -> list[TokenListing]:
    now = store.clock.now()
    names = {a.id: a.name for a in store.authorities()}
    return [
        TokenListing(
            t, token_state(t, now), names.get(t.authority_id) if t.authority_id else None
        )
        for t in list_tokens(store)
    ]


def revoke_token(store: Store, token_id: int, revoked_by: str) -> Token:
    with store.transaction() as tx:
        row = tx.session.get(Token, token_id)
        if row is None:
            raise NotFound(f"no token {token_id}")
        if row.revoked_at is None:
            row.revoked_at = store.clock.now()
            tx.session.add(row)
        tx.log_admin("token_revoked", revoked_by, detail=f"token {token_id} ({row.label})")
    return row


def actor_for(store: Store, token: str) -> Actor | None:
    """The actor a presented token stands for; None if unknown, revoked or expired."""
    with store.session() as s:
        row = s.exec(select(Token).where(Token.token_hash == token_hash(token))).first()
        if row is None:
            return None
        if token_state(row, store.clock.now()) != "active":
            return None
        regions: tuple[str, ...] = ()
        if row.authority_id is not None:
            authority = s.get(Authority, row.authority_id)
            regions = tuple(authority.regions) if authority else ()
        return Actor(
            name=f"{row.label} (token {row.id})",
            role=row.role,
            authority_id=row.authority_id,
            regions=regions,
        )
