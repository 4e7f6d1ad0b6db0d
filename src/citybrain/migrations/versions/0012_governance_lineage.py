"""governance lineage: derived datasets' sources and sharing relaxations

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dataset_lineage",
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("dataset", "source", name="pk_dataset_lineage"),
    )
    op.create_index("ix_dataset_lineage_source", "dataset_lineage", ["source"])
    op.create_table(
        "sharing_relaxations",
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("relaxed_by", sa.String(200), nullable=False),
        sa.Column("relaxed_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("dataset", name="pk_sharing_relaxations"),
    )


def downgrade() -> None:
    op.drop_table("sharing_relaxations")
    op.drop_index("ix_dataset_lineage_source", table_name="dataset_lineage")
    op.drop_table("dataset_lineage")
