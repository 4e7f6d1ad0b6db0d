"""governance supervision: rules, findings and the detector's position in the ledger

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Tables of this package (none yet)."""


def downgrade() -> None:
    """Nothing to undo."""
