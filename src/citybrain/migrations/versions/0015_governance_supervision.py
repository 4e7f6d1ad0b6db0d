"""governance supervision: rules, findings and the detector's position in the ledger

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "supervision_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("params", JSON_DOC, nullable=False),
        sa.Column("article", sa.String(10), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("title_zh", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supervision_rules"),
        sa.UniqueConstraint("code", "version", name="uq_supervision_rules_code_version"),
    )
    op.create_index("ix_supervision_rules_code", "supervision_rules", ["code"])
    op.create_table(
        "supervision_findings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rule_code", sa.String(60), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("article", sa.String(10), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("resource", sa.String(500), nullable=False),
        sa.Column("facts", JSON_DOC, nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("evidence_count", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UTC_TS, nullable=False),
        sa.Column("detected_at", UTC_TS, nullable=False),
        sa.Column("handled_by", sa.String(200), nullable=True),
        sa.Column("handled_at", UTC_TS, nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supervision_findings"),
        sa.UniqueConstraint("rule_code", "key", name="uq_supervision_findings_rule_key"),
    )
    for col in ("rule_code", "article", "status", "organisation", "occurred_at"):
        op.create_index(f"ix_supervision_findings_{col}", "supervision_findings", [col])
    op.create_table(
        "supervision_evidence",
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("finding_id", "seq", name="pk_supervision_evidence"),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["supervision_findings.id"],
            name="fk_supervision_evidence_finding_id_supervision_findings",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "supervision_cursor",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_supervision_cursor"),
    )
    op.create_table(
        "supervision_actor_windows",
        sa.Column("rule_code", sa.String(60), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("window_start", UTC_TS, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "rule_code", "actor", "window_start", name="pk_supervision_actor_windows"
        ),
    )
    op.create_table(
        "supervision_grant_uses",
        sa.Column("grant_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("reads", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("destroyed_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("grant_id", name="pk_supervision_grant_uses"),
    )


def downgrade() -> None:
    for table in (
        "supervision_grant_uses",
        "supervision_actor_windows",
        "supervision_cursor",
        "supervision_evidence",
        "supervision_findings",
        "supervision_rules",
    ):
        op.drop_table(table)
