"""The HTTP face of the product: a FastAPI app built by a factory (no state at import).

OpenAPI at /docs, liveness at /healthz and readiness at /readyz, metrics at /metrics, the public
list at /public, everything else under /api/v1 behind bearer tokens and the role x endpoint
matrix in `api/auth.py`. The routes live in `api/routes/`, one module per resource; what they
need comes from `api/deps.py`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api.auth import authorize
from api.console import install as install_console
from api.docs import serve_docs
from api.errors import install as install_refusals
from api.metrics import Monitor
from api.routes import (
    audit,
    escalation,
    feeds,
    health,
    holds,
    inventory,
    licences,
    metrics,
    orders,
    public,
    tokens,
    whois,
)
from controller.alerts import alerts_from_settings
from controller.reconciler import PassReport
from controller.scheduler import PassScheduler
from controller.settings import Settings
from controller.store import Store

log = logging.getLogger("curfew.api")


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    scheduler: PassScheduler | None = None,
    checkpoints_disabled: bool = False,
) -> FastAPI:
    """The app over `store` (default: the one `settings` describe), starting and stopping
    `scheduler` (None: no passes run) with its lifespan. The scheduler's pass hook is given the
    app's monitor (metrics, and alerts when CURFEW_ALERT_WEBHOOK is set).
    `checkpoints_disabled`: signing was turned off on purpose (`serve --no-checkpoints`), which
    /readyz then accepts."""
    settings = settings or Settings()
    store = store or Store.from_settings(settings)
    alerting = alerts_from_settings(store, settings)
    alerts, sender = alerting if alerting is not None else (None, None)
    monitor = Monitor(store, settings, scheduler, alerts, checkpoints_disabled)
    if scheduler is not None:
        scheduler.on_pass = _then(scheduler.on_pass, monitor.on_pass)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if alerts is not None:
            try:
                alerts.rebuild()
            except Exception:
                log.exception("alerts: the devices' failed passes could not be read back")
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()
            if sender is not None:
                sender.close()

    app = FastAPI(
        title="curfew",
        version="0.1.0",
        description="Orders that cut venues' lines, and the record of every change made for them.",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],  # the one gate: every route passes it
        docs_url=None,  # served by `serve_docs`, from the app's own assets
        redoc_url=None,
    )
    app.state.settings, app.state.store, app.state.scheduler = settings, store, scheduler
    app.state.monitor = monitor
    # bounded bodies, 422s without the input, the domain's refusals (`controller.errors`) with
    # their statuses in one handler, and an OpenAPI schema that documents each
    install_refusals(
        app, settings.max_body_bytes, {"/api/v1/inventory": settings.max_inventory_bytes}
    )
    serve_docs(app)

    for routes in (health, metrics, public, orders, inventory, audit, tokens, licences,
                   escalation, feeds, holds, whois):  # fmt: skip
        app.include_router(routes.router)
    install_console(app)  # the web console under /console (its refusals as pages)
    return app


def _then(
    first: Callable[[PassReport], None] | None, second: Callable[[PassReport], None]
) -> Callable[[PassReport], None]:
    if first is None:
        return second

    def both(report: PassReport) -> None:
        first(report)
        second(report)

    return both
