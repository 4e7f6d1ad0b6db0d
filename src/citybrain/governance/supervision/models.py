"""Supervision tables: rules (data, versioned), findings with their evidence, the detector's
position in the ledger, and the running counts it keeps per actor (baselines) and per grant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.kernel.db import Base, UTCDateTime

JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class SupervisionRule(Base):
    """One version of a detection rule: a detector kind with its parameters, the article and
    item a finding falls under, its severity, and whether it is on. Changing a rule adds a
    version; the newest version of each code is the one in force."""

    __tablename__ = "supervision_rules"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_supervision_rules_code_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    article: Mapped[str] = mapped_column(String(10))  # "23(4)"; Art24 applies to non-officials
    severity: Mapped[str] = mapped_column(String(10))
    enabled: Mapped[bool] = mapped_column(Boolean)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")


class Finding(Base):
    """A suspected violation: which rule (version) found it, against whom, under which article,
    how severe, and the ledger entries it rests on (``FindingEvidence``).

    ``key`` makes detection idempotent: the same facts never raise two findings. ``status`` is
    open, acknowledged, resolved or dismissed (a false positive, with the reason)."""

    __tablename__ = "supervision_findings"
    __table_args__ = (
        UniqueConstraint("rule_code", "key", name="uq_supervision_findings_rule_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_code: Mapped[str] = mapped_column(String(60), index=True)
    rule_version: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(300))
    article: Mapped[str] = mapped_column(String(10), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200), index=True)
    resource: Mapped[str] = mapped_column(String(500))
    facts: Mapped[dict[str, Any]] = mapped_column(JSONDoc)  # what the rule measured
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    evidence_count: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # ledger time
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handled_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class FindingEvidence(Base):
    """A ledger entry a finding rests on (the first ``MAX_EVIDENCE`` of them)."""

    __tablename__ = "supervision_evidence"

    finding_id: Mapped[int] = mapped_column(
        ForeignKey("supervision_findings.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class DetectorCursor(Base):
    """How far the detector has read the ledger (the next seq to read)."""

    __tablename__ = "supervision_cursor"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ActorWindow(Base):
    """How many entries a rule counted for one actor in one window (its own baseline)."""

    __tablename__ = "supervision_actor_windows"

    rule_code: Mapped[str] = mapped_column(String(60), primary_key=True)
    actor: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class GrantUse(Base):
    """Reads through a grant, as seen in the ledger, and the grantee's declared destruction."""

    __tablename__ = "supervision_grant_uses"

    grant_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    organisation: Mapped[str] = mapped_column(String(200))
    reads: Mapped[int] = mapped_column(Integer)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    destroyed_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
