"""The HTTP face of the product: a FastAPI app built by a factory (no state at import).

OpenAPI at /docs, liveness at /healthz, everything else under /api/v1 behind a bearer token.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.schemas import ChangePublic, DevicePublic, LinePublic, OrderPublic, VenuePublic
from controller.audit import checkpoint_document
from controller.orders import Conflict, OrderCreate, OrderRevoke, issue_order, revoke_order
from controller.scheduler import PassScheduler
from controller.settings import Settings
from controller.store import ChangeFilter, NotFound, Store

_bearer = HTTPBearer(auto_error=False, description="CURFEW_ADMIN_TOKEN")


def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's identity; 401 unless the bearer token is the configured admin token."""
    settings: Settings = request.app.state.settings
    expected = settings.admin_token.get_secret_value() if settings.admin_token else None
    if credentials is None or expected is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required" if expected else "no admin token is configured",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid token", headers={"WWW-Authenticate": "Bearer"}
        )
    return "admin"


StoreDep = Annotated[Store, Depends(get_store)]
ActorDep = Annotated[str, Depends(current_actor)]


def _field_error(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", field), "msg": message, "type": "value_error", "input": None}]
    )


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    scheduler: PassScheduler | None = None,
) -> FastAPI:
    settings = settings or Settings()
    store = store or Store.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()

    app = FastAPI(
        title="curfew",
        version="0.1.0",
        description="Orders that cut venues' lines, and the record of every change made for them.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.store, app.state.scheduler = settings, store, scheduler

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def public(order_list: list, venues: dict) -> list[OrderPublic]:  # type: ignore[type-arg]
        return [OrderPublic.of(o, venues[o.venue_id]) for o in order_list]

    @app.post("/api/v1/orders", status_code=201, response_model=OrderPublic, tags=["orders"])
    def create_order(body: OrderCreate, store: StoreDep, actor: ActorDep) -> OrderPublic:
        try:
            order = issue_order(store, body, actor)
        except NotFound as exc:
            field = "authority" if "authorit" in str(exc) else "venue"
            raise _field_error(field, str(exc)) from None
        except Conflict as exc:
            raise HTTPException(
                409, {"message": str(exc), "existing_id": exc.existing_id}
            ) from None
        if scheduler is not None:
            scheduler.request_pass()
        return OrderPublic.of(order, store.find_venue(order.venue_id))

    @app.get("/api/v1/orders", response_model=list[OrderPublic], tags=["orders"])
    def list_orders(
        store: StoreDep,
        _actor: ActorDep,
        venue: Annotated[str | None, Query(description="venue name or id")] = None,
        status_: Annotated[str | None, Query(alias="status", pattern="^(issued|revoked)$")] = None,
    ) -> list[OrderPublic]:
        venue_id = store.find_venue(venue).id if venue is not None else None
        venues = {v.id: v for v in store.venues()}
        return public(store.orders(venue_id=venue_id, status=status_), venues)

    @app.get("/api/v1/orders/{order_id}", response_model=OrderPublic, tags=["orders"])
    def get_order(order_id: int, store: StoreDep, _actor: ActorDep) -> OrderPublic:
        order = store.order(order_id)
        return OrderPublic.of(order, store.find_venue(order.venue_id))

    @app.post("/api/v1/orders/{order_id}/revoke", response_model=OrderPublic, tags=["orders"])
    def revoke(order_id: int, body: OrderRevoke, store: StoreDep, actor: ActorDep) -> OrderPublic:
        order = revoke_order(store, order_id, body.reason, actor)
        if scheduler is not None:
            scheduler.request_pass()  # the line is restored now, not at 08:00
        return OrderPublic.of(order, store.find_venue(order.venue_id))

    @app.get("/api/v1/venues", response_model=list[VenuePublic], tags=["inventory"])
    def list_venues(store: StoreDep, _actor: ActorDep) -> list[VenuePublic]:
        return [VenuePublic.model_validate(v.model_dump()) for v in store.venues()]

    @app.get("/api/v1/devices", response_model=list[DevicePublic], tags=["inventory"])
    def list_devices(store: StoreDep, _actor: ActorDep) -> list[DevicePublic]:
        return [DevicePublic.of(d) for d in store.devices()]

    @app.get("/api/v1/lines", response_model=list[LinePublic], tags=["inventory"])
    def list_lines(store: StoreDep, _actor: ActorDep) -> list[LinePublic]:
        statuses = store.line_statuses()
        return [LinePublic.of(line, statuses.get(line.id or 0)) for line in store.lines()]

    @app.get("/api/v1/audit/checkpoints", tags=["audit"])
    def list_checkpoints(store: StoreDep, _actor: ActorDep) -> list[dict[str, object]]:
        """Signed checkpoints of the change log (verify them with the signer's public key)."""
        return [checkpoint_document(c) for c in store.checkpoints()]

    @app.get("/api/v1/changes", response_model=list[ChangePublic], tags=["changes"])
    def list_changes(
        store: StoreDep,
        _actor: ActorDep,
        order: Annotated[int | None, Query(description="only changes citing this order")] = None,
        venue: Annotated[str | None, Query(description="venue name or id")] = None,
        since: Annotated[
            datetime | None, Query(description="from this instant (with zone)")
        ] = None,
        until: Annotated[datetime | None, Query(description="before this instant")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> list[ChangePublic]:
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise RequestValidationError(
                    [{"loc": ("query", name), "msg": "give a UTC offset", "type": "value_error"}]
                )
        venue_id = store.find_venue(venue).id if venue is not None else None
        where = ChangeFilter(
            order_id=order, venue_id=venue_id, since=since, until=until, limit=limit
        )
        return [ChangePublic.of(c) for c in store.changes(where)]

    return app
