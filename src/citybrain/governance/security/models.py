"""Security responsibility tables (Art17): each organisation's security officer, its security
incidents and their timeline, the bureau's risk bulletins and who acknowledged them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.kernel.db import Base, UTCDateTime

JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class SecurityOfficer(Base):
    """An organisation's data security officer (安全责任人), its deputy and contact line."""

    __tablename__ = "security_officers"

    organisation: Mapped[str] = mapped_column(String(18), primary_key=True)
    officer: Mapped[str] = mapped_column(String(100))
    deputy: Mapped[str | None] = mapped_column(String(100), nullable=True)
    contact: Mapped[str] = mapped_column(String(100), default="")
    named_by: Mapped[str] = mapped_column(String(200))
    named_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SecurityIncident(Base):
    """A data security incident (安全事件) of an organisation.

    ``status`` moves open → contained → closed; ``actions`` lists what was done ({at, text}),
    in time order; the timeline of who changed what is in ``security_incident_updates``.
    """

    __tablename__ = "security_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation: Mapped[str] = mapped_column(String(18), index=True)
    severity: Mapped[str] = mapped_column(String(20), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    datasets: Mapped[list[str]] = mapped_column(JSONDoc)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    status: Mapped[str] = mapped_column(String(20), index=True)
    reported_by: Mapped[str] = mapped_column(String(200))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IncidentUpdate(Base):
    """One entry of an incident's timeline: who, when, the status change and actions added."""

    __tablename__ = "security_incident_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("security_incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    status_from: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status_to: Mapped[str | None] = mapped_column(String(20), nullable=True)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    note: Mapped[str] = mapped_column(Text, default="")


class RiskBulletin(Base):
    """A risk bulletin (风险通报) the bureau issues to all organisations or chosen ones."""

    __tablename__ = "security_bulletins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    body_zh: Mapped[str] = mapped_column(Text)
    body_en: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(20), index=True)
    audience: Mapped[str] = mapped_column(String(20))
    ack_deadline: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    issued_by: Mapped[str] = mapped_column(String(200))
    issuer_organisation: Mapped[str] = mapped_column(String(18))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BulletinRecipient(Base):
    """An organisation a bulletin is addressed to, and its acknowledgement (the first one)."""

    __tablename__ = "security_bulletin_recipients"

    bulletin_id: Mapped[int] = mapped_column(ForeignKey("security_bulletins.id"), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(18), primary_key=True, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
