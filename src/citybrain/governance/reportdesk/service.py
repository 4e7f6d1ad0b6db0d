"""The report desk's logic (no HTTP): file a report, follow it by receipt, triage, change status,
open the reporter's identity.

A case moves received → triaged → investigating → resolved, and may be dismissed from any open
state; every move is a timeline event. Re-triage (another severity or assignee) keeps the status.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from citybrain.governance.privacy.pii import check_id_number
from citybrain.governance.reportdesk import receipt, sealing
from citybrain.governance.reportdesk.models import (
    CATEGORIES,
    CLOSED,
    SEVERITIES,
    ReportCase,
    ReportEvent,
)
from citybrain.kernel.config import Settings
from citybrain.kernel.errors import Conflict, InvalidInput, NotFound
from citybrain.kernel.identity import service as identity
from citybrain.kernel.identity.models import User

# Where a status may go next (triaged only through triage()).
NEXT: dict[str, tuple[str, ...]] = {
    "received": ("triaged", "dismissed"),
    "triaged": ("investigating", "dismissed"),
    "investigating": ("resolved", "dismissed"),
    "resolved": (),
    "dismissed": (),
}
SET_BY_STATUS = ("investigating", "resolved", "dismissed")  # what POST .../status may set
REPORTER = "reporter"
SUPERVISOR_ROLE = "supervisor"
IDENTITY_FIELDS = ("name", "phone", "email", "id_number")
PUBLIC_KINDS = ("filed", "triaged", "status")  # the steps the reporter sees


def case_number(case: ReportCase) -> str:
    """The case's human number, e.g. ``JB2026-000042`` (举报)."""
    return f"JB{case.created_at:%Y}-{case.id:06d}"


def clean_identity(values: dict[str, str | None] | None) -> dict[str, str] | None:
    """The reporter's identity without empty fields; None (anonymous) when nothing is left.
    An ID number must be a valid resident ID number (field ``reporter.id_number``)."""
    if not values:
        return None
    out = {k: str(values.get(k) or "").strip() for k in IDENTITY_FIELDS}
    out = {k: v for k, v in out.items() if v}
    if "id_number" in out:
        out["id_number"] = check_id_number(out["id_number"], "reporter.id_number")
    return out or None


def _check_organisation(session: Session, code: str | None) -> str | None:
    if code is None or not code.strip():
        return None
    compact = identity.validate_credit_code(code.strip(), field="organisation")
    try:
        identity.get_organisation(session, compact, field="organisation")
    except NotFound:
        raise InvalidInput(
            f"no organisation with credit code {compact} is registered", field="organisation"
        ) from None
    return compact


def _has_sealed(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(ReportCase.reporter_identity.is_not(None)))))


def file_report(
    session: Session,
    settings: Settings,
    *,
    category: str,
    description: str,
    now: datetime,
    organisation: str | None = None,
    dataset: str | None = None,
    occurred_on: date | None = None,
    reporter: dict[str, str | None] | None = None,
    contact_consent: bool = False,
) -> tuple[ReportCase, str]:
    """Open a case; returns it and its receipt code (shown once, stored only as a hash)."""
    if category not in CATEGORIES:
        raise InvalidInput(f"{category!r} is not one of {', '.join(CATEGORIES)}", field="category")
    text = description.strip()
    if len(text) < 10:
        raise InvalidInput("describe what happened in at least 10 characters", field="description")
    if occurred_on is not None and occurred_on > now.date():
        raise InvalidInput("the date it happened lies in the future", field="occurred_on")
    who = clean_identity(reporter)
    if contact_consent and not (who and ({"phone", "email"} & set(who))):
        raise InvalidInput(
            "to be contacted, give a phone number or an e-mail address", field="contact_consent"
        )
    code = receipt.new_code()
    case = ReportCase(
        number=f"pending-{receipt.code_hash(code)[:12]}",
        receipt_hash=receipt.code_hash(code),
        category=category,
        organisation=_check_organisation(session, organisation),
        dataset=(dataset or "").strip() or None,
        occurred_on=occurred_on,
        description=text,
        contact_consent=contact_consent,
        status="received",
        outcome="",
        created_at=now,
        updated_at=now,
    )
    key = sealing.load_key(settings, may_create=lambda: not _has_sealed(session)) if who else None
    session.add(case)
    session.flush()
    case.number = case_number(case)
    if key is not None and who is not None:
        case.reporter_identity = sealing.seal(key, who, case.id)
    session.add(
        ReportEvent(case_id=case.id, at=now, actor=REPORTER, kind="filed", status="received")
    )
    session.flush()
    return case, code


def find_by_receipt(session: Session, code: str) -> ReportCase:
    """The case of a receipt code (any spelling ``receipt.normalise`` accepts), or NotFound."""
    case = session.scalar(
        select(ReportCase).where(ReportCase.receipt_hash == receipt.code_hash(code))
    )
    if case is None:
        raise NotFound("no report has this receipt code", field="code")
    return case


def get_case(session: Session, case_id: int) -> ReportCase:
    """The case with this id, or NotFound naming ``id``."""
    case = session.get(ReportCase, case_id)
    if case is None:
        raise NotFound(f"no report case {case_id}", field="id")
    return case


def timeline(session: Session, case_id: int) -> list[ReportEvent]:
    """Every step of the case, oldest first."""
    return list(
        session.scalars(
            select(ReportEvent).where(ReportEvent.case_id == case_id).order_by(ReportEvent.id)
        )
    )


def reporter_timeline(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The steps the reporter sees: when, which status, what they are told; no staff names,
    severities, assignees or internal notes."""
    return [
        {"at": e.at, "status": e.status, "text": e.public_text}
        for e in timeline(session, case_id)
        if e.kind in PUBLIC_KINDS
    ]


def _check_assignee(session: Session, name: str) -> str:
    user = session.scalar(select(User).where(User.name == name))
    if user is None or user.disabled or SUPERVISOR_ROLE not in {p.role for p in user.posts}:
        raise InvalidInput(f"{name!r} is not an active supervisor account", field="assignee")
    return user.name


def _open(case: ReportCase, what: str) -> None:
    if case.status in CLOSED:
        raise Conflict(f"case {case.number} is {case.status}: closed, {what}", field="status")


def triage(
    session: Session, case: ReportCase, *, severity: str, assignee: str, actor: str, now: datetime
) -> ReportEvent:
    """Set severity and the supervisor in charge; a received case becomes triaged, a later one
    keeps its status (a reassignment)."""
    _open(case, "it is not triaged again")
    if severity not in SEVERITIES:
        raise InvalidInput(f"severity is one of {', '.join(SEVERITIES)}", field="severity")
    case.assignee = _check_assignee(session, assignee)
    case.severity = severity
    kind = "triaged" if case.status == "received" else "reassigned"
    case.status = "triaged" if case.status == "received" else case.status
    case.updated_at = now
    event = ReportEvent(
        case_id=case.id,
        at=now,
        actor=actor,
        kind=kind,
        status=case.status,
        severity=severity,
        assignee=case.assignee,
    )
    session.add(event)
    session.flush()
    return event


def change_status(
    session: Session,
    case: ReportCase,
    *,
    status: str,
    actor: str,
    now: datetime,
    outcome: str = "",
    note: str = "",
) -> ReportEvent:
    """Move the case on; resolved and dismissed need ``outcome`` (shown to the reporter).
    A move the lifecycle does not allow: Conflict naming where the case may go."""
    if status not in SET_BY_STATUS:
        hint = " (use POST /reports/{id}/triage)" if status == "triaged" else ""
        raise InvalidInput(f"status is one of {', '.join(SET_BY_STATUS)}{hint}", field="status")
    allowed = NEXT[case.status]
    if status not in allowed:
        where = ", ".join(allowed) if allowed else "nowhere: it is closed"
        raise Conflict(
            f"case {case.number} is {case.status}; it cannot become {status} (it may go to "
            f"{where})",
            field="status",
            current=case.status,
            allowed=list(allowed),
        )
    text = outcome.strip()
    if status in CLOSED and not text:
        raise InvalidInput(
            "say what the reporter is told: the outcome, or why it is dismissed", field="outcome"
        )
    case.status = status
    case.outcome = text if status in CLOSED else case.outcome
    case.updated_at = now
    event = ReportEvent(
        case_id=case.id,
        at=now,
        actor=actor,
        kind="status",
        status=status,
        public_text=text if status in CLOSED else "",
        note=note.strip(),
    )
    session.add(event)
    session.flush()
    return event


def reporter_identity(
    session: Session, settings: Settings, case: ReportCase
) -> dict[str, str] | None:
    """The reporter's identity, unsealed (None for an anonymous report)."""
    if case.reporter_identity is None:
        return None
    key = sealing.load_key(settings, may_create=False)
    return sealing.unseal(key, case.reporter_identity, case.id)
