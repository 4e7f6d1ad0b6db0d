"""governance report desk: public reports of illegal data use, their receipts and history

Revision ID: 0016
Revises: 0014
"""

from __future__ import annotations

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Tables of this package (none yet)."""


def downgrade() -> None:
    """Nothing to undo."""
