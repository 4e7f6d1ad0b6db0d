"""governance retention and privacy: retention rules, destruction certificates, privacy
budgets and the sandbox query log

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "retention_rules",
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("set_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("dataset", name="pk_retention_rules"),
    )
    op.create_table(
        "destruction_certificates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(18), nullable=False),
        sa.Column("destroyed_at", UTC_TS, nullable=False),
        sa.Column("cutoff", UTC_TS, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("items", JSON_DOC, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(100), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_destruction_certificates"),
        sa.UniqueConstraint("code", name="uq_destruction_certificates_code"),
    )
    op.create_index("ix_destruction_certificates_dataset", "destruction_certificates", ["dataset"])
    op.create_index(
        "ix_destruction_certificates_provider", "destruction_certificates", ["provider"]
    )
    op.create_table(
        "privacy_budgets",
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("spent", sa.Float(), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("dataset", name="pk_privacy_budgets"),
    )
    op.create_table(
        "sandbox_queries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("organisation", sa.String(18), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("query", JSON_DOC, nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("rows_selected", sa.Integer(), nullable=True),
        sa.Column("groups_released", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_queries"),
    )
    for column in ("grant_id", "dataset", "at"):
        op.create_index(f"ix_sandbox_queries_{column}", "sandbox_queries", [column])


def downgrade() -> None:
    for column in ("grant_id", "dataset", "at"):
        op.drop_index(f"ix_sandbox_queries_{column}", table_name="sandbox_queries")
    op.drop_table("sandbox_queries")
    op.drop_table("privacy_budgets")
    op.drop_index("ix_destruction_certificates_provider", table_name="destruction_certificates")
    op.drop_index("ix_destruction_certificates_dataset", table_name="destruction_certificates")
    op.drop_table("destruction_certificates")
    op.drop_table("retention_rules")
