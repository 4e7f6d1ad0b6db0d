"""Rules evaluated on the clock (what did NOT happen): a dataset not refreshed, copies not
declared destroyed, findings nobody handled. Each returns ``Hit``s keyed so that a sweep run
twice raises nothing new."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.governance.sharing.models import Grant
from citybrain.governance.supervision.models import Finding, GrantUse
from citybrain.governance.supervision.rules import SEVERITIES, RuleSpec
from citybrain.governance.supervision.stream import Hit, iso
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.vocab import parse_duration
from citybrain.hub.entities.models import NgsiEntity
from citybrain.hub.ingest.models import IngestBatch
from citybrain.kernel.errors import CityBrainError
from citybrain.kernel.identity.models import Organisation


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def stale_datasets(session: Session, rule: RuleSpec, now: datetime, city: str) -> list[Hit]:
    """Datasets of the rule's sharing classes whose newest batch or entity update is older than
    ``factor`` × their declared frequency + ``grace_s`` (never updated: since registration)."""
    p = rule.params
    datasets = session.execute(
        select(Dataset.slug, Organisation.code, Dataset.update_frequency, Dataset.created_at)
        .join(Organisation, Organisation.id == Dataset.provider_id)
        .where(Dataset.sharing.in_(p.sharing))
    ).all()
    if not datasets:
        return []
    slugs = [d[0] for d in datasets]
    batches = {
        slug: (ts, seq)
        for slug, ts, seq in session.execute(
            select(
                IngestBatch.dataset_id,
                func.max(IngestBatch.received_at),
                func.max(IngestBatch.ledger_seq),
            )
            .where(IngestBatch.dataset_id.in_(slugs))
            .group_by(IngestBatch.dataset_id)
        )
    }
    entities = dict(
        session.execute(
            select(NgsiEntity.dataset, func.max(NgsiEntity.observed_at))
            .where(NgsiEntity.dataset.in_(slugs))
            .group_by(NgsiEntity.dataset)
        ).all()
    )
    hits = []
    for slug, provider, freq_text, created in datasets:
        try:
            freq = parse_duration(freq_text)
        except CityBrainError:
            continue  # an irregular or malformed frequency promises nothing to check
        batch_ts, batch_seq = batches.get(slug, (None, None))
        times = [_utc(t) for t in (batch_ts, entities.get(slug)) if t is not None]
        newest = max(times) if times else _utc(created)
        due = newest + p.factor * freq + timedelta(seconds=p.grace_s)
        if now <= due:
            continue
        facts = {
            "dataset": slug,
            "update_frequency": freq_text,
            "last_update": iso(newest) if times else None,
            "overdue_s": int((now - due).total_seconds()),
        }
        seqs = [batch_seq] if batch_seq is not None else []
        key = f"{slug}@{iso(newest)}"
        hits.append(Hit(rule, key, provider, provider, f"Dataset/{slug}", facts, seqs, due))
    return hits


def copies_not_destroyed(session: Session, rule: RuleSpec, now: datetime, city: str) -> list[Hit]:
    """Grants read through that ended (revoked, or expired) more than ``days`` ago, whose
    grantee has declared no destruction of its copies."""
    cutoff = now - timedelta(days=rule.params.days)
    rows = session.execute(
        select(
            Grant.id, Grant.grantee, Grant.dataset, Grant.status, Grant.expires_at, Grant.revoked_at
        )
        .add_columns(GrantUse.reads, GrantUse.first_seq, GrantUse.last_seq)
        .join(GrantUse, GrantUse.grant_id == Grant.id)
        .where(GrantUse.reads > 0, GrantUse.destroyed_seq.is_(None))
    ).all()
    hits = []
    for gid, grantee, dataset, status, expires, revoked, reads, first, last in rows:
        ended = _utc(revoked) if status == "revoked" and revoked else _utc(expires)
        if ended > cutoff:
            continue
        facts = {
            "grant": gid,
            "dataset": dataset,
            "ended_at": iso(ended),
            "reads": reads,
            "days": rule.params.days,
        }
        seqs = sorted({first, last})
        hits.append(
            Hit(rule, f"grant:{gid}", grantee, grantee, f"Grant/{gid}", facts, seqs, ended, reads)
        )
    return hits


def findings_untouched(session: Session, rule: RuleSpec, now: datetime, city: str) -> list[Hit]:
    """Open findings of at least ``min_severity`` detected more than ``days`` ago: the bureau's
    supervisors (the city's organisation) have not acted."""
    p = rule.params
    levels = SEVERITIES[SEVERITIES.index(p.min_severity) :]
    rows = session.scalars(
        select(Finding).where(
            Finding.status == "open",
            Finding.severity.in_(levels),
            Finding.detected_at <= now - timedelta(days=p.days),
            Finding.rule_code != rule.code,
        )
    )
    hits = []
    for f in rows:
        facts = {
            "finding": f.id,
            "rule": f.rule_code,
            "article": f.article,
            "detected_at": iso(f.detected_at),
            "days": p.days,
        }
        hits.append(
            Hit(
                rule,
                f"finding:{f.id}",
                "supervision",
                city,
                f"Finding/{f.id}",
                facts,
                [f.first_seq],
                _utc(f.detected_at),
            )
        )
    return hits


SWEEP_KINDS: dict[str, Callable[[Session, RuleSpec, datetime, str], list[Hit]]] = {
    "stale_dataset": stale_datasets,
    "copy_not_destroyed": copies_not_destroyed,
    "finding_untouched": findings_untouched,
}
