"""Orders: bureaus issue, amend, suspend, resume and revoke them; everyone reads them (a bureau
only its own), with their history and the changes that executed them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ActorDep, RowId, SchedulerDep, StoreDep, reconcile_soon
from api.errors import CONFLICT
from api.schemas import ChangePublic, OrderCreated, OrderHistory, OrderPublic
from controller.access import Actor
from controller.models import Order
from controller.orders import (
    OrderAmend,
    OrderCreate,
    OrderTransition,
    amend_order,
    governing_notices,
    history,
    issue_order,
    resume_order,
    revoke_order,
    state_of,
    suspend_order,
)
from controller.scheduler import PassScheduler
from controller.store import ChangeFilter, Store

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


def public(store: Store, order: Order) -> OrderPublic:
    return OrderPublic.of(
        order, store.find_venue(order.venue_id), store, state_of(order, store.clock.now())
    )


def visible(store: Store, order_id: int, actor: Actor) -> Order:
    """The order, if the actor may see it (a bureau sees only its authority's)."""
    order = store.order(order_id)
    actor.check_order(order_id, order.authority_id)
    return order


@router.post("", status_code=201, response_model=OrderCreated, responses=CONFLICT)
def create_order(
    body: OrderCreate, actor: ActorDep, store: StoreDep, scheduler: SchedulerDep
) -> OrderCreated:
    order = issue_order(store, body, actor)
    reconcile_soon(scheduler)
    return OrderCreated(
        **public(store, order).model_dump(), notices=governing_notices(store, order)
    )


@router.get("", response_model=list[OrderPublic])
def list_orders(
    actor: ActorDep,
    store: StoreDep,
    venue: Annotated[str | None, Query(max_length=200, description="venue name or id")] = None,
    status: Annotated[
        str | None, Query(pattern="^(active|suspended|revoked|superseded)$")
    ] = None,
) -> list[OrderPublic]:
    venue_id = store.find_venue(venue).id if venue is not None else None
    orders = store.orders(venue_id=venue_id, status=status)
    if actor.is_bureau:
        orders = [o for o in orders if o.authority_id == actor.authority_id]
    return [public(store, o) for o in orders]


@router.get("/{order_id}", response_model=OrderPublic)
def get_order(order_id: RowId, actor: ActorDep, store: StoreDep) -> OrderPublic:
    return public(store, visible(store, order_id, actor))


@router.get("/{order_id}/history", response_model=OrderHistory)
def order_history(order_id: RowId, actor: ActorDep, store: StoreDep) -> OrderHistory:
    visible(store, order_id, actor)
    versions, events = history(store, order_id)
    return OrderHistory.of([public(store, v) for v in versions], events)


@router.get("/{order_id}/changes", response_model=list[ChangePublic])
def order_changes(order_id: RowId, actor: ActorDep, store: StoreDep) -> list[ChangePublic]:
    """The order's execution: every change that cites it."""
    visible(store, order_id, actor)
    return [ChangePublic.of(c) for c in store.changes(ChangeFilter(order_id=order_id))]


@router.post("/{order_id}/amend", response_model=OrderPublic, responses=CONFLICT)
def amend(
    order_id: RowId, body: OrderAmend, actor: ActorDep, store: StoreDep, scheduler: SchedulerDep
) -> OrderPublic:
    order = amend_order(store, order_id, body, actor)
    reconcile_soon(scheduler)
    return public(store, order)


Transition = Callable[[Store, int, str, Actor], Order]


def transition(
    action: Transition,
    order_id: int,
    body: OrderTransition,
    actor: Actor,
    store: Store,
    scheduler: PassScheduler | None,
) -> OrderPublic:
    order = action(store, order_id, body.reason, actor)
    reconcile_soon(scheduler)  # revocations and suspensions restore now, not at 08:00
    return public(store, order)


@router.post("/{order_id}/suspend", response_model=OrderPublic, responses=CONFLICT)
def suspend(
    order_id: RowId,
    body: OrderTransition,
    actor: ActorDep,
    store: StoreDep,
    scheduler: SchedulerDep,
) -> OrderPublic:
    """Suspend: the line is restored at the next pass (requested at once)."""
    return transition(suspend_order, order_id, body, actor, store, scheduler)


@router.post("/{order_id}/resume", response_model=OrderPublic, responses=CONFLICT)
def resume(
    order_id: RowId,
    body: OrderTransition,
    actor: ActorDep,
    store: StoreDep,
    scheduler: SchedulerDep,
) -> OrderPublic:
    return transition(resume_order, order_id, body, actor, store, scheduler)


@router.post("/{order_id}/revoke", response_model=OrderPublic, responses=CONFLICT)
def revoke(
    order_id: RowId,
    body: OrderTransition,
    actor: ActorDep,
    store: StoreDep,
    scheduler: SchedulerDep,
) -> OrderPublic:
    """Revoke: the line is restored at the next pass (requested at once), not at 08:00.
    An order already revoked, or superseded by an amendment, is a 409."""
    return transition(revoke_order, order_id, body, actor, store, scheduler)
