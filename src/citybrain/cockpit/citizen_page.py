"""The citizen page (我的数据) at ``/citizen``: a shell without data, driven by the citizen API.

Before sign-in the page shows the register and sign-in forms and the citizen's rights (PIPL
§24, §44-45), rendered from the locale catalogues. Its script (``static/citizen.js``, over the
shared ``cockpit_ui.js``) registers and signs in against ``/citizen/register`` and
``/auth/login`` (the bearer token lives in the tab's ``sessionStorage``), then reads
``/citizen/me/...``: the uses of the citizen's records, the CSV export and the objections, all
through the gate. Every message the script shows comes from the catalogues, embedded as a data
attribute (the CSP allows no inline script).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from citybrain.cockpit.web import mount_static, prefixed_messages, render_page

PAGE_PATH = "/citizen"
PREFIX = "citizen."
NAV_KEY = "nav.citizen"
MIN_PASSWORD = 10  # as the register API (RegisterIn.password)
MAX_TEXT = 4000  # as the objection API (ObjectionIn.text)
CSV_NAME = "my-data-uses.csv"
# The rights notice, in the order shown (``citizen.rights.<part>_title`` and ``<part>``);
# ``auto`` (PIPL §24, automated decisions) spans the whole width at the end.
RIGHTS = ("what", "know", "object", "id", "auto")


def citizen_messages(locale: str) -> dict[str, str]:
    """Every ``citizen.*`` message in ``locale``, keyed without the prefix."""
    return prefixed_messages(PREFIX, locale)


def citizen_config(locale: str) -> dict[str, Any]:
    """What ``citizen.js`` needs: limits and every message, in ``locale``."""
    return {
        "locale": locale,
        "min_password": MIN_PASSWORD,
        "max_text": MAX_TEXT,
        "csv_name": CSV_NAME,
        "messages": citizen_messages(locale),
    }


def render_citizen(request: Request) -> HTMLResponse:
    """The citizen page in the request's locale (no data: the script fetches it)."""

    def build(locale: str) -> dict[str, object]:
        config = json.dumps(citizen_config(locale), ensure_ascii=False, separators=(",", ":"))
        return {
            "config": config,
            "rights": RIGHTS,
            "min_password": MIN_PASSWORD,
            "max_text": MAX_TEXT,
        }

    return render_page(request, "citizen.html", PAGE_PATH, build)


def install_citizen_page(app: FastAPI) -> None:
    """Add ``/citizen``; mount the cockpit's ``/static`` too unless it is mounted already."""
    mount_static(app)

    @app.api_route(PAGE_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    def citizen_page(request: Request) -> HTMLResponse:
        """The citizen's page (public shell; the data comes through the gated API)."""
        return render_citizen(request)
