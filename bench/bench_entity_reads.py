"""Entity reads against a running server holding N entities: by id, and by type + ``q``.

Prints one JSON object. Usage: python bench/bench_entity_reads.py [--entities 100000]
[--seconds 15] [--connections 16] [--pg URL|none]

The server is `citybrain serve` in its own process (one uvicorn worker); the load comes from
`wrk` (one thread, keep-alive) when installed, else from an asyncio httpx client. Client and
server share this machine's two cores. Every read passes the gate: a Cedar decision and a
ledger entry made durable before the response leaves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import text

from bench.bench_entities import batches, store
from bench.common import PG_URL, database_url
from citybrain.kernel.config import load_settings
from citybrain.kernel.gate import register_action
from citybrain.kernel.runtime import Runtime

BY_ID = "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:S%07d"
QUERY = "/ngsi-ld/v1/entities?type=AirQualityObserved&q=pm25%%3E%d&limit=20"
WRK_SCRIPT = """
math.randomseed(42)
local n = %(n)d
local token = "%(token)s"
request = function()
  local path
  if "%(kind)s" == "id" then
    path = string.format("%(by_id)s", math.random(0, n - 1))
  else
    path = string.format("%(query)s", math.random(400, 495))
  end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %%d, "seconds": %%f, "errors": %%d, "non2xx": %%d, ',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
  io.write(string.format('"p50_ms": %%f, "p95_ms": %%f, "p99_ms": %%f}\\n',
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(db: str, data: Path, n: int) -> str:
    """Migrate, bootstrap and load ``n`` entities; returns an admin token."""
    register_action("entity.write", "collect")
    rt = Runtime.open(load_settings(environ={}, data_dir=data, db=db), plugins=[])
    try:
        rt.migrate()
        rt.bootstrap()
        store(rt, batches(n, 2000))
        with rt.engine.begin() as conn:  # statistics, as autovacuum would have them by now
            conn.execute(text("ANALYZE"))
        token, _ = rt.issue_token_for("admin")
        return token
    finally:
        rt.close()


def with_wrk(base: str, kind: str, n: int, token: str, seconds: int, conns: int) -> dict:
    """Run wrk with a Lua script choosing random ids / thresholds; its JSON summary."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % {"n": n, "token": token, "kind": kind, "by_id": BY_ID, "query": QUERY})
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-s", f.name, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    summary = json.loads(out.strip().splitlines()[-1])
    summary["reads_per_s"] = round(summary["requests"] / summary["seconds"])
    return summary


async def _client(base: str, kind: str, n: int, token: str, seconds: int, conns: int) -> dict:
    rnd = random.Random(42)
    lat: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                path = BY_ID % rnd.randrange(n) if kind == "id" else QUERY % rnd.randint(400, 495)
                t0 = time.perf_counter()
                r = await client.get(path)
                lat.append(time.perf_counter() - t0)
                errors += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conns)))
        took = time.perf_counter() - start
    lat.sort()
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2)  # noqa: E731
    return {
        "requests": len(lat),
        "seconds": round(took, 2),
        "non2xx": errors,
        "reads_per_s": round(len(lat) / took),
        "p50_ms": pick(0.5),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
    }


def run(url: str, n: int, seconds: int, conns: int) -> dict[str, Any]:
    """Load, serve, measure both read kinds."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        db = url if url != "sqlite" else f"sqlite:///{data}/citybrain.db"
        data.mkdir()
        t0 = time.perf_counter()
        token = prepare(db, data, n)
        load_s = time.perf_counter() - t0
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
        env |= {"CITYBRAIN_DB": db, "CITYBRAIN_QUALITY_INTERVAL_S": "3600"}
        server = subprocess.Popen(
            [sys.executable, "-m", "citybrain.cli", "serve", "--data-dir", str(data),
             "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(base + "/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            out: dict[str, Any] = {
                "backend": "sqlite" if url == "sqlite" else "postgresql",
                "entities": n,
                "load_s": round(load_s, 1),
                "client": "wrk" if shutil.which("wrk") else "httpx",
            }
            for kind in ("id", "query"):
                if shutil.which("wrk"):
                    out[kind] = with_wrk(base, kind, n, token, seconds, conns)
                else:
                    out[kind] = asyncio.run(_client(base, kind, n, token, seconds, conns))
            return out
        finally:
            server.terminate()
            server.wait(30)


def main() -> None:
    """Run and print JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--pg", default=PG_URL, help="PostgreSQL URL, or 'none' to skip")
    args = ap.parse_args()
    results: dict[str, Any] = {
        "benchmark": "hub.entities reads against a running server",
        "note": "one uvicorn worker; client and server share 2 cores; each read is ledgered",
        "runs": [run("sqlite", args.entities, args.seconds, args.connections)],
    }
    if args.pg != "none":
        with database_url(args.pg) as url:
            assert url is not None
            results["runs"].append(run(url, args.entities, args.seconds, args.connections))
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
