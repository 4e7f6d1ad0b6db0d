"""hub quality: provider accountability scores (history) and alerts

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TS = sa.DateTime(timezone=True)
UNRESOLVED = sa.text("resolved_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "quality_scores",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("round_id", sa.String(32), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("evidence", JSON_DOC, nullable=False),
        sa.Column("window_start", UTC_TS, nullable=False),
        sa.Column("window_end", UTC_TS, nullable=False),
        sa.Column("computed_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quality_scores"),
    )
    op.create_index("ix_quality_scores_round_id", "quality_scores", ["round_id"])
    op.create_index(
        "ix_quality_scores_dataset_dimension",
        "quality_scores",
        ["dataset", "dimension", "computed_at"],
    )
    op.create_index("ix_quality_scores_provider", "quality_scores", ["provider"])
    op.create_index("ix_quality_scores_computed_at", "quality_scores", ["computed_at"])

    op.create_table(
        "quality_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("round_id", sa.String(32), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("message_zh", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("resolved_at", UTC_TS, nullable=True),
        sa.Column("acknowledged_at", UTC_TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_quality_alerts"),
    )
    op.create_index(
        "uq_quality_alerts_unresolved",
        "quality_alerts",
        ["dataset", "dimension"],
        unique=True,
        sqlite_where=UNRESOLVED,
        postgresql_where=UNRESOLVED,
    )
    op.create_index("ix_quality_alerts_provider", "quality_alerts", ["provider", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_quality_alerts_provider", table_name="quality_alerts")
    op.drop_index("uq_quality_alerts_unresolved", table_name="quality_alerts")
    op.drop_table("quality_alerts")
    for name in (
        "ix_quality_scores_computed_at",
        "ix_quality_scores_provider",
        "ix_quality_scores_dataset_dimension",
        "ix_quality_scores_round_id",
    ):
        op.drop_index(name, table_name="quality_scores")
    op.drop_table("quality_scores")
