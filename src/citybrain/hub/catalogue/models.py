"""Catalogue tables: datasets with their version history, published APIs, the n-gram index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from citybrain.kernel.db import Base, UTCDateTime
from citybrain.kernel.identity.models import Organisation


class Dataset(Base):
    """A catalogued dataset: what it is, who answers for it, how it may be shared."""

    __tablename__ = "catalog_datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    description_zh: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text, default="")
    theme: Mapped[str] = mapped_column(String(40), index=True)
    keywords_zh: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords_en: Mapped[list[str]] = mapped_column(JSON, default=list)
    update_frequency: Mapped[str] = mapped_column(String(40))
    table_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    grade: Mapped[str] = mapped_column(String(20))
    sharing: Mapped[str] = mapped_column(String(20))
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    open_data: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    modified_by: Mapped[str] = mapped_column(String(200))

    provider: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)


class DatasetVersion(Base):
    """One version of a dataset's metadata, kept for history (a snapshot as returned by the API)."""

    __tablename__ = "catalog_dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("catalog_datasets.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    modified_by: Mapped[str] = mapped_column(String(200))


class PublishedApi(Base):
    """An API a department publishes: endpoint, method, schema, owner, rate limit."""

    __tablename__ = "catalog_apis"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    description_zh: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text, default="")
    endpoint: Mapped[str] = mapped_column(String(500))
    method: Mapped[str] = mapped_column(String(10))
    schema_kind: Mapped[str] = mapped_column(String(20))
    api_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    rate_limit_per_min: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    modified_by: Mapped[str] = mapped_column(String(200))

    owner: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)


class SearchGram(Base):
    """One character n-gram of a dataset's searchable text and its weight (title counts most).

    A plain table, so search works the same on SQLite and PostgreSQL without extensions.
    """

    __tablename__ = "catalog_search_grams"

    gram: Mapped[str] = mapped_column(String(8), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_datasets.id"), primary_key=True, index=True
    )
    weight: Mapped[int] = mapped_column(Integer)
