"""Issuing and revoking orders: the request schema, its checks, and the writes they lead to."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from controller.clock import as_utc
from controller.models import Order
from controller.store import NotFound, Store
from policies import policy_for

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Conflict(ValueError):
    def __init__(self, message: str, existing_id: int) -> None:
        super().__init__(message)
        self.existing_id = existing_id


def _one_line(value: str) -> str:
    if _CONTROL.search(value) or value != value.strip():
        raise ValueError("must be one line of printable text without leading/trailing spaces")
    return value


class OrderCreate(BaseModel):
    """What a bureau sends to order a cut."""

    model_config = ConfigDict(extra="forbid")

    venue: str | int = Field(description="venue name or id")
    kind: Literal["curfew", "disconnect"] = Field(
        description="curfew: cut 00:00-08:00 venue-local every night; disconnect: around the clock"
    )
    reason: str = Field(min_length=1, max_length=200, examples=["after_hours"])
    legal_basis: str = Field(min_length=1, max_length=200, examples=["临兰文执发〔2018〕3号"])
    effective_from: AwareDatetime
    effective_until: AwareDatetime | None = None
    authority: str | None = Field(default=None, description="issuing authority (its name)")
    issued_by: str | None = Field(default=None, max_length=100, description="issuing official")

    @field_validator("reason", "legal_basis", "issued_by")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _one_line(value)

    @field_validator("venue")
    @classmethod
    def _venue(cls, value: str | int) -> str | int:
        return _one_line(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _term(self) -> OrderCreate:
        if self.effective_until is not None and self.effective_until <= self.effective_from:
            raise ValueError("effective_until must be after effective_from")
        return self


class OrderRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200)

    @field_validator("reason")
    @classmethod
    def _text(cls, value: str) -> str:
        return _one_line(value)


def issue_order(store: Store, request: OrderCreate, actor: str) -> Order:
    """Validate against the store and record the order. Raises NotFound or Conflict."""
    venue = store.find_venue(request.venue)
    authority = store.find_authority(request.authority)
    policy_for(request.kind)
    for existing in store.orders(venue_id=venue.id, status="issued"):
        if (existing.kind, existing.legal_basis) == (request.kind, request.legal_basis):
            assert existing.id is not None
            raise Conflict(
                f"order {existing.id} already orders a {request.kind} of {venue.name!r} "
                f"on {request.legal_basis!r}",
                existing.id,
            )
    assert venue.id is not None and authority.id is not None
    order = Order(
        authority_id=authority.id,
        venue_id=venue.id,
        kind=request.kind,
        reason=request.reason,
        legal_basis=request.legal_basis,
        effective_from=as_utc(request.effective_from),
        effective_until=as_utc(request.effective_until) if request.effective_until else None,
        issued_by=request.issued_by or actor,
        issued_at=store.clock.now(),
    )
    return store.add_order(order, actor)


def revoke_order(store: Store, order_id: int, reason: str, actor: str) -> Order:
    return store.revoke_order(order_id, actor, reason)


def order_window(order: Order) -> str:
    policy = policy_for(order.kind)
    return "around the clock" if policy.window is None else f"{policy.window} venue-local"


__all__ = [
    "Conflict",
    "NotFound",
    "OrderCreate",
    "OrderRevoke",
    "issue_order",
    "order_window",
    "revoke_order",
]
