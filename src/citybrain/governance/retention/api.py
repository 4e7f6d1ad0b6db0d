"""Retention routes: ``/retention/...`` — a dataset's term, its destruction certificates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from citybrain.governance.retention import service
from citybrain.governance.retention.models import DestructionCertificate, RetentionRule
from citybrain.hub.catalogue.service import dataset_resource
from citybrain.kernel.errors import NotFound
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.http import CursorQuery, GovernedDep, LimitQuery, Page, keyset_page
from citybrain.kernel.schemas import Input

GATE_ACTIONS: dict[str, str] = {
    "retention.set": "admin",  # set a dataset's retention term
    "retention.read": "access",  # read terms and destruction certificates
    service.DESTROY_ACTION: "delete",  # the scheduled deletion itself
}
OVERSEERS = ("operator", "auditor", "admin")


def register_gate_actions() -> None:
    """Declare the retention gate actions (idempotent)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


router = APIRouter(tags=["retention"])


class RuleIn(Input):
    """A retention term."""

    days: int = Field(ge=1, le=service.MAX_DAYS, description="kept this long after last update")
    reason: str = Field("", max_length=2000, description="e.g. the regulation setting the term")


class RuleOut(BaseModel):
    """A dataset's retention term."""

    dataset: str
    days: int
    reason: str
    set_by: str
    set_at: datetime


class CertificateSummary(BaseModel):
    """A destruction certificate without its record list."""

    code: str
    dataset: str
    provider: str
    destroyed_at: datetime
    count: int
    digest: str


def _rule_out(rule: RetentionRule) -> RuleOut:
    return RuleOut(
        dataset=rule.dataset,
        days=rule.days,
        reason=rule.reason,
        set_by=rule.set_by,
        set_at=rule.set_at,
    )


@router.put("/retention/rules/{dataset}", response_model=RuleOut)
def set_rule(dataset: str, body: RuleIn, g: GovernedDep) -> RuleOut:
    """Set how long the dataset's records are kept (the provider or an operator)."""
    res = dataset_resource(g.runtime.reader, dataset)
    with g.act("retention.set", res, purpose=f"retention {body.days} d") as session:
        rule = service.set_rule(
            session,
            dataset,
            body.days,
            actor=g.caller.name,
            reason=body.reason,
            clock=g.runtime.clock,
        )
        return _rule_out(rule)


@router.get("/retention/rules/{dataset}", response_model=RuleOut)
def get_rule(dataset: str, g: GovernedDep) -> RuleOut:
    """The dataset's retention term."""
    with g.read("retention.read", dataset_resource(g.runtime.reader, dataset)) as session:
        rule = session.get(RetentionRule, dataset)
        if rule is None:
            raise NotFound(f"no retention rule for {dataset!r}", field="dataset")
        return _rule_out(rule)


@router.get("/retention/certificates", response_model=Page[CertificateSummary])
def list_certificates(
    g: GovernedDep,
    dataset: Annotated[str | None, Query(max_length=100)] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[CertificateSummary]:
    """Destruction certificates of the caller's organisation (all of them for overseers)."""
    stmt = select(DestructionCertificate)
    if not any(r in OVERSEERS for r in g.caller.roles):
        stmt = stmt.where(DestructionCertificate.provider == g.caller.organisation)
    if dataset:
        stmt = stmt.where(DestructionCertificate.dataset == dataset)
    with g.read("retention.read", Resource("Retention", "certificates")) as session:
        return keyset_page(
            session,
            stmt,
            DestructionCertificate.id,
            cursor,
            limit,
            lambda c: CertificateSummary(
                code=c.code,
                dataset=c.dataset,
                provider=c.provider,
                destroyed_at=c.destroyed_at,
                count=c.count,
                digest=c.digest,
            ),
        )


@router.get("/retention/certificates/{code}")
def get_certificate(code: str, g: GovernedDep) -> dict[str, Any]:
    """The signed certificate: every destroyed record's key and content hash, the digest (also
    in the deletion's ledger entry), the hub's key id and signature."""
    with g.runtime.reader() as session:
        cert = service.get_certificate(session, code)
        res = Resource("Dataset", cert.dataset, cert.provider)
    with g.read("retention.read", res, purpose=f"destruction certificate {code}") as session:
        return service.certificate_document(service.get_certificate(session, code))


ROUTERS = (router,)
