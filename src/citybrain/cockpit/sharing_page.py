"""The sharing page (数据共享) at ``/sharing``: a shell without data, driven by the sharing API.

The page itself is public and carries no governed data: its script (``static/sharing.js`` and
its parts ``sharing_request.js``, ``sharing_decide.js``, ``sharing_grants.js``, over the shared
``cockpit_ui.js``) signs the user in against ``/auth/login`` (the bearer token lives in the tab's
``sessionStorage``) and then asks the gated JSON API for datasets, purposes, requests and
grants, so every read and every decision passes the gate and is ledgered as usual. Everything
the script shows - labels, states, mask names, errors - comes from the locale catalogues,
embedded in the page as a data attribute (the CSP allows no inline script).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from citybrain.cockpit.web import mount_static, prefixed_messages, render_page
from citybrain.governance.privacy.masking import MaskKind
from citybrain.governance.sharing import vocab

PAGE_PATH = "/sharing"
PREFIX = "sharing."
DEFAULT_TERM_DAYS = 90
PREVIEW_ROWS = 20
PII_MASK = MaskKind.MASK.value  # what the approval form proposes for personal information
SENSITIVE_MASK = MaskKind.HASH.value  # and for sensitive personal information


def sharing_messages(locale: str) -> dict[str, str]:
    """Every ``sharing.*`` message in ``locale``, keyed without the prefix."""
    return prefixed_messages(PREFIX, locale)


def sharing_config(locale: str) -> dict[str, Any]:
    """What ``sharing.js`` needs: vocabularies, limits and every message, in ``locale``."""
    return {
        "locale": locale,
        "masks": [kind.value for kind in MaskKind],
        "pii_mask": PII_MASK,
        "sensitive_mask": SENSITIVE_MASK,
        "modes": list(vocab.MODES),
        "max_term_days": vocab.MAX_TERM_DAYS,
        "default_term_days": DEFAULT_TERM_DAYS,
        "preview_rows": PREVIEW_ROWS,
        "messages": sharing_messages(locale),
    }


def render_sharing(request: Request) -> HTMLResponse:
    """The sharing page in the request's locale (no data: the script fetches it)."""

    def build(locale: str) -> dict[str, object]:
        config = json.dumps(sharing_config(locale), ensure_ascii=False, separators=(",", ":"))
        return {
            "config": config,
            "modes": list(vocab.MODES),
            "max_term_days": vocab.MAX_TERM_DAYS,
            "default_term_days": DEFAULT_TERM_DAYS,
        }

    return render_page(request, "sharing.html", PAGE_PATH, build)


def install_sharing_page(app: FastAPI) -> None:
    """Add ``/sharing``; mount the cockpit's ``/static`` too unless it is mounted already."""
    mount_static(app)

    @app.api_route(PAGE_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    def sharing_page(request: Request) -> HTMLResponse:
        """The data sharing page (public shell; the data comes through the gated API)."""
        return render_sharing(request)
