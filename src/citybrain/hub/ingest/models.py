"""Ingest tables: batches with their provenance, the records they upsert, quarantined rows,
and the Ed25519 keys providers sign their batches with."""

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

# JSONB on PostgreSQL, JSON1 text on SQLite; 64-bit ids on PostgreSQL (SQLite's INTEGER
# PRIMARY KEY is already 64-bit and only autoincrements when declared as INTEGER).
JSONDoc = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")
MODES = ("atomic", "quarantine")


class IngestBatch(Base):
    """One uploaded batch and its provenance: who, when, from where, what (content hash),
    how it was signed, and what became of its rows."""

    __tablename__ = "ingest_batches"
    __table_args__ = (UniqueConstraint("dataset_id", "content_sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(200), index=True)
    organisation: Mapped[str] = mapped_column(String(200), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(20))
    encoding: Mapped[str | None] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_sha256: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(20))
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_accepted: Mapped[int] = mapped_column(Integer)
    rows_quarantined: Mapped[int] = mapped_column(Integer)
    signature: Mapped[str | None] = mapped_column(String(200))
    signature_key_id: Mapped[str | None] = mapped_column(String(64))
    signature_verified: Mapped[bool | None] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)


class DatasetRecord(Base):
    """The current value of one record of a dataset; the last batch to write a key wins."""

    __tablename__ = "dataset_records"
    __table_args__ = (UniqueConstraint("dataset_id", "record_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(200))
    record_key: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IngestQuarantine(Base):
    """A row that failed validation in quarantine mode: where, which field, why, and the row."""

    __tablename__ = "ingest_quarantine"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[Any] = mapped_column(JSONDoc)


class ProviderKey(Base):
    """An Ed25519 public key an organisation signs its batches with."""

    __tablename__ = "provider_keys"
    __table_args__ = (UniqueConstraint("organisation", "key_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation: Mapped[str] = mapped_column(String(200), index=True)
    key_id: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
