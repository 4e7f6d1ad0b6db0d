"""The ledger service: append inside the caller's transaction, prove, checkpoint, verify.

Every write happens in the caller's SQLAlchemy ``Session`` transaction and never commits: the
audited action and its ledger entry stand or fall together. Appends lock the single head row
(``SELECT ... FOR UPDATE``; on SQLite the connection already holds ``BEGIN IMMEDIATE``), so there is
one writer per log at a time. Proofs are built from O(log n) stored perfect-node hashes, fetched in
one query and cached in-process (nodes never change once written).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice, pairwise
from typing import Any

from sqlalchemy import Connection, Row, Table, insert, select, update
from sqlalchemy.orm import Session

from citybrain.ledger.committer import GroupCommitter
from citybrain.ledger.entry import (
    EntryData,
    canonical_bytes,
    entry_from_row,
    policy_ids_json,
    to_utc,
)
from citybrain.ledger.errors import (
    LeafIndexOutOfRange,
    LedgerCorrupt,
    LedgerError,
    TreeSizeOutOfRange,
)
from citybrain.ledger.merkle import (
    EMPTY_ROOT,
    consistency_path_ranges,
    fold,
    inclusion_path_ranges,
    leaf_hash,
    pack_frontier,
    push_leaf,
    range_keys,
    root_from_frontier,
    unpack_frontier,
)
from citybrain.ledger.models import LedgerCheckpoint
from citybrain.ledger.proofs import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    VerifyReport,
    verify_consistency_json,
    verify_export,
    verify_inclusion_json,
)
from citybrain.ledger.signing import CheckpointSigner, checkpoint_note
from citybrain.ledger.store import ENTRIES, HEAD, HeadRow, Statements
from citybrain.ledger.verify import verify_log

__all__ = [
    "Appended",
    "Checkpoint",
    "ConsistencyProof",
    "GroupCommitter",
    "Head",
    "InclusionProof",
    "Ledger",
    "LedgerError",
    "StoredEntry",
    "VerifyReport",
    "verify_consistency_json",
    "verify_export",
    "verify_inclusion_json",
]

CHECKPOINTS: Table = LedgerCheckpoint.__table__  # type: ignore[assignment]
_ENTRY_COLS = (
    "actor", "organisation", "action", "resource", "purpose", "decision", "policy_ids", "request_id"
)  # fmt: skip
_DIRTY = "citybrain.ledger.dirty"
_IN_CHUNK = 500  # keys per IN (...) list


@dataclass(frozen=True, slots=True)
class Appended:
    """Where an entry landed: its sequence number (= leaf index), time and leaf hash."""

    seq: int
    ts: datetime
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class Head:
    """The log's current state."""

    size: int
    root: bytes
    frontier: tuple[bytes, ...]
    last_checkpoint_size: int
    last_checkpoint_ts: datetime | None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored."""

    seq: int
    ts: datetime
    data: EntryData
    leaf_hash: bytes


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else bytes(value)


def _to_checkpoint(row: Row[Any]) -> Checkpoint:
    return Checkpoint(
        row.id,
        row.tree_size,
        _bytes(row.root_hash),
        to_utc(row.ts),
        row.origin,
        row.key_id,
        _bytes(row.signature),
    )


class _NodeCache:
    """Bounded map node key -> hash. Lock-free reads; writes evict the oldest quarter when full."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.data: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def put_many(self, items: Iterable[tuple[int, bytes]]) -> None:
        if self.maxsize <= 0:
            return
        with self._lock:
            d = self.data
            d.update(items)
            if len(d) > self.maxsize:
                drop = len(d) - self.maxsize + self.maxsize // 4
                for key in list(islice(d, drop)):
                    del d[key]

    def clear(self) -> None:
        with self._lock:
            self.data.clear()


class Ledger:
    """One append-only Merkle log with signed checkpoints, stored through SQLAlchemy."""

    def __init__(
        self,
        signer: CheckpointSigner,
        *,
        origin: str,
        checkpoint_every: int = 1000,
        checkpoint_interval_s: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        node_cache_size: int = 1 << 18,
    ) -> None:
        if not origin or "\n" in origin:
            raise ValueError("origin: must be one non-empty line")
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every: must be at least 1")
        self.signer = signer
        self.origin = origin
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval_s = checkpoint_interval_s
        self.clock = clock
        self._cache = _NodeCache(node_cache_size)
        self._sql: dict[tuple[str, str, str], Statements] = {}
        self._roots: dict[int, bytes] = {}  # tree size -> root, for committed sizes only

    # --- writing ---------------------------------------------------------------------------------

    def append(self, session: Session, entry: EntryData) -> Appended:
        """Append one entry in the caller's transaction (O(log n); never commits)."""
        return self.append_many(session, (entry,))[0]

    def append_many(self, session: Session, entries: Sequence[EntryData]) -> list[Appended]:
        """Append a batch under one head lock with bulk inserts, in the caller's transaction."""
        if not entries:
            return []
        conn = session.connection()
        sql = self._statements(conn)
        head = self._lock_head(conn, sql)
        size = head.size
        frontier = self._frontier(head.frontier, size)
        ts = to_utc(self.clock())
        ts_db = sql.bind_ts(ts)
        rows: list[tuple[Any, ...]] = []
        nodes: list[tuple[int, bytes]] = []
        out: list[Appended] = []
        for e in entries:
            lh = leaf_hash(canonical_bytes(size, ts, e))
            ids = policy_ids_json(e.policy_ids)
            rows.append(
                (size, ts_db, e.actor, e.organisation, e.action, e.resource, e.purpose, e.decision,
                 ids, e.request_id, lh)
            )  # fmt: skip
            for level, index, h in push_leaf(frontier, size, lh):
                nodes.append(((index << 6) | level, h))
            out.append(Appended(size, ts, lh))
            size += 1
        self._mark_written(session, head.size)
        root = root_from_frontier(frontier)
        cp_size, cp_ts = head.last_checkpoint_size, head.last_checkpoint_ts
        if self._due(size, cp_size, cp_ts, ts):
            self._insert_checkpoint(session, size, root, ts)
            cp_size, cp_ts = size, ts
        sql.write(conn, rows, nodes, HeadRow(size, root, pack_frontier(frontier), cp_size, cp_ts))
        return out

    def _statements(self, conn: Connection) -> Statements:
        d = conn.dialect
        key = (d.name, d.driver, d.paramstyle)
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = Statements(d)
        return sql

    def _due(self, size: int, last_size: int, last_ts: datetime | None, now: datetime) -> bool:
        if size <= last_size:
            return False
        if size - last_size >= self.checkpoint_every or last_ts is None:
            return True
        return (now - to_utc(last_ts)).total_seconds() >= self.checkpoint_interval_s

    @staticmethod
    def _lock_head(conn: Connection, sql: Statements) -> HeadRow:
        head = sql.lock_head(conn)
        if head is None:
            sql.create_head(conn)
            head = sql.lock_head(conn)
            assert head is not None
        return head

    @staticmethod
    def _frontier(blob: bytes, size: int) -> list[bytes]:
        try:
            return unpack_frontier(blob, size)
        except ValueError as exc:
            raise LedgerCorrupt(f"ledger head: {exc}") from None

    @staticmethod
    def _mark_written(session: Session, committed_size: int) -> None:
        """Remember that this transaction wrote leaves from ``committed_size`` on.

        Nodes below that size were committed before this transaction took the head lock, so they
        may be cached; nodes above it might still be rolled back, so they must not be.
        """
        txn = session.get_transaction()
        if txn is None:
            return
        mark = session.info.get(_DIRTY)
        if mark is None or mark[0]() is not txn:
            session.info[_DIRTY] = (weakref.ref(txn), committed_size)

    @staticmethod
    def _committed_size(session: Session) -> int | None:
        """None when this transaction wrote nothing; else the size below which reads are final."""
        mark = session.info.get(_DIRTY)
        if mark is None:
            return None
        txn = mark[0]()
        if txn is not None and txn.is_active and txn is session.get_transaction():
            return int(mark[1])
        return None

    def _insert_checkpoint(
        self, session: Session, size: int, root: bytes, ts: datetime
    ) -> Checkpoint:
        sig = self.signer.sign(checkpoint_note(self.origin, size, root, ts))
        values = {
            "tree_size": size,
            "root_hash": root,
            "ts": ts,
            "origin": self.origin,
            "key_id": self.signer.key_id,
            "signature": sig,
        }
        new_id = session.execute(insert(CHECKPOINTS).values(values).returning(CHECKPOINTS.c.id))
        return Checkpoint(new_id.scalar_one(), size, root, ts, self.origin, self.signer.key_id, sig)

    # --- reading ---------------------------------------------------------------------------------

    def head(self, session: Session) -> Head:
        """Current size, root and frontier (size 0 before the first append)."""
        row = session.execute(select(HEAD).where(HEAD.c.id == 1)).first()
        if row is None:
            return Head(0, EMPTY_ROOT, (), 0, None)
        lcts = None if row.last_checkpoint_ts is None else to_utc(row.last_checkpoint_ts)
        frontier = tuple(self._frontier(_bytes(row.frontier), row.size))
        return Head(row.size, _bytes(row.root_hash), frontier, row.last_checkpoint_size, lcts)

    def size(self, session: Session) -> int:
        """Number of entries."""
        got = session.execute(select(HEAD.c.size).where(HEAD.c.id == 1)).scalar()
        return 0 if got is None else int(got)

    def root(self, session: Session) -> bytes:
        """Current root hash."""
        got = session.execute(select(HEAD.c.root_hash).where(HEAD.c.id == 1)).scalar()
        return EMPTY_ROOT if got is None else _bytes(got)

    @staticmethod
    def _stored(row: Row[Any]) -> StoredEntry:
        try:
            data = entry_from_row(*(getattr(row, c) for c in _ENTRY_COLS))
        except ValueError as exc:
            raise LedgerCorrupt(f"entry {row.seq}: {exc}") from None
        return StoredEntry(row.seq, to_utc(row.ts), data, _bytes(row.leaf_hash))

    def entry(self, session: Session, seq: int) -> StoredEntry | None:
        """The entry at ``seq``, or None."""
        row = session.execute(select(ENTRIES).where(ENTRIES.c.seq == seq)).first()
        return None if row is None else self._stored(row)

    def entries(self, session: Session, after_seq: int = -1, limit: int = 100) -> list[StoredEntry]:
        """Up to ``limit`` entries with ``seq > after_seq``, in order (keyset pagination)."""
        stmt = select(ENTRIES).where(ENTRIES.c.seq > after_seq).order_by(ENTRIES.c.seq).limit(limit)
        return [self._stored(r) for r in session.execute(stmt)]

    # --- proofs ----------------------------------------------------------------------------------

    def clear_cache(self) -> None:
        """Forget cached node hashes and roots (benchmarks; after restoring a database)."""
        self._cache.clear()
        self._roots.clear()

    def _nodes(self, session: Session, keys: Iterable[int], tree_size: int) -> dict[int, bytes]:
        """Hashes of the given perfect nodes: cache first, then one ``key IN (...)`` query."""
        cached = self._cache.data
        found: dict[int, bytes] = {}
        missing: list[int] = []
        for k in keys:
            h = cached.get(k)
            if h is None:
                missing.append(k)
            else:
                found[k] = h
        if not missing:
            return found
        missing = list(dict.fromkeys(missing))
        conn = session.connection()
        sql = self._statements(conn)
        got: list[tuple[int, bytes]] = []
        for i in range(0, len(missing), _IN_CHUNK):
            got.extend(sql.fetch_nodes(conn, missing[i : i + _IN_CHUNK]))
        found.update(got)
        final = self._committed_size(session)
        if final is None:
            self._cache.put_many(got)
        else:
            self._cache.put_many((k, h) for k, h in got if ((k >> 6) + 1) << (k & 63) <= final)
        if len(got) < len(missing):
            size = self.size(session)
            if tree_size > size:
                raise TreeSizeOutOfRange(f"tree size {tree_size} exceeds the log size {size}")
            lost = sorted(set(missing) - found.keys())[0]
            raise LedgerCorrupt(f"stored node level {lost & 63} index {lost >> 6} is missing")
        return found

    def _root_keys(self, size: int) -> tuple[bytes | None, list[int]]:
        """(cached root, []) or (None, the node keys whose fold is the root of ``size``)."""
        if size == 0:
            return EMPTY_ROOT, []
        root = self._roots.get(size)
        return (root, []) if root is not None else (None, range_keys(0, size))

    def _fold_root(
        self, session: Session, size: int, keys: list[int], got: dict[int, bytes]
    ) -> bytes:
        root = fold([got[k] for k in keys])
        final = self._committed_size(session)
        if final is None or size <= final:  # built from committed nodes only: it is final
            if len(self._roots) >= 4096:
                self._roots.clear()
            self._roots[size] = root
        return root

    def inclusion_proof(
        self, session: Session, seq: int, tree_size: int | None = None
    ) -> InclusionProof:
        """Proof that entry ``seq`` is in the tree of ``tree_size`` leaves (default: current)."""
        root: bytes | None = None
        root_keys: list[int] = []
        if tree_size is None:
            head = session.execute(select(HEAD.c.size, HEAD.c.root_hash).where(HEAD.c.id == 1))
            row = head.first()
            tree_size, root = (0, EMPTY_ROOT) if row is None else (row[0], _bytes(row[1]))
        if tree_size < 1:
            raise TreeSizeOutOfRange(f"tree size {tree_size}: an inclusion proof needs at least 1")
        if not 0 <= seq < tree_size:
            raise LeafIndexOutOfRange(f"leaf index {seq} is not in [0, {tree_size})")
        if root is None:
            root, root_keys = self._root_keys(tree_size)
        path_keys = [range_keys(a, b) for a, b in inclusion_path_ranges(seq, tree_size)]
        keys = [seq << 6, *root_keys]
        for ks in path_keys:
            keys.extend(ks)
        got = self._nodes(session, keys, tree_size)
        path = [got[ks[0]] if len(ks) == 1 else fold([got[k] for k in ks]) for ks in path_keys]
        if root is None:
            root = self._fold_root(session, tree_size, root_keys, got)
        return InclusionProof(seq, tree_size, got[seq << 6], path, root)

    def consistency_proof(
        self, session: Session, first: int, second: int | None = None
    ) -> ConsistencyProof:
        """Proof that the tree of ``first`` leaves is a prefix of the one of ``second``."""
        if second is None:
            second = self.size(session)
        if not 0 <= first <= second:
            raise TreeSizeOutOfRange(f"need 0 <= first <= second, got {first} and {second}")
        path_keys = [range_keys(a, b) for a, b in consistency_path_ranges(first, second)]
        r1, k1 = self._root_keys(first)
        r2, k2 = self._root_keys(second)
        keys = [*k1, *k2]
        for ks in path_keys:
            keys.extend(ks)
        if r2 is not None and not keys and second > self.size(session):
            raise TreeSizeOutOfRange(f"tree size {second} exceeds the log size")
        got = self._nodes(session, keys, second) if keys else {}
        if r1 is None:
            r1 = self._fold_root(session, first, k1, got)
        if r2 is None:
            r2 = self._fold_root(session, second, k2, got)
        path = [got[ks[0]] if len(ks) == 1 else fold([got[k] for k in ks]) for ks in path_keys]
        return ConsistencyProof(first, second, r1, r2, path)

    # --- checkpoints -----------------------------------------------------------------------------

    def checkpoint(self, session: Session, force: bool = False) -> Checkpoint | None:
        """Sign the current head when it has grown since the last checkpoint (always if forced)."""
        conn = session.connection()
        sql = self._statements(conn)
        head = self._lock_head(conn, sql)
        if not force and head.size <= head.last_checkpoint_size and head.last_checkpoint_ts:
            return None
        ts = to_utc(self.clock())
        cp = self._insert_checkpoint(session, head.size, head.root_hash, ts)
        values = {"last_checkpoint_size": head.size, "last_checkpoint_ts": ts}
        session.execute(update(HEAD).where(HEAD.c.id == 1).values(values))
        return cp

    def latest_checkpoint(self, session: Session) -> Checkpoint | None:
        """The checkpoint of the largest tree, or None."""
        stmt = select(CHECKPOINTS).order_by(CHECKPOINTS.c.tree_size.desc(), CHECKPOINTS.c.id.desc())
        row = session.execute(stmt.limit(1)).first()
        return None if row is None else _to_checkpoint(row)

    def checkpoints(self, session: Session) -> list[Checkpoint]:
        """Every checkpoint, smallest tree first."""
        stmt = select(CHECKPOINTS).order_by(CHECKPOINTS.c.tree_size, CHECKPOINTS.c.id)
        return [_to_checkpoint(r) for r in session.execute(stmt)]

    def export_checkpoints(self, session: Session) -> dict[str, Any]:
        """Everything an outsider needs to check the checkpoints (see :func:`verify_export`)."""
        cps = self.checkpoints(session)
        links = [
            self.consistency_proof(session, a.tree_size, b.tree_size) for a, b in pairwise(cps)
        ]
        return {
            "origin": self.origin,
            "public_key": self.signer.public_key_b64,
            "key_id": self.signer.key_id,
            "checkpoints": [cp.to_json() for cp in cps],
            "consistency": [p.to_json() for p in links],
        }

    # --- verification ----------------------------------------------------------------------------

    def verify(self, session: Session, chunk: int = 4096) -> VerifyReport:
        """Recompute everything from the entries and compare with every stored row (O(n)).

        Checks seq contiguity from 0, each entry's bytes against its leaf hash and level-0 node,
        every perfect node, the head (size, root, frontier) and every checkpoint (root at its
        size, origin, key, signature). ``first_bad_seq`` names the first bad entry: edited,
        deleted, inserted, reordered, or the first missing one of a truncated tail. On
        PostgreSQL a session not yet in a transaction starts one at REPEATABLE READ, so that the
        whole check reads one snapshot while others append.
        """
        return verify_log(self, session, chunk=chunk)
