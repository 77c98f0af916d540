"""Liveness (/healthz: the process answers; no store, no token) and readiness (/readyz: the
database answers, the scheduler runs and passed recently, checkpoints are signed; no token)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import MonitorDep, StoreDep
from controller.health import readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Ready(BaseModel):
    """Ready, or the reasons it is not; `notes` say what is off by choice (no scheduler in this
    process, checkpoints turned off, a pass in progress)."""

    ready: bool
    reasons: list[str] = []
    notes: list[str] = []


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "not ready: the reasons why"}},
)
def readyz(store: StoreDep, monitor: MonitorDep) -> JSONResponse:
    """200 when this process can do its job, 503 with the reasons when it cannot: the database
    does not answer, the scheduler is not running, its last pass is older than three ticks, or
    checkpoints are not signed (no key and not `--no-checkpoints`, or a key that cannot be
    read). Started with `--no-scheduler`, it is ready and says so in `notes`."""
    found = readiness(
        store, monitor.scheduler, monitor.settings.signing_key_file, monitor.checkpoints_disabled
    )
    body = Ready(ready=found.ready, reasons=list(found.reasons), notes=list(found.notes))
    return JSONResponse(body.model_dump(), status_code=200 if found.ready else 503)
