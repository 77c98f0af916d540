"""The HTTP face of the product: a FastAPI app built by a factory (no state at import).

OpenAPI at /docs, liveness at /healthz, the public list at /public, everything else under
/api/v1 behind bearer tokens and the role x endpoint matrix in `api/auth.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import ActorDep, authorize
from api.docs import serve_docs
from api.errors import CONFLICT
from api.errors import install as bound_requests
from api.schemas import (
    ChangePublic,
    DevicePublic,
    LinePublic,
    OrderCreated,
    OrderHistory,
    OrderPublic,
    PublicVenueOrder,
    TokenCreated,
    TokenPublic,
    VenuePublic,
)
from controller.access import Actor, Forbidden
from controller.audit import checkpoint_document
from controller.bounds import INCONSISTENT, NOT_FOUND, Instant, Name, one_line
from controller.inventory import InventoryDocument, InventoryError, import_document
from controller.licences import licence_standings
from controller.models import MAX_ROW_ID, Device, Order
from controller.orders import (
    Conflict,
    InvalidTransition,
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
from controller.settings import Settings
from controller.store import ChangeFilter, NotFound, Store
from controller.tokens import create_token, listing_of, revoke_token, token_listing


def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


StoreDep = Annotated[Store, Depends(get_store)]
# a row id: beyond 64 bits no row has it, and the database driver would overflow
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="row id")]
current_actor = authorize  # for routers that declare the gate explicitly


def _field_error(field: str, message: str, kind: str = NOT_FOUND) -> RequestValidationError:
    """A field refused for what no schema can state: `kind` is NOT_FOUND or INCONSISTENT."""
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": kind}])


class TokenCreate(BaseModel):
    role: str = Field(pattern="^(bureau|noc|auditor|admin)$")
    authority: Name | None = Field(default=None, description="the bureau (bureau tokens only)")
    expires_at: Instant | None = None
    label: str | None = one_line(100, default=None)


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
        dependencies=[Depends(authorize)],
        docs_url=None,  # served by `serve_docs`, from the app's own assets
        redoc_url=None,
    )
    app.state.settings, app.state.store, app.state.scheduler = settings, store, scheduler
    bound_requests(
        app, settings.max_body_bytes, {"/api/v1/inventory": settings.max_inventory_bytes}
    )
    serve_docs(app)

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Forbidden)
    async def forbidden(_request: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(InvalidTransition)
    async def invalid_transition(_request: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    def reconcile_soon() -> None:
        if scheduler is not None:
            scheduler.request_pass()  # revocations and suspensions restore now, not at 08:00

    def public(order: Order) -> OrderPublic:
        return OrderPublic.of(
            order, store.find_venue(order.venue_id), store, state_of(order, store.clock.now())
        )

    def visible(order_id: int, actor: Actor) -> Order:
        order = store.order(order_id)
        actor.check_order(order_id, order.authority_id)
        return order

    # -- health and the public list ------------------------------------------------------

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/public/venues-under-order", response_model=list[PublicVenueOrder], tags=["public"])
    def venues_under_order() -> list[PublicVenueOrder]:
        """Venues whose lines are under an order in force: no personal data, no network ids."""
        now = store.clock.now()
        venues = {v.id: v for v in store.venues()}
        return [
            PublicVenueOrder.of(order, venues[order.venue_id])
            for order in store.orders()
            if state_of(order, now) == "in_force"
        ]

    # -- orders --------------------------------------------------------------------------

    @app.post(
        "/api/v1/orders", status_code=201, response_model=OrderCreated, tags=["orders"],
        responses=CONFLICT,
    )  # fmt: skip
    def create_order(body: OrderCreate, actor: ActorDep) -> OrderCreated:
        try:
            order = issue_order(store, body, actor)
        except NotFound as exc:
            raise _field_error(
                "authority" if "authorit" in str(exc) else "venue", str(exc)
            ) from None
        except Conflict as exc:
            raise HTTPException(
                409, {"message": str(exc), "existing_id": exc.existing_id}
            ) from None
        reconcile_soon()
        return OrderCreated(**public(order).model_dump(), notices=governing_notices(store, order))

    @app.get("/api/v1/orders", response_model=list[OrderPublic], tags=["orders"])
    def list_orders(
        actor: ActorDep,
        venue: Annotated[
            str | None, Query(max_length=200, description="venue name or id")
        ] = None,
        status: Annotated[
            str | None, Query(pattern="^(active|suspended|revoked|superseded)$")
        ] = None,
    ) -> list[OrderPublic]:
        venue_id = store.find_venue(venue).id if venue is not None else None
        orders = store.orders(venue_id=venue_id, status=status)
        if actor.is_bureau:
            orders = [o for o in orders if o.authority_id == actor.authority_id]
        return [public(o) for o in orders]

    @app.get("/api/v1/orders/{order_id}", response_model=OrderPublic, tags=["orders"])
    def get_order(order_id: RowId, actor: ActorDep) -> OrderPublic:
        return public(visible(order_id, actor))

    @app.get("/api/v1/orders/{order_id}/history", response_model=OrderHistory, tags=["orders"])
    def order_history(order_id: RowId, actor: ActorDep) -> OrderHistory:
        visible(order_id, actor)
        versions, events = history(store, order_id)
        return OrderHistory.of([public(v) for v in versions], events)

    @app.get(
        "/api/v1/orders/{order_id}/changes", response_model=list[ChangePublic], tags=["orders"]
    )
    def order_changes(order_id: RowId, actor: ActorDep) -> list[ChangePublic]:
        """The order's execution: every change that cites it."""
        visible(order_id, actor)
        return [ChangePublic.of(c) for c in store.changes(ChangeFilter(order_id=order_id))]

    @app.post(
        "/api/v1/orders/{order_id}/amend", response_model=OrderPublic, tags=["orders"],
        responses=CONFLICT,
    )  # fmt: skip
    def amend(order_id: RowId, body: OrderAmend, actor: ActorDep) -> OrderPublic:
        try:
            order = amend_order(store, order_id, body, actor)
        except (InvalidTransition, Forbidden, NotFound):
            raise
        except ValueError as exc:
            raise _field_error("effective_until", str(exc), INCONSISTENT) from None
        reconcile_soon()
        return public(order)

    def transition(action: Any, order_id: int, body: OrderTransition, actor: Actor) -> OrderPublic:
        order = action(store, order_id, body.reason, actor)
        reconcile_soon()
        return public(order)

    @app.post(
        "/api/v1/orders/{order_id}/suspend", response_model=OrderPublic, tags=["orders"],
        responses=CONFLICT,
    )  # fmt: skip
    def suspend(order_id: RowId, body: OrderTransition, actor: ActorDep) -> OrderPublic:
        """Suspend: the line is restored at the next pass (requested at once)."""
        return transition(suspend_order, order_id, body, actor)

    @app.post(
        "/api/v1/orders/{order_id}/resume", response_model=OrderPublic, tags=["orders"],
        responses=CONFLICT,
    )  # fmt: skip
    def resume(order_id: RowId, body: OrderTransition, actor: ActorDep) -> OrderPublic:
        return transition(resume_order, order_id, body, actor)

    @app.post(
        "/api/v1/orders/{order_id}/revoke", response_model=OrderPublic, tags=["orders"],
        responses=CONFLICT,
    )  # fmt: skip
    def revoke(order_id: RowId, body: OrderTransition, actor: ActorDep) -> OrderPublic:
        """Revoke: the line is restored at the next pass (requested at once), not at 08:00.
        An order already revoked, or superseded by an amendment, is a 409."""
        return transition(revoke_order, order_id, body, actor)

    # -- inventory -----------------------------------------------------------------------

    @app.get("/api/v1/venues", response_model=list[VenuePublic], tags=["inventory"])
    def list_venues(actor: ActorDep) -> list[VenuePublic]:
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

    @app.get("/api/v1/devices", response_model=list[DevicePublic], tags=["inventory"])
    def list_devices() -> list[DevicePublic]:
        return [DevicePublic.of(d) for d in store.devices()]

    @app.get("/api/v1/lines", response_model=list[LinePublic], tags=["inventory"])
    def list_lines() -> list[LinePublic]:
        statuses = store.line_statuses()
        return [LinePublic.of(line, statuses.get(line.id or 0)) for line in store.lines()]

    @app.post("/api/v1/inventory", tags=["inventory"])
    def import_inventory(
        actor: ActorDep,
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
        try:
            report = import_document(
                store, rows, "POST /api/v1/inventory", actor.name, trust_new_host_keys
            )
        except InventoryError as exc:
            shown = [p if len(p) <= 300 else p[:299] + "…" for p in exc.problems[:50]]
            if len(exc.problems) > 50:
                shown.append(f"and {len(exc.problems) - 50} more")
            raise HTTPException(
                422, {"message": str(exc).splitlines()[0], "problems": shown}
            ) from None
        return {"created": report.created, "updated": report.updated}

    def set_frozen(device_id: int, frozen: bool, actor: Actor) -> DevicePublic:
        with store.transaction() as tx:
            device = tx.session.get(Device, device_id)
            if device is None:
                raise NotFound(f"no device {device_id}")
            device.frozen = frozen
            tx.session.add(device)
            tx.log_admin(
                "device_frozen" if frozen else "device_unfrozen", actor.name, device_id=device_id
            )
        return DevicePublic.of(device)

    @app.post("/api/v1/devices/{device_id}/freeze", response_model=DevicePublic, tags=["inventory"])
    def freeze(device_id: RowId, actor: ActorDep) -> DevicePublic:
        """Passes leave a frozen device untouched (maintenance, investigation)."""
        return set_frozen(device_id, True, actor)

    @app.post(
        "/api/v1/devices/{device_id}/unfreeze", response_model=DevicePublic, tags=["inventory"]
    )
    def unfreeze(device_id: RowId, actor: ActorDep) -> DevicePublic:
        device = set_frozen(device_id, False, actor)
        reconcile_soon()
        return device

    @app.post("/api/v1/reconcile", status_code=202, tags=["inventory"], responses=CONFLICT)
    def request_pass(actor: ActorDep) -> dict[str, str]:
        """Retry now: ask the scheduler for a pass (failed lines are retried from scratch)."""
        if scheduler is None:
            raise HTTPException(409, "this server runs no scheduler (started with --no-scheduler)")
        scheduler.request_pass()
        return {"status": f"pass requested by {actor.name}"}

    # -- the record ----------------------------------------------------------------------

    @app.get("/api/v1/audit/checkpoints", tags=["audit"])
    def list_checkpoints() -> list[dict[str, object]]:
        """Signed checkpoints of the change log (verify them with the signer's public key)."""
        return [checkpoint_document(c) for c in store.checkpoints()]

    @app.get("/api/v1/changes", response_model=list[ChangePublic], tags=["changes"])
    def list_changes(
        order: Annotated[
            int | None, Query(ge=1, le=MAX_ROW_ID, description="only changes citing this order")
        ] = None,
        venue: Annotated[
            str | None, Query(max_length=200, description="venue name or id")
        ] = None,
        since: Annotated[Instant | None, Query(description="from this instant")] = None,
        until: Annotated[Instant | None, Query(description="before this instant")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> list[ChangePublic]:
        venue_id = store.find_venue(venue).id if venue is not None else None
        where = ChangeFilter(
            order_id=order, venue_id=venue_id, since=since, until=until, limit=limit
        )
        return [ChangePublic.of(c) for c in store.changes(where)]

    # -- tokens --------------------------------------------------------------------------

    @app.post("/api/v1/tokens", status_code=201, response_model=TokenCreated, tags=["tokens"])
    def new_token(body: TokenCreate, actor: ActorDep) -> TokenCreated:
        """Create a token; the secret is in this answer only."""
        try:
            row, secret = create_token(
                store, body.role, actor.name, body.authority, body.expires_at, body.label
            )
        except NotFound as exc:
            raise _field_error("authority", str(exc)) from None
        except ValueError as exc:
            field = "expires_at" if "expiry" in str(exc) else "authority"
            raise _field_error(field, str(exc), INCONSISTENT) from None
        return TokenCreated(**TokenPublic.of(listing_of(store, row)).model_dump(), token=secret)

    @app.get("/api/v1/tokens", response_model=list[TokenPublic], tags=["tokens"])
    def tokens() -> list[TokenPublic]:
        """Every token with its state by the store's clock (active, expired, revoked)."""
        return [TokenPublic.of(t) for t in token_listing(store)]

    @app.post("/api/v1/tokens/{token_id}/revoke", response_model=TokenPublic, tags=["tokens"])
    def token_revoke(token_id: RowId, actor: ActorDep) -> TokenPublic:
        return TokenPublic.of(listing_of(store, revoke_token(store, token_id, actor.name)))

    from api.escalation import router as escalation_router
    from api.feeds import router as feeds_router
    from api.holds import router as holds_router
    from api.host_keys import router as host_keys_router
    from api.licences import router as licences_router
    from api.reports import router as reports_router

    app.include_router(reports_router)
    app.include_router(licences_router)
    app.include_router(escalation_router)
    app.include_router(feeds_router)
    app.include_router(holds_router)
    app.include_router(host_keys_router)
    return app
