"""Dispute desk routes (Art18): ``/disputes/...`` — file, list, read, claim, cite evidence,
download the evidence bundle, accept or refuse, decide, appeal, decide the appeal.

Every route passes the gate. A case's parties are brought to the policies as context
(``party``: the caller's organisation is the claimant or the respondent; ``first_decider``:
the caller decided the case at first instance), so the policy set stays general.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from citybrain.governance.disputes import evidence, service
from citybrain.governance.disputes.models import DisputeCase
from citybrain.governance.disputes.schemas import (
    AcceptIn,
    AppealIn,
    CaseDecided,
    CaseFiled,
    CaseOut,
    CaseSummary,
    ClaimIn,
    ClaimOut,
    DecisionIn,
    EvidenceIn,
    EvidenceOut,
    FileIn,
    Status,
    SubjectType,
)
from citybrain.kernel.errors import Forbidden
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.http import (
    CursorQuery,
    Governed,
    GovernedDep,
    LimitQuery,
    Page,
    keyset_page,
    problem_responses,
)
from citybrain.ledger.bundle import content_sha256

GATE_ACTIONS: dict[str, str] = {
    "disputes.file": "admin",  # a party's clerk opens a case
    "disputes.list": "access",  # list cases (rows limited to the caller's own but for overseers)
    "disputes.read": "access",  # one case with its timeline, deadlines and evidence
    "disputes.claim": "admin",  # a party adds a claim
    "disputes.evidence": "admin",  # a party (or the bureau) cites a record
    "disputes.bundle": "export",  # the case's evidence bundle, downloaded
    "disputes.accept": "admin",  # the bureau accepts or refuses the case
    "disputes.decide": "admin",  # the bureau decides the case
    "disputes.appeal": "admin",  # a party appeals the decision
    "disputes.appeal_decide": "admin",  # the bureau decides the appeal
}
OWN_CLAIMANT = "disputes-claimant-is-own-organisation"  # decided by the route, ledgered
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
STATE_PROBLEMS = problem_responses(403, 404, 409, 422)


def register_gate_actions() -> None:
    """Declare the dispute gate actions (idempotent)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


router = APIRouter(tags=["disputes"])


def _actor(g: Governed) -> service.Actor:
    return service.Actor(g.caller.name, g.caller.organisation, g.request_id)


def _bureau(g: Governed) -> bool:
    """The bureau cites any record: its staff, or a caller of the city's own organisation."""
    return g.caller.organisation == g.runtime.settings.city_code or any(
        r in service.BUREAU_ROLES for r in g.caller.roles
    )


def _facts(g: Governed, case: DisputeCase | None) -> dict[str, Any]:
    if case is None:
        return {"party": False, "first_decider": False}
    return {
        "party": service.side_of(case, g.caller.organisation) is not None,
        "first_decider": case.decided_by == g.caller.name,
    }


def _case_res(case_id: int, case: DisputeCase | None) -> Resource:
    return Resource("DisputeCase", str(case_id), case.claimant if case else None)


def _prepare(g: Governed, case_id: int) -> tuple[Resource, dict[str, Any]]:
    """Resource and policy facts of a case, read before a change (a missing case gives no
    party: only overseers pass the gate, then meet 404)."""
    with g.runtime.reader() as session:
        case = session.get(DisputeCase, case_id)
        return _case_res(case_id, case), _facts(g, case)


def _facts_of(g: Governed, case_id: int) -> Callable[[Session], dict[str, Any]]:
    return lambda session: _facts(g, session.get(DisputeCase, case_id))


def _case_out(session: Session, case: DisputeCase, g: Governed) -> CaseOut:
    return CaseOut(**evidence.case_document(session, case, g.runtime.clock()))


@router.post(
    "/disputes", response_model=CaseOut, status_code=201, responses=problem_responses(403, 422)
)
def file_case(body: FileIn, g: GovernedDep) -> CaseOut:
    """File a case for the caller's organisation against a respondent: the hub (the city's
    bureau) or another organisation. Deadlines run from now. (``claimant`` lets the bureau's
    staff record a case for another organisation.)"""
    claimant = body.claimant or g.caller.organisation
    staff = any(r in service.BUREAU_ROLES for r in g.caller.roles)
    res = Resource("DisputeCase", "new", claimant)
    if claimant != g.caller.organisation and not staff:  # else it could not see its own case
        g.runtime.gate.record_denial(
            g.caller, "disputes.file", res, request_id=g.request_id, policy_ids=(OWN_CLAIMANT,)
        )
        raise Forbidden(
            "a clerk files for its own organisation", field="claimant", policies=[OWN_CLAIMANT]
        )
    purpose = f"{body.subject_type} against {body.respondent}"
    with g.act("disputes.file", res, purpose=purpose) as session:
        case = service.file_case(
            session,
            claimant=claimant,
            respondent=body.respondent,
            subject_type=body.subject_type,
            title=body.title,
            claim=body.claim,
            dataset=body.dataset,
            actor=_actor(g),
            now=g.runtime.clock(),
        )
        out = _case_out(session, case, g)
    g.runtime.bus.publish(
        CaseFiled(
            ts=g.runtime.clock(),
            case_id=out.id,
            claimant=out.claimant,
            respondent=out.respondent,
            subject_type=out.subject_type,
            response_due=out.deadlines.response_due,
        )
    )
    return out


@router.get("/disputes", response_model=Page[CaseSummary])
def list_cases(
    g: GovernedDep,
    status: Status | None = None,
    org: Annotated[str | None, Query(min_length=1, max_length=18)] = None,
    overdue: bool | None = None,
    subject_type: SubjectType | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[CaseSummary]:
    """Cases of the caller's organisation (every case for supervisors, operators and
    auditors), oldest first; filter by status, party organisation, overdue, subject type."""
    now = g.runtime.clock()
    overseer = any(r in service.OVERSEER_ROLES for r in g.caller.roles)
    stmt = service.list_statement(
        now,
        visible_to=None if overseer else g.caller.organisation,
        status=status,
        org=org,
        overdue=overdue,
        subject_type=subject_type,
    )
    with g.read("disputes.list", Resource("Disputes", "cases")) as session:
        return keyset_page(
            session,
            stmt,
            DisputeCase.id,
            cursor,
            limit,
            lambda c: CaseSummary(**evidence.case_document(session, c, now)),
        )


@router.get("/disputes/{id}", response_model=CaseOut, responses=problem_responses(403, 404))
def get_case(id: CaseId, g: GovernedDep) -> CaseOut:
    """A case with its deadlines, overdue flag, claims, evidence and timeline (to its
    parties, supervisors, operators and auditors)."""
    with g.read("disputes.read", Resource("DisputeCase", str(id)), context=_facts_of(g, id)) as s:
        return _case_out(s, service.get_case(s, id), g)


@router.post(
    "/disputes/{id}/claims", response_model=ClaimOut, status_code=201, responses=STATE_PROBLEMS
)
def add_claim(id: CaseId, body: ClaimIn, g: GovernedDep) -> ClaimOut:
    """A party adds a claim while the hearing is open (until the evidence deadline)."""
    res, facts = _prepare(g, id)
    with g.act("disputes.claim", res, purpose=f"claim in case {id}", context=facts) as session:
        case = service.get_case(session, id)
        claim = service.add_claim(
            session, case, text=body.text, actor=_actor(g), now=g.runtime.clock()
        )
        return ClaimOut.model_validate(claim, from_attributes=True)


@router.post(
    "/disputes/{id}/evidence",
    response_model=EvidenceOut,
    status_code=201,
    responses=STATE_PROBLEMS,
)
def add_evidence(id: CaseId, body: EvidenceIn, g: GovernedDep) -> EvidenceOut:
    """Cite a ledger entry, a quality score or a batch. A party cites its own organisation's
    records (ledger entries it made or that name its datasets); the bureau cites any. The
    record's SHA-256 is written in this action's ledger entry."""
    kind, ref = body.cited()
    res, facts = _prepare(g, id)
    bureau = _bureau(g)
    sha = None
    if facts["party"] or bureau:  # others are refused by the gate below; tell them nothing
        with g.runtime.reader() as session:
            _, content = evidence.cited_record(
                session,
                g.runtime.ledger,
                kind,
                ref,
                organisation=g.caller.organisation,
                bureau=bureau,
            )
        sha = content_sha256(content)
    purpose = f"case {id} cites {kind} {ref}" + (f" sha256={sha}" if sha else "")
    with g.act("disputes.evidence", res, purpose=purpose, context=facts) as session:
        item = evidence.add_evidence(
            session,
            g.runtime.ledger,
            service.get_case(session, id),
            kind=kind,
            ref=ref,
            note=body.note,
            actor=_actor(g),
            bureau=bureau,
            staff=any(r in service.BUREAU_ROLES for r in g.caller.roles),
            now=g.runtime.clock(),
            expected_sha256=sha,
        )
        return EvidenceOut.model_validate(item, from_attributes=True)


@router.get(
    "/disputes/{id}/evidence-bundle",
    responses={200: {"content": {"application/json": {}}}} | problem_responses(403, 404),
)
def evidence_bundle(id: CaseId, g: GovernedDep) -> JSONResponse:
    """The case's evidence bundle (``citybrain-evidence/1``): every cited ledger entry and
    every entry of the timeline with inclusion proofs to one signed checkpoint, the cited
    records as hashed attachments, the case file as subject. Check it offline with
    ``citybrain ledger verify-bundle FILE --checkpoints EXPORT``."""
    res = Resource("DisputeCase", str(id))
    with g.read("disputes.bundle", res, context=_facts_of(g, id)) as session:
        case = service.get_case(session, id)
        material = evidence.bundle_material(session, case, g.runtime.clock())
    doc = evidence.make_bundle(g.runtime, *material)  # after the read is on record
    return JSONResponse(
        doc, headers={"Content-Disposition": f'attachment; filename="dispute-{id}-evidence.json"'}
    )


@router.post("/disputes/{id}/accept", response_model=CaseOut, responses=STATE_PROBLEMS)
def accept_case(id: CaseId, body: AcceptIn, g: GovernedDep) -> CaseOut:
    """The bureau accepts the case for review (the hearing opens), or refuses it as out of
    scope with a reason."""
    res, facts = _prepare(g, id)
    verb = "accept" if body.accept else "refuse"
    with g.act("disputes.accept", res, purpose=f"{verb} case {id}", context=facts) as session:
        case = service.accept(
            session,
            service.get_case(session, id),
            accepted=body.accept,
            reason=body.reason,
            actor=_actor(g),
            now=g.runtime.clock(),
        )
        return _case_out(session, case, g)


def _decided(out: CaseOut, stage: str, outcome: str, g: Governed) -> CaseDecided:
    return CaseDecided(
        ts=g.runtime.clock(),
        case_id=out.id,
        stage=stage,  # type: ignore[arg-type]
        outcome=outcome,
        claimant=out.claimant,
        respondent=out.respondent,
        decided_by=g.caller.name,
    )


@router.post("/disputes/{id}/decision", response_model=CaseOut, responses=STATE_PROBLEMS)
def decide_case(id: CaseId, body: DecisionIn, g: GovernedDep) -> CaseOut:
    """A supervisor or operator decides a case under review; the appeal window opens."""
    res, facts = _prepare(g, id)
    purpose = f"decide case {id}: {body.outcome}"
    with g.act("disputes.decide", res, purpose=purpose, context=facts) as session:
        case = service.decide(
            session,
            service.get_case(session, id),
            outcome=body.outcome,
            text=body.text,
            actor=_actor(g),
            now=g.runtime.clock(),
        )
        out = _case_out(session, case, g)
    g.runtime.bus.publish(_decided(out, "first", body.outcome, g))
    return out


@router.post("/disputes/{id}/appeal", response_model=CaseOut, responses=STATE_PROBLEMS)
def appeal_case(id: CaseId, body: AppealIn, g: GovernedDep) -> CaseOut:
    """Either party appeals the decision, once, before ``appeal_due``."""
    res, facts = _prepare(g, id)
    with g.act("disputes.appeal", res, purpose=f"appeal case {id}", context=facts) as session:
        case = service.appeal(
            session,
            service.get_case(session, id),
            reason=body.reason,
            actor=_actor(g),
            now=g.runtime.clock(),
        )
        return _case_out(session, case, g)


@router.post("/disputes/{id}/appeal-decision", response_model=CaseOut, responses=STATE_PROBLEMS)
def decide_appeal(id: CaseId, body: DecisionIn, g: GovernedDep) -> CaseOut:
    """A supervisor or operator other than the first decider decides the appeal; the case
    closes."""
    res, facts = _prepare(g, id)
    purpose = f"decide appeal of case {id}: {body.outcome}"
    with g.act("disputes.appeal_decide", res, purpose=purpose, context=facts) as session:
        case = service.decide_appeal(
            session,
            service.get_case(session, id),
            outcome=body.outcome,
            text=body.text,
            actor=_actor(g),
            now=g.runtime.clock(),
        )
        out = _case_out(session, case, g)
    g.runtime.bus.publish(_decided(out, "appeal", body.outcome, g))
    return out


ROUTERS = [router]
