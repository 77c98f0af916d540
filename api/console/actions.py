"""The console's forms (POST) and its log-in page: log in and out, ask for a pass, freeze and
unfreeze a router, decide a held pass, and issue, amend, suspend, resume and revoke orders.

Every form is checked by the API's own request schema and acted on by the domain function its
API route calls; a refusal says what the API would say. Each success sends the browser back to
a page (POST, redirect, GET) with a message for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import authenticate
from api.console.forms import FormErrors, checked
from api.console.pages import order_page, orders_page
from api.console.render import Page, home_of
from api.console.sessions import (
    COOKIE_PATH,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Visit,
    VisitDep,
    check_csrf,
    current,
    form_of,
    sessions_of,
    set_cookie,
)
from api.deps import RowId, SchedulerDep, StoreDep, reconcile_soon
from controller import passes
from controller.access import Actor
from controller.bounds import one_line
from controller.errors import CurfewError, Invalid
from controller.holds import decide
from controller.models import MAX_ROW_ID, Order
from controller.orders import (
    OrderAmend,
    OrderCreate,
    OrderTransition,
    amend_order,
    governing_notices,
    issue_order,
    resume_order,
    revoke_order,
    suspend_order,
)
from controller.store import Store

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_TOKEN = 512  # characters of a token pasted at log-in; longer is no token of ours
WHY = {  # why the log-in page is shown, by the code in its query (nothing sent is echoed)
    "expired": "Your session has ended (8 hours, a revoked token, or a restart): log in again.",
    "logged_out": "You are logged out.",
}


# -- log in and out ----------------------------------------------------------------------------


def login_form(request: Request, store: Store, status: int = 200, problem: str = "") -> Response:
    """The log-in page, with a fresh nonce in its form and in a cookie (double submit)."""
    nonce = secrets.token_urlsafe(32)
    why = WHY.get(request.query_params.get("why", ""), "")
    response = Page(request, None, store.venues()).render(
        "login.html", status=status, title="Log in", nonce=nonce, why=why, problem=problem
    )
    set_cookie(request, response, LOGIN_COOKIE, nonce, max_age=3600)
    return response


@router.get("/login")
def login_page(request: Request, store: StoreDep) -> Response:
    found = current(request)
    if found is not None:
        return RedirectResponse(home_of(found[1].actor.role), status_code=303)
    return login_form(request, store)


@router.post("/login")
async def login(request: Request, store: StoreDep) -> Response:
    """Exchange a token for a session: a new random id in the cookie, the token kept only in
    this server's memory (to end the session when the token is revoked or expires)."""
    form = await form_of(request)
    check_csrf(form.get("csrf"), request.cookies.get(LOGIN_COOKIE) or "")
    token = form.get("token", "").strip()
    actor = authenticate(request, token) if 0 < len(token) <= MAX_TOKEN else None
    if actor is None:
        return login_form(request, store, 401, "Unknown, revoked or expired token.")
    sessions = sessions_of(request)
    sessions.close(request.cookies.get(SESSION_COOKIE))  # never carry a session id over
    session_id, _ = sessions.open(actor, token)
    response = RedirectResponse(home_of(actor.role), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, session_id, max_age=SESSION_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/logout")
def logout(request: Request, visit: VisitDep) -> Response:
    sessions_of(request).close(visit.session_id)
    response = RedirectResponse("/console/login?why=logged_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


# -- after a form ------------------------------------------------------------------------------


def back(visit: Visit, default: str, *messages: str) -> RedirectResponse:
    """To the page the form asks to return to (a console path only), with messages."""
    visit.session.flash.extend(messages)
    target = visit.form.get("back", "")
    parts = urlsplit(target)
    safe = not parts.scheme and not parts.netloc and parts.path.startswith("/console/")
    return RedirectResponse(target if safe and "//" not in target else default, status_code=303)


def refusal(exc: CurfewError) -> str:
    return f"Refused ({exc.status}): {exc}"


# -- passes ------------------------------------------------------------------------------------


@router.post("/passes")
def request_pass(visit: VisitDep, scheduler: SchedulerDep) -> Response:
    """Ask the scheduler for a pass now (a retry: failed lines are retried from scratch)."""
    if scheduler is None:
        refused = "Refused (409): this server runs no scheduler (started with --no-scheduler)"
        return back(visit, "/console/passes", refused)
    scheduler.request_pass()
    return back(visit, "/console/passes", f"Pass requested by {visit.actor.name}.")


# -- routers -----------------------------------------------------------------------------------

DeviceId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class FreezeForm(BaseModel):
    """Why the router is frozen (or unfrozen): recorded in the change log."""

    model_config = ConfigDict(extra="ignore")
    reason: str = one_line(200, "why (recorded)")


class UnfreezeForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: str = one_line(200, "why (recorded)", default="")


def _frozen(
    visit: Visit, store: Store, device_id: int, frozen: bool, form: type[BaseModel]
) -> tuple[str, bool]:
    try:
        reason = getattr(checked(form, visit.form), "reason", "")
        device = passes.set_frozen(store, device_id, frozen, visit.actor.name, reason)
    except FormErrors as exc:
        return "Refused (422): " + "; ".join(exc.listed()), False
    except CurfewError as exc:
        return refusal(exc), False
    verb = "frozen: passes leave it untouched" if frozen else "unfrozen"
    return f"{device.name} {verb}" + (f" ({reason})." if reason else "."), True


@router.post("/devices/{device_id}/freeze")
def freeze(device_id: DeviceId, visit: VisitDep, store: StoreDep) -> Response:
    message, _ = _frozen(visit, store, device_id, True, FreezeForm)
    return back(visit, "/console/failures", message)


@router.post("/devices/{device_id}/unfreeze")
def unfreeze(
    device_id: DeviceId, visit: VisitDep, store: StoreDep, scheduler: SchedulerDep
) -> Response:
    message, done = _frozen(visit, store, device_id, False, UnfreezeForm)
    if done:
        reconcile_soon(scheduler)
    return back(visit, "/console/failures", message)


# -- held passes -------------------------------------------------------------------------------


class DecisionForm(BaseModel):
    """As `POST /api/v1/holds/{id}/approve|reject`."""

    model_config = ConfigDict(extra="ignore")
    note: str = Field(default="", max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")


def _decide(
    hold_id: int, approve: bool, visit: Visit, store: Store, scheduler: SchedulerDep
) -> Response:
    try:
        note = checked(DecisionForm, visit.form).note
        hold = decide(store, hold_id, approve, visit.actor.name, note)
    except FormErrors as exc:
        return back(visit, "/console/tonight", "Refused (422): " + "; ".join(exc.listed()))
    except CurfewError as exc:
        return back(visit, "/console/tonight", refusal(exc))
    if approve:
        reconcile_soon(scheduler)  # the approved cuts go now, not at the next tick
    return back(visit, "/console/tonight", f"Hold {hold.id} {hold.status}.")


HoldId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@router.post("/holds/{hold_id}/approve")
def approve_hold(
    hold_id: HoldId, visit: VisitDep, store: StoreDep, scheduler: SchedulerDep
) -> Response:
    return _decide(hold_id, True, visit, store, scheduler)


@router.post("/holds/{hold_id}/reject")
def reject_hold(
    hold_id: HoldId, visit: VisitDep, store: StoreDep, scheduler: SchedulerDep
) -> Response:
    return _decide(hold_id, False, visit, store, scheduler)


# -- orders ------------------------------------------------------------------------------------

ISSUE_FIELDS = (
    "venue", "kind", "reason", "legal_basis", "legal_basis_date", "effective_from",
    "effective_until", "authority", "issued_by",
)  # fmt: skip
AMEND_FIELDS = (
    "why", "effective_from", "effective_until", "open_ended", "reason", "legal_basis",
    "legal_basis_date",
)  # fmt: skip


def _errors(exc: CurfewError) -> FormErrors:
    if isinstance(exc, Invalid) and exc.field is not None:
        return FormErrors.of(exc)
    return FormErrors([{"loc": [], "msg": refusal(exc), "type": type(exc).__name__}])


@router.post("/orders")
def issue(
    request: Request, visit: VisitDep, store: StoreDep, scheduler: SchedulerDep
) -> Response:
    """Issue an order, as `POST /api/v1/orders` (a bureau: for its jurisdiction only)."""
    entered = {name: visit.form.get(name, "") for name in ISSUE_FIELDS}
    try:
        order = issue_order(store, checked(OrderCreate, entered), visit.actor)
    except FormErrors as exc:
        return orders_page(request, visit, store, entered=entered, errors=exc, code=422)
    except CurfewError as exc:
        return orders_page(
            request, visit, store, entered=entered, errors=_errors(exc), code=exc.status
        )
    reconcile_soon(scheduler)
    notices = governing_notices(store, order)
    visit.session.flash.extend([f"Order {order.id} issued for {entered['venue']}.", *notices])
    return RedirectResponse(f"/console/orders/{order.id}", status_code=303)


def _on_order(
    request: Request,
    visit: Visit,
    store: Store,
    order_id: int,
    form_name: str,
    act: Callable[[], Order],
    entered: dict[str, str],
    scheduler: SchedulerDep,
) -> Response:
    try:
        order = act()
    except FormErrors as exc:
        return order_page(request, visit, store, order_id, entered, exc, form_name, 422)
    except CurfewError as exc:
        return order_page(
            request, visit, store, order_id, entered, _errors(exc), form_name, exc.status
        )
    reconcile_soon(scheduler)  # revocations and suspensions restore now, not at 08:00
    past = {"amend": "amended", "suspend": "suspended", "resume": "resumed", "revoke": "revoked"}
    visit.session.flash.append(f"Order {order_id} {past[form_name]}.")
    return RedirectResponse(f"/console/orders/{order.id}", status_code=303)


@router.post("/orders/{order_id}/amend")
def amend(
    order_id: RowId, request: Request, visit: VisitDep, store: StoreDep, scheduler: SchedulerDep
) -> Response:
    """A new version from now on, as `POST /api/v1/orders/{id}/amend`."""
    entered = {name: visit.form.get(name, "") for name in AMEND_FIELDS}

    def act() -> Order:
        return amend_order(store, order_id, checked(OrderAmend, entered), visit.actor)

    return _on_order(request, visit, store, order_id, "amend", act, entered, scheduler)


Transition = Callable[[Store, int, str, Actor], Order]
TRANSITIONS: dict[str, Transition] = {
    "suspend": suspend_order,
    "resume": resume_order,
    "revoke": revoke_order,
}


def _transition(
    name: str,
    order_id: int,
    request: Request,
    visit: Visit,
    store: Store,
    scheduler: SchedulerDep,
) -> Response:
    entered = {"reason": visit.form.get("reason", "")}

    def act() -> Order:
        reason = checked(OrderTransition, entered).reason
        return TRANSITIONS[name](store, order_id, reason, visit.actor)

    return _on_order(request, visit, store, order_id, name, act, entered, scheduler)


@router.post("/orders/{order_id}/suspend")
def suspend(
    order_id: RowId, request: Request, visit: VisitDep, store: StoreDep, scheduler: SchedulerDep
) -> Response:
    return _transition("suspend", order_id, request, visit, store, scheduler)


@router.post("/orders/{order_id}/resume")
def resume(
    order_id: RowId, request: Request, visit: VisitDep, store: StoreDep, scheduler: SchedulerDep
) -> Response:
    return _transition("resume", order_id, request, visit, store, scheduler)


@router.post("/orders/{order_id}/revoke")
def revoke(
    order_id: RowId, request: Request, visit: VisitDep, store: StoreDep, scheduler: SchedulerDep
) -> Response:
    return _transition("revoke", order_id, request, visit, store, scheduler)
