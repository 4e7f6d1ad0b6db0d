"""Rules evaluated on the clock (what did NOT happen): a dataset not refreshed, copies not
declared destroyed, findings nobody handled, a risk bulletin nobody acknowledged, a dispute
step the bureau let run late. Each returns ``Hit``s keyed so that a sweep run twice raises
nothing new."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.governance.disputes.models import DisputeEvent
from citybrain.governance.disputes.service import overdue_cases, pending_deadline
from citybrain.governance.security.models import RiskBulletin
from citybrain.governance.security.service import overdue_acknowledgements
from citybrain.governance.sharing.models import Grant
from citybrain.governance.supervision.models import Finding, GrantUse
from citybrain.governance.supervision.rules import OFFICIALS, SEVERITIES, RuleSpec
from citybrain.governance.supervision.stream import Hit, iso
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.vocab import parse_duration
from citybrain.hub.entities.models import NgsiEntity
from citybrain.hub.ingest.models import IngestBatch
from citybrain.kernel.errors import CityBrainError
from citybrain.kernel.identity.models import Organisation
from citybrain.ledger.models import LedgerEntry


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


def _known_keys(session: Session, rule: RuleSpec, keys: list[str]) -> set[str]:
    """Which of ``keys`` already have a finding of ``rule`` (their evidence is attached)."""
    if not keys:
        return set()
    return set(
        session.scalars(
            select(Finding.key).where(Finding.rule_code == rule.code, Finding.key.in_(keys))
        )
    )


BULLETIN_ISSUE = "security.bulletin.issue"  # the gate action the bureau issues a bulletin with
ISSUE_SLACK = timedelta(minutes=5)  # its entry is appended just before the bulletin is stored


def _issue_seq(session: Session, bulletin: RiskBulletin) -> int | None:
    """The ledger entry that recorded the bulletin's issue, if one can be found.

    The issue is ledgered before the bulletin has an id (resource ``RiskBulletin/new``), so the
    entry is matched on what it does carry: the issuer and its organisation, the action, the
    title (in the purpose) and a time at most ``ISSUE_SLACK`` before ``issued_at``; the newest
    such entry wins. None when the bulletin was stored without going through the gate."""
    rows = session.execute(
        select(LedgerEntry.seq, LedgerEntry.ts, LedgerEntry.purpose)
        .where(
            LedgerEntry.resource == "RiskBulletin/new",
            LedgerEntry.actor == bulletin.issued_by,
            LedgerEntry.organisation == bulletin.issuer_organisation,
            LedgerEntry.decision == "allow",
        )
        .order_by(LedgerEntry.seq.desc())
    ).all()
    issued = _utc(bulletin.issued_at)
    for seq, ts, purpose in rows:
        when = _utc(ts)
        if (
            issued - ISSUE_SLACK <= when <= issued
            and purpose.startswith(f"{BULLETIN_ISSUE}:")
            and bulletin.title_zh[:100] in purpose
        ):
            return int(seq)
    return None


def bulletins_unacknowledged(
    session: Session, rule: RuleSpec, now: datetime, city: str
) -> list[Hit]:
    """Every (risk bulletin, addressed organisation) still unacknowledged ``grace_s`` after the
    bulletin's acknowledgement deadline: one finding each, against that organisation.

    What counts is the acknowledgement outstanding when the sweep runs: an organisation that
    acknowledged, even late, before a sweep found it outstanding raises nothing (its late
    acknowledgement is on the bulletin's record for the security desk); one found outstanding
    keeps its finding after it acknowledges — supervisors resolve it.

    Only officials are held to it (organisations of a kind in ``OFFICIALS``). The detector
    would cite Art24 for an enterprise or other organisation, and Art24 is about damaging the
    city brain's infrastructure, data or systems (破坏): an unanswered bulletin is not that, so
    such recipients raise no finding here and stay on the security desk's overdue list
    (``citybrain security bulletins --overdue``)."""
    overdue = overdue_acknowledgements(session, now - timedelta(seconds=rule.params.grace_s))
    if not overdue:
        return []
    kinds = dict(
        session.execute(
            select(Organisation.code, Organisation.kind).where(
                Organisation.code.in_({o.organisation for o in overdue})
            )
        ).all()
    )
    overdue = [o for o in overdue if kinds.get(o.organisation) in OFFICIALS]
    bulletins = {
        b.id: b
        for b in session.scalars(
            select(RiskBulletin).where(RiskBulletin.id.in_({o.bulletin_id for o in overdue}))
        )
    }
    keys = {
        (o.bulletin_id, o.organisation): f"bulletin:{o.bulletin_id}:{o.organisation}"
        for o in overdue
    }
    known = _known_keys(session, rule, list(keys.values()))
    issue_seqs: dict[int, int | None] = {}
    hits = []
    for o in overdue:
        bulletin = bulletins[o.bulletin_id]
        key = keys[(o.bulletin_id, o.organisation)]
        seqs: list[int] = []
        if key not in known:  # evidence is looked up once, when the finding is opened
            if o.bulletin_id not in issue_seqs:
                issue_seqs[o.bulletin_id] = _issue_seq(session, bulletin)
            seq = issue_seqs[o.bulletin_id]
            seqs = [seq] if seq is not None else []
        deadline = _utc(o.deadline)
        facts = {
            "bulletin": o.bulletin_id,
            "title": bulletin.title_zh,
            "title_en": bulletin.title_en,
            "severity": bulletin.severity,
            "deadline": iso(deadline),
            "overdue_s": int((now - deadline).total_seconds()),  # past the deadline itself
        }
        resource = f"RiskBulletin/{o.bulletin_id}"
        hits.append(Hit(rule, key, o.organisation, o.organisation, resource, facts, seqs, deadline))
    return hits


# The step a dispute waits for, by the deadline that runs for it; every one is the bureau's.
DISPUTE_STEPS = {
    "response_due": "accept",
    "decision_due": "decide",
    "appeal_decision_due": "decide_appeal",
}
# The timeline steps that started the wait (their ledger entries are the evidence).
STEP_EVENTS = {
    "response_due": ("filed",),
    "decision_due": ("filed", "accepted"),
    "appeal_decision_due": ("appealed",),
}


def disputes_overdue(session: Session, rule: RuleSpec, now: datetime, city: str) -> list[Hit]:
    """Dispute cases whose awaited step is ``grace_s`` past its deadline: one finding per
    (case, step), against the organisation that owes the step.

    The steps a case waits for — accept or refuse it, decide it, decide the appeal — are all
    the bureau's (Art18: the city's data resources department), so the finding is against the
    city's organisation (a government body: the detector keeps Art23(7), never Art24), with the
    case's handler as actor once someone took it up. The appeal window is the parties' option,
    not a duty, and raises nothing. A step taken late after the finding was raised leaves the
    finding for supervisors to resolve; the next late step is a finding of its own."""
    cutoff = now - timedelta(seconds=rule.params.grace_s)
    waiting = []
    for case in overdue_cases(session, cutoff):
        due = pending_deadline(case, now)
        if due is None or due[0] not in DISPUTE_STEPS:
            continue
        waiting.append((case, due[0], _utc(due[1]), f"case:{case.id}:{DISPUTE_STEPS[due[0]]}"))
    known = _known_keys(session, rule, [key for *_, key in waiting])
    hits = []
    for case, name, deadline, key in waiting:
        seqs: list[int] = []
        if key not in known:
            seqs = sorted(
                s
                for s in session.scalars(
                    select(DisputeEvent.ledger_seq).where(
                        DisputeEvent.case_id == case.id, DisputeEvent.kind.in_(STEP_EVENTS[name])
                    )
                )
                if s is not None
            )
        facts = {
            "case": case.id,
            "title": case.title,
            "claimant": case.claimant,
            "respondent": case.respondent,
            "step": DISPUTE_STEPS[name],
            "deadline": iso(deadline),
            "overdue_s": int((now - deadline).total_seconds()),  # past the deadline itself
        }
        actor = case.handled_by or "dispute-desk"
        hits.append(Hit(rule, key, actor, city, f"DisputeCase/{case.id}", facts, seqs, deadline))
    return hits


SWEEP_KINDS: dict[str, Callable[[Session, RuleSpec, datetime, str], list[Hit]]] = {
    "stale_dataset": stale_datasets,
    "copy_not_destroyed": copies_not_destroyed,
    "finding_untouched": findings_untouched,
    "bulletin_unacknowledged": bulletins_unacknowledged,
    "dispute_overdue": disputes_overdue,
}
