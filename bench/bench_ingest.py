"""Batch collection: rows/s for one CSV batch of N rows, next to a plain executemany.

Prints one JSON object. Usage: python bench/bench_ingest.py [--rows 100000] [--pg URL|none]
For each backend (SQLite file, PostgreSQL in a throwaway schema), in one process:
  parse_validate  readers + Table Schema validation only (no database)
  ingest_new      ingest_batch inside the gate (ledger entry in the same transaction), all
                  records new: detect encoding, parse, validate, upsert, commit
  ingest_update   the same keys again with changed values (every row an ON CONFLICT update)
  plain_insert    executemany of the same rows (JSON text already made) into a plain table
                  with the same unique key, one transaction
  ratio           ingest_new rows/s divided by plain_insert rows/s
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench.common import PG_URL, database_url
from citybrain.hub.ingest import readers
from citybrain.hub.ingest.service import GATE_ACTIONS, ingest_batch
from citybrain.hub.ingest.tableschema import BatchValidator, compile_schema
from citybrain.kernel.config import load_settings
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.runtime import Runtime

SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "station", "type": "string", "constraints": {"required": True}},
        {"name": "name", "type": "string"},
        {"name": "ts", "type": "datetime"},
        {"name": "pm25", "type": "number", "constraints": {"minimum": 0, "maximum": 1000}},
        {"name": "ok", "type": "boolean"},
        {"name": "location", "type": "geopoint"},
    ],
    "primaryKey": ["station", "ts"],
}


def make_csv(n: int, bump: float = 0.0) -> bytes:
    """A CSV batch of ``n`` air-quality readings (Chinese names, UTF-8)."""
    lines = ["station,name,ts,pm25,ok,location"]
    for i in range(n):
        lines.append(
            f"S{i:07d},监测站{i},2024-05-01T08:00:00+08:00,{(i % 500) + bump:.1f},"
            f'{"true" if i % 2 else "false"},"{120 + i % 100 / 100:.2f},{30 + i % 50 / 100:.2f}"'
        )
    return ("\n".join(lines) + "\n").encode()


def parse_validate(data: bytes) -> float:
    """Seconds to parse and validate ``data`` without a database."""
    ts = compile_schema(SCHEMA)
    t0 = time.perf_counter()
    _, rows = readers.read_rows(data, "csv", columns=ts.names)
    v = BatchValidator(ts)
    for line, row in rows:
        _, errors = v.validate(row, line)
        assert not errors
    return time.perf_counter() - t0


def plain_insert(rt: Runtime, data: bytes) -> float:
    """Seconds for an executemany of the same rows into a plain table (payload as JSON text)."""
    _, rows = readers.read_rows(data, "csv")
    params = [
        {"k": f'["{r["station"]}","{r["ts"]}"]', "p": json.dumps(r, ensure_ascii=False)}
        for _, r in rows
    ]
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE bench_plain (id INTEGER PRIMARY KEY, dataset_id VARCHAR(200), "
                "record_key VARCHAR(500), payload TEXT, UNIQUE (dataset_id, record_key))"
                if rt.engine.dialect.name == "sqlite"
                else "CREATE TABLE bench_plain (id BIGSERIAL PRIMARY KEY, dataset_id "
                "VARCHAR(200), record_key VARCHAR(500), payload JSONB, "
                "UNIQUE (dataset_id, record_key))"
            )
        )
    stmt = text("INSERT INTO bench_plain (dataset_id, record_key, payload) VALUES ('b', :k, :p)")
    t0 = time.perf_counter()
    with rt.engine.begin() as conn:
        conn.execute(stmt, params)
    return time.perf_counter() - t0


def ingest(rt: Runtime, org: str, data: bytes) -> tuple[float, dict[str, Any]]:
    """Seconds for one gated batch (ledger entry and records in one transaction)."""
    from citybrain.hub.ingest.service import content_digest

    res = Resource("Dataset", "bench-air", org)
    t0 = time.perf_counter()
    with rt.gate.system(
        "bench", org, "dataset.collect", res, request_id="bench",
        purpose=f"batch sha256:{content_digest(data)}",
    ) as session:  # fmt: skip
        result = ingest_batch(
            session,
            dataset_id="bench-air",
            schema=SCHEMA,
            organisation=org,
            actor="bench",
            data=data,
            fmt="csv",
            max_bytes=1 << 30,
        )
    elapsed = time.perf_counter() - t0
    assert result.rows_accepted == result.rows_total and not result.duplicate
    return elapsed, {"rows_accepted": result.rows_accepted, "encoding": result.encoding}


def run(url: str, n: int, data: bytes, updated: bytes) -> dict[str, Any]:
    """All measurements on one database."""
    with tempfile.TemporaryDirectory() as tmp:
        db = url if url != "sqlite" else f"sqlite:///{tmp}/bench.db"
        rt = Runtime.open(load_settings(environ={}, data_dir=Path(tmp) / "data", db=db), plugins=[])
        try:
            rt.migrate()
            rt.bootstrap()
            org = rt.settings.city_code
            new_s, info = ingest(rt, org, data)
            upd_s, _ = ingest(rt, org, updated)
            plain_s = plain_insert(rt, data)
        finally:
            rt.close()
    out = {
        "backend": "sqlite" if url == "sqlite" else "postgresql",
        "rows": n,
        "ingest_new_rows_per_s": round(n / new_s),
        "ingest_update_rows_per_s": round(n / upd_s),
        "plain_insert_rows_per_s": round(n / plain_s),
        "ratio_ingest_vs_plain": round(plain_s / new_s, 3),
        "ingest_new_s": round(new_s, 2),
        "plain_insert_s": round(plain_s, 2),
    }
    return out | info


def main() -> None:
    """Run and print JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--pg", default=PG_URL, help="PostgreSQL URL, or 'none' to skip")
    args = ap.parse_args()
    for action, category in GATE_ACTIONS.items():
        register_action(action, category)
    data, updated = make_csv(args.rows), make_csv(args.rows, bump=0.5)
    pv = parse_validate(data)
    results: dict[str, Any] = {
        "benchmark": "hub.ingest batch CSV",
        "rows": args.rows,
        "csv_bytes": len(data),
        "parse_validate_rows_per_s": round(args.rows / pv),
        "note": "client and database share this machine; each figure is one batch, one commit",
        "runs": [run("sqlite", args.rows, data, updated)],
    }
    if args.pg != "none":
        with database_url(args.pg) as url:
            assert url is not None
            results["runs"].append(run(url, args.rows, data, updated))
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
