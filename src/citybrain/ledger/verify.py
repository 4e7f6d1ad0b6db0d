"""Full audit of a stored log: recompute every hash from the entries and compare with every row."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.ledger.entry import canonical_bytes, entry_from_row, to_utc
from citybrain.ledger.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    pack_frontier,
    push_leaf,
    root_from_frontier,
)
from citybrain.ledger.models import LedgerEntry, LedgerHead, LedgerNode
from citybrain.ledger.proofs import Checkpoint, VerifyReport
from citybrain.ledger.signing import CheckpointSigner

if TYPE_CHECKING:
    from citybrain.ledger.service import Ledger

_IN_CHUNK = 500
ENTRIES = LedgerEntry.__table__
NODES = LedgerNode.__table__
HEAD = LedgerHead.__table__


class _Bad(Exception):
    def __init__(self, seq: int | None, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq
        self.reason = reason


def _completed_keys(start: int, stop: int) -> list[int]:
    """Keys of the perfect nodes completed by appending leaves ``start .. stop - 1``."""
    keys: list[int] = []
    for pos in range(start, stop):
        n = pos + 1
        level = 0
        while True:
            keys.append((((n >> level) - 1) << 6) | level)
            if (n >> level) & 1:
                break
            level += 1
    return keys


def _fetch_nodes(session: Session, keys: Sequence[int]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for i in range(0, len(keys), _IN_CHUNK):
        stmt = select(NODES.c.key, NODES.c.hash).where(NODES.c.key.in_(keys[i : i + _IN_CHUNK]))
        out.update((k, bytes(h)) for k, h in session.execute(stmt))
    return out


class _Checker:
    def __init__(self, ledger: Ledger, checkpoints: list[Checkpoint]) -> None:
        self.ledger = ledger
        self.cps = checkpoints
        self.next_cp = 0
        self.checked = 0
        self.last_good_size = 0

    def checkpoints_at(self, size: int, root: bytes) -> None:
        """Check every checkpoint of tree size ``size`` against the recomputed ``root``."""
        signer = self.ledger.signer
        while self.next_cp < len(self.cps) and self.cps[self.next_cp].tree_size == size:
            cp = self.cps[self.next_cp]
            where = f"checkpoint #{cp.id} (tree size {cp.tree_size})"
            if cp.origin != self.ledger.origin:
                raise _Bad(None, f"{where}: origin {cp.origin!r} is not {self.ledger.origin!r}")
            if cp.key_id != signer.key_id:
                raise _Bad(None, f"{where}: signed by key {cp.key_id}, not {signer.key_id}")
            if not CheckpointSigner.verify(signer.public_key_b64, cp.note(), cp.signature):
                raise _Bad(None, f"{where}: bad signature")
            if cp.root_hash != root:
                raise _Bad(
                    self.last_good_size,
                    f"{where}: signed root does not match the entries; entries from "
                    f"{self.last_good_size} to {size - 1} were rewritten",
                )
            self.last_good_size = size
            self.checked += 1
            self.next_cp += 1


def _head_row(session: Session) -> Any:
    return session.execute(select(HEAD).where(HEAD.c.id == 1)).first()


def verify_log(ledger: Ledger, session: Session, *, chunk: int = 4096) -> VerifyReport:
    """See :meth:`Ledger.verify`."""
    if not session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        # One snapshot for the whole check, or entries appended meanwhile would look forged.
        # (SQLite transactions already read one snapshot.)
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    head = _head_row(session)
    head_size = 0 if head is None else int(head.size)
    checker = _Checker(ledger, ledger.checkpoints(session))
    n = 0
    try:
        checker.checkpoints_at(0, EMPTY_ROOT)
        frontier: list[bytes] = []
        stmt = select(ENTRIES).order_by(ENTRIES.c.seq).execution_options(yield_per=chunk)
        result = session.execute(stmt)
        for part in _closing_partitions(result):
            stored = _fetch_nodes(session, _completed_keys(n, n + len(part)))
            for row in part:
                if row.seq != n:
                    if row.seq > n:
                        raise _Bad(n, f"entry {n} is missing (the next stored entry is {row.seq})")
                    raise _Bad(n, f"unexpected entry seq {row.seq} where {n} was expected")
                if head is not None and n >= head_size:
                    raise _Bad(n, f"entry {n} lies beyond the head (size {head_size})")
                try:
                    data = entry_from_row(
                        row.actor,
                        row.organisation,
                        row.action,
                        row.resource,
                        row.purpose,
                        row.decision,
                        row.policy_ids,
                        row.request_id,
                    )
                except (ValueError, TypeError) as exc:
                    raise _Bad(n, f"entry {n}: {exc}") from None
                lh = leaf_hash(canonical_bytes(n, to_utc(row.ts), data))
                if lh != bytes(row.leaf_hash):
                    raise _Bad(n, f"entry {n}: content does not match its leaf hash")
                for level, index, h in push_leaf(frontier, n, lh):
                    got = stored.get((index << 6) | level)
                    if got != h:
                        what = "is missing" if got is None else "does not match the entries"
                        first = index << level
                        raise _Bad(
                            first,
                            f"stored node level {level} index {index} (entries {first} to "
                            f"{first + (1 << level) - 1}) {what}",
                        )
                n += 1
                if checker.next_cp < len(checker.cps):
                    checker.checkpoints_at(n, root_from_frontier(frontier))
        if head is None:
            if n:
                raise _Bad(None, "the ledger head row is missing")
        else:
            if head_size > n:
                raise _Bad(n, f"entry {n} is missing (the head says size {head_size})")
            if bytes(head.root_hash) != root_from_frontier(frontier):
                raise _Bad(None, "the head root does not match the entries")
            if bytes(head.frontier) != pack_frontier(frontier):
                raise _Bad(None, "the head frontier does not match the entries")
        if checker.next_cp < len(checker.cps):
            cp = checker.cps[checker.next_cp]
            raise _Bad(
                n,
                f"checkpoint #{cp.id} covers {cp.tree_size} entries but the log has {n}: "
                f"entry {n} is missing",
            )
        count = session.execute(select(func.count()).select_from(NODES)).scalar_one()
        if count != 2 * n - n.bit_count():
            stray = _stray_node(session, n)
            raise _Bad(None, f"stored node {stray} lies outside the tree of size {n}")
    except _Bad as bad:
        return VerifyReport(False, head_size, bad.seq, bad.reason, checker.checked)
    return VerifyReport(True, head_size, None, "", checker.checked)


def _closing_partitions(result: Any) -> Iterator[Sequence[Any]]:
    """The result's partitions; the (server-side) cursor is closed even when we stop early."""
    try:
        yield from result.partitions()
    finally:
        result.close()


def _stray_node(session: Session, size: int) -> str:
    for (key,) in session.execute(select(NODES.c.key).execution_options(yield_per=10_000)):
        level, index = key & 63, key >> 6
        if key < 0 or (index + 1) << level > size:
            return f"level {level} index {index}"
    return "(unknown)"
