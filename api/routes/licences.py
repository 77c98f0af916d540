"""The NOC's list of venues without a valid licence in the bureau's register, with the lines
that serve each (device, interface, prefixes): who is connecting this black café?
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import StoreDep
from controller.licences import VenueLicence, unlicensed

router = APIRouter(prefix="/api/v1", tags=["inventory"])


# A fixed path under /venues: included before any /venues/{venue_id} route could shadow it.
@router.get("/venues/unlicensed", response_model=list[VenueLicence])
def unlicensed_venues(
    store: StoreDep,
    on: Annotated[
        date | None, Query(description="the day to judge (default: today, venue-local)")
    ] = None,
) -> list[VenueLicence]:
    """Venues whose licence is missing, expired, revoked or suspended, with their lines."""
    return unlicensed(store, on)
