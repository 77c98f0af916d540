"""The product's HTML pages, rendered from the Jinja2 templates in `api/templates/` (shipped as
package data), every value autoescaped: for now the compliance report, served by the API and
written by `curfew report compliance --format html`.

A page is a template and a function here that hands it the controller's data; the templates
present, they never judge (the verdicts are computed in `controller/reports.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from controller.reports import ComplianceReport, duration, local


def _ids(ids: Iterable[int]) -> str:
    return ", ".join(map(str, ids)) or "none"


@cache
def environment() -> Environment:
    """The templates' environment, built on first use: `.html` templates autoescape, an
    undefined name is an error, and block tags leave no blank lines."""
    templates = Environment(
        loader=PackageLoader("api", "templates"),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    templates.filters.update(local=local, duration=duration, ids=_ids)
    return templates


def compliance_html(report: ComplianceReport) -> str:
    """A self-contained, printable page: parameters, summary, late windows, failures, all
    windows, and a signature block."""
    return (
        environment()
        .get_template("compliance.html")
        .render(report=report, threshold=timedelta(seconds=report.threshold_seconds))
    )
