"""What the API and the CLI show of the product's records (credentials never leave the store)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from controller.models import Change, Device, Line, LineStatus, Order, Venue
from controller.orders import order_window
from policies import policy_for


class OrderPublic(BaseModel):
    id: int
    authority_id: int
    venue_id: int
    venue: str
    kind: str
    policy: str
    window: str
    reason: str
    legal_basis: str
    effective_from: datetime
    effective_until: datetime | None
    issued_by: str
    issued_at: datetime
    status: str
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    @classmethod
    def of(cls, order: Order, venue: Venue) -> OrderPublic:
        assert order.id is not None
        return cls(
            **order.model_dump(exclude={"id"}),
            id=order.id,
            venue=venue.name,
            policy=policy_for(order.kind).name,
            window=order_window(order),
        )


class VenuePublic(BaseModel):
    id: int
    name: str
    licence: str
    zone: str
    region: str | None


class DevicePublic(BaseModel):
    id: int
    name: str
    platform: str
    host: str
    port: int
    frozen: bool

    @classmethod
    def of(cls, device: Device) -> DevicePublic:
        return cls.model_validate(device.model_dump())


class LinePublic(BaseModel):
    id: int
    name: str
    venue_id: int
    device_id: int
    interface: str
    prefixes: list[str]
    state: str
    checked_at: datetime | None

    @classmethod
    def of(cls, line: Line, status: LineStatus | None) -> LinePublic:
        assert line.id is not None
        return cls(
            id=line.id,
            name=line.name,
            venue_id=line.venue_id,
            device_id=line.device_id,
            interface=line.interface,
            prefixes=[str(p) for p in line.prefixes],
            state=status.state if status else "unknown",
            checked_at=status.checked_at if status else None,
        )


class ChangePublic(BaseModel):
    seq: int
    at: datetime
    pass_id: str | None
    kind: str
    action: str
    order_ids: list[int]
    line_id: int | None
    venue_id: int | None
    device_id: int | None
    intent_seq: int | None
    actor: str
    commands: list[str]
    device_output: str
    state_after: str | None
    verified: bool | None
    error: str | None
    detail: str
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, change: Change) -> ChangePublic:
        fields = change.model_dump(exclude={"order_ids_json", "commands_json"})
        return cls(**fields, order_ids=change.order_ids, commands=change.commands)
