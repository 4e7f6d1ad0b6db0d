"""Disputes (Art18): a case's lifecycle, deadlines and timeline. No HTTP here.

filed → under_review (accepted; or refused, with its reason) → decided (upheld, partly upheld,
dismissed) → appealed (by either party, once, within the appeal window) → closed (the appeal
decided). A decided case nobody appeals in time reads as closed. Every deadline runs from a
fixed moment (filing, decision, appeal) read from the injected clock, so a case is overdue
exactly when the step it waits for is late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from citybrain.governance.disputes.models import (
    OUTCOMES,
    STATUSES,
    SUBJECT_TYPES,
    DisputeCase,
    DisputeClaim,
    DisputeEvent,
)
from citybrain.hub.catalogue.service import get_dataset
from citybrain.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from citybrain.kernel.identity.service import get_organisation
from citybrain.ledger.models import LedgerEntry

RESPONSE_DAYS = 5  # the bureau accepts or refuses the case
EVIDENCE_DAYS = 20  # the parties' claims and evidence close
DECISION_DAYS = 30  # the decision is due
APPEAL_DAYS = 15  # after the decision: either party may appeal, once
APPEAL_DECISION_DAYS = 30  # after the appeal: the appeal decision is due
OVERSEER_ROLES = ("admin", "operator", "supervisor", "auditor")  # see every case
BUREAU_ROLES = ("admin", "operator", "supervisor")  # handle cases, cite any record
OPEN_FOR_CLAIMS = ("filed", "under_review")


@dataclass(frozen=True)
class Actor:
    """Who takes a step: the account, its organisation and the request that carries it."""

    name: str
    organisation: str
    request_id: str


def side_of(case: DisputeCase, organisation: str) -> str | None:
    """``claimant`` or ``respondent`` when ``organisation`` is a party, else None."""
    if organisation == case.claimant:
        return "claimant"
    if organisation == case.respondent:
        return "respondent"
    return None


def _entry_seq(session: Session, actor: Actor) -> int | None:
    """The ledger entry the gate just wrote for this step (same transaction, head locked)."""
    return session.scalar(
        select(func.max(LedgerEntry.seq)).where(
            LedgerEntry.request_id == actor.request_id, LedgerEntry.actor == actor.name
        )
    )


def record_event(
    session: Session, case: DisputeCase, kind: str, actor: Actor, now: datetime, detail: str = ""
) -> DisputeEvent:
    """Add a step to the case's timeline, linked to its ledger entry."""
    event = DisputeEvent(
        case_id=case.id,
        kind=kind,
        actor=actor.name,
        organisation=actor.organisation,
        detail=detail[:4000],
        at=now,
        request_id=actor.request_id[:100],
        ledger_seq=_entry_seq(session, actor),
    )
    session.add(event)
    session.flush()
    return event


def _organisation(session: Session, code: str, field: str) -> str:
    try:
        return get_organisation(session, code.strip(), field).code
    except NotFound as exc:
        raise InvalidInput(exc.detail, field=field) from exc


def _text(value: str, field: str, what: str) -> str:
    if not value.strip():
        raise InvalidInput(f"say {what}", field=field)
    return value.strip()


def file_case(
    session: Session,
    *,
    claimant: str,
    respondent: str,
    subject_type: str,
    title: str,
    claim: str,
    actor: Actor,
    now: datetime,
    dataset: str | None = None,
) -> DisputeCase:
    """Open a case with the claimant's first claim; deadlines run from ``now``."""
    claimant = _organisation(session, claimant, "claimant")
    respondent = _organisation(session, respondent, "respondent")
    if claimant == respondent:
        raise InvalidInput("the respondent must be another organisation", field="respondent")
    if subject_type not in SUBJECT_TYPES:
        raise InvalidInput(f"one of {', '.join(SUBJECT_TYPES)}", field="subject_type")
    if dataset:
        try:
            dataset = get_dataset(session, dataset).slug
        except NotFound as exc:
            raise InvalidInput(exc.detail, field="dataset") from exc
    case = DisputeCase(
        claimant=claimant,
        respondent=respondent,
        subject_type=subject_type,
        title=_text(title, "title", "what the dispute is about"),
        dataset=dataset or None,
        status="filed",
        filed_by=actor.name,
        filed_at=now,
        response_due=now + timedelta(days=RESPONSE_DAYS),
        evidence_due=now + timedelta(days=EVIDENCE_DAYS),
        decision_due=now + timedelta(days=DECISION_DAYS),
    )
    session.add(case)
    session.flush()
    text = _text(claim, "claim", "what you claim")
    session.add(
        DisputeClaim(
            case_id=case.id,
            side="claimant",
            organisation=claimant,
            author=actor.name,
            text=text,
            at=now,
        )
    )
    record_event(session, case, "filed", actor, now, f"{subject_type}: {case.title}")
    return case


def get_case(session: Session, case_id: int) -> DisputeCase:
    """The case, or NotFound naming ``id``."""
    case = session.get(DisputeCase, case_id)
    if case is None:
        raise NotFound(f"no dispute case {case_id}", field="id")
    return case


def effective_status(case: DisputeCase, now: datetime) -> str:
    """The stored status, except that a decided case past its appeal window is closed."""
    if case.status == "decided" and case.appeal_due is not None and now > case.appeal_due:
        return "closed"
    return case.status


def deadlines(case: DisputeCase) -> dict[str, datetime | None]:
    """Every deadline of the case (None until its starting step has happened)."""
    return {
        "response_due": case.response_due,
        "evidence_due": case.evidence_due,
        "decision_due": case.decision_due,
        "appeal_due": case.appeal_due,
        "appeal_decision_due": case.appeal_decision_due,
    }


def pending_deadline(case: DisputeCase, now: datetime) -> tuple[str, datetime] | None:
    """(name, time) of the deadline of the step the case waits for, or None."""
    status = effective_status(case, now)
    if status == "filed":
        return "response_due", case.response_due
    if status == "under_review":
        return "decision_due", case.decision_due
    if status == "appealed" and case.appeal_decision_due is not None:
        return "appeal_decision_due", case.appeal_decision_due
    if status == "decided" and case.appeal_due is not None:
        return "appeal_due", case.appeal_due
    return None


def is_overdue(case: DisputeCase, now: datetime) -> bool:
    """True when the bureau's next step (accept, decide, decide the appeal) is late."""
    due = pending_deadline(case, now)
    return due is not None and due[0] != "appeal_due" and now > due[1]


def _overdue_clause(now: datetime) -> ColumnElement[bool]:
    c = DisputeCase
    return or_(
        and_(c.status == "filed", c.response_due < now),
        and_(c.status == "under_review", c.decision_due < now),
        and_(c.status == "appealed", c.appeal_decision_due < now),
    )


def _status_clause(status: str, now: datetime) -> ColumnElement[bool]:
    c = DisputeCase
    if status == "closed":
        return or_(c.status == "closed", and_(c.status == "decided", c.appeal_due < now))
    if status == "decided":
        return and_(c.status == "decided", c.appeal_due >= now)
    return c.status == status


def list_statement(
    now: datetime,
    *,
    visible_to: str | None = None,
    status: str | None = None,
    org: str | None = None,
    overdue: bool | None = None,
    subject_type: str | None = None,
) -> Select[Any]:
    """Cases matching the filters; ``visible_to`` limits them to one party organisation."""
    c = DisputeCase
    stmt = select(c)
    if visible_to is not None:
        stmt = stmt.where(or_(c.claimant == visible_to, c.respondent == visible_to))
    if org:
        stmt = stmt.where(or_(c.claimant == org, c.respondent == org))
    if status:
        if status not in STATUSES:
            raise InvalidInput(f"one of {', '.join(STATUSES)}", field="status")
        stmt = stmt.where(_status_clause(status, now))
    if subject_type:
        stmt = stmt.where(c.subject_type == subject_type)
    if overdue is not None:
        clause = _overdue_clause(now)
        stmt = stmt.where(clause if overdue else ~clause)
    return stmt


def overdue_cases(session: Session, now: datetime) -> list[DisputeCase]:
    """Cases whose awaited step is late, the longest overdue first (the supervision desk)."""
    c = DisputeCase
    rows = session.scalars(select(c).where(_overdue_clause(now)).order_by(c.id)).all()
    return sorted(rows, key=lambda case: (pending_deadline(case, now) or ("", now))[1])


def _expect(case: DisputeCase, now: datetime, *allowed: str) -> str:
    status = effective_status(case, now)
    if status not in allowed:
        raise Conflict(
            f"case {case.id} is {status}; this step needs it {' or '.join(allowed)}",
            field="status",
        )
    return status


def accept(
    session: Session, case: DisputeCase, *, accepted: bool, reason: str, actor: Actor, now: datetime
) -> DisputeCase:
    """Accept the case for review, or refuse it as out of scope (a reason is required)."""
    _expect(case, now, "filed")
    case.handled_by = actor.name
    if accepted:
        case.status, case.accepted_at = "under_review", now
        record_event(session, case, "accepted", actor, now, reason.strip())
    else:
        case.refusal_reason = _text(reason, "reason", "why the case is out of scope")
        case.status, case.closed_at = "refused", now
        record_event(session, case, "refused", actor, now, case.refusal_reason)
    session.flush()
    return case


def party_side(case: DisputeCase, actor: Actor) -> str:
    """The actor's side; Forbidden (naming ``id``) when its organisation is not a party."""
    side = side_of(case, actor.organisation)
    if side is None:
        raise Forbidden(f"{actor.organisation} is not a party to case {case.id}", field="id")
    return side


def check_hearing_open(case: DisputeCase, now: datetime) -> None:
    """Claims and evidence are taken while the case is filed or under review, until the
    evidence deadline (Conflict naming ``status`` or ``evidence_due`` otherwise)."""
    _expect(case, now, *OPEN_FOR_CLAIMS)
    if now > case.evidence_due:
        raise Conflict(
            f"the evidence deadline of case {case.id} passed at {case.evidence_due.isoformat()}",
            field="evidence_due",
        )


def add_claim(
    session: Session, case: DisputeCase, *, text: str, actor: Actor, now: datetime
) -> DisputeClaim:
    """A party states (more of) its case."""
    side = party_side(case, actor)
    check_hearing_open(case, now)
    claim = DisputeClaim(
        case_id=case.id,
        side=side,
        organisation=actor.organisation,
        author=actor.name,
        text=_text(text, "text", "what you claim"),
        at=now,
    )
    session.add(claim)
    session.flush()
    record_event(session, case, "claim", actor, now, f"{side}: {claim.text[:200]}")
    return claim


def _outcome(outcome: str) -> str:
    if outcome not in OUTCOMES:
        raise InvalidInput(f"one of {', '.join(OUTCOMES)}", field="outcome")
    return outcome


def decide(
    session: Session, case: DisputeCase, *, outcome: str, text: str, actor: Actor, now: datetime
) -> DisputeCase:
    """The decision of a case under review; the appeal window opens."""
    _expect(case, now, "under_review")
    case.outcome = _outcome(outcome)
    case.decision = _text(text, "text", "the reasons of the decision")
    case.decided_at, case.decided_by = now, actor.name
    case.appeal_due = now + timedelta(days=APPEAL_DAYS)
    case.status = "decided"
    session.flush()
    record_event(session, case, "decided", actor, now, f"{case.outcome}: {case.decision[:200]}")
    return case


def appeal(
    session: Session, case: DisputeCase, *, reason: str, actor: Actor, now: datetime
) -> DisputeCase:
    """A party appeals the decision, once, within the appeal window."""
    side = party_side(case, actor)
    if case.status == "decided" and case.appeal_due is not None and now > case.appeal_due:
        raise Conflict(
            f"the appeal window of case {case.id} closed at {case.appeal_due.isoformat()}",
            field="appeal_due",
        )
    if case.appealed_at is not None:
        raise Conflict(f"case {case.id} was already appealed; one appeal only", field="status")
    _expect(case, now, "decided")
    case.appeal_reason = _text(reason, "reason", "why the decision is wrong")
    case.appeal_side, case.appealed_at, case.appealed_by = side, now, actor.name
    case.appeal_decision_due = now + timedelta(days=APPEAL_DECISION_DAYS)
    case.status = "appealed"
    session.flush()
    record_event(session, case, "appealed", actor, now, f"{side}: {case.appeal_reason[:200]}")
    return case


def decide_appeal(
    session: Session, case: DisputeCase, *, outcome: str, text: str, actor: Actor, now: datetime
) -> DisputeCase:
    """The appeal decision; the case closes."""
    _expect(case, now, "appealed")
    case.appeal_outcome = _outcome(outcome)
    case.appeal_decision = _text(text, "text", "the reasons of the appeal decision")
    case.appeal_decided_at, case.appeal_decided_by = now, actor.name
    case.status, case.closed_at = "closed", now
    session.flush()
    detail = f"{case.appeal_outcome}: {case.appeal_decision[:200]}"
    record_event(session, case, "appeal_decided", actor, now, detail)
    return case


def claims(session: Session, case_id: int) -> list[DisputeClaim]:
    """The case's claims, in order."""
    stmt = select(DisputeClaim).where(DisputeClaim.case_id == case_id).order_by(DisputeClaim.id)
    return list(session.scalars(stmt))


def timeline(session: Session, case_id: int) -> list[DisputeEvent]:
    """The case's steps, in order."""
    stmt = select(DisputeEvent).where(DisputeEvent.case_id == case_id).order_by(DisputeEvent.id)
    return list(session.scalars(stmt))
