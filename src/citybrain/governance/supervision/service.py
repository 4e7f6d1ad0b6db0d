"""Supervision logic (no HTTP): findings as supervisors handle them, and their evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from citybrain.governance.supervision.models import Finding, FindingEvidence
from citybrain.kernel.errors import Conflict, InvalidInput, NotFound
from citybrain.kernel.runtime import Runtime
from citybrain.ledger.bundle import bundle_at_latest

STATUSES = ("open", "acknowledged", "resolved", "dismissed")
# status → the statuses a supervisor may move a finding to
MOVES = {
    "open": ("acknowledged", "resolved", "dismissed"),
    "acknowledged": ("resolved", "dismissed"),
    "resolved": ("open",),
    "dismissed": ("open",),
}
OVERSEERS = frozenset({"supervisor", "auditor", "operator", "admin"})


def findings_query(
    *,
    status: str | None = None,
    article: str | None = None,
    rule: str | None = None,
    organisation: str | None = None,
    only_organisation: str | None = None,
) -> Select[tuple[Finding]]:
    """Findings filtered; ``only_organisation`` restricts to one organisation's (a clerk's)."""
    stmt = select(Finding)
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"status: one of {', '.join(STATUSES)}", field="status")
        stmt = stmt.where(Finding.status == status)
    if article is not None:
        stmt = stmt.where(Finding.article == article)
    if rule is not None:
        stmt = stmt.where(Finding.rule_code == rule)
    if organisation is not None:
        stmt = stmt.where(Finding.organisation == organisation)
    if only_organisation is not None:
        stmt = stmt.where(Finding.organisation == only_organisation)
    return stmt


def get_finding(session: Session, finding_id: int) -> Finding:
    """The finding, or NotFound naming ``id``."""
    f = session.get(Finding, finding_id)
    if f is None:
        raise NotFound(f"no finding {finding_id}", field="id")
    return f


def evidence_seqs(session: Session, finding_id: int) -> list[int]:
    """The ledger entries a finding rests on, in order."""
    return list(
        session.scalars(
            select(FindingEvidence.seq)
            .where(FindingEvidence.finding_id == finding_id)
            .order_by(FindingEvidence.seq)
        )
    )


def move(
    session: Session, finding: Finding, status: str, *, actor: str, note: str, now: datetime
) -> Finding:
    """Acknowledge, resolve, dismiss (a false positive: say why) or reopen a finding."""
    if status not in STATUSES:
        raise InvalidInput(f"status: one of {', '.join(STATUSES)}", field="status")
    if status not in MOVES[finding.status]:
        raise Conflict(
            f"finding {finding.id} is {finding.status}: it can become "
            + " or ".join(MOVES[finding.status]),
            field="status",
        )
    if status in ("dismissed", "resolved") and not note.strip():
        raise InvalidInput(f"say why the finding is {status}", field="note")
    finding.status = status
    finding.handled_by = actor
    finding.handled_at = now
    finding.note = note
    session.flush()
    return finding


def summary(finding: Finding) -> dict[str, Any]:
    """What a bundle says it is evidence for."""
    return {
        "finding": finding.id,
        "rule": finding.rule_code,
        "rule_version": finding.rule_version,
        "article": finding.article,
        "severity": finding.severity,
        "actor": finding.actor,
        "organisation": finding.organisation,
        "resource": finding.resource,
        "facts": finding.facts,
        "evidence_count": finding.evidence_count,
    }


def evidence_bundle(rt: Runtime, finding_id: int) -> dict[str, Any]:
    """The finding's ledger entries with inclusion proofs to a signed checkpoint covering them
    (signed now, in its own transaction, when the latest does not)."""
    with rt.reader() as session:
        subject = summary(get_finding(session, finding_id))
        seqs = evidence_seqs(session, finding_id)
    return bundle_at_latest(rt.ledger, rt.reader, rt.factory.begin, seqs, subject=subject)
