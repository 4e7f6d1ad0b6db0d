"""The usable-but-not-visible sandbox: a grouped count/sum/mean query over generated rows,
through the sandbox next to the same SQL run directly in DuckDB in the same process.

Prints one JSON object. Usage: python bench/bench_sandbox.py [--rows 100000] [--repeat 30]
  direct_ms          the compiled exact SQL on a DuckDB connection that already has the table
                     registered (the floor: no parsing, checks, cursor or registration)
  sandbox_ms         run_query: parse + grant checks + cursor + register + SQL + suppression
  sandbox_dp_ms      the same query with dp.epsilon: clamped-sum SQL, budget charge, OpenDP
                     threshold release of the counts and Laplace vectors for the sums
  direct_dp_sql_ms   the clamped-sum SQL the DP path runs, directly
Times are medians over --repeat runs after one warm-up; ratios are sandbox / direct.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import numpy as np
import pyarrow as pa

from citybrain.governance.privacy.sandbox import (
    AggregateQuery,
    MemoryBudget,
    SandboxPolicy,
    run_query,
)
from citybrain.governance.privacy.sandbox_sql import compile_query

DISTRICTS = ["上城区", "下城区", "江干区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区"]


def make_table(rows: int, seed: int = 1) -> pa.Table:
    """``rows`` people over 8 districts x 5 years, with ages and amounts."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id_number": pa.array([f"3301{i:014d}" for i in range(rows)]),
            "district": pa.array(np.array(DISTRICTS)[rng.integers(0, len(DISTRICTS), rows)]),
            "year": pa.array(rng.integers(2020, 2025, rows)),
            "sex": pa.array(np.array(["F", "M"])[rng.integers(0, 2, rows)]),
            "age": pa.array(rng.integers(18, 95, rows)),
            "amount": pa.array(np.round(rng.gamma(2.0, 300.0, rows), 2)),
        }
    )


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()

    table = make_table(args.rows)
    policy = SandboxPolicy(
        groupable={"district", "year", "sex"},
        aggregatable={"age", "amount"},
        bounds={"age": (0, 120), "amount": (0, 5000)},
        min_group=10,
    )
    query = {
        "group_by": ["district", "year"],
        "aggregates": [
            {"fn": "count"},
            {"fn": "sum", "column": "amount"},
            {"fn": "mean", "column": "age"},
        ],
        "where": [{"column": "sex", "op": "=", "value": "F"}],
    }
    dp_query = {**query, "dp": {"epsilon": 1.0}}
    parsed = AggregateQuery.from_dict(query)
    exact_sql = compile_query(parsed)
    dp_sql = compile_query(parsed, clamp={c: policy.bounds[c] for c in ("amount", "age")})

    con = duckdb.connect()
    con.register("data", table)

    def direct() -> None:
        con.execute(exact_sql.sql, list(exact_sql.params)).fetchall()

    def direct_dp() -> None:
        con.execute(dp_sql.sql, list(dp_sql.params)).fetchall()

    budget = MemoryBudget({"bench": 1e9})

    def sandbox() -> None:
        run_query(query, table, policy, dataset_id="bench")

    def sandbox_dp() -> None:
        run_query(dp_query, table, policy, dataset_id="bench", budget=budget)

    direct_ms = median_ms(direct, args.repeat)
    direct_dp_ms = median_ms(direct_dp, args.repeat)
    sandbox_ms = median_ms(sandbox, args.repeat)
    sandbox_dp_ms = median_ms(sandbox_dp, args.repeat)
    result = run_query(dp_query, table, policy, dataset_id="bench", budget=budget)
    out = {
        "rows": args.rows,
        "groups": len(run_query(query, table, policy, dataset_id="bench").rows),
        "groups_released_dp": len(result.rows),
        "dp_release_threshold": result.noise["release_threshold"] if result.noise else None,
        "repeat": args.repeat,
        "direct_ms": direct_ms,
        "sandbox_ms": sandbox_ms,
        "ratio": round(sandbox_ms / direct_ms, 2),
        "direct_dp_sql_ms": direct_dp_ms,
        "sandbox_dp_ms": sandbox_dp_ms,
        "ratio_dp_vs_direct": round(sandbox_dp_ms / direct_ms, 2),
        "ratio_dp_vs_direct_dp_sql": round(sandbox_dp_ms / direct_dp_ms, 2),
        "duckdb": duckdb.__version__,
        "python": platform.python_version(),
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
