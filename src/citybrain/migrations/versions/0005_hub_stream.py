"""hub stream collection: the dead-letter store

A separate branch from 0002 (catalogue and batch ingest have their own); ``citybrain.kernel.db
.upgrade`` applies every head.

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("topic", sa.String(length=500), nullable=False),
        sa.Column("msg_id", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_dead_letters")),
    )
    op.create_index(
        "ix_stream_dead_letters_topic_received_at",
        "stream_dead_letters",
        ["topic", "received_at"],
    )
    op.create_index("ix_stream_dead_letters_msg_id", "stream_dead_letters", ["msg_id"])


def downgrade() -> None:
    op.drop_index("ix_stream_dead_letters_msg_id", table_name="stream_dead_letters")
    op.drop_index("ix_stream_dead_letters_topic_received_at", table_name="stream_dead_letters")
    op.drop_table("stream_dead_letters")
