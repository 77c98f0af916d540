"""/docs and /redoc without the internet: Swagger UI's and ReDoc's scripts and styles are served by
the app itself (from the `fastapi-offline` package), never fetched from a CDN.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"


def serve_docs(app: FastAPI) -> None:
    """Mount the assets and add /docs, /docs/oauth2-redirect and /redoc (the app must be built
    with `docs_url=None, redoc_url=None`)."""
    app.mount(
        ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets"
    )

    def here(request: Request, path: str) -> str:
        return f"{request.scope.get('root_path', '')}{path}"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=here(request, app.openapi_url or "/openapi.json"),
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=here(request, "/docs/oauth2-redirect"),
            swagger_js_url=here(request, f"{ASSETS}/swagger-ui-bundle.js"),
            swagger_css_url=here(request, f"{ASSETS}/swagger-ui.css"),
            swagger_favicon_url=here(request, f"{ASSETS}/favicon.png"),
            swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from the validator
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=here(request, app.openapi_url or "/openapi.json"),
            title=f"{app.title} - ReDoc",
            redoc_js_url=here(request, f"{ASSETS}/redoc.standalone.js"),
            redoc_favicon_url=here(request, f"{ASSETS}/favicon.png"),
            with_google_fonts=False,
        )
