"""Retention: set a dataset's term, destroy what has expired, certify it.

A run deletes a dataset's records last updated before the cutoff, in the same transaction as
one ledger entry (category ``delete``) whose purpose carries the digest of what was deleted; the
certificate lists each record's key and content hash, and the hub signs it with the ledger's
Ed25519 key (domain-separated from checkpoints). Anyone holding the certificate and the hub's
public key can check the signature and the digest; with the ledger, that the deletion is in it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from citybrain.governance.citizen.service import record_uses
from citybrain.governance.retention.models import DestructionCertificate, RetentionRule
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.tableschema import subject_field
from citybrain.hub.ingest.models import DatasetRecord
from citybrain.kernel.clock import Clock
from citybrain.kernel.errors import CityBrainError, InvalidInput, NotFound
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime
from citybrain.ledger.models import LedgerEntry
from citybrain.ledger.signing import CheckpointSigner

log = logging.getLogger(__name__)
DOMAIN = b"citybrain destruction certificate v1\n"
MAX_DAYS = 36500
DESTROY_ACTION = "retention.destroy"


def content_hash(payload: Any) -> str:
    """SHA-256 of a record's canonical JSON (sorted keys, UTF-8, no spaces)."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def digest_of(items: list[dict[str, str]]) -> str:
    """The digest a certificate and its ledger entry share: SHA-256 over ``key\\thash`` lines."""
    lines = "\n".join(f"{i['key']}\t{i['sha256']}" for i in sorted(items, key=lambda i: i["key"]))
    return hashlib.sha256(lines.encode()).hexdigest()


def set_rule(
    session: Session, dataset: str, days: int, *, actor: str, reason: str, clock: Clock
) -> RetentionRule:
    """Keep ``dataset``'s records ``days`` days after their last update."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"a retention term is 1 to {MAX_DAYS} days", field="days")
    rule = session.get(RetentionRule, dataset)
    if rule is None:
        rule = RetentionRule(dataset=dataset)
        session.add(rule)
    rule.days, rule.reason, rule.set_by, rule.set_at = days, reason.strip(), actor, clock()
    session.flush()
    return rule


def certificate_document(cert: DestructionCertificate) -> dict[str, Any]:
    """The certificate as handed to the provider (what is signed, plus the signature)."""
    doc = _signed_part(cert)
    doc["key_id"] = cert.key_id
    doc["signature"] = cert.signature
    return doc


def _signed_part(cert: DestructionCertificate) -> dict[str, Any]:
    return {
        "certificate": cert.code,
        "dataset": cert.dataset,
        "provider": cert.provider,
        "destroyed_at": cert.destroyed_at.isoformat(),
        "cutoff": cert.cutoff.isoformat(),
        "count": cert.count,
        "digest": cert.digest,
        "request_id": cert.request_id,
        "items": cert.items,
    }


def _message(doc: dict[str, Any]) -> bytes:
    part = {k: v for k, v in doc.items() if k not in ("key_id", "signature")}
    return DOMAIN + json.dumps(part, sort_keys=True, ensure_ascii=False).encode()


def verify_certificate(doc: dict[str, Any], public_key_b64: str) -> list[str]:
    """Problems with a certificate (empty when the signature and the digest hold)."""
    problems: list[str] = []
    try:
        items = doc["items"]
        if digest_of(items) != doc["digest"]:
            problems.append("digest does not match the listed records")
        if len(items) != doc["count"]:
            problems.append("count does not match the listed records")
        signature = base64.b64decode(doc["signature"])
    except (KeyError, TypeError, ValueError) as exc:
        return [f"not a destruction certificate: {exc}"]
    if not CheckpointSigner.verify(public_key_b64, _message(doc), signature):
        problems.append("signature does not verify with the hub's public key")
    return problems


@dataclass(frozen=True)
class RunResult:
    """One dataset's deletion: the certificate, or None when nothing had expired."""

    dataset: str
    certificate: DestructionCertificate | None


def destroy_expired(runtime: Runtime, dataset: str, now: datetime | None = None) -> RunResult:
    """Delete ``dataset``'s records older than its term; ledger and certify the deletion."""
    register_action(DESTROY_ACTION, "delete")
    now = now or runtime.clock()
    with runtime.reader() as session:
        rule = session.get(RetentionRule, dataset)
        if rule is None:
            raise NotFound(f"no retention rule for {dataset!r}", field="dataset")
        ds = session.scalar(select(Dataset).where(Dataset.slug == dataset))
        if ds is None:
            raise NotFound(f"no dataset {dataset!r}", field="dataset")
        provider = ds.provider.code
        cutoff = now - timedelta(days=rule.days)
        subject = subject_field(ds.table_schema)
        expired = session.execute(
            select(DatasetRecord.id, DatasetRecord.record_key, DatasetRecord.payload).where(
                DatasetRecord.dataset_id == dataset, DatasetRecord.updated_at < cutoff
            )
        ).all()
    if not expired:
        return RunResult(dataset, None)
    items = [{"key": key, "sha256": content_hash(payload)} for _, key, payload in expired]
    digest = digest_of(items)
    code = uuid.uuid4().hex
    request_id = f"retention-{code}"
    purpose = f"retention {rule.days} d: {len(items)} records destroyed, digest {digest}"
    res = Resource("Dataset", dataset, provider)
    with runtime.gate.system(
        SYSTEM_ACTOR,
        runtime.settings.city_code,
        DESTROY_ACTION,
        res,
        request_id=request_id,
        purpose=purpose,
    ) as session:
        ids = [rid for rid, _, _ in expired]
        for start in range(0, len(ids), 500):
            session.execute(
                delete(DatasetRecord).where(DatasetRecord.id.in_(ids[start : start + 500]))
            )
        cert = DestructionCertificate(
            code=code,
            dataset=dataset,
            provider=provider,
            destroyed_at=now,
            cutoff=cutoff,
            count=len(items),
            items=items,
            digest=digest,
            request_id=request_id,
            key_id=runtime.signer.key_id,
            signature="",
        )
        signature = runtime.signer.sign(_message(_signed_part(cert)))
        cert.signature = base64.b64encode(signature).decode()
        session.add(cert)
        if subject:  # the citizens concerned see that their records were destroyed
            record_uses(
                session,
                (payload.get(subject) for _, _, payload in expired),
                request_id=request_id,
                dataset=dataset,
                organisation=runtime.settings.city_code,
                actor=SYSTEM_ACTOR,
                action="delete",
                purpose=purpose,
                now=now,
            )
    return RunResult(dataset, cert)


def run_all(runtime: Runtime, now: datetime | None = None) -> list[RunResult]:
    """Apply every retention rule once."""
    with runtime.reader() as session:
        datasets = list(
            session.scalars(select(RetentionRule.dataset).order_by(RetentionRule.dataset))
        )
    results: list[RunResult] = []
    for name in datasets:
        try:
            results.append(destroy_expired(runtime, name, now))
        except CityBrainError:  # e.g. a dataset removed from the catalogue: the others go on
            log.exception("retention of %s failed", name)
    return results


def get_certificate(session: Session, code: str) -> DestructionCertificate:
    """The certificate with this code, or NotFound naming ``code``."""
    cert = session.scalar(select(DestructionCertificate).where(DestructionCertificate.code == code))
    if cert is None:
        raise NotFound(f"no destruction certificate {code!r}", field="code")
    return cert


def ledger_problems(session: Session, doc: dict[str, Any]) -> tuple[int | None, list[str]]:
    """Check that the certificate's deletion is in the ledger as a delete of that dataset
    carrying its digest; returns the entry's sequence number and the problems found."""
    entry = session.scalar(
        select(LedgerEntry).where(LedgerEntry.request_id == doc.get("request_id", ""))
    )
    if entry is None:
        return None, ["no ledger entry carries the certificate's request id"]
    problems: list[str] = []
    if entry.action != "delete" or entry.decision != "allow":
        problems.append(f"ledger entry {entry.seq} is not an allowed deletion")
    if entry.resource != f"Dataset/{doc.get('dataset')}":
        problems.append(f"ledger entry {entry.seq} is about {entry.resource}")
    if f"digest {doc.get('digest')}" not in entry.purpose:
        problems.append(f"ledger entry {entry.seq} carries another digest")
    return entry.seq, problems
