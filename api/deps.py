"""What a route asks FastAPI for: the store, the settings, the scheduler, the monitor (metrics
and alerts) and the actor, as `Annotated` aliases, so a route names what it needs in its
signature and nothing is global.

The app factory (`api.app.create_app`) puts these objects on `app.state`; these read them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from api.auth import ActorDep
from api.metrics import Monitor
from controller.models import MAX_ROW_ID
from controller.scheduler import PassScheduler
from controller.settings import Settings
from controller.store import Store


def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_scheduler(request: Request) -> PassScheduler | None:
    """None when the server runs no scheduler (`curfew serve --no-scheduler`, tests)."""
    return request.app.state.scheduler  # type: ignore[no-any-return]


def get_monitor(request: Request) -> Monitor:
    """The app's metrics registry, pass hook and alerts (`api.metrics.Monitor`)."""
    return request.app.state.monitor  # type: ignore[no-any-return]


StoreDep = Annotated[Store, Depends(get_store)]
MonitorDep = Annotated[Monitor, Depends(get_monitor)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SchedulerDep = Annotated[PassScheduler | None, Depends(get_scheduler)]

# a row id: beyond 64 bits no row has it, and the database driver would overflow
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="row id")]


def reconcile_soon(scheduler: PassScheduler | None) -> None:
    """Ask for a pass now, if this server runs a scheduler: a revocation, a suspension, an
    approved hold or an unfrozen device acts at once, not at the next tick or at 08:00."""
    if scheduler is not None:
        scheduler.request_pass()


__all__ = [
    "ActorDep",
    "MonitorDep",
    "RowId",
    "SchedulerDep",
    "SettingsDep",
    "StoreDep",
    "get_monitor",
    "get_scheduler",
    "get_settings",
    "get_store",
    "reconcile_soon",
]
