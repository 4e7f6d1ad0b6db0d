"""hub entities: NGSI-LD entities, entity history (temporal), subscriptions

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ngsi_entities",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("entity_id", sa.String(500), nullable=False),
        sa.Column("entity_type", sa.String(500), nullable=False),
        sa.Column("attrs", JSON_DOC, nullable=False),
        sa.Column("scope", JSON_DOC, nullable=True),
        sa.Column("min_x", sa.Float(), nullable=True),
        sa.Column("min_y", sa.Float(), nullable=True),
        sa.Column("max_x", sa.Float(), nullable=True),
        sa.Column("max_y", sa.Float(), nullable=True),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("modified_at", UTC_TS, nullable=False),
        sa.Column("observed_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ngsi_entities"),
        sa.UniqueConstraint("tenant", "entity_id", name="uq_ngsi_entities_tenant"),
    )
    op.create_index("ix_ngsi_entities_tenant_type", "ngsi_entities", ["tenant", "entity_type"])
    op.create_index("ix_ngsi_entities_bbox", "ngsi_entities", ["tenant", "min_x", "min_y"])
    op.create_index("ix_ngsi_entities_dataset", "ngsi_entities", ["dataset", "observed_at"])

    op.create_table(
        "ngsi_entity_history",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("entity_id", sa.String(500), nullable=False),
        sa.Column("observed_from", UTC_TS, nullable=False),
        sa.Column("observed_to", UTC_TS, nullable=False),
        sa.Column("attrs", JSON_DOC, nullable=False),
        sa.Column("recorded_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ngsi_entity_history"),
    )
    op.create_index(
        "ix_ngsi_history_entity_time",
        "ngsi_entity_history",
        ["tenant", "entity_id", "observed_to"],
    )

    op.create_table(
        "ngsi_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("sub_id", sa.String(500), nullable=False),
        sa.Column("doc", JSON_DOC, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("modified_at", UTC_TS, nullable=False),
        sa.Column("times_sent", sa.Integer(), nullable=False),
        sa.Column("times_failed", sa.Integer(), nullable=False),
        sa.Column("last_notification", UTC_TS, nullable=True),
        sa.Column("last_success", UTC_TS, nullable=True),
        sa.Column("last_failure", UTC_TS, nullable=True),
        sa.Column("last_failure_reason", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ngsi_subscriptions"),
        sa.UniqueConstraint("tenant", "sub_id", name="uq_ngsi_subscriptions_tenant"),
    )


def downgrade() -> None:
    op.drop_table("ngsi_subscriptions")
    op.drop_index("ix_ngsi_history_entity_time", table_name="ngsi_entity_history")
    op.drop_table("ngsi_entity_history")
    for name in (
        "ix_ngsi_entities_dataset",
        "ix_ngsi_entities_bbox",
        "ix_ngsi_entities_tenant_type",
    ):
        op.drop_index(name, table_name="ngsi_entities")
    op.drop_table("ngsi_entities")
