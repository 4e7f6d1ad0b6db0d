"""Reads through a grant with masking versus an ungoverned read of the same rows, same process.

Prints one JSON object. Usage: python bench/bench_sharing.py [--rows 10000] [--repeat 40]
[--pg URL|none]

Governed: the grant is loaded, its facts go to Cedar as context, the gate decides, the rows
are read, filtered and masked (MASK, SHOW_LAST_4, HASH with the grant's salt, YEAR_ONLY), and
the read's ledger entry is made durable before the rows are returned — exactly what
``GET /sharing/grants/{id}/records`` does minus HTTP. Ungoverned: the same SELECT of the same
rows, projected to the same fields, nothing else. Pages of 100 and 1,000 rows.

Two levels, each measured in interleaved rounds (one call of each kind per round, so a noisy
neighbour hits all kinds alike): in process (the work above, no HTTP), and over HTTP on a real
uvicorn server in this process with a keep-alive client — the grant route against a route
mounted for the bench that returns the same rows, ungoverned, in the same response model.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvicorn
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from stdnum.cn import ric, uscc

from bench.common import PG_URL, database_url
from citybrain.api.app import create_app
from citybrain.governance.sharing import reads, service
from citybrain.governance.sharing.api import grant_head, live_facts
from citybrain.governance.sharing.schemas import RecordsOut
from citybrain.hub.ingest.models import DatasetRecord
from citybrain.kernel.config import load_settings
from citybrain.kernel.gate import Resource
from citybrain.kernel.http import Governed, current_caller
from citybrain.kernel.identity import service as identity
from citybrain.kernel.identity.service import Caller
from citybrain.kernel.runtime import Runtime

FIELDS = ["name", "id_number", "phone", "birth_date", "district", "allowance"]
MASKS = {"name": "MASK", "id_number": "SHOW_LAST_4", "phone": "HASH", "birth_date": "YEAR_ONLY"}


def _code(n: int) -> str:
    body = f"11330100{n:09d}"
    return body + uscc.calc_check_digit(body)


def _csv(rows: int) -> str:
    lines = ["person_id,name,id_number,phone,birth_date,district,allowance"]
    for n in range(rows):
        body = f"330106{1950 + n % 50:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
        number = body + ric.calc_check_digit(body + "0")  # stdnum wants a placeholder digit
        lines.append(
            f"P{n:06d},张{n},{number},1381234{n % 10000:04d},"
            f"{1950 + n % 50}-{1 + n % 12:02d}-{1 + n % 28:02d},区{n % 13},{100 + n % 7}"
        )
    return "\n".join(lines) + "\n"


def _setup(rt: Runtime, rows: int) -> tuple[Governed, Governed, int, str]:
    """Two departments, a conditional dataset with ``rows`` records, an approved grant."""
    admin = {"Authorization": f"Bearer {rt.issue_token_for('admin')[0]}"}
    client = TestClient(create_app(rt))
    for n, name in ((1, "provider"), (2, "grantee")):
        client.post(
            "/orgs",
            headers=admin,
            json={"code": _code(n), "name": name, "kind": "department", "level": "department"},
        )
        client.post(f"/orgs/{_code(n)}/posts", headers=admin, json={"name": "c", "role": "clerk"})
        client.post(
            "/users",
            headers=admin,
            json={"name": f"{name}-clerk", "organisation_code": _code(n), "posts": ["c"]},
        )
    schema = {"fields": [{"name": "person_id", "type": "string"}]}
    schema["fields"] += [{"name": f, "type": "string"} for f in FIELDS]
    r = client.post(
        "/catalog/datasets",
        headers=admin,
        json={
            "id": "residents",
            "title_zh": "居民",
            "description_zh": "居民",
            "provider_code": _code(1),
            "theme": "social-security",
            "update_frequency": "P1M",
            "schema": schema | {"primaryKey": ["person_id"]},
            "grade": "important",
            "sharing": "conditional",
        },
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/hub/datasets/residents/batches",
        headers=admin | {"Content-Type": "text/csv"},
        content=_csv(rows),
    )
    assert r.status_code == 201, r.text
    grantee = {"Authorization": f"Bearer {rt.issue_token_for('grantee-clerk')[0]}"}
    provider = {"Authorization": f"Bearer {rt.issue_token_for('provider-clerk')[0]}"}
    ask = {"dataset": "residents", "fields": FIELDS, "purpose": "statistics", "term_days": 30}
    req = client.post("/sharing/requests", headers=grantee, json=ask).json()
    done = client.post(
        f"/sharing/requests/{req['id']}/decision",
        headers=provider,
        json={"approve": True, "masks": MASKS},
    ).json()
    with rt.reader() as s:
        grantee_caller = identity.caller_for(identity.get_user(s, "grantee-clerk"))
        provider_caller = identity.caller_for(identity.get_user(s, "provider-clerk"))
    return (
        Governed(grantee_caller, rt, "bench"),
        Governed(provider_caller, rt, "bench"),
        done["grant"]["id"],
        grantee["Authorization"],
    )


def governed_read(g: Governed, grant_id: int, limit: int) -> list[dict[str, Any]]:
    """The records route's work without HTTP (the route's own helpers)."""
    grant = grant_head(g, grant_id, "data.read")
    ctx = live_facts(g, grant, purpose="statistics", fields=FIELDS, mode="records")
    res = Resource("Dataset", grant.dataset, grant.provider)
    purpose = service.ledger_purpose(grant, "statistics")
    with g.read("data.read", res, purpose=purpose, context=ctx) as s:
        subject = reads.dataset_subject(s, grant.dataset, ctx.dataset_version)
        subjects = [subject] if subject else []
        rows, _ = reads.read_records(s, grant, FIELDS, after=0, limit=limit, subjects=subjects)
    return rows


def ungoverned_read(rt: Runtime, limit: int) -> list[dict[str, Any]]:
    """The same rows straight from the table, projected to the same fields."""
    with rt.reader() as s:
        payloads = s.scalars(
            select(DatasetRecord.payload)
            .where(DatasetRecord.dataset_id == "residents", DatasetRecord.id > 0)
            .order_by(DatasetRecord.id)
            .limit(limit)
        ).all()
    return [{f: p.get(f) for f in FIELDS} for p in payloads]


def ledgered_read(g: Governed, limit: int) -> list[dict[str, Any]]:
    """The provider reading the same rows of its own dataset through the gate (decision and
    durable ledger entry, no grant, no masks): what sharing adds is the difference."""
    res = Resource("Dataset", "residents", g.caller.organisation)
    with g.read("dataset.read", res, purpose="bench") as s:
        payloads = s.scalars(
            select(DatasetRecord.payload)
            .where(DatasetRecord.dataset_id == "residents", DatasetRecord.id > 0)
            .order_by(DatasetRecord.id)
            .limit(limit)
        ).all()
    return [{f: p.get(f) for f in FIELDS} for p in payloads]


def _interleaved(kinds: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median seconds per kind, one call of each kind per round (order rotating)."""
    times: dict[str, list[float]] = {k: [] for k in kinds}
    names = list(kinds)
    for i in range(repeat):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t0 = time.perf_counter()
            kinds[name]()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _plain_route(app: FastAPI, rt: Runtime) -> None:
    """The bench's ungoverned twin of the grant route: the same caller authentication, the
    same rows, the same response model — no gate, grant, ledger entry or masks."""

    @app.get("/bench/plain", response_model=RecordsOut)
    def plain(caller: Annotated[Caller, Depends(current_caller)], limit: int = 100) -> RecordsOut:
        rows = ungoverned_read(rt, limit)
        return RecordsOut(grant=0, purpose="", fields=FIELDS, masks={}, items=rows)


def _serve(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


def _figures(gov: float, plain: float, logged: float | None = None) -> dict[str, float]:
    out = {
        "through_grant_ms": round(gov * 1000, 3),
        "ungoverned_ms": round(plain * 1000, 3),
        "ratio_vs_ungoverned": round(gov / plain, 3),
    }
    if logged is not None:
        out["ledgered_no_grant_ms"] = round(logged * 1000, 3)
        out["ratio_vs_ledgered"] = round(gov / logged, 3)
    return out


def _http_pages(rt: Runtime, grant_id: int, auth: str, repeat: int) -> dict[str, Any]:
    app = create_app(rt)
    _plain_route(app, rt)
    server, thread, base = _serve(app)
    pages: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=base, headers={"Authorization": auth}) as client:

            def get(url: str) -> None:
                r = client.get(url)
                assert r.status_code == 200, r.text

            for limit in (100, 500):  # the route's largest page is 500
                gov_url = f"/sharing/grants/{grant_id}/records?purpose=statistics&limit={limit}"
                plain_url = f"/bench/plain?limit={limit}"
                for _ in range(5):
                    get(gov_url), get(plain_url)  # warm
                t = _interleaved(
                    {"gov": lambda u=gov_url: get(u), "plain": lambda u=plain_url: get(u)}, repeat
                )
                pages[str(limit)] = _figures(t["gov"], t["plain"])
    finally:
        server.should_exit = True
        thread.join(10)
    return pages


def main() -> None:
    """Run and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=60)
    ap.add_argument("--pg", default="none", help=f"PostgreSQL URL, e.g. {PG_URL}, or none")
    args = ap.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        database_url(None if args.pg == "none" else args.pg) as url,
    ):
        rt = Runtime.open(load_settings(environ={}, data_dir=Path(tmp), db=url, demo=False))
        rt.migrate()
        rt.bootstrap()
        try:
            g, owner, grant_id, auth = _setup(rt, args.rows)
            sample = governed_read(g, grant_id, 1)[0]
            raw = ungoverned_read(rt, 1)[0]
            assert sample["name"] != raw["name"] and sample["district"] == raw["district"]
            pages = {}
            for limit in (100, 1000):
                governed_read(g, grant_id, limit), ungoverned_read(rt, limit)  # warm
                ledgered_read(owner, limit)
                t = _interleaved(
                    {
                        "gov": lambda limit=limit: governed_read(g, grant_id, limit),
                        "plain": lambda limit=limit: ungoverned_read(rt, limit),
                        "logged": lambda limit=limit: ledgered_read(owner, limit),
                    },
                    args.repeat,
                )
                pages[str(limit)] = _figures(t["gov"], t["plain"], t["logged"])
            http_pages = _http_pages(rt, grant_id, auth, args.repeat)
        finally:
            rt.close()
    print(
        json.dumps(
            {
                "bench": "sharing_masked_reads",
                "database": "postgresql" if args.pg != "none" else "sqlite",
                "rows_in_dataset": args.rows,
                "fields": FIELDS,
                "masks": MASKS,
                "repeat": args.repeat,
                "in_process": pages,
                "over_http": http_pages,
                "goal_ratio": 1.3,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
