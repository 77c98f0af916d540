"""Routers' SSH host keys over HTTP: the NOC accepts the key a router offers now, naming the
fingerprint it checked (after a router's key changed, its sessions are refused until then)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.app import StoreDep
from api.auth import ActorDep
from controller.host_keys import FingerprintMismatch, NoHostKey, accept_host_key, offered_key
from controller.models import MAX_ROW_ID, Device
from controller.store import NotFound
from drivers.base import DriverError
from drivers.host_keys import FINGERPRINT

router = APIRouter(prefix="/api/v1", tags=["inventory"])
DeviceId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="row id")]


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
    device_id: DeviceId,
    body: HostKeyAccept,
    actor: ActorDep,
    store: StoreDep,
    request: Request,
) -> HostKeyAccepted:
    """Pin the SSH host key the router offers now, if it has the fingerprint given; recorded
    as `host_key_accepted` with the old and new fingerprints. Only the key exchange is made:
    no log-in, no secret is sent."""
    with store.session() as session:
        device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    try:
        offered = offered_key(store, device, request.app.state.settings.device_timeout)
        changed = accept_host_key(store, offered, actor.name, expected=body.fingerprint)
    except (NoHostKey, FingerprintMismatch) as exc:
        raise HTTPException(409, str(exc)) from None
    except DriverError as exc:  # unreachable, or outside the management networks
        raise HTTPException(409, f"{type(exc).__name__}: {exc}") from None
    return HostKeyAccepted(
        device_id=device_id,
        device=device.name,
        fingerprint=offered.fingerprint,
        previous_fingerprint=offered.pinned_fingerprint,
        changed=changed,
    )
