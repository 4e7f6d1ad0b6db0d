"""Entity batch upsert: entities/s through the NGSI-LD store, next to raw inserts of the same
rows into the same database in the same run.

Prints one JSON object. Usage: python bench/bench_entities.py [--entities 20000] [--batch 1000]
[--pg URL|none]. For each backend (SQLite file, PostgreSQL in a throwaway schema):
  store_create / store_update   expand (JSON-LD terms, validation, geometry) + batch_write
                                inside the gate: one ledger entry and one commit per batch;
                                update = the same ids again with new values, after ANALYZE
                                (right after a bulk load PostgreSQL has no statistics and picks
                                a poor plan for the id lookup: ~1,100/s instead of ~4,500/s)
  http_upsert                   POST /ngsi-ld/v1/entityOperations/upsert through the ASGI app
                                in process (JSON parsing, auth, Cedar, ledger, response)
  raw_upsert                    executemany INSERT .. ON CONFLICT DO UPDATE of the same rows
                                (attributes already JSON text) into a plain table with the same
                                unique key, one commit per batch
  raw_copy (PostgreSQL)         COPY of the same rows into a plain table
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

from fastapi.testclient import TestClient
from sqlalchemy import text

from bench.common import PG_URL, database_url
from citybrain.api.app import create_app
from citybrain.hub.entities import context as ldctx
from citybrain.hub.entities import service
from citybrain.hub.entities.routes import EXTRA_ACTIONS
from citybrain.kernel.config import load_settings
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.runtime import Runtime


def entity(i: int, bump: float = 0.0) -> dict[str, Any]:
    """A normalized AirQualityObserved with six attributes."""
    at = "2026-11-25T08:00:00Z"
    return {
        "id": f"urn:ngsi-ld:AirQualityObserved:S{i:07d}",
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": (i % 500) + bump, "observedAt": at},
        "pm10": {"type": "Property", "value": (i % 700) + bump, "observedAt": at},
        "no2": {"type": "Property", "value": (i % 90) + bump, "observedAt": at},
        "temperature": {"type": "Property", "value": 12.5 + bump, "unitCode": "CEL"},
        "name": {"type": "Property", "value": f"监测站{i}"},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [120 + i % 100 / 100, 30 + i % 50 / 100]},
        },
    }


def batches(n: int, size: int, bump: float = 0.0) -> list[list[dict[str, Any]]]:
    """``n`` entities in batches of ``size``."""
    docs = [entity(i, bump) for i in range(n)]
    return [docs[i : i + size] for i in range(0, n, size)]


def store(rt: Runtime, groups: list[list[dict[str, Any]]]) -> float:
    """Seconds to expand and upsert every batch, one gated transaction each."""
    terms = ldctx.ContextResolver().terms([ldctx.CORE_CONTEXT_URL])
    org = rt.settings.city_code
    t0 = time.perf_counter()
    for n, group in enumerate(groups):
        internal = [ldctx.expand_entity(doc, terms) for doc in group]
        for e in internal:
            service.check_geometries(e["attrs"])
        with rt.gate.system(
            "bench", org, "entity.write", Resource("EntityStore", "city", org),
            request_id=f"bench-{n}", purpose=f"batch upsert of {len(group)}",
        ) as session:  # fmt: skip
            service.batch_write(session, "", internal, mode="upsert", provider=org, now=rt.clock())
    return time.perf_counter() - t0


def http(rt: Runtime, groups: list[list[dict[str, Any]]]) -> float:
    """Seconds to POST every batch to /entityOperations/upsert (in-process ASGI)."""
    token, _ = rt.issue_token_for("admin")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(rt)) as client:
        bodies = [json.dumps(g).encode() for g in groups]
        t0 = time.perf_counter()
        for body in bodies:
            r = client.post(
                "/ngsi-ld/v1/entityOperations/upsert",
                content=body,
                headers={**headers, "Content-Type": "application/json"},
            )
            assert r.status_code in (201, 204), r.text
        return time.perf_counter() - t0


def raw(rt: Runtime, groups: list[list[dict[str, Any]]]) -> float:
    """Seconds for executemany upserts of the same rows into a plain table."""
    pg = rt.engine.dialect.name == "postgresql"
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE bench_raw (id BIGSERIAL PRIMARY KEY, tenant VARCHAR(200), "
                "entity_id VARCHAR(500), entity_type VARCHAR(500), attrs JSONB, "
                "UNIQUE (tenant, entity_id))"
                if pg
                else "CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, tenant VARCHAR(200), "
                "entity_id VARCHAR(500), entity_type VARCHAR(500), attrs TEXT, "
                "UNIQUE (tenant, entity_id))"
            )
        )
    params = [
        [{"i": d["id"], "t": d["type"], "a": json.dumps(d, ensure_ascii=False)} for d in g]
        for g in groups
    ]
    stmt = text(
        "INSERT INTO bench_raw (tenant, entity_id, entity_type, attrs) VALUES ('', :i, :t, :a) "
        "ON CONFLICT (tenant, entity_id) DO UPDATE SET attrs = excluded.attrs"
    )
    t0 = time.perf_counter()
    for group in params:
        with rt.engine.begin() as conn:
            conn.execute(stmt, group)
    return time.perf_counter() - t0


def raw_copy(rt: Runtime, groups: list[list[dict[str, Any]]]) -> float:
    """Seconds to COPY the same rows into a plain PostgreSQL table."""
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE bench_copy (tenant VARCHAR(200), entity_id VARCHAR(500), "
                "entity_type VARCHAR(500), attrs JSONB)"
            )
        )
    rows = [("", d["id"], d["type"], json.dumps(d, ensure_ascii=False)) for g in groups for d in g]
    raw_conn = rt.engine.raw_connection()
    try:
        t0 = time.perf_counter()
        cur = raw_conn.cursor()
        with cur.copy(  # type: ignore[attr-defined]
            "COPY bench_copy (tenant, entity_id, entity_type, attrs) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        raw_conn.commit()
        return time.perf_counter() - t0
    finally:
        raw_conn.close()


def run(url: str, n: int, size: int) -> dict[str, Any]:
    """All measurements on one database."""
    new, updated = batches(n, size), batches(n, size, bump=0.5)
    with tempfile.TemporaryDirectory() as tmp:
        db = url if url != "sqlite" else f"sqlite:///{tmp}/bench.db"
        rt = Runtime.open(load_settings(environ={}, data_dir=Path(tmp) / "data", db=db), plugins=[])
        try:
            rt.migrate()
            rt.bootstrap()
            create_s = store(rt, new)
            with rt.engine.begin() as conn:  # a bulk load leaves PostgreSQL without statistics
                conn.execute(text("ANALYZE"))
            update_s = store(rt, updated)
            http_s = http(rt, batches(n, size, bump=1.0))
            raw_s = raw(rt, new)
            copy_s = raw_copy(rt, new) if rt.engine.dialect.name == "postgresql" else None
        finally:
            rt.close()
    out: dict[str, Any] = {
        "backend": "sqlite" if url == "sqlite" else "postgresql",
        "entities": n,
        "batch": size,
        "store_create_per_s": round(n / create_s),
        "store_update_per_s": round(n / update_s),
        "http_upsert_per_s": round(n / http_s),
        "raw_upsert_per_s": round(n / raw_s),
        "ratio_store_update_vs_raw": round(raw_s / update_s, 3),
        "ratio_http_vs_raw": round(raw_s / http_s, 3),
    }
    if copy_s:
        out["raw_copy_per_s"] = round(n / copy_s)
        out["ratio_store_update_vs_copy"] = round(copy_s / update_s, 3)
    return out


def main() -> None:
    """Run and print JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--pg", default=PG_URL, help="PostgreSQL URL, or 'none' to skip")
    args = ap.parse_args()
    for name, category in EXTRA_ACTIONS.items():
        register_action(name, category)
    register_action("entity.write", "collect")
    results: dict[str, Any] = {
        "benchmark": "hub.entities batch upsert",
        "note": "client, server and database share this 2-core machine; one process",
        "runs": [run("sqlite", args.entities, args.batch)],
    }
    if args.pg != "none":
        with database_url(args.pg) as url:
            assert url is not None
            results["runs"].append(run(url, args.entities, args.batch))
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
