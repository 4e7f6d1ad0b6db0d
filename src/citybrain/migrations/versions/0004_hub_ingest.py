"""hub ingest: batches with provenance, dataset records, quarantine, provider keys

A branch of its own off 0002 (``citybrain.kernel.db.upgrade`` applies every head).

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ingest_batches",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("dataset_id", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("encoding", sa.String(40), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_accepted", sa.Integer(), nullable=False),
        sa.Column("rows_quarantined", sa.Integer(), nullable=False),
        sa.Column("signature", sa.String(200), nullable=True),
        sa.Column("signature_key_id", sa.String(64), nullable=True),
        sa.Column("signature_verified", sa.Boolean(), nullable=True),
        sa.Column("received_at", UTC_TS, nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_batches"),
        sa.UniqueConstraint("dataset_id", "content_sha256", name="uq_ingest_batches_dataset_id"),
    )
    op.create_index("ix_ingest_batches_dataset_id", "ingest_batches", ["dataset_id"])
    op.create_index("ix_ingest_batches_organisation", "ingest_batches", ["organisation"])

    op.create_table(
        "dataset_records",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("dataset_id", sa.String(200), nullable=False),
        sa.Column("record_key", sa.String(500), nullable=False),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.Column("batch_id", BIG_ID, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_records"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
            name="fk_dataset_records_batch_id_ingest_batches",
        ),
        sa.UniqueConstraint("dataset_id", "record_key", name="uq_dataset_records_dataset_id"),
    )
    op.create_index("ix_dataset_records_batch_id", "dataset_records", ["batch_id"])

    op.create_table(
        "ingest_quarantine",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("batch_id", BIG_ID, nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", JSON_DOC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_quarantine"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
            name="fk_ingest_quarantine_batch_id_ingest_batches",
        ),
    )
    op.create_index("ix_ingest_quarantine_batch_id", "ingest_quarantine", ["batch_id"])

    op.create_table(
        "provider_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.String(100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_provider_keys"),
        sa.UniqueConstraint("organisation", "key_id", name="uq_provider_keys_organisation"),
    )
    op.create_index("ix_provider_keys_organisation", "provider_keys", ["organisation"])


def downgrade() -> None:
    op.drop_index("ix_provider_keys_organisation", table_name="provider_keys")
    op.drop_table("provider_keys")
    op.drop_index("ix_ingest_quarantine_batch_id", table_name="ingest_quarantine")
    op.drop_table("ingest_quarantine")
    op.drop_index("ix_dataset_records_batch_id", table_name="dataset_records")
    op.drop_table("dataset_records")
    op.drop_index("ix_ingest_batches_organisation", table_name="ingest_batches")
    op.drop_index("ix_ingest_batches_dataset_id", table_name="ingest_batches")
    op.drop_table("ingest_batches")
