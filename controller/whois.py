"""Who serves this café? For an address seen at a black café at an instant: the carrier, and for
those who may see the network (NOC, auditor, admin) the router port or the subscriber session
that held the address then, the venue its line is registered to, its licence and the orders in
force on it. A bureau sees the carrier, whether the address is a registered line of a licensed
venue, and which venue only within its jurisdiction: never a network identifier.

Static addresses are found in the inventory's prefixes (the inventory as it is now: it keeps
no history), dynamic ones in FreeRADIUS's accounting at that instant (`controller.accounting`).
Every lookup is an investigation act and is recorded in the change log (action `whois`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import col, select

from controller.access import Actor
from controller.accounting import (
    AccountingSession,
    accounting_engine,
    reading,
    sessions_at,
)
from controller.clock import as_utc, check_range, parse_instant
from controller.credentials import CredentialMissing
from controller.errors import Invalid, Unavailable
from controller.inventory import RADIUS_DB, RADIUS_NAS
from controller.licences import verdict
from controller.models import Authority, Device, Licence, Line, Order, OrderEvent, Venue
from controller.store import GAP_ACTIONS, Store
from controller.terms import order_term
from policies import zone

# an instant this far past the store's clock is still "now" (the asker's clock may run ahead)
FUTURE_TOLERANCE = timedelta(minutes=1)
NETWORK_ROLES = ("noc", "auditor", "admin")  # the roles that see lines, devices and sessions


# -- the answer ---------------------------------------------------------------------------


class SubscriberSession(BaseModel):
    """The accounting session that held the address (radacct)."""

    username: str
    session_id: str = Field(description="Acct-Session-Id")
    unique_id: str = Field(description="acctuniqueid (FreeRADIUS)")
    nas: str | None = Field(description="the NAS device; None if no radius_nas device has its IP")
    nas_ip: str = Field(description="NAS-IP-Address")
    framed_ip: str
    started: datetime | None
    updated: datetime | None = Field(description="the last interim update")
    stopped: datetime | None = Field(description="None: no Stop recorded (still active)")


class OrderInForce(BaseModel):
    order_id: int
    kind: str
    authority: str
    policy: str
    effective_from: datetime
    effective_until: datetime | None
    cutting: bool = Field(description="its window contains the instant: the line was to be cut")


class Holder(BaseModel):
    """What held the address, as those who may see the network see it."""

    view: Literal["network"] = "network"
    via: Literal["prefix", "accounting"]
    carrier: str
    device: str | None = Field(description="the router holding the prefix, or the NAS")
    line: str | None = Field(description="None: no line of the inventory (unknown subscriber)")
    line_id: int | None
    interface: str | None
    prefix: str | None
    session: SubscriberSession | None
    venue: str | None
    venue_id: int | None
    region: str | None
    licensed: bool | None = Field(description="None: no venue to judge")
    licence: str | None = Field(description="the licence standing, in words")
    orders: list[OrderInForce] = Field(description="the venue's orders in force at the instant")


class BureauHolder(BaseModel):
    """What held the address, as a bureau may see it: no network identifier."""

    view: Literal["bureau"] = "bureau"
    carrier: str
    registered: bool = Field(description="the address is a line registered to a venue")
    licensed: bool | None = Field(description="that venue's licence is valid (None: no venue)")
    in_jurisdiction: bool
    venue: str | None = Field(description="the venue, only within the bureau's jurisdiction")


class WhoisAnswer(BaseModel):
    ip: str
    at: datetime
    view: Literal["network", "bureau"]
    holders: list[Annotated[Holder | BureauHolder, Field(discriminator="view")]]
    complete: bool = Field(description="every source was read (False: see notes)")
    notes: list[str]
    record: int = Field(description="the change-log record of this lookup")


# -- what was asked ---------------------------------------------------------------------------


def parse_ip(ip: object) -> IPv4Address | IPv6Address:
    """An address to look up; Invalid (field `ip`) if it is none. An IPv4-mapped IPv6 address
    is its IPv4 address, as accounting records it."""
    if isinstance(ip, IPv4Address | IPv6Address):
        address = ip
    else:
        text = ip if isinstance(ip, str) else ""
        if not text or len(text) > 45 or "%" in text or not text.isascii():
            raise Invalid(f"{_shown(ip)} is not an IP address", field="ip")
        try:
            address = ip_address(text)
        except ValueError:
            raise Invalid(f"{_shown(ip)} is not an IP address", field="ip") from None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_at(at: datetime | str | None, now: datetime) -> datetime:
    """The instant asked about (default now), aware, in range and not in the future; Invalid
    (field `at`) otherwise."""
    if at is None:
        return now
    try:
        instant = parse_instant(at) if isinstance(at, str) else as_utc(check_range(at))
    except ValueError as exc:
        raise Invalid(f"at: {exc}", field="at") from None
    if instant > now + FUTURE_TOLERANCE:
        raise Invalid(
            f"at: {instant.isoformat()} is in the future: no record can say who will hold an "
            "address",
            field="at",
        )
    return instant


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 50 else text[:49] + "…"


# -- the lookup -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """One thing that held the address, before it is shown to anyone."""

    via: Literal["prefix", "accounting"]
    carrier: str
    device: Device | None
    line: Line | None
    prefix: str | None = None
    session: AccountingSession | None = None


@dataclass(frozen=True)
class _Venues:
    """The venues the holders' lines are registered to, with what is said of them: read only
    for those (a city's inventory is not read whole for one address)."""

    venues: dict[int, Venue]
    authorities: dict[int, str]
    register: list[Licence]


def _by_prefix(
    store: Store, devices: dict[int, Device], ip: IPv4Address | IPv6Address
) -> list[_Found]:
    """The port lines whose prefixes hold `ip`, the most specific prefix first."""
    with store.session() as s:
        prefixes = s.exec(select(Line.id, Line.prefixes_json).where(Line.kind == "port")).all()
        hits: list[tuple[int, str, int]] = []  # (prefix length, prefix, line id)
        for line_id, encoded in prefixes:
            for text in json.loads(encoded):
                prefix = ip_network(text)
                if prefix.version == ip.version and ip in prefix:
                    hits.append((prefix.prefixlen, str(prefix), line_id))
        if not hits:
            return []
        lines = {
            ln.id: ln for ln in s.exec(select(Line).where(col(Line.id).in_([h[2] for h in hits])))
        }
    found = []
    for _, prefix, line_id in sorted(hits, key=lambda hit: (-hit[0], hit[1])):
        line = lines[line_id]
        device = devices[line.device_id]
        found.append(_Found("prefix", device.carrier, device, line, prefix))
    return found


def _by_accounting(
    store: Store, devices: dict[int, Device], ip: IPv4Address | IPv6Address, at: datetime
) -> tuple[list[_Found], list[str]]:
    """The subscriber sessions that held `ip` at `at`, read from each RADIUS database the NAS
    devices name (once per database), each with the subscriber line of its username; and what
    could not be read, naming the NAS devices concerned."""
    nas_by_db: dict[tuple[str, str, str], list[Device]] = defaultdict(list)
    problems: list[str] = []
    for device in devices.values():
        if device.platform != RADIUS_NAS:
            continue
        url = device.options.get(RADIUS_DB)
        if not url:
            problems.append(f"NAS {device.name} names no radius_db: its accounting is unknown")
            continue
        try:
            password = store.vault.resolve(device, "secret")
        except CredentialMissing as exc:
            problems.append(f"NAS {exc}")  # the error starts with the device's name
            continue
        nas_by_db[(url, password, device.username)].append(device)
    held: list[tuple[AccountingSession, Device | None, str]] = []  # with its NAS and carrier
    by_database = sorted(nas_by_db.items(), key=lambda item: (item[0][0], item[0][2]))
    for (url, password, user), nas_devices in by_database:
        names = ", ".join(sorted(d.name for d in nas_devices))
        try:
            engine = accounting_engine(url, password, user)
        except ValueError as exc:
            problems.append(f"NAS {names}: radius_db: {exc}")
            continue
        try:
            with reading(engine, f"NAS {names}") as connection:
                sessions = sessions_at(connection, ip, at)
        except Unavailable as exc:
            problems.append(str(exc))
            continue
        finally:
            engine.dispose()
        by_host = {d.host: d for d in nas_devices}
        carriers = " / ".join(sorted({d.carrier for d in nas_devices}))
        for session in sessions:
            nas = by_host.get(session.nas_ip)
            held.append((session, nas, nas.carrier if nas is not None else carriers))
    subscribers: dict[str, list[Line]] = defaultdict(list)
    if held:
        with store.session() as s:
            for line in s.exec(
                select(Line)
                .where(Line.kind == "subscriber")
                .where(col(Line.username).in_(sorted({session.username for session, _, _ in held})))
                .order_by(col(Line.name))
            ):
                subscribers[line.username or ""].append(line)
    found: list[_Found] = []
    for session, nas, carrier in held:
        lines = subscribers.get(session.username, [])
        named = [ln for ln in lines if nas is not None and nas.name in ln.nas]
        for line in named or lines or [None]:
            found.append(_Found("accounting", carrier, nas, line, session=session))
    return found, problems


def _venues(store: Store, venue_ids: Iterable[int]) -> _Venues:
    wanted = sorted(set(venue_ids))
    with store.session() as s:
        venues = {v.id: v for v in s.exec(select(Venue).where(col(Venue.id).in_(wanted)))}
        authorities = {a.id: a.name for a in s.exec(select(Authority))}
        names = [v.name for v in venues.values()]
        numbers = [v.licence for v in venues.values() if v.licence]
        register = list(
            s.exec(
                select(Licence).where(
                    sa.or_(col(Licence.venue_name).in_(names), col(Licence.number).in_(numbers))
                )
            )
        )
    return _Venues(
        {i: v for i, v in venues.items() if i is not None},
        {i: name for i, name in authorities.items() if i is not None},
        register,
    )


def _orders_in_force(store: Store, known: _Venues, at: datetime) -> dict[int, list[OrderInForce]]:
    """Each venue's orders in force at `at` (term, revocation, amendment and suspensions), and
    whether the governing policy's window cuts then."""
    if not known.venues:
        return {}
    with store.session() as s:
        orders = list(
            s.exec(
                select(Order)
                .where(col(Order.venue_id).in_(list(known.venues)))
                .order_by(col(Order.id))
            )
        )
        events: dict[int, list[OrderEvent]] = defaultdict(list)
        for event in s.exec(
            select(OrderEvent).where(
                col(OrderEvent.order_id).in_([o.id for o in orders]),
                col(OrderEvent.action).in_(GAP_ACTIONS),
            )
        ):
            events[event.order_id].append(event)
    found: dict[int, list[OrderInForce]] = defaultdict(list)
    for order in orders:
        assert order.id is not None
        venue = known.venues[order.venue_id]
        policy = store.jurisdictions.policy(order.kind, venue.region)
        term = order_term(order, events.get(order.id), policy)
        if not term.in_force(at):
            continue
        found[order.venue_id].append(
            OrderInForce(
                order_id=order.id, kind=order.kind,
                authority=known.authorities.get(order.authority_id, str(order.authority_id)),
                policy=policy.name, effective_from=order.effective_from,
                effective_until=term.effective_until,
                cutting=policy.contains(at, zone(venue.zone)),
            )
        )  # fmt: skip
    return found


def _standings(known: _Venues, at: datetime) -> dict[int, tuple[bool, str]]:
    """Each venue's standing in the licence register on the venue-local day of `at`: licensed
    or not, and why in words."""
    standings = {}
    for venue_id, venue in known.venues.items():
        why, _, detail = verdict(venue, known.register, at.astimezone(zone(venue.zone)).date())
        standings[venue_id] = (why is None, detail)
    return standings


def _network_holder(
    found: _Found,
    known: _Venues,
    standings: dict[int, tuple[bool, str]],
    orders: dict[int, list[OrderInForce]],
) -> Holder:
    line, session = found.line, found.session
    venue = known.venues[line.venue_id] if line is not None else None
    standing = standings.get(venue.id) if venue is not None and venue.id is not None else None
    return Holder(
        via=found.via,
        carrier=found.carrier,
        device=found.device.name if found.device is not None else None,
        line=line.name if line is not None else None,
        line_id=line.id if line is not None else None,
        interface=(line.interface or None) if line is not None else None,
        prefix=found.prefix,
        session=None
        if session is None
        else SubscriberSession(
            username=session.username,
            session_id=session.session_id,
            unique_id=session.unique_id,
            nas=found.device.name if found.device is not None else None,
            nas_ip=session.nas_ip,
            framed_ip=session.framed_ip,
            started=session.started,
            updated=session.updated,
            stopped=session.stopped,
        ),  # fmt: skip
        venue=venue.name if venue is not None else None,
        venue_id=venue.id if venue is not None else None,
        region=venue.region if venue is not None else None,
        licensed=standing[0] if standing is not None else None,
        licence=standing[1] if standing is not None else None,
        orders=orders.get(venue.id, []) if venue is not None and venue.id is not None else [],
    )


def _bureau_holder(
    found: _Found, known: _Venues, standings: dict[int, tuple[bool, str]], principal: Actor
) -> BureauHolder:
    venue = known.venues[found.line.venue_id] if found.line is not None else None
    standing = standings.get(venue.id) if venue is not None and venue.id is not None else None
    mine = venue is not None and venue.region is not None and venue.region in principal.regions
    return BureauHolder(
        carrier=found.carrier,
        registered=venue is not None,
        licensed=standing[0] if standing is not None else None,
        in_jurisdiction=mine,
        venue=venue.name if venue is not None and mine else None,
    )


def _bureau_notes(problems: Sequence[str]) -> list[str]:
    if not problems:
        return []
    return [
        "some of the carriers' accounting could not be read: a subscriber who held the "
        "address may be missing from this answer"
    ]


def _summary(answer: WhoisAnswer, principal: Actor) -> str:
    """What the record keeps of the answer: who asked in what role, and what they were told
    (names and ids, never a secret or a database address)."""
    told: list[dict[str, object]] = []
    for holder in answer.holders:
        if isinstance(holder, Holder):
            entry: dict[str, object] = {
                "via": holder.via, "carrier": holder.carrier, "device": holder.device,
                "line": holder.line, "venue": holder.venue, "licensed": holder.licensed,
                "orders": [o.order_id for o in holder.orders],
            }  # fmt: skip
            if holder.prefix is not None:
                entry["prefix"] = holder.prefix
            if holder.session is not None:
                entry["username"] = holder.session.username
                entry["acct_session_id"] = holder.session.session_id
        else:
            entry = holder.model_dump(exclude={"view"})
        told.append(entry)
    body = {
        "ip": answer.ip, "at": answer.at.isoformat(), "role": principal.role,
        "authority_id": principal.authority_id, "view": answer.view,
        "complete": answer.complete, "answered": told,
    }  # fmt: skip
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def whois(store: Store, ip: object, at: datetime | str | None, principal: Actor) -> WhoisAnswer:
    """Who held `ip` at `at` (default: now), as `principal` may see it; the lookup is recorded
    in the change log. Invalid (422, nothing recorded) for an address or instant that is none,
    or an instant in the future."""
    address = parse_ip(ip)
    instant = parse_at(at, store.clock.now())
    with store.session() as s:
        devices = {d.id: d for d in s.exec(select(Device)) if d.id is not None}
    found = _by_prefix(store, devices, address)
    sessions, problems = _by_accounting(store, devices, address, instant)
    found += sessions
    venue_ids = [f.line.venue_id for f in found if f.line is not None]
    known = _venues(store, venue_ids)
    standings = _standings(known, instant)
    network = principal.role in NETWORK_ROLES
    holders: list[Holder | BureauHolder]
    if network:
        orders = _orders_in_force(store, known, instant)
        holders = [_network_holder(f, known, standings, orders) for f in found]
        notes = list(problems)
    else:
        holders = [_bureau_holder(f, known, standings, principal) for f in found]
        notes = _bureau_notes(problems)
    if not found:
        # with some accounting unread, nobody found is not nobody: say what was read
        notes.insert(
            0,
            f"no line of the inventory and no accounting session held {address} then"
            if not problems
            else f"no line of the inventory held {address}, and no session in the accounting "
            "that could be read held it then",
        )
    answer = WhoisAnswer(
        ip=str(address), at=instant, view="network" if network else "bureau", holders=holders,
        complete=not problems, notes=notes, record=0,
    )  # fmt: skip
    lines = {f.line.id for f in found if f.line is not None}
    device_ids = {f.device.id for f in found if f.device is not None}
    record = store.log_admin(
        "whois",
        principal.name,
        line_id=next(iter(lines)) if len(lines) == 1 else None,
        venue_id=venue_ids[0] if len(set(venue_ids)) == 1 else None,
        device_id=next(iter(device_ids)) if len(device_ids) == 1 else None,
        detail=_summary(answer, principal),
    )
    return answer.model_copy(update={"record": record.seq})


__all__ = [
    "BureauHolder",
    "Holder",
    "OrderInForce",
    "SubscriberSession",
    "WhoisAnswer",
    "parse_at",
    "parse_ip",
    "whois",
]
