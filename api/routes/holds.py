"""Held cuts over HTTP: the NOC sees the passes the blast-radius guard held and decides."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, SchedulerDep, StoreDep, reconcile_soon
from controller.holds import decide, holds
from controller.models import MAX_ROW_ID, CutHold
from controller.scheduler import PassScheduler
from controller.store import Store

router = APIRouter(prefix="/api/v1/holds", tags=["holds"])
HoldId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class HoldPublic(BaseModel):
    id: int
    created_at: datetime
    pass_at: datetime
    cuts: int
    previous: int
    reason: str
    status: str
    decided_at: datetime | None
    decided_by: str | None

    @classmethod
    def of(cls, hold: CutHold) -> HoldPublic:
        return cls.model_validate(hold.model_dump())


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")


@router.get("", response_model=list[HoldPublic])
def list_holds(
    store: StoreDep,
    status: Annotated[
        Literal["pending", "approved", "rejected"] | None, Query(description="only this state")
    ] = None,
) -> list[HoldPublic]:
    """Every hold, newest first: what the pass would have cut, against the night before."""
    return [HoldPublic.of(h) for h in holds(store, status)]


def _decide(
    store: Store,
    scheduler: PassScheduler | None,
    hold_id: int,
    approve: bool,
    body: Decision,
    actor: str,
) -> HoldPublic:
    hold = decide(store, hold_id, approve, actor, body.note)
    if approve:
        reconcile_soon(scheduler)  # the approved cuts go now, not at the next tick
    return HoldPublic.of(hold)


@router.post(
    "/{hold_id}/approve",
    response_model=HoldPublic,
    responses={404: {"description": "no such hold"}, 409: {"description": "already decided"}},
)
def approve_hold(
    hold_id: HoldId, store: StoreDep, scheduler: SchedulerDep, actor: ActorDep, body: Decision
) -> HoldPublic:
    """Let the held cuts go: passes of this night may push as many cuts as the hold counted."""
    return _decide(store, scheduler, hold_id, True, body, actor.name)


@router.post(
    "/{hold_id}/reject",
    response_model=HoldPublic,
    responses={404: {"description": "no such hold"}, 409: {"description": "already decided"}},
)
def reject_hold(
    hold_id: HoldId, store: StoreDep, scheduler: SchedulerDep, actor: ActorDep, body: Decision
) -> HoldPublic:
    """Keep the held cuts from the network tonight."""
    return _decide(store, scheduler, hold_id, False, body, actor.name)
