"""Ledger tables. Their own metadata, since the ledger is the bottom layer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class LedgerBase(DeclarativeBase):
    """Declarative base of the ledger tables."""

    metadata = MetaData(naming_convention=NAMING)


class LedgerEntry(LedgerBase):
    """One supervised action. ``leaf_hash`` = SHA-256(0x00 || canonical entry bytes)."""

    __tablename__ = "ledger_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    resource: Mapped[str] = mapped_column(String(500))
    purpose: Mapped[str] = mapped_column(String(500))
    decision: Mapped[str] = mapped_column(String(20))
    policy_ids: Mapped[str] = mapped_column(Text)  # JSON array of policy ids
    request_id: Mapped[str] = mapped_column(String(100), index=True)  # citizen view, certificates
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerNode(LedgerBase):
    """Hash of a complete (perfect) subtree: 2**level leaves starting at index * 2**level.

    ``key`` = (index << 6) | level, one integer primary key for fast lookups.
    """

    __tablename__ = "ledger_nodes"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerHead(LedgerBase):
    """The single head row (id 1): size, root and the right frontier, locked on append."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    frontier: Mapped[bytes] = mapped_column(LargeBinary)  # concatenated 32-byte hashes, high to low
    last_checkpoint_size: Mapped[int] = mapped_column(BigInteger, default=0)
    last_checkpoint_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LedgerCheckpoint(LedgerBase):
    """A signed statement of (tree size, root hash, time)."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    origin: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
