"""Dispute tables (Art18): cases between a data provider and the hub or a consumer, the parties'
claims, the evidence they cite (ledger entries, quality records, batches) and the timeline of
every step with the ledger entry that records it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.kernel.db import Base, UTCDateTime

JSONDoc = JSON().with_variant(JSONB(), "postgresql")

SUBJECT_TYPES = (
    "batch_rejected",
    "quality_score",
    "derived_data_ownership",
    "grant_terms",
    "other",
)
STATUSES = ("filed", "refused", "under_review", "decided", "appealed", "closed")
OUTCOMES = ("upheld", "partly_upheld", "dismissed")
EVIDENCE_KINDS = ("ledger_entry", "quality_score", "batch")
SIDES = ("claimant", "respondent", "bureau")


class DisputeCase(Base):
    """One dispute: the parties, what it is about, where it stands and its deadlines.

    ``status`` is stored as the last step taken; a decided case whose appeal window has
    passed reads as closed (see ``service.effective_status``)."""

    __tablename__ = "dispute_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claimant: Mapped[str] = mapped_column(String(18), index=True)
    respondent: Mapped[str] = mapped_column(String(18), index=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    dataset: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    filed_by: Mapped[str] = mapped_column(String(200))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    response_due: Mapped[datetime] = mapped_column(UTCDateTime())
    evidence_due: Mapped[datetime] = mapped_column(UTCDateTime())
    decision_due: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    handled_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    decision: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    appeal_due: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    appeal_side: Mapped[str | None] = mapped_column(String(20), nullable=True)
    appeal_reason: Mapped[str] = mapped_column(Text, default="")
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    appealed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    appeal_decision_due: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    appeal_outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    appeal_decision: Mapped[str] = mapped_column(Text, default="")
    appeal_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    appeal_decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DisputeClaim(Base):
    """What one party says, when, by whom."""

    __tablename__ = "dispute_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("dispute_cases.id"), index=True)
    side: Mapped[str] = mapped_column(String(20))
    organisation: Mapped[str] = mapped_column(String(18))
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class DisputeEvidence(Base):
    """An item of evidence: a ledger entry, a quality record or a batch, as it stood when cited.

    ``content`` is the record's fields (the attachment carried in the evidence bundle) and
    ``sha256`` its hash, also written in the ledger entry of the citing action; ``ledger_seq``
    is the entry that proves the record (the entry itself, the quality round, the batch)."""

    __tablename__ = "dispute_evidence"
    __table_args__ = (UniqueConstraint("case_id", "kind", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("dispute_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(40))
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    side: Mapped[str] = mapped_column(String(20))
    organisation: Mapped[str] = mapped_column(String(18))
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DisputeEvent(Base):
    """One step of a case's timeline: who, when, what, and its ledger entry."""

    __tablename__ = "dispute_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("dispute_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    request_id: Mapped[str] = mapped_column(String(100))
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
