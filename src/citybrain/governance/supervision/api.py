"""Supervision routes: ``/supervision/...`` — detection rules (data, versioned), findings with
their articles, handling, and evidence bundles an outsider can verify offline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from citybrain.governance.supervision import reports, service
from citybrain.governance.supervision import rules as rulebook
from citybrain.governance.supervision.detector import DETECT_ACTION, detector_of
from citybrain.governance.supervision.models import Finding, SupervisionRule
from citybrain.governance.supervision.report_pdf import file_name, render_pdf
from citybrain.kernel.errors import NotFound
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.http import CursorQuery, GovernedDep, LimitQuery, Page, keyset_page
from citybrain.kernel.i18n import LOCALES
from citybrain.kernel.schemas import Input

GATE_ACTIONS: dict[str, str] = {
    "supervision.read": "access",  # findings and rules
    "supervision.handle": "admin",  # acknowledge, resolve, dismiss, reopen; scan now
    "supervision.rules": "admin",  # add or change a rule (a new version)
    "supervision.evidence": "export",  # a finding's evidence bundle, downloaded
    "supervision.report": "access",  # an organisation's oversight report (page or PDF)
    DETECT_ACTION: "admin",  # the detector recording findings
}
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


def register_gate_actions() -> None:
    """Declare the supervision gate actions (idempotent)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


router = APIRouter(tags=["supervision"])


class RuleOut(BaseModel):
    """A rule in force (its newest version)."""

    code: str
    version: int
    kind: str
    params: dict[str, Any]
    article: str
    severity: str
    enabled: bool
    title_zh: str
    title_en: str
    created_at: datetime
    created_by: str
    note: str


class RuleChangeIn(Input):
    """What to change in a rule; omitted parts stay as they are."""

    params: dict[str, Any] | None = None
    article: str | None = Field(None, max_length=10)
    severity: str | None = Field(None, max_length=10)
    enabled: bool | None = None
    title_zh: str | None = Field(None, min_length=1, max_length=200)
    title_en: str | None = Field(None, min_length=1, max_length=200)
    note: str = Field("", max_length=2000)


class RuleIn(Input):
    """A new rule of a known kind."""

    code: str = Field(min_length=2, max_length=60)
    kind: str = Field(max_length=40)
    params: dict[str, Any]
    article: str = Field(max_length=10)
    severity: str = Field(max_length=10)
    enabled: bool = True
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=2000)


class FindingOut(BaseModel):
    """A finding: the rule (and version) behind it, the article, whom it concerns, what was
    measured, the entries it rests on, and how supervisors handled it."""

    id: int
    rule: str
    rule_version: int
    article: str
    severity: str
    status: str
    actor: str
    organisation: str
    resource: str
    facts: dict[str, Any]
    first_seq: int
    last_seq: int
    evidence_count: int
    occurred_at: datetime
    detected_at: datetime
    handled_by: str | None
    handled_at: datetime | None
    note: str
    evidence: list[int] | None = None


class StatusIn(Input):
    """The status to move a finding to, and why."""

    status: str = Field(max_length=20)
    note: str = Field("", max_length=2000)


class ScanOut(BaseModel):
    """What a scan did."""

    read: int
    opened: list[int]


def rule_out(r: SupervisionRule) -> RuleOut:
    """The API form of a rule row."""
    return RuleOut(
        code=r.code,
        version=r.version,
        kind=r.kind,
        params=r.params,
        article=r.article,
        severity=r.severity,
        enabled=r.enabled,
        title_zh=r.title_zh,
        title_en=r.title_en,
        created_at=r.created_at,
        created_by=r.created_by,
        note=r.note,
    )


def finding_out(f: Finding, evidence: list[int] | None = None) -> FindingOut:
    """The API form of a finding."""
    return FindingOut(
        id=f.id,
        rule=f.rule_code,
        rule_version=f.rule_version,
        article=f.article,
        severity=f.severity,
        status=f.status,
        actor=f.actor,
        organisation=f.organisation,
        resource=f.resource,
        facts=f.facts,
        first_seq=f.first_seq,
        last_seq=f.last_seq,
        evidence_count=f.evidence_count,
        occurred_at=f.occurred_at,
        detected_at=f.detected_at,
        handled_by=f.handled_by,
        handled_at=f.handled_at,
        note=f.note,
        evidence=evidence,
    )


RULES = Resource("Supervision", "rules")


@router.get("/supervision/rules", response_model=list[RuleOut])
def list_rules(g: GovernedDep) -> list[RuleOut]:
    """Every rule (newest version), on or off."""
    with g.act("supervision.read", RULES, purpose="rules") as session:
        rulebook.ensure_default_rules(session, g.runtime.clock())
        return [rule_out(r) for r in rulebook.current_rules(session)]


@router.post("/supervision/rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, g: GovernedDep) -> RuleOut:
    """Add a rule of a known kind (version 1)."""
    with g.act("supervision.rules", RULES, purpose=f"add rule {body.code}") as session:
        fields = body.model_dump()
        return rule_out(
            rulebook.create_rule(session, fields, actor=g.caller.name, now=g.runtime.clock())
        )


@router.put("/supervision/rules/{code}", response_model=RuleOut)
def change_rule(code: str, body: RuleChangeIn, g: GovernedDep) -> RuleOut:
    """A new version of a rule (parameters, article, severity, on/off); findings keep citing
    the version that raised them."""
    purpose = f"change rule {code}: {body.note}"[:400]
    with g.act("supervision.rules", RULES, purpose=purpose) as session:
        rulebook.ensure_default_rules(session, g.runtime.clock())
        changes = body.model_dump(exclude_unset=True)
        row = rulebook.change_rule(
            session, code, changes, actor=g.caller.name, now=g.runtime.clock()
        )
        return rule_out(row)


def _own_only(g: Any) -> str | None:
    """The organisation a caller is limited to (None for the bureau's overseers)."""
    return None if service.OVERSEERS.intersection(g.caller.roles) else g.caller.organisation


@router.get("/supervision/findings", response_model=Page[FindingOut])
def list_findings(
    g: GovernedDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    article: Annotated[str | None, Query(max_length=10)] = None,
    rule: Annotated[str | None, Query(max_length=60)] = None,
    org: Annotated[str | None, Query(max_length=200)] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[FindingOut]:
    """Findings, newest first by id order of the page; a clerk sees its organisation's."""
    stmt = service.findings_query(
        status=status,
        article=article,
        rule=rule,
        organisation=org,
        only_organisation=_own_only(g),
    )
    res = Resource("Supervision", "findings", _own_only(g))
    with g.read("supervision.read", res, purpose="findings") as session:
        return keyset_page(session, stmt, Finding.id, cursor, limit, finding_out)


def _visible_finding(g: Any, session: Any, id: int) -> Finding:
    f = service.get_finding(session, id)
    own = _own_only(g)
    if own is not None and f.organisation != own:
        raise NotFound(f"no finding {id}", field="id")
    return f


@router.get("/supervision/findings/{id}", response_model=FindingOut)
def get_finding(id: IdPath, g: GovernedDep) -> FindingOut:
    """One finding with the seqs of the entries it rests on."""
    res = Resource("Finding", str(id), _own_only(g))
    with g.read("supervision.read", res, purpose=f"finding {id}") as session:
        f = _visible_finding(g, session, id)
        return finding_out(f, service.evidence_seqs(session, id))


@router.post("/supervision/findings/{id}/status", response_model=FindingOut)
def handle_finding(id: IdPath, body: StatusIn, g: GovernedDep) -> FindingOut:
    """Acknowledge, resolve, dismiss (say why) or reopen a finding."""
    res = Resource("Finding", str(id))
    purpose = f"finding {id} → {body.status}: {body.note}"[:400]
    with g.act("supervision.handle", res, purpose=purpose) as session:
        f = service.get_finding(session, id)
        service.move(
            session, f, body.status, actor=g.caller.name, note=body.note, now=g.runtime.clock()
        )
        return finding_out(f)


@router.get("/supervision/findings/{id}/evidence")
def finding_evidence(id: IdPath, g: GovernedDep) -> dict[str, Any]:
    """The finding's evidence bundle: its entries with inclusion proofs to a signed checkpoint.
    Check it offline with ``citybrain ledger verify-bundle FILE --checkpoints EXPORT``."""
    res = Resource("Finding", str(id), _own_only(g))
    with g.read("supervision.evidence", res, purpose=f"evidence of finding {id}") as session:
        _visible_finding(g, session, id)
    return service.evidence_bundle(g.runtime, id)


@router.post("/supervision/scan", response_model=ScanOut)
def scan(g: GovernedDep) -> ScanOut:
    """Read the ledger to its end and run the clock-driven rules now (the background detector
    does this on its own; this is for operators and tests)."""
    with g.act("supervision.handle", Resource("Supervision", "scan"), purpose="scan now"):
        pass
    detector = detector_of(g.runtime)
    stepped = detector.catch_up()
    return ScanOut(read=stepped.read, opened=stepped.opened + detector.sweep().opened)


OrgPath = Annotated[str, Path(min_length=1, max_length=18, description="organisation code")]
SinceQuery = Annotated[
    date | None, Query(description="first local day (UTC+08:00), default 29 days before until")
]
UntilQuery = Annotated[date | None, Query(description="last local day, default today")]


def _org_report(g: Any, org: str, since: date | None, until: date | None) -> dict[str, Any]:
    now = g.runtime.clock()
    period = reports.period_of(since, until, now)
    res = Resource("OversightReport", org, org)
    purpose = f"oversight report {org} {period.since}..{period.until}"
    with g.read("supervision.report", res, purpose=purpose) as session:
        return reports.build_report(session, org, period, now)


@router.get("/supervision/org-reports/{org}")
def org_report(
    org: OrgPath, g: GovernedDep, since: SinceQuery = None, until: UntilQuery = None
) -> dict[str, Any]:
    """An organisation's oversight report for a period: ledger actions by type, grants given and
    received, findings by article, security incidents, public reports and disputes, risk
    bulletins, dataset quality (supervisors: any organisation; clerks: their own)."""
    return _org_report(g, org, since, until)


@router.get(
    "/supervision/org-reports/{org}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the report as PDF"}},
)
def org_report_pdf(
    org: OrgPath,
    g: GovernedDep,
    since: SinceQuery = None,
    until: UntilQuery = None,
    lang: Annotated[str, Query(pattern="^(zh-CN|en)$")] = "zh-CN",
) -> Response:
    """The same report as a PDF, in ``lang`` (zh-CN or en)."""
    report = _org_report(g, org, since, until)
    locale = lang if lang in LOCALES else "zh-CN"
    return Response(
        render_pdf(report, locale),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{file_name(report)}"'},
    )


ROUTERS: list[APIRouter] = [router]
