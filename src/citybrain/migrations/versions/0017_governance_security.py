"""governance security: security officers, incidents, risk bulletins and acknowledgements

Revision ID: 0017
Revises: 0014
"""

from __future__ import annotations

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Tables of this package (none yet)."""


def downgrade() -> None:
    """Nothing to undo."""
