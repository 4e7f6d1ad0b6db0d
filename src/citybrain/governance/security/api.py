"""Security responsibility routes (Art17): ``/security/officers``, ``/security/incidents``,
``/security/bulletins``. Thin: each goes through the gate, the logic is in the services.

Facts the policies need arrive as context: ``officer`` (the caller is the named security
officer or deputy of its own organisation) and, for a bulletin, ``addressed`` (the caller's
organisation is on its list).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from citybrain.governance.security import bulletins, incidents, service
from citybrain.governance.security.models import (
    BulletinRecipient,
    IncidentUpdate,
    RiskBulletin,
    SecurityIncident,
    SecurityOfficer,
)
from citybrain.governance.security.schemas import (
    AckCountsOut,
    AckOut,
    ActionIn,
    ActionOut,
    BulletinIn,
    BulletinIssued,
    BulletinOut,
    BulletinSummary,
    IncidentIn,
    IncidentOut,
    IncidentRegistered,
    IncidentSummary,
    IncidentUpdateIn,
    OfficerIn,
    OfficerOut,
    OfficersOut,
    OrganisationRef,
    OwnAckOut,
    Severity,
    Status,
    TimelineEntryOut,
)
from citybrain.kernel.errors import NotFound
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.http import CursorQuery, Governed, GovernedDep, LimitQuery, Page, keyset_page
from citybrain.kernel.identity.service import get_organisation

GATE_ACTIONS: dict[str, str] = {
    "security.officer.name": "admin",  # name an organisation's security officer
    "security.officer.read": "access",  # the officer directory
    "security.incident.register": "admin",  # register a security incident
    "security.incident.update": "admin",  # actions taken, status changes
    "security.incident.read": "access",  # incidents and their timeline
    "security.bulletin.issue": "admin",  # the bureau issues a risk bulletin
    "security.bulletin.read": "access",  # bulletins (and, for the bureau, acknowledgements)
    "security.bulletin.ack": "admin",  # an addressed organisation acknowledges
}
# Roles that see every organisation's officers, incidents and bulletins.
BUREAU = ("admin", "operator", "supervisor", "auditor")

OrgCode = Annotated[str, Path(min_length=1, max_length=18, description="credit code")]
OrgFilter = Annotated[str | None, Query(max_length=18, description="one organisation")]


def register_gate_actions() -> None:
    """Declare the security gate actions (idempotent)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


router = APIRouter(tags=["security"])


def _bureau(g: Governed) -> bool:
    return any(r in BUREAU for r in g.caller.roles)


def _officer_fact(g: Governed) -> dict[str, bool]:
    with g.runtime.reader() as session:
        return {"officer": service.is_officer(session, g.caller.name, g.caller.organisation)}


def _scope(g: Governed, kind: str, org: str | None) -> tuple[Resource, str | None]:
    """The register read and the organisation to filter by: the one asked for, else the
    caller's own (or every organisation, for the bureau)."""
    if org is None and _bureau(g):
        return Resource(kind, "all"), None
    target = org or g.caller.organisation
    return Resource(kind, target, target), target


# --- officers ---------------------------------------------------------------------------------


def _officer_out(session: Session, row: SecurityOfficer, name: str) -> OfficerOut:
    return OfficerOut(
        organisation=row.organisation,
        organisation_name=name,
        officer=row.officer,
        deputy=row.deputy,
        contact=row.contact,
        acting=service.officer_of(session, row.organisation),
        named_by=row.named_by,
        named_at=row.named_at,
    )


@router.put("/security/officers/{org_code}", response_model=OfficerOut)
def name_officer(org_code: OrgCode, body: OfficerIn, g: GovernedDep) -> OfficerOut:
    """Name the organisation's security officer (a user of it), a deputy and a contact line:
    the organisation's clerks (or its officer) for their own, bureau operators for any."""
    res = Resource("SecurityOfficer", org_code, org_code)
    purpose = f"officer {body.officer}, deputy {body.deputy or '-'}"
    with g.act("security.officer.name", res, purpose=purpose, context=_officer_fact(g)) as s:
        row = service.name_officer(
            s,
            org_code,
            officer=body.officer,
            deputy=body.deputy,
            contact=body.contact,
            actor=g.caller.name,
            now=g.runtime.clock(),
        )
        return _officer_out(s, row, get_organisation(s, org_code).name)


@router.get("/security/officers", response_model=OfficersOut)
def list_officers(g: GovernedDep) -> OfficersOut:
    """Officers and the organisations still missing one: every organisation for the bureau,
    the caller's own and those below it for others."""
    res, own = _scope(g, "SecurityOfficers", None)
    with g.read("security.officer.read", res, context=_officer_fact(g)) as session:
        found = service.directory(
            session, None if own is None else service.organisations_under(session, own)
        )
        return OfficersOut(
            officers=[_officer_out(session, row, org.name) for row, org in found.officers],
            missing=[OrganisationRef(code=o.code, name=o.name) for o in found.missing],
        )


@router.get("/security/officers/{org_code}", response_model=OfficerOut)
def get_officer(org_code: OrgCode, g: GovernedDep) -> OfficerOut:
    """The organisation's security officer, deputy and contact line."""
    res = Resource("SecurityOfficer", org_code, org_code)
    with g.read("security.officer.read", res, context=_officer_fact(g)) as session:
        org = get_organisation(session, org_code, field="org_code")
        row = session.get(SecurityOfficer, org_code)
        if row is None:
            raise NotFound(f"{org_code} has named no security officer", field="org_code")
        return _officer_out(session, row, org.name)


# --- incidents --------------------------------------------------------------------------------


def _actions_in(items: list[ActionIn]) -> list[incidents.Action]:
    return [incidents.Action(text=a.text, at=a.at) for a in items]


def _summary(i: SecurityIncident) -> IncidentSummary:
    return IncidentSummary(
        id=i.id,
        organisation=i.organisation,
        severity=i.severity,
        title=i.title,
        status=i.status,
        occurred_at=i.occurred_at,
        datasets=list(i.datasets),
        reported_by=i.reported_by,
        reported_at=i.reported_at,
        updated_at=i.updated_at,
    )


def _timeline_entry(u: IncidentUpdate) -> TimelineEntryOut:
    return TimelineEntryOut(
        at=u.at,
        actor=u.actor,
        status_from=u.status_from,
        status_to=u.status_to,
        actions=[ActionOut(**a) for a in u.actions],
        note=u.note,
    )


def _incident_out(session: Session, i: SecurityIncident) -> IncidentOut:
    return IncidentOut(
        **_summary(i).model_dump(),
        description=i.description,
        actions=[ActionOut(**a) for a in i.actions],
        timeline=[_timeline_entry(u) for u in incidents.timeline(session, i.id)],
    )


def _incident_resource(g: Governed, incident_id: int) -> Resource:
    with g.runtime.reader() as session:
        org = incidents.get_incident(session, incident_id).organisation
    return Resource("SecurityIncident", str(incident_id), org)


@router.post("/security/incidents", response_model=IncidentOut, status_code=201)
def register_incident(body: IncidentIn, g: GovernedDep) -> IncidentOut:
    """Register a security incident of the caller's organisation (or, for bureau operators,
    of the organisation named); affected datasets are catalogue ids."""
    org = body.organisation or g.caller.organisation
    res = Resource("SecurityIncident", "new", org)
    purpose = f"{body.severity} incident: {body.title}"[:400]
    with g.act("security.incident.register", res, purpose=purpose, context=_officer_fact(g)) as s:
        incident = incidents.register_incident(
            s,
            organisation=org,
            severity=body.severity,
            title=body.title,
            description=body.description,
            occurred_at=body.occurred_at,
            datasets=body.datasets,
            actions=_actions_in(body.actions),
            actor=g.caller.name,
            now=g.runtime.clock(),
        )
        out = _incident_out(s, incident)
        event = IncidentRegistered(
            incident_id=incident.id,
            organisation=org,
            severity=incident.severity,
            title=incident.title,
            datasets=list(incident.datasets),
            occurred_at=incident.occurred_at,
            officer=service.officer_of(s, org),
        )
    g.runtime.bus.publish(event)
    return out


@router.get("/security/incidents", response_model=Page[IncidentSummary])
def list_incidents(
    g: GovernedDep,
    status: Status | None = None,
    severity: Severity | None = None,
    org: OrgFilter = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[IncidentSummary]:
    """Incidents of the caller's organisation (or of ``org`` below it); the bureau's
    operators, supervisors and auditors see every organisation's."""
    res, scope = _scope(g, "SecurityIncidents", org)
    stmt = incidents.incidents_stmt(scope, status, severity)
    with g.read("security.incident.read", res, context=_officer_fact(g)) as session:
        return keyset_page(session, stmt, SecurityIncident.id, cursor, limit, _summary)


@router.get("/security/incidents/{id}", response_model=IncidentOut)
def get_incident(id: int, g: GovernedDep) -> IncidentOut:
    """One incident with its actions taken and timeline."""
    res = _incident_resource(g, id)
    with g.read("security.incident.read", res, context=_officer_fact(g)) as session:
        return _incident_out(session, incidents.get_incident(session, id))


@router.post("/security/incidents/{id}/updates", response_model=IncidentOut)
def update_incident(id: int, body: IncidentUpdateIn, g: GovernedDep) -> IncidentOut:
    """Add actions taken, move the status one step (open → contained → closed), add a note."""
    res = _incident_resource(g, id)
    purpose = f"incident {id}: {body.status or 'update'}"
    with g.act("security.incident.update", res, purpose=purpose, context=_officer_fact(g)) as s:
        incident = incidents.get_incident(s, id, lock=True)
        incidents.update_incident(
            s,
            incident,
            status=body.status,
            actions=_actions_in(body.actions),
            note=body.note,
            actor=g.caller.name,
            now=g.runtime.clock(),
        )
        return _incident_out(s, incident)


# --- risk bulletins ---------------------------------------------------------------------------


def _own_ack(row: BulletinRecipient, b: RiskBulletin, now: datetime) -> OwnAckOut:
    return OwnAckOut(
        organisation=row.organisation,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        overdue=row.acknowledged_at is None and now > b.ack_deadline,
    )


def _own(row: BulletinRecipient | None, b: RiskBulletin, now: datetime) -> OwnAckOut | None:
    return None if row is None else _own_ack(row, b, now)


def _bulletin_summary(b: RiskBulletin, **extra: object) -> BulletinSummary:
    return BulletinSummary(
        id=b.id,
        title_zh=b.title_zh,
        title_en=b.title_en,
        severity=b.severity,
        audience=b.audience,
        ack_deadline=b.ack_deadline,
        issued_by=b.issued_by,
        issued_at=b.issued_at,
        **extra,  # type: ignore[arg-type]
    )


def _bulletin_out(session: Session, g: Governed, b: RiskBulletin) -> BulletinOut:
    now = g.runtime.clock()
    own = _own(bulletins.recipient(session, b.id, g.caller.organisation), b, now)
    out = BulletinOut(
        **_bulletin_summary(b, own=own).model_dump(), body_zh=b.body_zh, body_en=b.body_en
    )
    if _bureau(g):
        status = bulletins.ack_status(session, b, now)
        counts = bulletins.ack_counts(session, [b], now)[b.id]
        out.counts = AckCountsOut(**vars(counts))
        out.acknowledged = [
            AckOut(
                organisation=r.organisation,
                acknowledged_at=r.acknowledged_at,
                acknowledged_by=r.acknowledged_by or "",
                late=r.acknowledged_at > b.ack_deadline,
            )
            for r in status.acknowledged
            if r.acknowledged_at is not None
        ]
        out.outstanding, out.overdue = status.outstanding, status.overdue
    return out


def _bulletin_facts(g: Governed, bulletin_id: int) -> dict[str, bool]:
    """Whether the caller's organisation is addressed, and whether the caller is its officer;
    NotFound (naming ``id``) when there is no such bulletin."""
    with g.runtime.reader() as session:
        bulletins.get_bulletin(session, bulletin_id)
        org = g.caller.organisation
        return {
            "addressed": bulletins.recipient(session, bulletin_id, org) is not None,
            "officer": service.is_officer(session, g.caller.name, org),
        }


@router.post("/security/bulletins", response_model=BulletinOut, status_code=201)
def issue_bulletin(body: BulletinIn, g: GovernedDep) -> BulletinOut:
    """Issue a risk bulletin (bureau operators and supervisors) to every other organisation
    or to chosen ones, with a deadline to acknowledge it."""
    purpose = f"{body.severity} bulletin: {body.title_zh}"[:400]
    with g.act("security.bulletin.issue", Resource("RiskBulletin", "new"), purpose=purpose) as s:
        bulletin, addressed = bulletins.issue_bulletin(
            s,
            bulletins.BulletinText(body.title_zh, body.body_zh, body.title_en, body.body_en),
            severity=body.severity,
            audience=body.audience,
            organisations=body.organisations,
            ack_deadline=body.ack_deadline,
            actor=g.caller.name,
            actor_org=g.caller.organisation,
            now=g.runtime.clock(),
        )
        out = _bulletin_out(s, g, bulletin)
        event = BulletinIssued(
            bulletin_id=bulletin.id,
            severity=bulletin.severity,
            title_zh=bulletin.title_zh,
            title_en=bulletin.title_en,
            audience=bulletin.audience,
            organisations=addressed,
            ack_deadline=bulletin.ack_deadline,
        )
    g.runtime.bus.publish(event)
    return out


@router.get("/security/bulletins", response_model=Page[BulletinSummary])
def list_bulletins(
    g: GovernedDep,
    severity: Severity | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[BulletinSummary]:
    """Bulletins addressed to the caller's organisation, with its acknowledgement; the bureau
    sees every bulletin with acknowledgement counts."""
    res, scope = _scope(g, "RiskBulletins", None)
    stmt = bulletins.bulletins_stmt(scope, severity)
    now = g.runtime.clock()
    with g.read("security.bulletin.read", res, context=_officer_fact(g)) as session:
        page = keyset_page(session, stmt, RiskBulletin.id, cursor, limit, lambda b: b)
        counts = bulletins.ack_counts(session, page.items, now) if scope is None else {}
        org = g.caller.organisation
        items = [
            _bulletin_summary(
                b,
                counts=AckCountsOut(**vars(counts[b.id])) if b.id in counts else None,
                own=_own(bulletins.recipient(session, b.id, org), b, now),
            )
            for b in page.items
        ]
    return Page[BulletinSummary](items=items, next_cursor=page.next_cursor)


@router.get("/security/bulletins/{id}", response_model=BulletinOut)
def get_bulletin(id: int, g: GovernedDep) -> BulletinOut:
    """A bulletin: to an addressed organisation with its own acknowledgement; to the bureau
    with who acknowledged when, who is outstanding and who is overdue."""
    facts = _bulletin_facts(g, id)
    res = Resource("RiskBulletin", str(id))
    with g.read("security.bulletin.read", res, context=facts) as session:
        return _bulletin_out(session, g, bulletins.get_bulletin(session, id))


@router.post("/security/bulletins/{id}/ack", response_model=OwnAckOut)
def acknowledge_bulletin(id: int, g: GovernedDep) -> OwnAckOut:
    """Acknowledge a bulletin for the caller's organisation (its clerks or its security
    officer); a repeat keeps the first acknowledgement."""
    facts = _bulletin_facts(g, id)
    res = Resource("RiskBulletin", str(id))
    org = g.caller.organisation
    with g.act("security.bulletin.ack", res, purpose=f"ack for {org}", context=facts) as s:
        now = g.runtime.clock()
        row = bulletins.acknowledge(s, id, org, actor=g.caller.name, now=now)
        return _own_ack(row, bulletins.get_bulletin(s, id), now)


ROUTERS: list[APIRouter] = [router]
