"""Errors the ledger raises on purpose. ``kernel.errors`` maps them to problem details."""

from __future__ import annotations


class LedgerError(ValueError):
    """Base of every ledger error."""


class LeafIndexOutOfRange(LedgerError):
    """A leaf index outside ``[0, tree_size)``."""


class TreeSizeOutOfRange(LedgerError):
    """A tree size larger than the log, or sizes in the wrong order."""


class LedgerCorrupt(LedgerError):
    """Stored ledger rows contradict each other (run ``Ledger.verify`` for the details)."""


class CommitterClosed(LedgerError):
    """``GroupCommitter.submit`` after ``close()``."""
