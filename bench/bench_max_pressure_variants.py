"""Max-pressure's variants on the RESCO maps: is our baseline as good as the reference's best?

The reference run on SUMO 1.28 (../shared/anchors/README.md) reports the *best* max-pressure
variant per map. This runs our max-pressure over the same kind of family — minimum green ×
decision interval, as ``max-pressure@MIN/EVERY`` — with CityBrain's controller in the same run,
and prints one JSON object: per map every variant's median delay, the best variant and its
ratio to the reference's best, and CityBrain's ratio both to the default max-pressure (10 s /
3 s, the one setting used everywhere) and to the map's best variant (tuned per map, which no
single setting is). Usage:
    python bench/bench_max_pressure_variants.py [--maps grid4x4,arterial4x4,cologne8,ingolstadt1]
        [--min-greens 5,8,10,12,15] [--intervals 1,2,3,5] [--seeds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_traffic import ANCHORS
from citybrain.scenarios.traffic.bench import run_bench
from citybrain.scenarios.traffic.networks import resco_map


def main() -> None:
    """Run the variants and CityBrain on each map and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--maps", default="grid4x4,arterial4x4,cologne8,ingolstadt1")
    parser.add_argument("--min-greens", default="5,8,10,12,15")
    parser.add_argument("--intervals", default="1,2,3,5")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    variants = [
        f"max-pressure@{g}/{i}"
        for g in args.min_greens.split(",")
        for i in args.intervals.split(",")
    ]
    out: dict[str, object] = {"variants": variants, "maps": {}}
    started = time.perf_counter()
    for name in args.maps.split(","):
        result = run_bench(
            resco_map(name),
            ["max-pressure", "citybrain", *variants],
            list(range(1, args.seeds + 1)),
            workers=args.workers,
        )
        median = {c: row["mean_delay"]["median"] for c, row in result["controllers"].items()}
        best = min(variants, key=lambda v: median[v])
        reference = ANCHORS.get(name, {}).get("max_pressure")
        out["maps"][name] = {  # type: ignore[index]
            "sumo_version": result["sumo_version"],
            "median_by_variant": {v: median[v] for v in variants},
            "default": median["max-pressure"],
            "best_variant": best,
            "best": median[best],
            "reference_best": reference,
            "best_to_reference": round(median[best] / reference, 3) if reference else None,
            "default_to_reference": (
                round(median["max-pressure"] / reference, 3) if reference else None
            ),
            "citybrain": median["citybrain"],
            "citybrain_to_default": round(median["citybrain"] / median["max-pressure"], 3),
            "citybrain_to_best": round(median["citybrain"] / median[best], 3),
        }
        print(f"{name} done", file=sys.stderr)
    out["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
