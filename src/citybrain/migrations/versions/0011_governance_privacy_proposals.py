"""governance privacy: personal-information proposals and k-anonymised releases

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "privacy_proposals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("trigger", sa.String(10), nullable=False),
        sa.Column("findings", JSON_DOC, nullable=False),
        sa.Column("proposed_grade", sa.String(20), nullable=False),
        sa.Column("current_grade", sa.String(20), nullable=False),
        sa.Column("confirmed_at", UTC_TS, nullable=True),
        sa.Column("confirmed_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_proposals"),
    )
    op.create_index("ix_privacy_proposals_dataset", "privacy_proposals", ["dataset"])
    op.create_table(
        "privacy_releases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("params", JSON_DOC, nullable=False),
        sa.Column("report", JSON_DOC, nullable=False),
        sa.Column("columns", JSON_DOC, nullable=False),
        sa.Column("rows", JSON_DOC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_releases"),
    )
    op.create_index("ix_privacy_releases_dataset", "privacy_releases", ["dataset"])


def downgrade() -> None:
    op.drop_index("ix_privacy_releases_dataset", table_name="privacy_releases")
    op.drop_table("privacy_releases")
    op.drop_index("ix_privacy_proposals_dataset", table_name="privacy_proposals")
    op.drop_table("privacy_proposals")
