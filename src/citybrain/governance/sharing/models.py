"""Sharing tables (Art9): requests for a department's dataset and the grants that answer them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.kernel.db import Base, UTCDateTime

JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class ShareRequest(Base):
    """A requesting department asks a provider for fields of a dataset, for a purpose and term.

    ``status`` is pending, approved, rejected or lapsed (the provider let the SLA pass).
    """

    __tablename__ = "share_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(100), index=True)
    provider: Mapped[str] = mapped_column(String(18), index=True)
    requester: Mapped[str] = mapped_column(String(18), index=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[str]] = mapped_column(JSONDoc)
    purpose: Mapped[str] = mapped_column(String(40))
    purpose_text: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    term_days: Mapped[int] = mapped_column(Integer)
    row_filter: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sla_due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    grant_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Grant(Base):
    """What a provider allowed: fields (each with its mask), rows, purpose, mode and expiry.

    ``salt`` keys the HASH mask of this grant only, so two grants' hashes cannot be joined.
    """

    __tablename__ = "share_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("share_requests.id"), index=True)
    dataset: Mapped[str] = mapped_column(String(100), index=True)
    provider: Mapped[str] = mapped_column(String(18), index=True)
    grantee: Mapped[str] = mapped_column(String(18), index=True)
    fields: Mapped[list[str]] = mapped_column(JSONDoc)
    masks: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    row_filter: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    purpose: Mapped[str] = mapped_column(String(40))
    purpose_text: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(20))
    salt: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), index=True)
    approved_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revoke_reason: Mapped[str] = mapped_column(Text, default="")
