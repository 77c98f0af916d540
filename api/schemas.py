"""What the API and the CLI show of the product's records (credentials never leave the store)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from controller.models import Change, Device, Line, LineStatus, Order, OrderEvent, Venue
from controller.store import Store
from controller.tokens import TokenListing
from drivers.host_keys import fingerprint


class OrderPublic(BaseModel):
    id: int
    version: int
    supersedes_id: int | None
    authority_id: int
    venue_id: int
    venue: str
    kind: str
    state: str  # issued | in_force | suspended | expired | revoked | superseded
    policy: str
    window: str
    reason: str
    legal_basis: str
    legal_basis_date: date | None
    effective_from: datetime
    effective_until: datetime | None
    issued_by: str
    issued_at: datetime
    status: str
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    external_id: str | None

    @classmethod
    def of(cls, order: Order, venue: Venue, store: Store, state: str) -> OrderPublic:
        assert order.id is not None
        policy = store.jurisdictions.policy(order.kind, venue.region)
        window = "around the clock" if policy.window is None else f"{policy.window} venue-local"
        return cls(
            **order.model_dump(exclude={"id", "ended_at"}),
            id=order.id,
            venue=venue.name,
            state=state,
            policy=policy.name,
            window=window,
        )


class OrderCreated(OrderPublic):
    notices: list[str] = []


class OrderEventPublic(BaseModel):
    order_id: int
    at: datetime
    action: str
    actor: str
    reason: str


class OrderHistory(BaseModel):
    versions: list[OrderPublic]
    events: list[OrderEventPublic]

    @classmethod
    def of(cls, versions: list[OrderPublic], events: list[OrderEvent]) -> OrderHistory:
        return cls(
            versions=versions,
            events=[OrderEventPublic.model_validate(e.model_dump()) for e in events],
        )


class PublicVenueOrder(BaseModel):
    """The public list: no personal data, no network identifiers."""

    venue: str
    address: str | None
    kind: str
    legal_basis: str
    legal_basis_date: date | None
    effective_from: datetime
    effective_until: datetime | None

    @classmethod
    def of(cls, order: Order, venue: Venue) -> PublicVenueOrder:
        return cls(
            venue=venue.name,
            address=venue.address,
            kind=order.kind,
            legal_basis=order.legal_basis,
            legal_basis_date=order.legal_basis_date,
            effective_from=order.effective_from,
            effective_until=order.effective_until,
        )


class TokenPublic(BaseModel):
    id: int
    label: str
    role: str
    authority_id: int | None
    authority: str | None  # the bureau's name
    state: Literal["active", "expired", "revoked"]  # by the store's clock
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, listed: TokenListing) -> TokenPublic:
        fields = listed.token.model_dump(exclude={"token_hash"})
        return cls.model_validate(fields | {"state": listed.state, "authority": listed.authority})


class TokenCreated(TokenPublic):
    token: str


class VenuePublic(BaseModel):
    id: int
    name: str
    licence: str
    zone: str
    region: str | None
    address: str | None = None
    # the licence register's verdict today (venue-local): missing, expired, revoked, suspended
    licensed: bool | None = None
    unlicensed_why: str | None = None


class DevicePublic(BaseModel):
    """A device as the API shows it: never its secrets, their references or their ciphertext
    (only the fields named here leave the store)."""

    id: int
    name: str
    platform: str
    host: str
    port: int
    carrier: str
    frozen: bool
    host_key_fingerprint: str | None  # of the pinned SSH host key, `SHA256:…`
    host_key_learn_once: bool  # no key pinned, and the next session may learn it

    @classmethod
    def of(cls, device: Device) -> DevicePublic:
        return cls(
            id=device.id or 0, name=device.name, platform=device.platform, host=device.host,
            port=device.port, carrier=device.carrier, frozen=device.frozen,
            host_key_fingerprint=fingerprint(device.host_key) if device.host_key else None,
            host_key_learn_once=device.host_key is None and device.host_key_tofu_by is not None,
        )  # fmt: skip


class LinePublic(BaseModel):
    id: int
    name: str
    venue_id: int
    device_id: int
    interface: str
    prefixes: list[str]
    state: str
    checked_at: datetime | None
    # a subscriber line (RADIUS): its username and the NAS devices it may dial on (device_id
    # is the first of them); a port line has an interface and prefixes instead
    kind: Literal["port", "subscriber"] = "port"
    username: str | None = None
    nas: list[str] = []

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
            kind="subscriber" if line.kind == "subscriber" else "port",
            username=line.username,
            nas=list(line.nas),
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
    # what the device answered; null only if the stored output the record cites is missing
    # (`curfew audit verify` names it)
    device_output: str | None
    state_after: str | None
    verified: bool | None
    error: str | None
    detail: str
    prev_hash: str
    hash: str
    # the SHA-256 of the stored output the record cites, which its hash covers (records
    # written before outputs were stored once carry it inline and null here)
    device_output_sha256: str | None

    @classmethod
    def of(cls, change: Change) -> ChangePublic:
        fields = change.model_dump(exclude={"order_ids_json", "commands_json", "device_output"})
        return cls(
            **fields,
            order_ids=change.order_ids,
            commands=change.commands,
            device_output=change.output,
        )
