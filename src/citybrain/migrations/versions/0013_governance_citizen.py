"""governance citizen: subject key, verified citizens, uses of their records, objections

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "citizen_subject_key",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key_hex", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_citizen_subject_key"),
    )
    op.create_table(
        "citizen_subjects",
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("verified_at", UTC_TS, nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("user_name", name="pk_citizen_subjects"),
        sa.UniqueConstraint("subject", name="uq_citizen_subjects_subject"),
    )
    op.create_table(
        "citizen_subject_uses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(100), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_citizen_subject_uses"),
    )
    op.create_index("ix_citizen_subject_uses_subject", "citizen_subject_uses", ["subject"])
    op.create_index("ix_citizen_subject_uses_request_id", "citizen_subject_uses", ["request_id"])
    op.create_table(
        "citizen_objections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("use_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_citizen_objections"),
    )
    op.create_index("ix_citizen_objections_user_name", "citizen_objections", ["user_name"])
    op.create_index("ix_citizen_objections_status", "citizen_objections", ["status"])


def downgrade() -> None:
    for name in ("ix_citizen_objections_status", "ix_citizen_objections_user_name"):
        op.drop_index(name, table_name="citizen_objections")
    op.drop_table("citizen_objections")
    for name in ("ix_citizen_subject_uses_request_id", "ix_citizen_subject_uses_subject"):
        op.drop_index(name, table_name="citizen_subject_uses")
    op.drop_table("citizen_subject_uses")
    op.drop_table("citizen_subjects")
    op.drop_table("citizen_subject_key")
