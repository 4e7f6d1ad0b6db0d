"""Property tests: random logs on SQLite and PostgreSQL against the in-memory oracle, and random
tampering of the stored rows, which ``Ledger.verify`` must catch and locate."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from citybrain.kernel.db import make_engine, session_factory
from citybrain.ledger.entry import (
    ACTIONS,
    EntryData,
    canonical_bytes,
    entry_from_row,
    policy_ids_json,
)
from citybrain.ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    fold,
    frontier_nodes,
    leaf_hash,
    node_key,
    verify_consistency,
    verify_inclusion,
)
from citybrain.ledger.models import (
    LedgerBase,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerHead,
    LedgerNode,
)
from citybrain.ledger.service import Ledger
from citybrain.ledger.signing import CheckpointSigner
from tests.conftest import PgSchema

SIGNER = CheckpointSigner.generate()
T0 = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def factory(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[sessionmaker[Session]]:
    """One database per backend for the module; each example empties it first."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('ledger')}/p.db")
        LedgerBase.metadata.create_all(engine)
        yield session_factory(engine)
        engine.dispose()
        return
    request.getfixturevalue("pg_ready")  # skip, or fail in CI, when PostgreSQL is down
    schema = PgSchema("ledger_prop_")
    engine = make_engine(schema.url)
    try:
        LedgerBase.metadata.create_all(engine)
        yield session_factory(engine)
    finally:
        engine.dispose()
        schema.drop()


def reset(factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        for model in (LedgerEntry, LedgerNode, LedgerHead, LedgerCheckpoint):
            s.execute(delete(model))


def entry(i: int) -> EntryData:
    return EntryData(
        actor=f"user:{i % 5}",
        organisation="org:城管",
        action=ACTIONS[i % len(ACTIONS)],
        resource=f"dataset:{i % 3}",
        purpose="inspection",
        decision=("allow", "deny")[i % 2],
        policy_ids=tuple(f"p{j}" for j in range(i % 3)),
        request_id=f"req-{i}",
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1500)
        return self.now


def build(
    factory: sessionmaker[Session], batches: list[int], every: int = 16
) -> tuple[Ledger, dict]:
    """Append the batches (odd-sized ones entry by entry) in one transaction each."""
    reset(factory)
    ledger = Ledger(SIGNER, origin="citybrain.test/prop", checkpoint_every=every, clock=Clock())
    roots: dict[int, bytes] = {}
    n = 0
    for b in batches:
        with factory.begin() as s:
            if b % 2:
                for i in range(n, n + b):
                    assert ledger.append(s, entry(i)).seq == i
            else:
                assert [
                    a.seq for a in ledger.append_many(s, [entry(i) for i in range(n, n + b)])
                ] == (list(range(n, n + b)))
        n += b
        with factory() as s:
            roots[n] = ledger.root(s)
    return ledger, roots


def oracle(factory: sessionmaker[Session], ledger: Ledger) -> MerkleTree:
    with factory() as s:
        rows = ledger.entries(s, -1, 10_000)
    return MerkleTree(canonical_bytes(r.seq, r.ts, r.data) for r in rows)


def flip(h: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(h))
    return h[:i] + bytes([h[i] ^ (1 << rng.randrange(8))]) + h[i + 1 :]


@settings(max_examples=8, deadline=None)
@given(batches=st.lists(st.integers(1, 50), min_size=1, max_size=6))
@example(batches=[1, 64, 63, 128, 44])  # 300 entries, batch edges on and off powers of two
def test_db_proofs_agree_with_the_oracle(factory, batches: list[int]) -> None:
    ledger, roots = build(factory, batches)
    tree = oracle(factory, ledger)
    rng = random.Random(sum(batches))
    sizes = sorted(roots)
    final = sizes[-1]
    with factory() as s:
        for n in sizes:
            assert roots[n] == tree.root(n)
            for m in range(n):
                p = ledger.inclusion_proof(s, m, n)
                assert p.path == tree.inclusion_proof(m, n)
                assert p.root == roots[n]
                assert verify_inclusion(m, n, leaf_hash(tree.leaves[m]), p.path, roots[n])
                if m % 7 == 0:  # a flipped byte anywhere breaks it
                    where = rng.randrange(len(p.path) + 2)
                    leaf, path, root = p.leaf_hash, list(p.path), roots[n]
                    if where == len(p.path):
                        leaf = flip(leaf, rng)
                    elif where == len(p.path) + 1:
                        root = flip(root, rng)
                    else:
                        path[where] = flip(path[where], rng)
                    assert not verify_inclusion(m, n, leaf, path, root)
            firsts = range(n + 1) if n == final or n <= 64 else rng.sample(range(n + 1), 16)
            for m in firsts:
                c = ledger.consistency_proof(s, m, n)
                assert c.path == tree.consistency_proof(m, n)
                r1 = tree.root(m)
                assert (c.first_root, c.second_root) == (r1, roots[n])
                assert verify_consistency(m, n, r1, roots[n], c.path)
                if c.path:
                    bad = list(c.path)
                    i = rng.randrange(len(bad))
                    bad[i] = flip(bad[i], rng)
                    assert not verify_consistency(m, n, r1, roots[n], bad)
        assert ledger.verify(s).ok


# --- tampering -----------------------------------------------------------------------------------

EDITABLE = (
    "actor", "organisation", "action", "resource", "purpose", "decision", "policy_ids",
    "request_id", "ts", "leaf_hash",
)  # fmt: skip
TAMPERS = (
    *(f"edit:{c}" for c in EDITABLE),
    "delete",
    "append_forged",
    "insert_shift",
    "swap",
    "truncate",
    "truncate_rewrite_head",
    "checkpoint_signature",
    "checkpoint_root",
    "node_edit",
    "node_delete",
    "node_stray",
)


def _row(s: Session, seq: int) -> dict[str, Any]:
    return dict(
        s.execute(select(LedgerEntry.__table__).where(LedgerEntry.seq == seq)).one()._mapping
    )


def _forged(seq: int, ts: datetime) -> dict[str, Any]:
    e = EntryData("user:mallory", "org:x", "delete", "dataset:all", "none", "allow", (), "forged")
    return {
        "seq": seq,
        "ts": ts,
        "actor": e.actor,
        "organisation": e.organisation,
        "action": e.action,
        "resource": e.resource,
        "purpose": e.purpose,
        "decision": e.decision,
        "policy_ids": policy_ids_json(e.policy_ids),
        "request_id": e.request_id,
        "leaf_hash": leaf_hash(canonical_bytes(seq, ts, e)),
    }


def _edit_value(column: str, row: dict[str, Any]) -> Any:
    value = row[column]
    if column == "action":
        return next(a for a in ACTIONS if a != value)
    if column == "decision":
        return "deny" if value == "allow" else "allow"
    if column == "policy_ids":
        return '["forged"]'
    if column == "ts":
        return value + timedelta(microseconds=1)
    if column == "leaf_hash":
        return bytes([value[0] ^ 1]) + bytes(value[1:])
    return value + "x"


def tamper(s: Session, kind: str, n: int, draw: Any) -> int | None:
    """Apply one tampering to a log of ``n`` entries; return the expected first bad seq."""
    entries = LedgerEntry.__table__
    pick = lambda lo, hi: draw(st.integers(lo, hi))  # noqa: E731
    if kind.startswith("edit:"):
        k = pick(0, n - 1)
        column = kind[5:]
        row = _row(s, k)
        s.execute(
            update(entries).where(entries.c.seq == k).values({column: _edit_value(column, row)})
        )
        return k
    if kind == "delete":
        k = pick(0, n - 1)
        s.execute(delete(entries).where(entries.c.seq == k))
        return k
    if kind == "append_forged":
        s.execute(insert(entries).values(_forged(n, T0)))
        return n
    if kind == "insert_shift":  # a forged entry slipped in at k, later ones renumbered and rehashed
        k = pick(0, n - 1)
        later = [_row(s, q) for q in range(k, n)]
        s.execute(delete(entries).where(entries.c.seq >= k))
        s.execute(insert(entries).values(_forged(k, later[0]["ts"])))
        for row in later:
            data = entry_from_row(*(row[c] for c in EDITABLE[:-2]))
            seq = row["seq"] + 1
            row.update(seq=seq, leaf_hash=leaf_hash(canonical_bytes(seq, row["ts"], data)))
            s.execute(insert(entries).values(row))
        return k
    if kind == "swap":
        i = pick(0, n - 2)
        j = pick(i + 1, n - 1)
        ri, rj = _row(s, i), _row(s, j)
        for dst, src in ((i, rj), (j, ri)):
            values = {c: v for c, v in src.items() if c != "seq"}
            s.execute(update(entries).where(entries.c.seq == dst).values(values))
        return i
    if kind in ("truncate", "truncate_rewrite_head"):
        k = pick(0, n - 1)
        s.execute(delete(entries).where(entries.c.seq >= k))
        if kind == "truncate_rewrite_head":  # make head and nodes agree with the shorter log
            nodes = LedgerNode.__table__
            keys = [(i << 6) | lv for lv in range(12) for i in range(n >> lv) if (i + 1) << lv > k]
            if keys:
                s.execute(delete(nodes).where(nodes.c.key.in_(keys)))
            front = [
                s.execute(select(nodes.c.hash).where(nodes.c.key == node_key(lv, i))).scalar_one()
                for lv, i in frontier_nodes(k)
            ]
            root = fold(front) if front else EMPTY_ROOT
            s.execute(update(LedgerHead).values(size=k, root_hash=root, frontier=b"".join(front)))
        return k
    if kind in ("checkpoint_signature", "checkpoint_root"):
        ids = s.execute(select(LedgerCheckpoint.id).order_by(LedgerCheckpoint.id)).scalars().all()
        target = ids[pick(0, len(ids) - 1)]
        if kind == "checkpoint_signature":
            values: dict[str, Any] = {"signature": bytes(64)}
        else:
            values = {"root_hash": b"\x07" * 32}
        s.execute(update(LedgerCheckpoint).where(LedgerCheckpoint.id == target).values(values))
        return None
    level = pick(0, max(n.bit_length() - 1, 0))
    index = pick(0, (n >> level) - 1)
    key = node_key(level, index)
    nodes = LedgerNode.__table__
    if kind == "node_edit":
        s.execute(update(nodes).where(nodes.c.key == key).values(hash=b"\x00" * 32))
        return index << level
    if kind == "node_delete":
        s.execute(delete(nodes).where(nodes.c.key == key))
        return index << level
    assert kind == "node_stray"
    s.execute(insert(nodes).values(key=node_key(level, (n >> level) + 1), hash=b"\x01" * 32))
    return None


@settings(max_examples=100, deadline=None)
@given(
    batches=st.lists(st.integers(1, 40), min_size=2, max_size=4),
    kind=st.sampled_from(TAMPERS),
    data=st.data(),
)
def test_verify_catches_and_locates_every_tamper(factory, batches, kind, data) -> None:
    ledger, roots = build(factory, batches, every=8)
    n = max(roots)
    with factory.begin() as s:
        ledger.checkpoint(s, force=True)  # there is always a checkpoint at the tip
    with factory() as s:
        assert ledger.verify(s).ok
    with factory.begin() as s:
        expected = tamper(s, kind, n, data.draw)
    with factory() as s:
        report = ledger.verify(s, chunk=data.draw(st.sampled_from([5, 64, 4096])))
    assert not report.ok, kind
    assert report.first_bad_seq == expected, (kind, report)
    assert report.reason
    if kind.startswith("checkpoint"):
        assert "checkpoint #" in report.reason and "bad signature" in report.reason
