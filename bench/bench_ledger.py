"""Ledger throughput: durable appends, inclusion and consistency proofs at 1M entries, full verify.

Prints one JSON object. Usage:
    python bench/bench_ledger.py [--db URL] [--n 1000000] [--appends 20000] [--proofs 20000]

Every append figure is *durable* (the transaction committed; SQLite runs WAL with
synchronous=FULL) and sits next to a plain INSERT of the same rows into a plain table of the
same columns, in the same database, in the same run (``ratio`` = ledger / plain):
  single       one entry per committed transaction
  group_8      GroupCommitter, 8 threads each submitting one entry at a time
  batch_256    append_many, 256 entries per committed transaction
Proofs are generated from the stored perfect nodes and verified (RFC 9162 algorithms) at tree size
``--n``: ``cold`` clears the node cache before every proof (one ``key IN (...)`` query per proof),
``first_pass`` runs fresh random proofs with the cache filling up, ``warm`` repeats them with the
cache filled. PostgreSQL URLs get a unique schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, MetaData, Table, text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from citybrain.kernel.db import make_engine, session_factory
from citybrain.ledger.entry import EntryData, canonical_bytes, policy_ids_json
from citybrain.ledger.merkle import leaf_hash, push_leaf
from citybrain.ledger.models import LedgerBase, LedgerEntry
from citybrain.ledger.service import GroupCommitter, Ledger
from citybrain.ledger.signing import CheckpointSigner

PLAIN = Table(
    "bench_plain_entries",
    MetaData(),
    *(Column(c.name, c.type, primary_key=c.primary_key) for c in LedgerEntry.__table__.columns),
)
COLUMNS = [c.name for c in PLAIN.columns]


def entry(i: int) -> EntryData:
    return EntryData(
        actor=f"user:{i % 997}",
        organisation=f"org:{i % 31}",
        action=("access", "use", "share", "export")[i % 4],
        resource=f"dataset:traffic/{i % 101}",
        purpose="signal timing",
        decision="allow" if i % 9 else "deny",
        policy_ids=("role-clerk", f"class-{i % 3}"),
        request_id=f"req-{i:012d}",
    )


@contextmanager
def database(url: str | None) -> Iterator[tuple[Engine, str]]:
    """An engine on an empty database: a temp SQLite file, or a fresh PostgreSQL schema."""
    if url is None or url.startswith("sqlite"):
        tmp = tempfile.mkdtemp(prefix="cb-bench-ledger-")
        engine = make_engine(url or f"sqlite:///{tmp}/ledger.db")
        try:
            yield engine, "sqlite"
        finally:
            engine.dispose()
            shutil.rmtree(tmp, ignore_errors=True)
        return
    schema = f"bench_ledger_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"}, pool_size=12)
    try:
        yield engine, "postgresql"
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def reset(engine: Engine) -> None:
    with engine.begin() as conn:
        LedgerBase.metadata.drop_all(conn)
        PLAIN.drop(conn, checkfirst=True)
        LedgerBase.metadata.create_all(conn)
        PLAIN.create(conn)


def new_ledger(**kw: Any) -> Ledger:
    return Ledger(CheckpointSigner.generate(), origin="bench.citybrain/ledger", **kw)


def plain_rows(start: int, n: int) -> list[tuple[Any, ...]]:
    """The same rows the ledger would store (hashes included), for the plain-INSERT baseline."""
    ts = datetime.now(UTC)
    out = []
    for i in range(start, start + n):
        e = entry(i)
        lh = leaf_hash(canonical_bytes(i, ts, e))
        out.append(
            (i, ts, e.actor, e.organisation, e.action, e.resource, e.purpose, e.decision,
             policy_ids_json(e.policy_ids), e.request_id, lh)
        )  # fmt: skip
    return out


def plain_insert(factory: sessionmaker[Session], rows: list[tuple[Any, ...]]) -> None:
    """INSERT rows into the plain table in one committed transaction (prepared driver SQL)."""
    with factory.begin() as s:
        conn = s.connection()
        ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        ts_type = PLAIN.c.ts.type.dialect_impl(conn.dialect)
        proc = ts_type.bind_processor(conn.dialect)
        if proc is not None:
            rows = [(r[0], proc(r[1]), *r[2:]) for r in rows]
        sql = f"INSERT INTO {PLAIN.name} ({', '.join(COLUMNS)}) VALUES ({', '.join([ph] * 11)})"
        conn.exec_driver_sql(sql, rows if len(rows) > 1 else rows[0])  # type: ignore[arg-type]


def rate(n: int, fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def threaded(threads: int, per_thread: int, work: Callable[[int, int], None]) -> float:
    ts = [threading.Thread(target=lambda w=w: work(w, per_thread)) for w in range(threads)]
    t = time.perf_counter()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return threads * per_thread / (time.perf_counter() - t)


def bench_appends(engine: Engine, n: int) -> dict[str, Any]:
    factory = session_factory(engine)
    out: dict[str, Any] = {}
    # single: one entry per committed transaction
    reset(engine)
    ledger = new_ledger()
    k = max(n // 4, 200)
    es = [entry(i) for i in range(n)]  # built (and validated) outside the timed sections

    def single() -> None:
        for i in range(k):
            with factory.begin() as s:
                ledger.append(s, es[i])

    rows = plain_rows(0, k)
    lr = rate(k, single)
    pr = rate(k, lambda: [plain_insert(factory, [r]) for r in rows])  # type: ignore[func-returns-value]
    out["single"] = {"n": k, "ledger_per_s": round(lr), "plain_per_s": round(pr)}

    # group commit: 8 threads, one entry at a time each
    reset(engine)
    ledger = new_ledger()
    committer = GroupCommitter(ledger, factory)

    def submit(w: int, count: int) -> None:
        for i in range(count):
            committer.submit(es[w * count + i])

    lr = threaded(8, n // 8, submit)
    committer.close()
    batches = committer.batches

    rows = plain_rows(0, n)

    def plain_one(w: int, count: int) -> None:
        for i in range(count):
            plain_insert(factory, [rows[w * count + i]])

    pr = threaded(8, n // 8, plain_one)
    with factory() as s:
        assert ledger.size(s) == n // 8 * 8
    out["group_8"] = {
        "n": n // 8 * 8,
        "ledger_per_s": round(lr),
        "plain_per_s": round(pr),
        "mean_batch": round(n / max(batches, 1), 1),
    }

    # the same with 64 submitters: group commit grows its batches with the concurrency
    reset(engine)
    ledger = new_ledger()
    committer = GroupCommitter(ledger, factory)
    lr64 = threaded(64, n // 64, submit)
    committer.close()
    out["group_64_ledger_only"] = {
        "n": n // 64 * 64,
        "ledger_per_s": round(lr64),
        "mean_batch": round(n // 64 * 64 / max(committer.batches, 1), 1),
    }

    # append_many, 256 per transaction
    reset(engine)
    ledger = new_ledger()
    m = n // 256 * 256

    def batches_256() -> None:
        for b in range(0, m, 256):
            with factory.begin() as s:
                ledger.append_many(s, es[b : b + 256])

    lr = rate(m, batches_256)
    rows = plain_rows(0, m)
    pr = rate(m, lambda: [plain_insert(factory, rows[b : b + 256]) for b in range(0, m, 256)])  # type: ignore[func-returns-value]
    out["batch_256"] = {"n": m, "ledger_per_s": round(lr), "plain_per_s": round(pr)}
    for v in out.values():
        if "plain_per_s" in v:
            v["ratio"] = round(v["ledger_per_s"] / v["plain_per_s"], 3)
    return out


def build(engine: Engine, n: int, ledger: Ledger) -> float:
    """Fill the ledger with n entries in big batches; return entries/s."""
    reset(engine)
    factory = session_factory(engine)
    step = 20_000
    t = time.perf_counter()
    for b in range(0, n, step):
        with factory.begin() as s:
            ledger.append_many(s, [entry(i) for i in range(b, min(b + step, n))])
    return n / (time.perf_counter() - t)


def bench_proofs(engine: Engine, n: int, count: int) -> dict[str, Any]:
    ledger = new_ledger(checkpoint_every=100_000, node_cache_size=1 << 20)
    out: dict[str, Any] = {"n": n, "build_per_s": round(build(engine, n, ledger))}
    factory = session_factory(engine)
    rng = random.Random(7)
    leaves = [rng.randrange(n) for _ in range(count)]
    pairs = [(rng.randrange(1, n), n) for _ in range(count)]

    def inclusion(cold: bool) -> None:
        with factory() as s:
            for seq in leaves:
                if cold:
                    ledger.clear_cache()
                p = ledger.inclusion_proof(s, seq, n)
                if not p.verify():
                    raise AssertionError(f"inclusion proof for {seq} failed")

    def consistency(cold: bool) -> None:
        with factory() as s:
            for first, second in pairs:
                if cold:
                    ledger.clear_cache()
                p = ledger.consistency_proof(s, first, second)
                if not p.verify():
                    raise AssertionError(f"consistency proof {first}->{second} failed")

    cold_n = max(count // 4, 100)
    leaves_all, pairs_all = leaves, pairs
    leaves, pairs = leaves_all[:cold_n], pairs_all[:cold_n]
    ledger.clear_cache()
    out["inclusion_cold_per_s"] = round(rate(cold_n, lambda: inclusion(True)))
    out["consistency_cold_per_s"] = round(rate(cold_n, lambda: consistency(True)))
    leaves, pairs = leaves_all, pairs_all
    ledger.clear_cache()
    out["inclusion_first_pass_per_s"] = round(rate(count, lambda: inclusion(False)))
    out["inclusion_warm_per_s"] = round(rate(count, lambda: inclusion(False)))
    out["consistency_first_pass_per_s"] = round(rate(count, lambda: consistency(False)))
    out["consistency_warm_per_s"] = round(rate(count, lambda: consistency(False)))
    out["cached_nodes"] = len(ledger._cache.data)
    with factory() as s:
        t = time.perf_counter()
        report = ledger.verify(s)
        out["verify_per_s"] = round(n / (time.perf_counter() - t))
        out["verify_ok"] = report.ok
    return out


def bench_memory(n: int) -> dict[str, Any]:
    """The same append work with no database: canonical bytes, leaf hash, frontier step."""
    frontier: list[bytes] = []
    ts = datetime.now(UTC)
    es = [entry(i) for i in range(n)]
    t = time.perf_counter()
    for i, e in enumerate(es):
        push_leaf(frontier, i, leaf_hash(canonical_bytes(i, ts, e)))
    return {"n": n, "per_s": round(n / (time.perf_counter() - t))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", default=None, help="database URL (default: a temp SQLite file)")
    ap.add_argument("--n", type=int, default=1_000_000, help="log size for the proof benchmarks")
    ap.add_argument("--appends", type=int, default=20_000, help="entries per append benchmark")
    ap.add_argument("--proofs", type=int, default=20_000, help="proofs per warm benchmark")
    args = ap.parse_args()
    with database(args.db) as (engine, kind):
        result: dict[str, Any] = {
            "bench": "ledger",
            "db": kind,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "in_memory_append": bench_memory(100_000),
            "appends": bench_appends(engine, args.appends),
            "proofs": bench_proofs(engine, args.n, args.proofs),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
