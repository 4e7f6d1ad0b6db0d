"""ledger: index entries by request id (the citizen's view and destruction certificates look
entries up by it)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ledger_entries_request_id", "ledger_entries", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_request_id", table_name="ledger_entries")
