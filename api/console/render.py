"""How a console page is rendered: its Jinja2 templates (autoescaped, `api/console/templates/`),
the layout's navigation by role, times in the venue's zone with its offset (or UTC with
`?tz=utc`), and the headers every page carries (no framing, scripts only from /console/static).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from api.auth import CONSOLE
from api.console.sessions import Visit
from controller.models import Venue
from controller.reports import duration
from policies import zone

# every page's navigation: shown to the roles whose rule allows the page
NAVIGATION = (
    ("/console/tonight", "Tonight"),
    ("/console/passes", "Passes"),
    ("/console/failures", "Failures"),
    ("/console/orders", "Orders"),
    ("/console/inventory", "Inventory"),
    ("/console/changes", "Change log"),
    ("/console/audit", "Audit"),
    ("/console/compliance", "Compliance"),
)
HOME = {"bureau": "/console/orders", "auditor": "/console/audit"}  # else Tonight

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def home_of(role: str) -> str:
    return HOME.get(role, "/console/tonight")


def home_zone(venues: Iterable[Venue]) -> str:
    """The zone most venues are in: the one instants without a venue are shown in."""
    zones = Counter(v.zone for v in venues)
    return zones.most_common(1)[0][0] if zones else "UTC"


@dataclass(frozen=True)
class Times:
    """Instants as a page shows them: in a zone with its offset, or in UTC."""

    utc: bool
    home: str

    def text(self, instant: datetime | None, zone_name: str | None = None) -> str:
        if instant is None:
            return ""
        if self.utc:
            return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        local = instant.astimezone(zone(zone_name or self.home))
        return local.isoformat(sep=" ", timespec="seconds")

    def local(self, instant: datetime, zone_name: str | None = None) -> datetime:
        """The instant in the zone a page shows (for a form's default value)."""
        return instant.astimezone(UTC if self.utc else zone(zone_name or self.home))

    def __call__(self, instant: datetime | None, zone_name: str | None = None) -> Markup:
        """`<time>` with the instant shown and its ISO form (never wrapped on the page)."""
        if instant is None:
            return Markup("")
        return Markup('<time datetime="{}">{}</time>').format(
            instant.astimezone(UTC).isoformat(), self.text(instant, zone_name)
        )


def _lateness(seconds: float | None) -> str:
    return duration(seconds) if seconds is not None else ""


@cache
def environment() -> Environment:
    templates = Environment(
        loader=PackageLoader("api.console", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.filters.update(duration=_lateness)
    return templates


class Page:
    """What every template is handed: the visitor, what they may do, times, links."""

    def __init__(self, request: Request, visit: Visit | None, venues: Iterable[Venue]) -> None:
        self.request, self.visit = request, visit
        self.utc = request.query_params.get("tz") == "utc"
        self.times = Times(self.utc, home_zone(venues))

    @property
    def role(self) -> str | None:
        return self.visit.actor.role if self.visit else None

    def can(self, method: str, path: str) -> bool:
        """Whether the visitor's role may: write controls are shown only then."""
        return self.role is not None and self.role in CONSOLE.get((method, path), frozenset())

    def url(self, path: str, **params: object) -> str:
        """A link that keeps the viewer's time zone choice."""
        query = {k: v for k, v in params.items() if v is not None and v != ""}
        if self.utc:
            query["tz"] = "utc"
        return path + ("?" + urlencode(query) if query else "")

    def switch_zone(self) -> str:
        """This page with the other time zone choice."""
        query = {k: v for k, v in self.request.query_params.items() if k != "tz"}
        if not self.utc:
            query["tz"] = "utc"
        return self.request.url.path + ("?" + urlencode(query) if query else "")

    def navigation(self) -> list[tuple[str, str, bool]]:
        here = self.request.url.path
        return [
            (self.url(path), label, here == path or here.startswith(path + "/"))
            for path, label in NAVIGATION
            if self.can("GET", path)
        ]

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        flash: list[str] = []
        if self.visit is not None:
            flash, self.visit.session.flash = self.visit.session.flash, []
        body = (
            environment()
            .get_template(template)
            .render(page=self, at=self.times, flash=flash, **context)
        )
        return HTMLResponse(body, status_code=status, headers=HEADERS)
