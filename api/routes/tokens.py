"""API tokens, for admins: create one (its secret shown once), list them with their state,
revoke one."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import ActorDep, RowId, StoreDep
from api.schemas import TokenCreated, TokenPublic
from controller.bounds import Instant, Name, one_line
from controller.tokens import create_token, listing_of, revoke_token, token_listing

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


class TokenCreate(BaseModel):
    role: str = Field(pattern="^(bureau|noc|auditor|admin)$")
    authority: Name | None = Field(default=None, description="the bureau (bureau tokens only)")
    expires_at: Instant | None = None
    label: str | None = one_line(100, default=None)


@router.post("", status_code=201, response_model=TokenCreated)
def new_token(body: TokenCreate, actor: ActorDep, store: StoreDep) -> TokenCreated:
    """Create a token; the secret is in this answer only."""
    row, secret = create_token(
        store, body.role, actor.name, body.authority, body.expires_at, body.label
    )
    return TokenCreated(**TokenPublic.of(listing_of(store, row)).model_dump(), token=secret)


@router.get("", response_model=list[TokenPublic])
def tokens(store: StoreDep) -> list[TokenPublic]:
    """Every token with its state by the store's clock (active, expired, revoked)."""
    return [TokenPublic.of(t) for t in token_listing(store)]


@router.post("/{token_id}/revoke", response_model=TokenPublic)
def token_revoke(token_id: RowId, actor: ActorDep, store: StoreDep) -> TokenPublic:
    return TokenPublic.of(listing_of(store, revoke_token(store, token_id, actor.name)))
