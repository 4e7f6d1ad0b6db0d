"""Report desk routes (Art16 ¶2): ``/reports`` — anyone files a report and follows it by its
receipt code; the bureau's supervisors triage, investigate and close cases and, alone, open
the reporter's identity (each opening ledgered)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.governance.reportdesk import service
from citybrain.governance.reportdesk.models import ReportCase, ReportEvent
from citybrain.governance.reportdesk.schemas import (
    CaseOut,
    CaseSummary,
    Category,
    FiledOut,
    FollowOut,
    PublicStepOut,
    ReceiptIn,
    ReporterOut,
    ReportIn,
    Status,
    StatusIn,
    StepOut,
    TriageIn,
)
from citybrain.kernel.db import PerDatabase
from citybrain.kernel.errors import InvalidInput, NotFound
from citybrain.kernel.events import Event
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.http import (
    CursorQuery,
    Governed,
    GovernedDep,
    LimitQuery,
    Page,
    PublicDep,
    keyset_page,
    problem_responses,
)
from citybrain.kernel.identity.throttle import LoginThrottle

GATE_ACTIONS: dict[str, str] = {
    "reportdesk.file": "collect",  # a report (and perhaps its reporter's identity) received
    "reportdesk.follow": "access",  # the reporter reads the case by receipt code
    "reportdesk.read": "access",  # staff list and read cases (never the identity)
    "reportdesk.triage": "admin",  # severity and the supervisor in charge
    "reportdesk.status": "admin",  # a move along the lifecycle
    "reportdesk.identity.read": "access",  # a supervisor opens the reporter's identity
}


def register_gate_actions() -> None:
    """Declare the report desk's gate actions (idempotent)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


router = APIRouter(tags=["reportdesk"])


class CaseFiled(Event):
    """A report was filed (for the supervision desk)."""

    topic: ClassVar[str] = "governance.reportdesk.case_filed"
    case_id: int
    number: str
    category: str
    organisation: str | None = None
    dataset: str | None = None


class CaseUpdated(Event):
    """A case was triaged, reassigned or changed status."""

    topic: ClassVar[str] = "governance.reportdesk.case_updated"
    case_id: int
    number: str
    category: str
    organisation: str | None = None
    status: str
    previous_status: str
    severity: str | None = None
    assignee: str | None = None


# Abuse limits per client address, in process (like the login throttle): REPORTS_PER_WINDOW
# filings, and FOLLOW_FAILURES unknown or malformed receipt codes, per window; then 429 with
# Retry-After. 80-bit codes at 10 guesses per 10 minutes cannot be found by trying.
REPORTS_PER_WINDOW, REPORT_WINDOW_S = 5, 600.0
FOLLOW_FAILURES, FOLLOW_WINDOW_S = 10, 600.0
_FILINGS: PerDatabase[LoginThrottle] = PerDatabase(
    lambda: LoginThrottle(
        limit=REPORTS_PER_WINDOW,
        addr_limit=REPORTS_PER_WINDOW,
        window_s=REPORT_WINDOW_S,
        what="reports from this address",
    )
)
_LOOKUPS: PerDatabase[LoginThrottle] = PerDatabase(
    lambda: LoginThrottle(
        limit=FOLLOW_FAILURES,
        addr_limit=FOLLOW_FAILURES,
        window_s=FOLLOW_WINDOW_S,
        what="failed receipt lookups",
    )
)
DESK = Resource("ReportDesk", "reports")


def _address(request: Request) -> str:
    return f"addr:{request.client.host if request.client else '?'}"


@router.post(
    "/reports", response_model=FiledOut, status_code=201, responses=problem_responses(422, 429)
)
def file_report(body: ReportIn, g: PublicDep, request: Request) -> FiledOut:
    """File a report, signed in or not. ``reporter`` (all optional) is sealed at rest and only
    supervisors can open it; leave it out to stay anonymous. The answer carries the receipt
    code, shown this once: keep it to follow the case. At most REPORTS_PER_WINDOW reports per
    address in ten minutes (then 429 with Retry-After)."""
    throttle, key = _FILINGS.of(g.runtime.engine), _address(request)
    throttle.check(key)
    with g.act("reportdesk.file", DESK, purpose=f"report: {body.category}") as session:
        case, code = service.file_report(
            session,
            g.runtime.settings,
            category=body.category,
            description=body.description,
            now=g.runtime.clock(),
            organisation=body.organisation,
            dataset=body.dataset,
            occurred_on=body.occurred_on,
            reporter=body.reporter.model_dump() if body.reporter else None,
            contact_consent=body.contact_consent,
        )
        out = FiledOut(
            id=case.id,
            number=case.number,
            receipt_code=code,
            status="received",
            created_at=case.created_at,
        )
        event = CaseFiled(
            case_id=case.id,
            number=case.number,
            category=case.category,
            organisation=case.organisation,
            dataset=case.dataset,
        )
    throttle.failed(key)  # counts filings, not failures
    g.runtime.bus.publish(event)
    return out


@router.post(
    "/reports/receipt", response_model=FollowOut, responses=problem_responses(404, 422, 429)
)
def follow_report(body: ReceiptIn, g: PublicDep, request: Request) -> FollowOut:
    """The status and history of a report, by its receipt code (sent in the body, so that it
    stays out of URLs and access logs). No staff names, no identity. Ten unknown or malformed
    codes from one address in ten minutes: 429 with Retry-After."""
    throttle, key = _LOOKUPS.of(g.runtime.engine), _address(request)
    throttle.check(key)
    try:
        with g.read("reportdesk.follow", DESK, purpose="follow a report by receipt") as session:
            case = service.find_by_receipt(session, body.code)
            return FollowOut(
                number=case.number,
                category=case.category,  # type: ignore[arg-type]
                status=case.status,  # type: ignore[arg-type]
                outcome=case.outcome,
                created_at=case.created_at,
                updated_at=case.updated_at,
                timeline=[PublicStepOut(**s) for s in service.reporter_timeline(session, case.id)],
            )
    except (NotFound, InvalidInput):
        throttle.failed(key)
        raise


def _summary(case: ReportCase) -> CaseSummary:
    return CaseSummary(
        id=case.id,
        number=case.number,
        category=case.category,  # type: ignore[arg-type]
        organisation=case.organisation,
        dataset=case.dataset,
        status=case.status,  # type: ignore[arg-type]
        severity=case.severity,  # type: ignore[arg-type]
        assignee=case.assignee,
        anonymous=case.reporter_identity is None,
        contact_consent=case.contact_consent,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def _step(e: ReportEvent) -> StepOut:
    return StepOut(
        at=e.at,
        actor=e.actor,
        kind=e.kind,
        status=e.status,  # type: ignore[arg-type]
        severity=e.severity,  # type: ignore[arg-type]
        assignee=e.assignee,
        public_text=e.public_text,
        note=e.note,
    )


def case_out(session: Session, case: ReportCase) -> CaseOut:
    """The staff's view of a case (no identity)."""
    steps = service.timeline(session, case.id)
    return CaseOut(
        **_summary(case).model_dump(),
        occurred_on=case.occurred_on,
        description=case.description,
        outcome=case.outcome,
        timeline=[_step(e) for e in steps],
    )


@router.get("/reports", response_model=Page[CaseSummary])
def list_reports(
    g: GovernedDep,
    status: Annotated[Status | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    organisation: Annotated[str | None, Query(max_length=18)] = None,
    assignee: Annotated[str | None, Query(max_length=100)] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[CaseSummary]:
    """Cases, oldest first, filtered by status, category, organisation concerned or assignee
    (supervisors, operators, auditors)."""
    stmt = select(ReportCase)
    for column, value in (
        (ReportCase.status, status),
        (ReportCase.category, category),
        (ReportCase.organisation, organisation),
        (ReportCase.assignee, assignee),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    with g.read("reportdesk.read", Resource("ReportDesk", "cases")) as session:
        return keyset_page(session, stmt, ReportCase.id, cursor, limit, _summary)


def _case(g: Governed, case_id: int) -> tuple[Resource, str]:
    """The gate's resource for a case and its number (NotFound naming ``id``)."""
    with g.runtime.reader() as session:
        case = service.get_case(session, case_id)
        return Resource("ReportCase", str(case.id)), case.number


@router.get("/reports/{id}", response_model=CaseOut)
def read_report(id: int, g: GovernedDep) -> CaseOut:
    """One case with its whole timeline, staff names included (never the identity)."""
    res, number = _case(g, id)
    with g.read("reportdesk.read", res, purpose=f"report case {number}") as session:
        return case_out(session, service.get_case(session, id))


def _updated(case: ReportCase, previous: str) -> CaseUpdated:
    return CaseUpdated(
        case_id=case.id,
        number=case.number,
        category=case.category,
        organisation=case.organisation,
        status=case.status,
        previous_status=previous,
        severity=case.severity,
        assignee=case.assignee,
    )


@router.post(
    "/reports/{id}/triage", response_model=CaseOut, responses=problem_responses(404, 409, 422)
)
def triage_report(id: int, body: TriageIn, g: GovernedDep) -> CaseOut:
    """Set the severity and the supervisor in charge: a received case becomes triaged; later,
    the same call reassigns it."""
    res, number = _case(g, id)
    purpose = f"triage report case {number}: {body.severity}, {body.assignee}"
    with g.act("reportdesk.triage", res, purpose=purpose) as session:
        case = service.get_case(session, id)
        previous = case.status
        service.triage(
            session,
            case,
            severity=body.severity,
            assignee=body.assignee,
            actor=g.caller.name,
            now=g.runtime.clock(),
        )
        out, event = case_out(session, case), _updated(case, previous)
    g.runtime.bus.publish(event)
    return out


@router.post(
    "/reports/{id}/status", response_model=CaseOut, responses=problem_responses(404, 409, 422)
)
def change_report_status(id: int, body: StatusIn, g: GovernedDep) -> CaseOut:
    """Move a case along received → triaged → investigating → resolved, or dismiss it while
    open; ``outcome`` (resolved) or the reason (dismissed) is shown to the reporter. A move the
    lifecycle does not allow: 409 naming where the case may go."""
    res, number = _case(g, id)
    purpose = f"report case {number} → {body.status}"
    with g.act("reportdesk.status", res, purpose=purpose) as session:
        case = service.get_case(session, id)
        previous = case.status
        service.change_status(
            session,
            case,
            status=body.status,
            actor=g.caller.name,
            now=g.runtime.clock(),
            outcome=body.outcome,
            note=body.note,
        )
        out, event = case_out(session, case), _updated(case, previous)
    g.runtime.bus.publish(event)
    return out


@router.get("/reports/{id}/reporter", response_model=ReporterOut)
def read_reporter(id: int, g: GovernedDep) -> ReporterOut:
    """The reporter's identity: supervisors only (not even administrators), each reading
    ledgered as its own access naming the case."""
    res, number = _case(g, id)
    purpose = f"reporter identity of report case {number}"
    with g.read("reportdesk.identity.read", res, purpose=purpose) as session:
        case = service.get_case(session, id)
        who = service.reporter_identity(session, g.runtime.settings, case)
        return ReporterOut(
            case=case.number,
            anonymous=who is None,
            contact_consent=case.contact_consent,
            **(who or {}),
        )


ROUTERS = (router,)
