"""The inventory the NOC keeps: venues, devices and lines, the import of all three, freezing a
device, accepting a router's new SSH host key, and asking for a pass now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, RowId, SchedulerDep, SettingsDep, StoreDep, reconcile_soon
from api.errors import CONFLICT
from api.schemas import DevicePublic, LinePublic, VenuePublic
from controller import passes
from controller.access import Actor
from controller.errors import Conflict, NotFound
from controller.host_keys import accept_host_key, offered_key
from controller.inventory import InventoryDocument, import_document
from controller.licences import licence_standings
from controller.models import Device
from controller.store import Store
from drivers.host_keys import FINGERPRINT

router = APIRouter(prefix="/api/v1", tags=["inventory"])


@router.get("/venues", response_model=list[VenuePublic])
def list_venues(actor: ActorDep, store: StoreDep) -> list[VenuePublic]:
    venues = store.venues()
    if actor.is_bureau:
        venues = [v for v in venues if v.region in actor.regions]
    standing = {s.venue_id: s for s in licence_standings(store)}
    return [
        VenuePublic.model_validate(
            v.model_dump()
            | {
                "licensed": standing[v.id].licensed if v.id in standing else None,
                "unlicensed_why": standing[v.id].why if v.id in standing else None,
            }
        )
        for v in venues
    ]


@router.get("/devices", response_model=list[DevicePublic])
def list_devices(store: StoreDep) -> list[DevicePublic]:
    return [DevicePublic.of(d) for d in store.devices()]


@router.get("/lines", response_model=list[LinePublic])
def list_lines(store: StoreDep) -> list[LinePublic]:
    statuses = store.line_statuses()
    return [LinePublic.of(line, statuses.get(line.id or 0)) for line in store.lines()]


@router.post("/inventory")
def import_inventory(
    actor: ActorDep,
    store: StoreDep,
    document: Annotated[InventoryDocument, Body(description="as the YAML file")],
    trust_new_host_keys: Annotated[
        bool,
        Query(
            description="let this file's SSH devices whose host key is neither given nor "
            "pinned learn it once, at their next session (trust on first use)"
        ),
    ] = False,
) -> dict[str, Any]:
    """Import devices, venues and lines, all or nothing (same checks as the CLI)."""
    rows = document.model_dump(exclude_unset=True)
    report = import_document(store, rows, "POST /api/v1/inventory", actor.name, trust_new_host_keys)
    return {"created": report.created, "updated": report.updated}


def set_frozen(store: Store, device_id: int, frozen: bool, actor: Actor) -> DevicePublic:
    return DevicePublic.of(passes.set_frozen(store, device_id, frozen, actor.name))


@router.post("/devices/{device_id}/freeze", response_model=DevicePublic)
def freeze(device_id: RowId, actor: ActorDep, store: StoreDep) -> DevicePublic:
    """Passes leave a frozen device untouched (maintenance, investigation)."""
    return set_frozen(store, device_id, True, actor)


@router.post("/devices/{device_id}/unfreeze", response_model=DevicePublic)
def unfreeze(
    device_id: RowId, actor: ActorDep, store: StoreDep, scheduler: SchedulerDep
) -> DevicePublic:
    device = set_frozen(store, device_id, False, actor)
    reconcile_soon(scheduler)
    return device


# -- SSH host keys: after a router's key changed, its sessions are refused until the NOC accepts
# the key it offers now, naming the fingerprint it checked


class HostKeyAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fingerprint: str = Field(
        pattern=f"^{FINGERPRINT.pattern}$",
        description="the fingerprint of the key to accept, `SHA256:…` as `ssh-keygen -l` "
        "prints it (checked on the router's console, say)",
    )


class HostKeyAccepted(BaseModel):
    device_id: int
    device: str
    fingerprint: str  # the key pinned now
    previous_fingerprint: str | None  # the key pinned before (None: none was)
    changed: bool  # False: that key was pinned already, nothing was written


@router.post(
    "/devices/{device_id}/host-key",
    response_model=HostKeyAccepted,
    responses={
        404: {"description": "no such device"},
        409: {
            "description": "nothing accepted: the router offers a key with another "
            "fingerprint, has no SSH host key, or cannot be reached now"
        },
    },
)
def accept_key(
    device_id: RowId,
    body: HostKeyAccept,
    actor: ActorDep,
    store: StoreDep,
    settings: SettingsDep,
) -> HostKeyAccepted:
    """Pin the SSH host key the router offers now, if it has the fingerprint given; recorded
    as `host_key_accepted` with the old and new fingerprints. Only the key exchange is made:
    no log-in, no secret is sent."""
    with store.session() as session:
        device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    offered = offered_key(store, device, settings.device_timeout)
    changed = accept_host_key(store, offered, actor.name, expected=body.fingerprint)
    return HostKeyAccepted(
        device_id=device_id,
        device=device.name,
        fingerprint=offered.fingerprint,
        previous_fingerprint=offered.pinned_fingerprint,
        changed=changed,
    )


# -- passes ----------------------------------------------------------------------------------


@router.post("/reconcile", status_code=202, responses=CONFLICT)
def request_pass(actor: ActorDep, scheduler: SchedulerDep) -> dict[str, str]:
    """Retry now: ask the scheduler for a pass (failed lines are retried from scratch)."""
    if scheduler is None:
        raise Conflict("this server runs no scheduler (started with --no-scheduler)")
    scheduler.request_pass()
    return {"status": f"pass requested by {actor.name}"}
