"""The public list: which venues are under an order in force, for anyone (no token)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import StoreDep
from api.schemas import PublicVenueOrder
from controller.orders import state_of

router = APIRouter(prefix="/public", tags=["public"])


@router.get("/venues-under-order", response_model=list[PublicVenueOrder])
def venues_under_order(store: StoreDep) -> list[PublicVenueOrder]:
    """Venues whose lines are under an order in force: no personal data, no network ids."""
    now = store.clock.now()
    venues = {v.id: v for v in store.venues()}
    return [
        PublicVenueOrder.of(order, venues[order.venue_id])
        for order in store.orders()
        if state_of(order, now) == "in_force"
    ]
