"""governance disputes: cases, claims, evidence, decisions and appeals

Revision ID: 0018
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0014"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
CHILDREN = ("dispute_claims", "dispute_evidence", "dispute_events")


def upgrade() -> None:
    """Cases, with the claims, evidence and timeline hanging off each."""
    op.create_table(
        "dispute_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claimant", sa.String(18), nullable=False),
        sa.Column("respondent", sa.String(18), nullable=False),
        sa.Column("subject_type", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filed_by", sa.String(200), nullable=False),
        sa.Column("filed_at", UTC_TS, nullable=False),
        sa.Column("response_due", UTC_TS, nullable=False),
        sa.Column("evidence_due", UTC_TS, nullable=False),
        sa.Column("decision_due", UTC_TS, nullable=False),
        sa.Column("accepted_at", UTC_TS, nullable=True),
        sa.Column("handled_by", sa.String(200), nullable=True),
        sa.Column("refusal_reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("decided_at", UTC_TS, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("appeal_due", UTC_TS, nullable=True),
        sa.Column("appeal_side", sa.String(20), nullable=True),
        sa.Column("appeal_reason", sa.Text(), nullable=False),
        sa.Column("appealed_at", UTC_TS, nullable=True),
        sa.Column("appealed_by", sa.String(200), nullable=True),
        sa.Column("appeal_decision_due", UTC_TS, nullable=True),
        sa.Column("appeal_outcome", sa.String(20), nullable=True),
        sa.Column("appeal_decision", sa.Text(), nullable=False),
        sa.Column("appeal_decided_at", UTC_TS, nullable=True),
        sa.Column("appeal_decided_by", sa.String(200), nullable=True),
        sa.Column("closed_at", UTC_TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dispute_cases"),
    )
    for column in ("claimant", "respondent", "status"):
        op.create_index(f"ix_dispute_cases_{column}", "dispute_cases", [column])
    op.create_table(
        "dispute_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(20), nullable=False),
        sa.Column("organisation", sa.String(18), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["dispute_cases.id"], name="fk_dispute_claims_case_id_dispute_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dispute_claims"),
    )
    op.create_table(
        "dispute_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("ref", sa.String(40), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=True),
        sa.Column("content", JSON_DOC, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("side", sa.String(20), nullable=False),
        sa.Column("organisation", sa.String(18), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["dispute_cases.id"], name="fk_dispute_evidence_case_id_dispute_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dispute_evidence"),
        sa.UniqueConstraint("case_id", "kind", "ref", name="uq_dispute_evidence_case_id"),
    )
    op.create_table(
        "dispute_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("request_id", sa.String(100), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["dispute_cases.id"], name="fk_dispute_events_case_id_dispute_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dispute_events"),
    )
    for table in CHILDREN:
        op.create_index(f"ix_{table}_case_id", table, ["case_id"])


def downgrade() -> None:
    """Drop the dispute tables, children first."""
    for table in CHILDREN:
        op.drop_index(f"ix_{table}_case_id", table_name=table)
        op.drop_table(table)
    for column in ("status", "respondent", "claimant"):
        op.drop_index(f"ix_dispute_cases_{column}", table_name="dispute_cases")
    op.drop_table("dispute_cases")
