"""Retention tables: each dataset's term, and the certificates of what was destroyed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.kernel.db import Base, UTCDateTime

JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class RetentionRule(Base):
    """How long a dataset's records are kept after their last update."""

    __tablename__ = "retention_rules"

    dataset: Mapped[str] = mapped_column(String(100), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DestructionCertificate(Base):
    """A signed statement of the records destroyed in one run: key and content hash of each,
    their digest (also in the ledger entry of the deletion) and the hub's signature."""

    __tablename__ = "destruction_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    dataset: Mapped[str] = mapped_column(String(100), index=True)
    provider: Mapped[str] = mapped_column(String(18), index=True)
    destroyed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    digest: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))
