"""The ledger service on SQLite and PostgreSQL: append, read, prove, checkpoint, verify, commit."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.orm import Session, sessionmaker

from citybrain.kernel.db import make_engine, session_factory
from citybrain.ledger.entry import EntryData, canonical_bytes
from citybrain.ledger.errors import (
    CommitterClosed,
    LeafIndexOutOfRange,
    LedgerError,
    TreeSizeOutOfRange,
)
from citybrain.ledger.merkle import EMPTY_ROOT, MerkleTree, leaf_hash
from citybrain.ledger.models import LedgerBase, LedgerCheckpoint, LedgerEntry, LedgerHead
from citybrain.ledger.service import (
    GroupCommitter,
    Ledger,
    verify_consistency_json,
    verify_export,
    verify_inclusion_json,
)
from citybrain.ledger.signing import CheckpointSigner
from tests.conftest import PgSchema

TABLES = "ledger_entries, ledger_nodes, ledger_head, ledger_checkpoints"
T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)
SIGNER = CheckpointSigner.generate()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def pg_schema(pg_ready: None) -> Iterator[PgSchema]:
    """A fresh schema on the local PostgreSQL, dropped at the end (skip when unreachable)."""
    schema = PgSchema("ledger_test_")
    try:
        yield schema
    finally:
        schema.drop()


@pytest.fixture(scope="session")
def pg_engine(pg_schema: PgSchema) -> Iterator[Engine]:
    engine = make_engine(pg_schema.url)
    LedgerBase.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def factory(request: pytest.FixtureRequest, tmp_path) -> Iterator[sessionmaker[Session]]:
    """A session factory on an empty ledger, on each database."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path}/l.db")
        LedgerBase.metadata.create_all(engine)
        yield session_factory(engine)
        engine.dispose()
    else:
        engine = request.getfixturevalue("pg_engine")
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY"))
        yield session_factory(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(clock: Clock) -> Ledger:
    return Ledger(SIGNER, origin="citybrain.test/ledger", checkpoint_every=10, clock=clock)


def entry(i: int, action: str = "access") -> EntryData:
    return EntryData(
        actor=f"user:{i}",
        organisation="org:交通局",
        action=action,
        resource=f"dataset:parking/{i % 7}",
        purpose="调度 scheduling",
        decision="allow" if i % 3 else "deny",
        policy_ids=(f"p{i % 4}", "base"),
        request_id=f"req-{i}",
    )


def oracle_of(factory: sessionmaker[Session], ledger: Ledger) -> MerkleTree:
    """The reference tree rebuilt from the stored entries."""
    with factory() as s:
        rows = ledger.entries(s, -1, 1_000_000)
    return MerkleTree(canonical_bytes(r.seq, r.ts, r.data) for r in rows)


def test_append_and_read(factory, ledger: Ledger, clock: Clock) -> None:
    with factory() as s:
        assert ledger.size(s) == 0
        assert ledger.root(s) == EMPTY_ROOT
        assert ledger.head(s).frontier == ()
    with factory.begin() as s:
        a0 = ledger.append(s, entry(0))
        clock.advance(1)
        a1 = ledger.append(s, entry(1, "export"))
    assert (a0.seq, a1.seq) == (0, 1)
    assert a1.ts == T0 + timedelta(seconds=1)
    assert a0.leaf_hash == leaf_hash(canonical_bytes(0, T0, entry(0)))
    with factory() as s:
        got = ledger.entry(s, 1)
        assert got is not None
        assert got.data == entry(1, "export")
        assert got.ts == a1.ts
        assert got.leaf_hash == a1.leaf_hash
        assert ledger.entry(s, 2) is None
        head = ledger.head(s)
        assert head.size == 2
        assert (
            head.root
            == MerkleTree(
                [canonical_bytes(0, T0, entry(0)), canonical_bytes(1, a1.ts, entry(1, "export"))]
            ).root()
        )


def test_entries_paginate_by_cursor(factory, ledger: Ledger) -> None:
    with factory.begin() as s:
        ledger.append_many(s, [entry(i) for i in range(25)])
    seen: list[int] = []
    cursor = -1
    with factory() as s:
        while page := ledger.entries(s, cursor, 10):
            seen.extend(e.seq for e in page)
            cursor = page[-1].seq
    assert seen == list(range(25))


def test_append_never_commits_and_rollback_leaves_no_trace(factory, ledger: Ledger) -> None:
    with factory.begin() as s:
        ledger.append_many(s, [entry(i) for i in range(5)])
    s = factory()
    ledger.append_many(s, [entry(100 + i) for i in range(6)])
    # Proofs inside the writing transaction see its own rows...
    assert ledger.inclusion_proof(s, 9).verify()
    assert ledger.inclusion_proof(s, 2).verify()
    cached = ledger._cache.data  # rows this transaction wrote may vanish: only older ones cached
    assert cached and all(((k >> 6) + 1) << (k & 63) <= 5 for k in cached)
    s.rollback()
    s.close()
    with factory() as s:
        assert ledger.size(s) == 5
    # ...but must not have fed the cache: different entries now take those positions.
    with factory.begin() as s:
        ledger.append_many(s, [entry(200 + i) for i in range(6)])
    tree = oracle_of(factory, ledger)
    with factory() as s:
        for seq in range(11):
            p = ledger.inclusion_proof(s, seq)
            assert p.root == tree.root()
            assert p.path == tree.inclusion_proof(seq)
        assert ledger.verify(s).ok


def test_append_many_equals_single_appends(factory, clock: Clock) -> None:
    a = Ledger(SIGNER, origin="o/a", clock=clock)
    with factory.begin() as s:
        for i in range(13):
            a.append(s, entry(i))
    with factory() as s:
        root_single = a.root(s)
    with factory.begin() as s:
        for t in TABLES.split(", "):
            s.execute(text(f"DELETE FROM {t}"))
    b = Ledger(SIGNER, origin="o/a", clock=clock)
    with factory.begin() as s:
        b.append_many(s, [entry(i) for i in range(5)])
        b.append_many(s, [entry(i) for i in range(5, 13)])
    with factory() as s:
        root_batched = b.root(s)
    assert root_batched == root_single == oracle_of(factory, b).root()


def test_small_and_large_batches_store_the_same_tree(factory, ledger: Ledger) -> None:
    # PostgreSQL writes a small batch in one statement and a large one with executemany.
    with factory.begin() as s:
        ledger.append_many(s, [entry(i) for i in range(3)])
        ledger.append_many(s, [entry(i) for i in range(3, 3003)])
        ledger.append(s, entry(3003))
    tree = oracle_of(factory, ledger)
    with factory() as s:
        assert ledger.root(s) == tree.root()
        assert ledger.inclusion_proof(s, 2999).path == tree.inclusion_proof(2999)
        assert ledger.verify(s).ok


def test_proofs_match_the_oracle_and_round_trip_json(factory, ledger: Ledger) -> None:
    with factory.begin() as s:
        for start in range(0, 37, 9):
            ledger.append_many(s, [entry(i) for i in range(start, min(start + 9, 37))])
    tree = oracle_of(factory, ledger)
    with factory() as s:
        for n in (1, 2, 7, 16, 21, 37):
            for m in range(n):
                p = ledger.inclusion_proof(s, m, n)
                assert p.path == tree.inclusion_proof(m, n)
                assert p.root == tree.root(n)
                assert p.leaf_hash == leaf_hash(tree.leaves[m])
                doc = p.to_json()
                assert verify_inclusion_json(doc)
                assert verify_inclusion_json(doc, tree.root(n).hex())
                assert not verify_inclusion_json(doc, tree.root(n - 1)) or n == 1
            for m in range(n + 1):
                c = ledger.consistency_proof(s, m, n)
                assert c.path == tree.consistency_proof(m, n)
                assert (c.first_root, c.second_root) == (tree.root(m), tree.root(n))
                doc = c.to_json()
                assert verify_consistency_json(doc)
                if c.path:
                    doc["path"][0] = "00" * 32
                    assert not verify_consistency_json(doc)
        current = ledger.inclusion_proof(s, 3)
        assert (current.tree_size, current.root) == (37, ledger.root(s))
        assert ledger.consistency_proof(s, 5).second == 37
    assert not verify_inclusion_json({"leaf_index": 0})
    assert not verify_consistency_json({"first": "x"})


def test_proof_arguments_out_of_range(factory, ledger: Ledger) -> None:
    with factory() as s, pytest.raises(TreeSizeOutOfRange):
        ledger.inclusion_proof(s, 0)
    with factory.begin() as s:
        ledger.append_many(s, [entry(i) for i in range(4)])
    with factory() as s:
        with pytest.raises(LeafIndexOutOfRange, match="leaf index 4"):
            ledger.inclusion_proof(s, 4)
        with pytest.raises(LeafIndexOutOfRange):
            ledger.inclusion_proof(s, -1)
        with pytest.raises(TreeSizeOutOfRange, match="exceeds"):
            ledger.inclusion_proof(s, 1, 9)
        with pytest.raises(TreeSizeOutOfRange):
            ledger.consistency_proof(s, 3, 2)
        with pytest.raises(TreeSizeOutOfRange, match="exceeds"):
            ledger.consistency_proof(s, 2, 6)
        with pytest.raises(ValueError):  # the hierarchy is ValueError underneath
            ledger.inclusion_proof(s, 7, 5)
        assert issubclass(TreeSizeOutOfRange, LedgerError)
        assert ledger.consistency_proof(s, 0, 0).path == []


def test_checkpoints_by_count_and_by_time(factory, ledger: Ledger, clock: Clock) -> None:
    with factory.begin() as s:
        ledger.append(s, entry(0))  # the first append always checkpoints
        for i in range(1, 9):
            ledger.append(s, entry(i))
    with factory() as s:
        assert [c.tree_size for c in ledger.checkpoints(s)] == [1]
    with factory.begin() as s:
        ledger.append_many(s, [entry(i) for i in range(9, 11)])  # 11 - 1 >= 10
    clock.advance(30)
    with factory.begin() as s:
        ledger.append(s, entry(11))
    clock.advance(31)
    with factory.begin() as s:
        ledger.append(s, entry(12))  # 61 s since the last checkpoint
    with factory() as s:
        cps = ledger.checkpoints(s)
        assert [c.tree_size for c in cps] == [1, 11, 13]
        assert cps[-1].ts == clock.now
        latest = ledger.latest_checkpoint(s)
        assert latest is not None and latest.tree_size == 13
        assert latest.root_hash == ledger.root(s)
        assert all(
            CheckpointSigner.verify(SIGNER.public_key_b64, c.note(), c.signature) for c in cps
        )
        assert ledger.head(s).last_checkpoint_size == 13
    with factory.begin() as s:
        assert ledger.checkpoint(s) is None  # nothing new
        forced = ledger.checkpoint(s, force=True)
        assert forced is not None and forced.tree_size == 13
    with factory() as s:
        assert len(ledger.checkpoints(s)) == 4
        assert ledger.verify(s).checked_checkpoints == 4


def test_export_verifies_without_a_database(factory, ledger: Ledger, clock: Clock) -> None:
    for k in range(5):
        with factory.begin() as s:
            ledger.append_many(s, [entry(i) for i in range(k * 7, k * 7 + 7)])
            ledger.checkpoint(s)
        clock.advance(1)
    with factory() as s:
        doc = ledger.export_checkpoints(s)
    assert doc["key_id"] == SIGNER.key_id and doc["public_key"] == SIGNER.public_key_b64
    assert len(doc["consistency"]) == len(doc["checkpoints"]) - 1 >= 4
    report = verify_export(doc, SIGNER.public_key_b64)
    assert report.ok and report.size == 35 and report.checked_checkpoints == len(doc["checkpoints"])
    assert not verify_export(doc, CheckpointSigner.generate().public_key_b64).ok

    def broken(change) -> str:
        import copy

        bad = copy.deepcopy(doc)
        change(bad)
        r = verify_export(bad)
        assert not r.ok
        return r.reason

    assert "bad signature" in broken(lambda d: d["checkpoints"][2].update(tree_size=22))
    assert "bad signature" in broken(lambda d: d["checkpoints"][1].update(root_hash="11" * 32))
    assert "consistent" in broken(lambda d: d["consistency"][1]["path"].__setitem__(0, "22" * 32))
    assert "key_id" in broken(lambda d: d.update(key_id="00" * 16))
    assert "per checkpoint pair" in broken(lambda d: d["consistency"].pop())


def test_verify_names_what_was_tampered(factory, ledger: Ledger) -> None:
    with factory.begin() as s:
        ledger.append_many(s, [entry(i) for i in range(30)])
        ledger.checkpoint(s, force=True)
    with factory() as s:
        assert ledger.verify(s) == ledger.verify(s, chunk=7)
        assert ledger.verify(s).ok
        other = Ledger(CheckpointSigner.generate(), origin=ledger.origin)
        assert "signed by key" in other.verify(s).reason
        assert "origin" in Ledger(SIGNER, origin="elsewhere").verify(s).reason
    with factory.begin() as s:
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 17).values(purpose="covert"))
    with factory() as s:
        r = ledger.verify(s)
        assert (r.ok, r.first_bad_seq) == (False, 17) and "entry 17" in r.reason
    with factory.begin() as s:
        s.execute(
            update(LedgerEntry).where(LedgerEntry.seq == 17).values(purpose="调度 scheduling")
        )
        s.execute(update(LedgerHead).values(root_hash=b"\x00" * 32))
    with factory() as s:
        r = ledger.verify(s)
        assert (r.ok, r.first_bad_seq) == (False, None) and "head root" in r.reason
    with factory.begin() as s:
        s.execute(update(LedgerHead).values(root_hash=ledger.latest_checkpoint(s).root_hash))
        s.execute(delete(LedgerCheckpoint).where(LedgerCheckpoint.tree_size == 1))
        s.execute(update(LedgerCheckpoint).values(signature=b"\x01" * 64))
    with factory() as s:
        r = ledger.verify(s)
        assert not r.ok and r.first_bad_seq is None
        assert "tree size 30): bad signature" in r.reason


def test_concurrent_writers_are_serialised(factory, ledger: Ledger) -> None:
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(15):
                with factory.begin() as s:
                    ledger.append(s, entry(w * 100 + i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with factory() as s:
        assert ledger.size(s) == 60
        assert sorted(e.data.request_id for e in ledger.entries(s, -1, 100)) == sorted(
            f"req-{w * 100 + i}" for w in range(4) for i in range(15)
        )
        assert ledger.verify(s).ok


def test_verify_while_others_append(factory, ledger: Ledger) -> None:
    with factory.begin() as s:
        ledger.append_many(s, [entry(i) for i in range(50)])
    stop = threading.Event()

    def writer() -> None:
        i = 1000
        while not stop.is_set():
            with factory.begin() as s:
                ledger.append_many(s, [entry(i + j) for j in range(3)])
            i += 3

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(15):
            with factory() as s:
                report = ledger.verify(s, chunk=16)
            assert report.ok, report
    finally:
        stop.set()
        t.join()


def test_group_committer_batches_and_is_durable(factory, ledger: Ledger) -> None:
    results: list[int] = []
    lock = threading.Lock()
    with GroupCommitter(ledger, factory, max_batch=64) as gc:

        def submitter(w: int) -> None:
            for i in range(40):
                got = gc.submit(entry(w * 1000 + i))
                with lock:
                    results.append(got.seq)

        threads = [threading.Thread(target=submitter, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert gc.committed == 320
        assert gc.batches < 320
    assert sorted(results) == list(range(320))
    with factory() as s:  # a new session sees every entry: each submit returned after commit
        assert ledger.size(s) == 320
        assert ledger.verify(s).ok
    with pytest.raises(CommitterClosed):
        gc.submit(entry(1))


def test_group_committer_fails_the_whole_batch(factory, clock: Clock) -> None:
    broken = threading.Event()

    def flaky_clock() -> datetime:
        if broken.is_set():
            raise RuntimeError("clock unplugged")
        return clock()

    ledger = Ledger(SIGNER, origin="o/flaky", clock=flaky_clock)
    gc = GroupCommitter(ledger, factory, max_wait_s=0.05)
    assert gc.submit(entry(0)).seq == 0
    broken.set()
    futures = [gc.submit_async(entry(i)) for i in range(1, 6)]
    for f in futures:
        with pytest.raises(RuntimeError, match="unplugged"):
            f.result(timeout=10)
    broken.clear()
    assert gc.submit(entry(9)).seq == 1  # the failed batch left nothing behind
    gc.close()
    gc.close()
    with factory() as s:
        assert ledger.verify(s).ok


def test_ledger_imports_nothing_else_of_citybrain() -> None:
    code = (
        "import sys, citybrain.ledger.service, citybrain.ledger.verify;"
        "print(sorted(m for m in sys.modules if m.startswith('citybrain.')"
        " and not m.startswith('citybrain.ledger')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
