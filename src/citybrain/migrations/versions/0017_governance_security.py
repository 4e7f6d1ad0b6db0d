"""governance security: security officers, incidents, risk bulletins and acknowledgements

Revision ID: 0017
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
UTC_TS = sa.DateTime(timezone=True)
INDEXES = (
    ("security_incidents", "organisation"),
    ("security_incidents", "severity"),
    ("security_incidents", "status"),
    ("security_incident_updates", "incident_id"),
    ("security_bulletins", "severity"),
    ("security_bulletins", "ack_deadline"),
    ("security_bulletin_recipients", "organisation"),
)


def upgrade() -> None:
    """The officers, incidents with their timeline, bulletins with their recipients."""
    op.create_table(
        "security_officers",
        sa.Column("organisation", sa.String(18), nullable=False),
        sa.Column("officer", sa.String(100), nullable=False),
        sa.Column("deputy", sa.String(100), nullable=True),
        sa.Column("contact", sa.String(100), nullable=False),
        sa.Column("named_by", sa.String(200), nullable=False),
        sa.Column("named_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("organisation", name="pk_security_officers"),
    )
    op.create_table(
        "security_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(18), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("occurred_at", UTC_TS, nullable=False),
        sa.Column("datasets", JSON_DOC, nullable=False),
        sa.Column("actions", JSON_DOC, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reported_by", sa.String(200), nullable=False),
        sa.Column("reported_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_security_incidents"),
    )
    op.create_table(
        "security_incident_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("status_from", sa.String(20), nullable=True),
        sa.Column("status_to", sa.String(20), nullable=True),
        sa.Column("actions", JSON_DOC, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["security_incidents.id"],
            name="fk_security_incident_updates_incident_id_security_incidents",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_security_incident_updates"),
    )
    op.create_table(
        "security_bulletins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title_zh", sa.String(300), nullable=False),
        sa.Column("title_en", sa.String(300), nullable=False),
        sa.Column("body_zh", sa.Text(), nullable=False),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("audience", sa.String(20), nullable=False),
        sa.Column("ack_deadline", UTC_TS, nullable=False),
        sa.Column("issued_by", sa.String(200), nullable=False),
        sa.Column("issuer_organisation", sa.String(18), nullable=False),
        sa.Column("issued_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_security_bulletins"),
    )
    op.create_table(
        "security_bulletin_recipients",
        sa.Column("bulletin_id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(18), nullable=False),
        sa.Column("acknowledged_at", UTC_TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["bulletin_id"],
            ["security_bulletins.id"],
            name="fk_security_bulletin_recipients_bulletin_id_security_bulletins",
        ),
        sa.PrimaryKeyConstraint(
            "bulletin_id", "organisation", name="pk_security_bulletin_recipients"
        ),
    )
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    """Drop the tables (children first)."""
    for table, column in INDEXES:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    for table in (
        "security_bulletin_recipients",
        "security_bulletins",
        "security_incident_updates",
        "security_incidents",
        "security_officers",
    ):
        op.drop_table(table)
