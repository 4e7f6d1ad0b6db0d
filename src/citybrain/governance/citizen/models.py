"""Citizen tables: verified ID numbers (as keyed hashes), uses of their records, objections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.kernel.db import Base, UTCDateTime


class SubjectKey(Base):
    """The hub's key for hashing resident ID numbers (one row, made on first use)."""

    __tablename__ = "citizen_subject_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hex: Mapped[str] = mapped_column(String(64))


class CitizenSubject(Base):
    """A citizen account and the keyed hash of its verified resident ID number."""

    __tablename__ = "citizen_subjects"

    user_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), unique=True)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    method: Mapped[str] = mapped_column(String(40))


class SubjectUse(Base):
    """One governed action that touched a record linked to ``subject`` (by its ledger entry's
    request id): a read through a grant, a destruction."""

    __tablename__ = "citizen_subject_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[str] = mapped_column(String(100), index=True)
    dataset: Mapped[str] = mapped_column(String(100))
    organisation: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    grant_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    purpose: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Objection(Base):
    """A citizen objects to a use: a case for the supervision desk."""

    __tablename__ = "citizen_objections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100), index=True)
    use_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
