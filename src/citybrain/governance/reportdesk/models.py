"""Report desk tables (Art16 ¶2): the cases reported by the public and their timelines.

A case keeps only the SHA-256 of its receipt code (so a database reader cannot look a case up
by code) and the reporter's identity sealed with AES-256-GCM under a key kept outside the
database (see ``sealing``); an anonymous report has no identity at all.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.kernel.db import Base, UTCDateTime

CATEGORIES = (
    "illegal_collection",
    "illegal_sharing",
    "leak",
    "misuse_beyond_purpose",
    "unauthorised_access",
    "failure_to_destroy",
    "other",
)
STATUSES = ("received", "triaged", "investigating", "resolved", "dismissed")
SEVERITIES = ("low", "medium", "high")
CLOSED = ("resolved", "dismissed")


class ReportCase(Base):
    """One report of an illegal collection, transmission, sharing, access or use of data."""

    __tablename__ = "report_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    receipt_hash: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(40), index=True)
    organisation: Mapped[str | None] = mapped_column(String(18), nullable=True, index=True)
    dataset: Mapped[str | None] = mapped_column(String(100), nullable=True)
    occurred_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    description: Mapped[str] = mapped_column(Text)
    contact_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    reporter_identity: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    severity: Mapped[str | None] = mapped_column(String(10), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    outcome: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReportEvent(Base):
    """One step of a case's timeline: filed, triaged, reassigned or a change of status.

    ``actor`` is the staff member (or ``reporter``); the reporter's view never shows it.
    ``public_text`` is what the reporter is told (the outcome, the reason for dismissal);
    ``note`` is for the staff only.
    """

    __tablename__ = "report_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("report_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str | None] = mapped_column(String(10), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    public_text: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
