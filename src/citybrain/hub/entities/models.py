"""Entity tables: the current state of each NGSI-LD entity, every write it ever had (temporal
API), and subscriptions.

Attribute names and types are stored expanded (full IRIs), as NGSI-LD brokers do, so that two
clients with different @contexts address the same attribute. The ``location`` GeoProperty's
bounding box is kept in four columns so that geo-queries can narrow by index before the exact
test.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.kernel.db import Base, UTCDateTime

JSONDoc = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


class NgsiEntity(Base):
    """One entity of one tenant (an organisation's code; ``""`` is the city's shared tenant).

    ``attrs`` maps each expanded attribute IRI to its normalized NGSI-LD attribute object
    (``{"type": "Property", "value": ..., "observedAt": ..., <sub-attribute IRI>: {...}}``).
    """

    __tablename__ = "ngsi_entities"
    __table_args__ = (
        UniqueConstraint("tenant", "entity_id"),
        Index("ix_ngsi_entities_tenant_type", "tenant", "entity_type"),
        Index("ix_ngsi_entities_bbox", "tenant", "min_x", "min_y"),
        Index("ix_ngsi_entities_dataset", "dataset", "observed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(200))
    entity_id: Mapped[str] = mapped_column(String(500))
    entity_type: Mapped[str] = mapped_column(String(500))
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    scope: Mapped[list[str] | None] = mapped_column(JSONDoc, nullable=True)
    min_x: Mapped[float | None] = mapped_column(Float, nullable=True)
    min_y: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_x: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_y: Mapped[float | None] = mapped_column(Float, nullable=True)
    provider: Mapped[str] = mapped_column(String(200))
    dataset: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the newest ``observedAt`` among the attributes (the write time when none has one): how
    # old the data are, as opposed to when they reached the hub
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NgsiEntityRevision(Base):
    """One write of an entity (temporal representation): the attribute instances it set.

    One row per entity write rather than per attribute keeps batch upserts cheap; the
    temporal API splits rows into per-attribute instances. ``observed_from``/``observed_to``
    span the instances' ``observedAt`` (the write time where an instance has none).
    """

    __tablename__ = "ngsi_entity_history"
    __table_args__ = (Index("ix_ngsi_history_entity_time", "tenant", "entity_id", "observed_to"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(200))
    entity_id: Mapped[str] = mapped_column(String(500))
    observed_from: Mapped[datetime] = mapped_column(UTCDateTime())
    observed_to: Mapped[datetime] = mapped_column(UTCDateTime())
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NgsiSubscription(Base):
    """A subscription: what to watch (``doc``, expanded) and how its notifications went."""

    __tablename__ = "ngsi_subscriptions"
    __table_args__ = (UniqueConstraint("tenant", "sub_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(200))
    sub_id: Mapped[str] = mapped_column(String(500))
    doc: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    owner: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    times_sent: Mapped[int] = mapped_column(Integer, default=0)
    times_failed: Mapped[int] = mapped_column(Integer, default=0)
    last_notification: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_success: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_failure: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_failure_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
