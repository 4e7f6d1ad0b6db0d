"""The supervisor's desk (监督工作台) at ``/oversight``: a shell without data, driven by the
gated supervision, report desk, security and dispute APIs.

The page itself is public and carries no governed data. Its script (``static/oversight.js``
and its parts ``oversight_lists.js``, ``oversight_findings.js``, ``oversight_reports.js``,
``oversight_security.js``, ``oversight_disputes.js``, ``oversight_orgreport.js``, over the
shared ``cockpit_ui.js``) signs the supervisor in against ``/auth/login`` (the bearer token
lives in the tab's ``sessionStorage``) and then asks the JSON API for findings, report cases,
incidents, bulletins, disputes and organisation reports, so every read and every decision
passes the gate and is ledgered as usual; an account without the role meets the gate's 403,
said plainly. The vocabularies (statuses and where they may move, articles, severities,
categories) and every message come from the code and the locale catalogues, embedded as a
data attribute (the CSP allows no inline script).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from citybrain.cockpit.web import mount_static, prefixed_messages, render_page
from citybrain.governance.disputes import models as disputes
from citybrain.governance.reportdesk import models as reportdesk
from citybrain.governance.reportdesk import service as reportdesk_service
from citybrain.governance.security import incidents
from citybrain.governance.security import service as security
from citybrain.governance.supervision import rules as rulebook
from citybrain.governance.supervision import service as supervision
from citybrain.hub.quality.models import DIMENSIONS
from citybrain.ledger.entry import ACTIONS as LEDGER_CATEGORIES

PAGE_PATH = "/oversight"
PREFIX = "oversight."
PAGE_LIMIT = 50  # rows per page of a list; "more" asks for the next
TABS = ("findings", "reports", "security", "disputes", "orgreport")
# Article 23 items (officials) and Article 24 (anyone else), as the rules cite them.
ARTICLES = (*(f"23({n})" for n in range(1, 8)), "24")
NOTE_REQUIRED = ("resolved", "dismissed")  # a finding moved here needs a note (service.move)
GRANT_STATES = ("approved", "live", "revoked", "expired")
DEADLINES = ("response_due", "evidence_due", "decision_due", "appeal_due", "appeal_decision_due")
# The kinds of timeline step the report desk and the dispute desk record (their services write
# them as literals): labelled on the page, shown as they are when newer than this list.
REPORT_STEPS = ("filed", "triaged", "reassigned", "status")
DISPUTE_STEPS = (
    "filed",
    "accepted",
    "refused",
    "claim",
    "evidence",
    "decided",
    "appealed",
    "appeal_decided",
)


def oversight_messages(locale: str) -> dict[str, str]:
    """Every ``oversight.*`` message in ``locale``, keyed without the prefix."""
    return prefixed_messages(PREFIX, locale)


def oversight_config(locale: str) -> dict[str, Any]:
    """What ``oversight.js`` needs: vocabularies, limits and every message, in ``locale``."""
    return {
        "locale": locale,
        "page_limit": PAGE_LIMIT,
        "tabs": list(TABS),
        "finding": {
            "statuses": list(supervision.STATUSES),
            "moves": {k: list(v) for k, v in supervision.MOVES.items()},
            "note_required": list(NOTE_REQUIRED),
            "articles": list(ARTICLES),
            "severities": list(rulebook.SEVERITIES),
        },
        "report": {
            "statuses": list(reportdesk.STATUSES),
            "next": {k: list(v) for k, v in reportdesk_service.NEXT.items()},
            "settable": list(reportdesk_service.SET_BY_STATUS),
            "closed": list(reportdesk.CLOSED),
            "categories": list(reportdesk.CATEGORIES),
            "severities": list(reportdesk.SEVERITIES),
            "steps": list(REPORT_STEPS),
        },
        "incident": {
            "statuses": list(incidents.STATUSES),
            "next": dict(incidents.NEXT_STATUS),
            "severities": list(security.SEVERITIES),
        },
        "dispute": {
            "statuses": list(disputes.STATUSES),
            "subjects": list(disputes.SUBJECT_TYPES),
            "outcomes": list(disputes.OUTCOMES),
            "deadlines": list(DEADLINES),
            "steps": list(DISPUTE_STEPS),
            "evidence_kinds": list(disputes.EVIDENCE_KINDS),
            "sides": list(disputes.SIDES),
        },
        "orgreport": {
            "categories": list(LEDGER_CATEGORIES),
            "grant_states": list(GRANT_STATES),
            "dimensions": list(DIMENSIONS),
        },
        "messages": oversight_messages(locale),
    }


def render_oversight(request: Request) -> HTMLResponse:
    """The desk in the request's locale (no data: the script fetches it)."""

    def build(locale: str) -> dict[str, object]:
        config = json.dumps(oversight_config(locale), ensure_ascii=False, separators=(",", ":"))
        return {
            "config": config,
            "tabs": TABS,
            "finding_statuses": supervision.STATUSES,
            "articles": ARTICLES,
            "report_statuses": reportdesk.STATUSES,
            "incident_statuses": incidents.STATUSES,
            "dispute_statuses": disputes.STATUSES,
        }

    return render_page(request, "oversight.html", PAGE_PATH, build)


def install_oversight_page(app: FastAPI) -> None:
    """Add ``/oversight``; mount the cockpit's ``/static`` too unless it is mounted already."""
    mount_static(app)

    @app.api_route(PAGE_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    def oversight_page(request: Request) -> HTMLResponse:
        """The supervisor's desk (public shell; the data comes through the gated API)."""
        return render_oversight(request)
