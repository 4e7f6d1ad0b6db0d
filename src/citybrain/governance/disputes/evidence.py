"""Evidence of a dispute: the records a party cites and the checkable bundle of a case.

Each item is a record as it stood when cited — a ledger entry, a quality score (with the ledger
entry of its scoring round), an ingest batch (with the entry of its upload) — kept with the
SHA-256 of its fields, which the citing action's own ledger entry also carries. The bundle
(``citybrain-evidence/1``) holds every cited entry and every entry of the case's timeline with
inclusion proofs to one signed checkpoint, the records as hashed attachments and the case file
as its subject, so an outsider checks it with ``citybrain ledger verify-bundle``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.governance.disputes import service
from citybrain.governance.disputes.models import DisputeCase, DisputeEvidence
from citybrain.hub.catalogue.service import provider_of
from citybrain.hub.ingest.models import IngestBatch
from citybrain.hub.quality.models import QualityScore
from citybrain.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from citybrain.kernel.runtime import Runtime
from citybrain.ledger.bundle import attachment, bundle_at_latest, content_sha256
from citybrain.ledger.entry import iso_utc
from citybrain.ledger.models import LedgerEntry
from citybrain.ledger.service import Ledger

FIELD_OF_KIND = {
    "ledger_entry": "ledger_seq",
    "quality_score": "quality_score_id",
    "batch": "batch_id",
}
DATASET_RESOURCES = ("Dataset", "QualityDataset")  # ledger resources that name a dataset


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def _names_own_dataset(session: Session, resource: str, organisation: str) -> bool:
    kind, _, slug = resource.partition("/")
    if kind not in DATASET_RESOURCES or not slug:
        return False
    try:
        return provider_of(session, slug) == organisation
    except NotFound:
        return False


def _ledger_record(
    session: Session, ledger: Ledger, seq: int, org: str, bureau: bool
) -> tuple[int, dict[str, Any]]:
    stored = ledger.entry(session, seq)
    if stored is None:
        raise NotFound(f"no ledger entry {seq}", field="ledger_seq")
    data = stored.data
    if not (bureau or data.organisation == org or _names_own_dataset(session, data.resource, org)):
        raise Forbidden(
            f"ledger entry {seq} is neither your organisation's nor about its datasets",
            field="ledger_seq",
        )
    content = {
        "seq": seq,
        "ts": iso_utc(stored.ts),
        "actor": data.actor,
        "organisation": data.organisation,
        "action": data.action,
        "resource": data.resource,
        "purpose": data.purpose,
        "decision": data.decision,
        "policy_ids": list(data.policy_ids),
        "request_id": data.request_id,
        "leaf_hash": stored.leaf_hash.hex(),
    }
    return seq, content


def round_entry_seq(session: Session, round_id: str) -> int | None:
    """The ledger entry that recorded a quality round (by the monitor or on request)."""
    resource = f"QualityRound/{round_id}"
    by_monitor = select(LedgerEntry.seq).where(
        LedgerEntry.request_id == f"quality-{round_id[:20]}",
        LedgerEntry.resource == resource,
        LedgerEntry.decision == "allow",
    )
    seq = session.scalar(by_monitor.limit(1))
    if seq is None:  # a round run through the API carries its request's id: look it up by name
        stmt = select(LedgerEntry.seq).where(
            LedgerEntry.resource == resource, LedgerEntry.decision == "allow"
        )
        seq = session.scalar(stmt.order_by(LedgerEntry.seq).limit(1))
    return seq


def _quality_record(
    session: Session, score_id: int, org: str, bureau: bool
) -> tuple[int | None, dict[str, Any]]:
    row = session.get(QualityScore, score_id)
    if row is None:
        raise NotFound(f"no quality score {score_id}", field="quality_score_id")
    if not (bureau or row.provider == org):
        raise Forbidden(
            f"quality score {score_id} is of another provider's dataset", field="quality_score_id"
        )
    seq = round_entry_seq(session, row.round_id)
    content = {
        "id": row.id,
        "round_id": row.round_id,
        "round_ledger_seq": seq,
        "dataset": row.dataset,
        "provider": row.provider,
        "dimension": row.dimension,
        "score": row.score,
        "evidence": row.evidence,
        "window_start": _iso(row.window_start),
        "window_end": _iso(row.window_end),
        "computed_at": _iso(row.computed_at),
    }
    return seq, content


def _batch_record(
    session: Session, batch_id: int, org: str, bureau: bool
) -> tuple[int | None, dict[str, Any]]:
    batch = session.get(IngestBatch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id}", field="batch_id")
    if not (bureau or batch.organisation == org):
        raise Forbidden(f"batch {batch_id} was uploaded by another organisation", field="batch_id")
    content: dict[str, Any] = {
        name: getattr(batch, name)
        for name in (
            "id", "dataset_id", "organisation", "actor", "source", "format", "encoding",
            "size_bytes", "content_sha256", "mode", "rows_total", "rows_accepted",
            "rows_quarantined", "signature", "signature_key_id", "signature_verified",
            "ledger_seq",
        )
    }  # fmt: skip
    content["received_at"] = _iso(batch.received_at)
    return batch.ledger_seq, content


def cited_record(
    session: Session, ledger: Ledger, kind: str, ref: int, *, organisation: str, bureau: bool
) -> tuple[int | None, dict[str, Any]]:
    """(ledger seq proving it, fields) of a record a caller cites; NotFound when it does not
    exist, Forbidden when a party cites another organisation's record (the bureau cites any).
    Both name the body field."""
    if kind == "ledger_entry":
        return _ledger_record(session, ledger, ref, organisation, bureau)
    if kind == "quality_score":
        return _quality_record(session, ref, organisation, bureau)
    if kind == "batch":
        return _batch_record(session, ref, organisation, bureau)
    raise InvalidInput(f"unknown evidence kind {kind!r}", field="kind")


def add_evidence(
    session: Session,
    ledger: Ledger,
    case: DisputeCase,
    *,
    kind: str,
    ref: int,
    note: str,
    actor: service.Actor,
    bureau: bool,
    staff: bool,
    now: datetime,
    expected_sha256: str | None = None,
) -> DisputeEvidence:
    """Cite a record in a case while the hearing is open: a party (``bureau``: any record,
    else its own organisation's), or the bureau's handling ``staff`` (side ``bureau``)."""
    side = "bureau" if staff else service.party_side(case, actor)
    service.check_hearing_open(case, now)
    seq, content = cited_record(
        session, ledger, kind, ref, organisation=actor.organisation, bureau=bureau
    )
    sha = content_sha256(content)
    if expected_sha256 is not None and sha != expected_sha256:
        raise Conflict(f"{kind} {ref} changed while it was cited; cite it again", field=kind)
    ref_text = str(ref)
    taken = select(DisputeEvidence.id).where(
        DisputeEvidence.case_id == case.id,
        DisputeEvidence.kind == kind,
        DisputeEvidence.ref == ref_text,
    )
    if session.scalar(taken) is not None:
        raise Conflict(
            f"{kind} {ref} is already evidence in case {case.id}", field=FIELD_OF_KIND[kind]
        )
    item = DisputeEvidence(
        case_id=case.id,
        kind=kind,
        ref=ref_text,
        ledger_seq=seq,
        content=content,
        sha256=sha,
        note=note.strip()[:2000],
        side=side,
        organisation=actor.organisation,
        added_by=actor.name,
        added_at=now,
    )
    session.add(item)
    session.flush()
    service.record_event(
        session, case, "evidence", actor, now, f"{side}: {kind} {ref} sha256={sha}"
    )
    return item


def evidence_items(session: Session, case_id: int) -> list[DisputeEvidence]:
    """The case's evidence, in the order it was cited."""
    stmt = select(DisputeEvidence).where(DisputeEvidence.case_id == case_id)
    return list(session.scalars(stmt.order_by(DisputeEvidence.id)))


def case_document(session: Session, case: DisputeCase, now: datetime) -> dict[str, Any]:
    """The case file: parties, status, deadlines, decisions, claims, evidence and timeline."""
    due = service.pending_deadline(case, now)
    return {
        "id": case.id,
        "claimant": case.claimant,
        "respondent": case.respondent,
        "subject_type": case.subject_type,
        "title": case.title,
        "dataset": case.dataset,
        "status": service.effective_status(case, now),
        "filed_by": case.filed_by,
        "filed_at": case.filed_at,
        "deadlines": service.deadlines(case),
        "next_deadline": due[0] if due else None,
        "overdue": service.is_overdue(case, now),
        "handled_by": case.handled_by,
        "accepted_at": case.accepted_at,
        "refusal_reason": case.refusal_reason or None,
        "decision": None
        if case.decided_at is None
        else {
            "outcome": case.outcome,
            "text": case.decision,
            "decided_at": case.decided_at,
            "decided_by": case.decided_by,
        },
        "appeal": None
        if case.appealed_at is None
        else {
            "side": case.appeal_side,
            "reason": case.appeal_reason,
            "appealed_at": case.appealed_at,
            "appealed_by": case.appealed_by,
            "outcome": case.appeal_outcome,
            "text": case.appeal_decision or None,
            "decided_at": case.appeal_decided_at,
            "decided_by": case.appeal_decided_by,
        },
        "closed_at": case.closed_at,
        "claims": [
            {"id": c.id, "side": c.side, "organisation": c.organisation, "author": c.author,
             "text": c.text, "at": c.at}
            for c in service.claims(session, case.id)
        ],
        "evidence": [
            {"id": e.id, "kind": e.kind, "ref": e.ref, "ledger_seq": e.ledger_seq,
             "sha256": e.sha256, "note": e.note, "side": e.side, "organisation": e.organisation,
             "added_by": e.added_by, "added_at": e.added_at}
            for e in evidence_items(session, case.id)
        ],
        "timeline": [
            {"kind": ev.kind, "actor": ev.actor, "organisation": ev.organisation,
             "detail": ev.detail, "at": ev.at, "request_id": ev.request_id,
             "ledger_seq": ev.ledger_seq}
            for ev in service.timeline(session, case.id)
        ],
    }  # fmt: skip


def jsonable(value: Any) -> Any:
    """``value`` with every datetime as ISO 8601 UTC text (for JSON)."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def bundle_material(
    session: Session, case: DisputeCase, now: datetime
) -> tuple[list[int], dict[str, Any], list[dict[str, Any]]]:
    """(ledger seqs, subject, attachments) of the case's evidence bundle: every cited entry,
    every entry of its timeline, the case file, and each cited record as an attachment."""
    items = evidence_items(session, case.id)
    events = service.timeline(session, case.id)
    seqs = {e.ledger_seq for e in items if e.ledger_seq is not None}
    seqs |= {ev.ledger_seq for ev in events if ev.ledger_seq is not None}
    subject = {"dispute": jsonable(case_document(session, case, now))}
    attachments = [
        attachment(e.kind, f"dispute {case.id} evidence {e.id}: {e.kind} {e.ref}", e.content)
        for e in items
        if e.kind != "ledger_entry"  # the entry itself is in the bundle, with its proof
    ]
    return sorted(seqs), subject, attachments


def make_bundle(
    runtime: Runtime, seqs: list[int], subject: dict[str, Any], attachments: list[dict[str, Any]]
) -> dict[str, Any]:
    """The bundle proven against the latest checkpoint, signing a new one when the latest does
    not cover every entry."""
    return bundle_at_latest(
        runtime.ledger,
        runtime.reader,
        runtime.factory.begin,
        seqs,
        subject=subject,
        attachments=attachments,
    )
