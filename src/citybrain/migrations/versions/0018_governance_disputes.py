"""governance disputes: cases, claims, evidence, decisions and appeals

Revision ID: 0018
Revises: 0014
"""

from __future__ import annotations

revision = "0018"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Tables of this package (none yet)."""


def downgrade() -> None:
    """Nothing to undo."""
