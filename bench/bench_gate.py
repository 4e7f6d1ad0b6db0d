"""Policy decisions through the gate: throughput and latency (p50/p99), next to raw Cedar.

Prints one JSON object. Usage: python bench/bench_gate.py [--db URL] [--n 20000]
Measures, in one process:
  cedar_raw        cedarpy.is_authorized with the same parsed policy set and entities (baseline)
  decide_loaded    the policy engine with per-request entities built from facts (no database)
  gate_decide      Gate.decide: organisation ancestry (cached) + policy refresh check + Cedar
  gate_act_durable Gate.act: decision + ledger append + commit (one durable transaction each)
  concurrent_reads 16 threads of governed reads (an organisation lookup): Gate.act (one commit
                   per read) against Gate.read (read-only session, record made durable through
                   the group committer before the data may leave)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cedarpy

from bench.common import database_url
from citybrain.kernel.config import load_settings
from citybrain.kernel.gate import Resource
from citybrain.kernel.identity.service import Caller
from citybrain.kernel.policy.engine import Principal, ResourceRef, build_entities
from citybrain.kernel.runtime import Runtime
from tests.helpers import make_org


def timed(fn, n: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Call fn(i) n times; return rate and latency percentiles in microseconds."""
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        s = time.perf_counter()
        fn(i)
        lat.append(time.perf_counter() - s)
    wall = time.perf_counter() - t0
    lat.sort()
    return {
        "n": n,
        "per_s": round(n / wall),
        "p50_us": round(lat[n // 2] * 1e6, 1),
        "p99_us": round(lat[int(n * 0.99)] * 1e6, 1),
        "mean_us": round(statistics.fmean(lat) * 1e6, 1),
    }


def concurrent_reads(rt: Runtime, caller: Caller, res: Resource, threads: int, n: int) -> dict:
    """Governed reads/s from ``threads`` threads: per-read commit vs group-committed record."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import select

    from citybrain.kernel.identity.models import Organisation

    def work(mode: str, i: int) -> None:
        with getattr(rt.gate, mode)(caller, "org.read", res, request_id=f"c{mode}{i}") as s:
            s.execute(select(Organisation.name).where(Organisation.code == res.id)).scalar()

    out: dict[str, object] = {"threads": threads, "n": n}
    for mode in ("act", "read"):
        with ThreadPoolExecutor(threads) as pool:
            t0 = time.perf_counter()
            list(pool.map(lambda i, m=mode: work(m, i), range(n)))
            out[f"{mode}_per_s"] = round(n / (time.perf_counter() - t0))
    out["ratio_read_vs_act"] = round(out["read_per_s"] / out["act_per_s"], 2)  # type: ignore[operator]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None)
    ap.add_argument("--n", type=int, default=20000)
    args = ap.parse_args()
    with database_url(args.db) as url:
        run(args, url)


def run(args: argparse.Namespace, url: str | None) -> None:
    """The measurements, on an empty database at ``url`` (SQLite temp file when None)."""
    tmp = Path(tempfile.mkdtemp(prefix="cb-bench-gate-"))
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp, db=url))
    rt.migrate()
    rt.bootstrap()
    district = make_org(rt, 9001, level="district")
    dept = make_org(rt, 9002, parent=district)
    with rt.factory() as s:
        rt.gate.decide(
            s,
            Caller(0, "warm", dept, ("clerk",), ()),
            "org.read",
            Resource("Organisation", dept, district),
        )
    policy_set = rt.policy_engine._policy_set
    callers = [
        Caller(1, "admin", rt.settings.city_code, ("admin",), ()),
        Caller(2, "clerk", dept, ("clerk",), ()),
        Caller(3, "aud", rt.settings.city_code, ("auditor",), ()),
        Caller(4, "svc", dept, ("service",), ()),
    ]
    actions = ["org.read", "user.read", "org.create", "ledger.read"]
    resources = [Resource("Organisation", dept, district), Resource("User", "x", dept)]

    def args_for(i: int) -> tuple[Caller, str, Resource]:
        return callers[i % 4], actions[(i // 4) % 4], resources[(i // 16) % 2]

    chains = {
        dept: (dept, district, rt.settings.city_code),
        district: (district, rt.settings.city_code),
    }
    prebuilt = []
    for i in range(64):
        c, a, r = args_for(i)
        p = Principal(c.name, c.organisation, c.roles)
        ref = ResourceRef(r.type, r.id, chains[r.organisation])
        req = {
            "principal": f'CityBrain::User::"{c.name}"',
            "action": f'CityBrain::Action::"{a}"',
            "resource": f'CityBrain::{r.type}::"{r.id}"',
            "context": {},
        }
        prebuilt.append(
            (p, a, ref, req, cedarpy.Entities.from_json_str(json.dumps(build_entities(p, ref))))
        )

    results: dict[str, object] = {}
    results["cedar_raw"] = timed(
        lambda i: cedarpy.is_authorized(prebuilt[i % 64][3], policy_set, prebuilt[i % 64][4]),
        args.n,
    )
    results["decide_loaded"] = timed(
        lambda i: rt.policy_engine.decide_loaded(*prebuilt[i % 64][:3]), args.n
    )
    with rt.factory() as session:

        def gate_decide(i: int) -> None:
            c, a, r = args_for(i)
            rt.gate.decide(session, c, a, r)

        results["gate_decide"] = timed(gate_decide, args.n)

    def gate_act(i: int) -> None:
        c = callers[0]
        with rt.gate.act(c, "org.read", resources[0], request_id=f"b{i}"):
            pass

    results["gate_act_durable"] = timed(gate_act, min(args.n, 2000))
    results["concurrent_reads"] = concurrent_reads(rt, callers[0], resources[0], 16, 4000)
    allowed = sum(rt.policy_engine.decide_loaded(*prebuilt[i][:3]).allowed for i in range(64))
    out = {
        "benchmark": "gate",
        "db": rt.engine.url.get_backend_name(),
        "policies": len(rt.policy_engine.texts),
        "allowed_fraction": allowed / 64,
        "results": results,
        "overhead_ratio_decide_vs_raw": round(
            results["cedar_raw"]["per_s"] / results["gate_decide"]["per_s"], 2
        ),  # type: ignore[index]
        "goal": {"per_s": 20000, "p99_us": 1000},
    }
    rt.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
