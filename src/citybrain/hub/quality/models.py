"""Quality tables: every round's score per dataset and dimension (kept as history), and the
alerts raised when a score falls below its threshold (one open alert per dataset and dimension
until the score recovers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.kernel.db import Base, UTCDateTime

JSONDoc = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")
DIMENSIONS = ("timeliness", "completeness", "accuracy", "authenticity")


class QualityScore(Base):
    """One dimension's 0–100 score of one dataset in one round, with the evidence behind
    every point lost (``[{rule, points, detail_zh, detail_en, refs}]``)."""

    __tablename__ = "quality_scores"
    __table_args__ = (
        Index("ix_quality_scores_dataset_dimension", "dataset", "dimension", "computed_at"),
        Index("ix_quality_scores_provider", "provider"),
        Index("ix_quality_scores_computed_at", "computed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    round_id: Mapped[str] = mapped_column(String(32), index=True)
    dataset: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(200))
    dimension: Mapped[str] = mapped_column(String(20))
    score: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QualityAlert(Base):
    """A score below its threshold. ``resolved_at`` is set when the score recovers; a person
    acknowledges it with ``acknowledged_at``/``acknowledged_by``. At most one unresolved
    alert per dataset and dimension (a partial unique index guards it)."""

    __tablename__ = "quality_alerts"
    __table_args__ = (
        Index(
            "uq_quality_alerts_unresolved",
            "dataset",
            "dimension",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_quality_alerts_provider", "provider", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(200))
    dimension: Mapped[str] = mapped_column(String(20))
    score: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
