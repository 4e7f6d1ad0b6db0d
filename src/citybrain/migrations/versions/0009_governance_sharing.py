"""governance sharing: share requests and grants (Art9)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "share_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(18), nullable=False),
        sa.Column("requester", sa.String(18), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("fields", JSON_DOC, nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("purpose_text", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("term_days", sa.Integer(), nullable=False),
        sa.Column("row_filter", JSON_DOC, nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("sla_due_at", UTC_TS, nullable=False),
        sa.Column("decided_at", UTC_TS, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_share_requests"),
    )
    for column in ("dataset", "provider", "requester", "status", "sla_due_at"):
        op.create_index(f"ix_share_requests_{column}", "share_requests", [column])
    op.create_table(
        "share_grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(18), nullable=False),
        sa.Column("grantee", sa.String(18), nullable=False),
        sa.Column("fields", JSON_DOC, nullable=False),
        sa.Column("masks", JSON_DOC, nullable=False),
        sa.Column("row_filter", JSON_DOC, nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("purpose_text", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("expires_at", UTC_TS, nullable=False),
        sa.Column("revoked_at", UTC_TS, nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["share_requests.id"],
            name="fk_share_grants_request_id_share_requests",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_share_grants"),
    )
    for column in ("request_id", "dataset", "provider", "grantee", "status", "expires_at"):
        op.create_index(f"ix_share_grants_{column}", "share_grants", [column])


def downgrade() -> None:
    for column in ("request_id", "dataset", "provider", "grantee", "status", "expires_at"):
        op.drop_index(f"ix_share_grants_{column}", table_name="share_grants")
    op.drop_table("share_grants")
    for column in ("dataset", "provider", "requester", "status", "sla_due_at"):
        op.drop_index(f"ix_share_requests_{column}", table_name="share_requests")
    op.drop_table("share_requests")
