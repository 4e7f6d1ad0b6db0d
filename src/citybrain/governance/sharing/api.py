"""Sharing routes (Art9): ``/sharing/...`` — request, decide, list, revoke, read through a grant.

Every route passes the gate. A read through a grant is decided on the grant's live facts
(live, grantee, purpose, fields, mode) brought to the policies as context, so an expired grant,
a foreign caller, a purpose or a field outside the grant is a ledgered denial naming the policy.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from citybrain.governance.citizen.service import record_uses
from citybrain.governance.sharing import reads, service, vocab
from citybrain.governance.sharing.models import Grant, ShareRequest
from citybrain.governance.sharing.schemas import (
    DecisionIn,
    DestructionIn,
    GrantOut,
    PurposeOut,
    RecordsOut,
    RevokeIn,
    ShareRequestIn,
    ShareRequestOut,
    grant_out,
    request_out,
)
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.service import dataset_resource, get_dataset
from citybrain.kernel.db import PerDatabase
from citybrain.kernel.errors import InvalidInput, NotFound
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.http import (
    CursorQuery,
    Governed,
    GovernedDep,
    LimitQuery,
    Page,
    decode_cursor,
    encode_cursor,
    keyset_page,
)

GATE_ACTIONS: dict[str, str] = {
    "share.request": "share",  # ask for another department's dataset
    "share.decide": "share",  # the provider approves or rejects
    "share.revoke": "share",  # end a grant
    "share.list": "access",  # requests and grants of one's organisation
    "data.read": "share",  # rows of a dataset, through a live grant
    "sandbox.query": "use",  # aggregates of a dataset, through a live sandbox grant
    "privacy.budget": "admin",  # set a dataset's differential-privacy budget
    "lineage.write": "admin",  # record what a dataset is derived from
    "share.destroy": "delete",  # the grantee declares its copies destroyed (Art23(4))
}
OVERSEERS = ("operator", "auditor", "admin")  # see every organisation's requests and grants
UNKNOWN_GRANT = "sharing-unknown-grant"


def register_gate_actions() -> None:
    """Declare the sharing gate actions (idempotent)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


router = APIRouter(tags=["sharing"])
Side = Annotated[
    str, Query(pattern="^(incoming|outgoing|all)$", description="as provider or requester")
]


def _request_with_grant(g: Governed, req: ShareRequest, session: Any) -> ShareRequestOut:
    grant = session.get(Grant, req.grant_id) if req.grant_id else None
    return request_out(req, grant, g.runtime.clock())


@router.get("/sharing/purposes", response_model=list[PurposeOut])
def list_purposes(g: GovernedDep) -> list[PurposeOut]:
    """The controlled list of purposes a request names (中文 and English)."""
    with g.read("share.list", Resource("Sharing", "purposes")):
        return [PurposeOut(**p) for p in vocab.purposes()]


@router.post("/sharing/requests", response_model=ShareRequestOut, status_code=201)
def create_request(body: ShareRequestIn, g: GovernedDep) -> ShareRequestOut:
    """Ask for a dataset: fields, purpose, legal basis, term, rows, mode. 无条件共享 data is
    granted at once; 有条件共享 waits for the provider; 不予共享 needs an accepted legal basis."""
    res = dataset_resource(g.runtime.reader, body.dataset)
    purpose = f"request {body.purpose}"
    with g.act("share.request", res, purpose=purpose) as session:
        ds = get_dataset(session, body.dataset)
        req = service.submit(
            session,
            ds,
            requester=g.caller.organisation,
            actor=g.caller.name,
            body=service.RequestInput(
                dataset=body.dataset,
                fields=body.fields,
                purpose=body.purpose,
                purpose_text=body.purpose_text,
                legal_basis=body.legal_basis,
                term_days=body.term_days,
                row_filter=[c.model_dump() for c in body.row_filter],
                mode=body.mode,
            ),
            clock=g.runtime.clock,
        )
        return _request_with_grant(g, req, session)


def _sides(g: Governed, side: str, org_col: Any, peer_col: Any) -> list[Any]:
    """Filters limiting a listing to the caller's organisation (overseers see everything)."""
    org = g.caller.organisation
    if any(r in OVERSEERS for r in g.caller.roles) and side == "all":
        return []
    if side == "incoming":
        return [org_col == org]
    if side == "outgoing":
        return [peer_col == org]
    return [or_(org_col == org, peer_col == org)]


@router.get("/sharing/requests", response_model=Page[ShareRequestOut])
def list_requests(
    g: GovernedDep,
    side: Side = "all",
    status: Annotated[str | None, Query(pattern="^(pending|approved|rejected|lapsed)$")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ShareRequestOut]:
    """Requests to (incoming) or from (outgoing) the caller's organisation, oldest first."""
    stmt = select(ShareRequest).where(
        *_sides(g, side, ShareRequest.provider, ShareRequest.requester)
    )
    if status:
        stmt = stmt.where(ShareRequest.status == status)
    with g.read("share.list", Resource("Sharing", "requests")) as session:
        return keyset_page(
            session,
            stmt,
            ShareRequest.id,
            cursor,
            limit,
            lambda r: _request_with_grant(g, r, session),
        )


def _visible(g: Governed, provider: str, requester: str) -> bool:
    org = g.caller.organisation
    return org in (provider, requester) or any(r in OVERSEERS for r in g.caller.roles)


@router.get("/sharing/requests/{id}", response_model=ShareRequestOut)
def get_request(id: int, g: GovernedDep) -> ShareRequestOut:
    """One request (to the provider, the requester and overseers)."""
    with g.read("share.list", Resource("ShareRequest", str(id))) as session:
        req = service.get_request(session, id)
        if not _visible(g, req.provider, req.requester):
            raise NotFound(f"no share request {id}", field="id")
        return _request_with_grant(g, req, session)


@router.post("/sharing/requests/{id}/decision", response_model=ShareRequestOut)
def decide_request(id: int, body: DecisionIn, g: GovernedDep) -> ShareRequestOut:
    """The provider approves (possibly narrower, with masks) or rejects with a reason."""
    with g.runtime.reader() as session:
        req = service.get_request(session, id)
        res = Resource("Dataset", req.dataset, req.provider)
    verb = "approve" if body.approve else "reject"
    with g.act("share.decide", res, purpose=f"{verb} request {id}") as session:
        req = service.get_request(session, id)
        ds = get_dataset(session, req.dataset)
        service.decide(
            session,
            ds,
            req,
            actor=g.caller.name,
            decision=service.Decision(
                approve=body.approve,
                reason=body.reason,
                fields=body.fields,
                masks=body.masks,
                term_days=body.term_days,
                row_filter=[c.model_dump() for c in body.row_filter],
                accept_legal_basis=body.accept_legal_basis,
            ),
            clock=g.runtime.clock,
        )
        return _request_with_grant(g, req, session)


@router.get("/sharing/grants", response_model=Page[GrantOut])
def list_grants(
    g: GovernedDep,
    side: Side = "all",
    live: bool | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[GrantOut]:
    """Grants the caller's organisation gave (incoming requests) or holds (outgoing)."""
    now = g.runtime.clock()
    stmt = select(Grant).where(*_sides(g, side, Grant.provider, Grant.grantee))
    if live is True:
        stmt = stmt.where(Grant.status == "active", Grant.expires_at > now)
    elif live is False:
        stmt = stmt.where(or_(Grant.status != "active", Grant.expires_at <= now))
    with g.read("share.list", Resource("Sharing", "grants")) as session:
        return keyset_page(session, stmt, Grant.id, cursor, limit, lambda x: grant_out(x, now))


@router.get("/sharing/grants/{id}", response_model=GrantOut)
def get_grant(id: int, g: GovernedDep) -> GrantOut:
    """One grant (to the provider, the grantee and overseers)."""
    with g.read("share.list", Resource("Grant", str(id))) as session:
        grant = service.get_grant(session, id)
        if not _visible(g, grant.provider, grant.grantee):
            raise NotFound(f"no grant {id}", field="id")
        return grant_out(grant, g.runtime.clock())


@router.post("/sharing/grants/{id}/revoke", response_model=GrantOut)
def revoke_grant(id: int, body: RevokeIn, g: GovernedDep) -> GrantOut:
    """End a grant now (the provider, or an operator); later reads are refused."""
    with g.runtime.reader() as session:
        grant = service.get_grant(session, id)
        res = Resource("Dataset", grant.dataset, grant.provider)
    with g.act("share.revoke", res, purpose=f"revoke grant {id}: {body.reason}"[:400]) as session:
        grant = service.get_grant(session, id)
        service.revoke(
            session, grant, actor=g.caller.name, reason=body.reason, clock=g.runtime.clock
        )
        return grant_out(grant, g.runtime.clock())


@router.post("/sharing/grants/{id}/destruction", response_model=GrantOut)
def declare_destruction(id: int, body: DestructionIn, g: GovernedDep) -> GrantOut:
    """The grantee declares that every copy it kept of the granted data is destroyed (after the
    grant ends; supervision raises a finding when a grant read through ends without one)."""
    grant = load_grant(g, id, "share.destroy")
    res = Resource("Grant", str(id), grant.grantee)
    ctx = {"grantee": g.caller.organisation == grant.grantee}
    purpose = f"copies of grant {id} destroyed: {body.method}"[:400]
    with g.act("share.destroy", res, purpose=purpose, context=ctx):
        pass
    return grant_out(grant, g.runtime.clock())


def load_grant(g: Governed, grant_id: int, action: str) -> Grant:
    """The grant about to be used; an unknown id is a ledgered denial, then 404."""
    with g.runtime.reader() as session:
        grant = session.get(Grant, grant_id)
        if grant is not None:
            session.expunge(grant)
            return grant
    g.runtime.gate.record_denial(
        g.caller,
        action,
        Resource("Grant", str(grant_id)),
        request_id=g.request_id,
        policy_ids=(UNKNOWN_GRANT,),
        purpose="use of a grant that does not exist",
    )
    raise NotFound(f"no grant {grant_id}", field="id")


# What never changes in a grant (all but its status and revocation), per database: a use reads
# only the live status, inside the gate's own session.
_HEADS: PerDatabase[dict[int, Grant]] = PerDatabase(dict)
MAX_HEADS = 10_000


def grant_head(g: Governed, grant_id: int, action: str) -> Grant:
    """The grant's unchanging facts (cached; a detached copy: do not read its status)."""
    heads = _HEADS.of(g.runtime.engine)
    head = heads.get(grant_id)
    if head is None:
        head = load_grant(g, grant_id, action)
        if len(heads) >= MAX_HEADS:
            heads.clear()
        heads[grant_id] = head
    return head


class LiveFacts:
    """The policy context of a use, with the grant's status read in the decision's session.

    The same query reads the dataset's metadata version, kept in ``dataset_version`` for the
    read that follows (e.g. to look up its subject field once per version)."""

    def __init__(
        self, g: Governed, head: Grant, *, purpose: str, fields: list[str], mode: str
    ) -> None:
        self.g, self.head = g, head
        self.purpose, self.fields, self.mode = purpose, fields, mode
        self.dataset_version: int | None = None

    def __call__(self, session: Session) -> dict[str, bool]:
        """Facts as of now (called by the gate inside its session)."""
        now = self.g.runtime.clock()
        status, expires_at, self.dataset_version = session.execute(
            select(Grant.status, Grant.expires_at, Dataset.version)
            .outerjoin(Dataset, Dataset.slug == Grant.dataset)
            .where(Grant.id == self.head.id)
        ).one()
        ctx = service.use_context(
            self.head,
            organisation=self.g.caller.organisation,
            purpose=self.purpose,
            fields=self.fields,
            mode=self.mode,
            now=now,
        )
        ctx["grant_live"] = status == "active" and now < expires_at
        return ctx


def live_facts(
    g: Governed, head: Grant, *, purpose: str, fields: list[str], mode: str
) -> LiveFacts:
    """The policy context of a use of ``head`` (see LiveFacts)."""
    return LiveFacts(g, head, purpose=purpose, fields=fields, mode=mode)


def _fields(raw: str | None, grant: Grant) -> list[str]:
    if raw is None:
        return list(grant.fields)
    names = [f.strip() for f in raw.split(",") if f.strip()]
    if not names:
        raise InvalidInput("name at least one field", field="fields")
    return names


@router.get("/sharing/grants/{id}/records", response_model=RecordsOut)
def read_through_grant(
    id: int,
    g: GovernedDep,
    purpose: Annotated[str, Query(min_length=1, max_length=40, description="the grant's purpose")],
    fields: Annotated[str | None, Query(max_length=5000, description="comma-separated")] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> RecordsOut:
    """Rows of the granted dataset: only granted fields, only granted rows, masked as granted.
    The ledger entry names the grant and the purpose."""
    grant = grant_head(g, id, "data.read")
    names = _fields(fields, grant)
    after = decode_cursor(cursor) or 0
    if not isinstance(after, int):
        raise InvalidInput("not a valid cursor", field="cursor")
    ctx = live_facts(g, grant, purpose=purpose, fields=names, mode="records")
    res = Resource("Dataset", grant.dataset, grant.provider)
    ledger_purpose = service.ledger_purpose(grant, purpose)
    with g.read("data.read", res, purpose=ledger_purpose, context=ctx) as s:
        subject = reads.dataset_subject(s, grant.dataset, ctx.dataset_version)
        subjects: list[Any] = [subject] if subject else []
        rows, nxt = reads.read_records(s, grant, names, after=after, limit=limit, subjects=subjects)
    if subjects:  # the citizens concerned see this read (after its ledger entry is durable)
        with g.runtime.factory.begin() as s:
            record_uses(
                s,
                subjects,
                request_id=g.request_id,
                dataset=grant.dataset,
                organisation=g.caller.organisation,
                actor=g.caller.name,
                action="share",
                purpose=ledger_purpose,
                now=g.runtime.clock(),
                grant_id=grant.id,
            )
    return RecordsOut(
        grant=grant.id,
        purpose=purpose,
        fields=names,
        masks=reads.mask_spec(grant, names),
        items=rows,
        next_cursor=encode_cursor(nxt) if nxt is not None else None,
    )
