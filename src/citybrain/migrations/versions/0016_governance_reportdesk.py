"""governance report desk: public reports of illegal data use, their receipts and history

Revision ID: 0016
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "report_cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("receipt_hash", sa.String(64), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("organisation", sa.String(18), nullable=True),
        sa.Column("dataset", sa.String(100), nullable=True),
        sa.Column("occurred_on", sa.Date(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact_consent", sa.Boolean(), nullable=False),
        sa.Column("reporter_identity", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(10), nullable=True),
        sa.Column("assignee", sa.String(100), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_cases"),
        sa.UniqueConstraint("number", name="uq_report_cases_number"),
        sa.UniqueConstraint("receipt_hash", name="uq_report_cases_receipt_hash"),
    )
    for column in ("category", "organisation", "status", "assignee"):
        op.create_index(f"ix_report_cases_{column}", "report_cases", [column])
    op.create_table(
        "report_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(10), nullable=True),
        sa.Column("assignee", sa.String(100), nullable=True),
        sa.Column("public_text", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["report_cases.id"], name="fk_report_events_case_id_report_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_report_events"),
    )
    op.create_index("ix_report_events_case_id", "report_events", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_report_events_case_id", table_name="report_events")
    op.drop_table("report_events")
    for column in ("assignee", "status", "organisation", "category"):
        op.drop_index(f"ix_report_cases_{column}", table_name="report_cases")
    op.drop_table("report_cases")
