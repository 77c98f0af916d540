"""The web console: server-rendered pages for the NOC, bureau clerks and auditors, under
/console, reached by logging in with an API token (a session cookie from then on).

`install(app)` adds it to the API app: its pages (`pages.py`) and forms (`actions.py`), its
static files (a stylesheet and a few lines of script, served from the package: no CDN), the
session store (`sessions.py`) and the progress of the pass running now (`progress.py`, fed by
the scheduler's reconciler). The role rules are the API's (`api.auth.CONSOLE`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console import actions, pages
from api.console.progress import PassProgress
from api.console.render import Page
from api.console.sessions import LoginRequired, Refused, Sessions, Visit, current
from api.errors import field_errors
from controller.errors import CurfewError

PREFIX = "/console"


def install(app: FastAPI) -> None:
    """The console's routes, static files, sessions and pass progress on `app` (after the
    API's own refusal handlers: the console answers its refusals as pages)."""
    app.state.console_sessions = Sessions()
    app.state.console_progress = progress = PassProgress()
    app.state.console_verification = {}
    scheduler = app.state.scheduler
    if scheduler is not None:
        progress.actor = scheduler.reconciler.actor
        scheduler.reconciler.observers.append(progress)
    app.mount(
        f"{PREFIX}/static",
        StaticFiles(packages=[("api.console", "static")]),
        name="console-static",
    )
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(Refused, _refused)
    for kind in (CurfewError, RequestValidationError):
        app.add_exception_handler(kind, _as_page(app.exception_handlers.get(kind)))


def refused_page(request: Request, message: str, status: int) -> Response:
    found = current(request)
    visit = Visit(found[0], found[1], {}) if found is not None else None
    store = request.app.state.store
    return Page(request, visit, store.venues()).render(
        "refused.html", status=status, title=f"Refused ({status})", message=message
    )


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    why = f"?why={exc.why}" if exc.why else ""
    return RedirectResponse(f"{PREFIX}/login{why}", status_code=303)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return refused_page(request, exc.message, exc.status)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _as_page(api_handler: Handler | None) -> Handler:
    """The API's handler for a kind of refusal, answering console requests with a page."""

    async def handler(request: Request, exc: Exception) -> Response:
        if request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/"):
            if isinstance(exc, CurfewError):
                return refused_page(request, str(exc), exc.status)
            if isinstance(exc, RequestValidationError):
                shown = "; ".join(
                    f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}"
                    for e in field_errors(exc.errors())
                )
                return refused_page(request, shown, 422)
        if api_handler is None:
            raise exc
        return await api_handler(request, exc)

    return handler
