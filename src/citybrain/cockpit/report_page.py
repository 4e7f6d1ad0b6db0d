"""The public report page (举报) at ``/report``: a shell without data, driven by the report API.

The form files a report at ``POST /reports`` (never with a sign-in token: the page keeps none,
so a report from here is anonymous unless the reporter fills in who they are) and shows the
receipt code once; the "follow my report" box looks a code up at ``POST /reports/receipt``.
Every message the script shows comes from the catalogues, embedded as a data attribute (the
CSP allows no inline script).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from citybrain.cockpit.web import mount_static, prefixed_messages, render_page
from citybrain.governance.reportdesk.models import CATEGORIES
from citybrain.governance.reportdesk.schemas import MAX_TEXT, MIN_TEXT

PAGE_PATH = "/report"
PREFIX = "reportdesk."
SKIP = ("reportdesk.cli",)  # command-line help is not the page's
# The protection notice, in the order shown (``reportdesk.rights.<part>_title`` and ``<part>``).
RIGHTS = ("law", "anonymous", "sealed", "receipt")


def report_messages(locale: str) -> dict[str, str]:
    """Every ``reportdesk.*`` message the page uses in ``locale``, keyed without the prefix."""
    return prefixed_messages(PREFIX, locale, SKIP)


def report_config(locale: str) -> dict[str, Any]:
    """What ``report.js`` needs: limits and every message, in ``locale``."""
    return {
        "locale": locale,
        "min_text": MIN_TEXT,
        "max_text": MAX_TEXT,
        "messages": report_messages(locale),
    }


def render_report(request: Request) -> HTMLResponse:
    """The report page in the request's locale (no data: the script asks the API)."""

    def build(locale: str) -> dict[str, object]:
        config = json.dumps(report_config(locale), ensure_ascii=False, separators=(",", ":"))
        return {
            "config": config,
            "categories": CATEGORIES,
            "rights": RIGHTS,
            "min_text": MIN_TEXT,
            "max_text": MAX_TEXT,
        }

    return render_page(request, "report.html", PAGE_PATH, build)


def install_report_page(app: FastAPI) -> None:
    """Add ``/report``; mount the cockpit's ``/static`` too unless it is mounted already."""
    mount_static(app)

    @app.api_route(PAGE_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    def report_page(request: Request) -> HTMLResponse:
        """The public report page (a shell; reports go through the gated API)."""
        return render_report(request)
