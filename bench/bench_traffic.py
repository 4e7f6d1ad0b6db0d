"""Traffic signal control on RESCO maps: every controller × seed, side by side in one run.

Prints one JSON object: per map the bench JSON of ``citybrain traffic bench`` plus, per
controller, its ratio to max-pressure of the same run and the published / reference anchors, and
for the controllers that switch phases an ambulance's travel time without and with priority.
Usage:
    python bench/bench_traffic.py [--maps grid4x4,arterial4x4,cologne8,ingolstadt1]
        [--controllers fixed,actuated,max-pressure,citybrain] [--seeds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from citybrain.scenarios.traffic.bench import run_bench
from citybrain.scenarios.traffic.networks import resco_map

# ../shared/anchors/README.md: SUMO 1.28 reference (fixed, best max-pressure) and the best
# published RESCO result (SUMO 1.9.1).
ANCHORS = {
    "grid4x4": {"fixed": 91.25, "max_pressure": 50.29, "best_published": 32.95},
    "arterial4x4": {"fixed": 1468.94, "max_pressure": 775.58, "best_published": 654.13},
    "cologne8": {"fixed": 49.18, "max_pressure": 23.41, "best_published": 21.62},
    "ingolstadt1": {"fixed": 30.38, "max_pressure": 14.95, "best_published": 20.90},
}


def main() -> None:
    """Run the bench and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--maps", default="grid4x4,arterial4x4,cologne8,ingolstadt1")
    parser.add_argument("--controllers", default="fixed,actuated,max-pressure,citybrain")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-emergency", action="store_true", help="skip the ambulance runs")
    args = parser.parse_args()
    controllers = args.controllers.split(",")
    out: dict[str, object] = {"machine": platform.machine(), "cpus": os.cpu_count(), "maps": {}}
    started = time.perf_counter()
    for name in args.maps.split(","):
        result = run_bench(
            resco_map(name),
            controllers,
            list(range(1, args.seeds + 1)),
            workers=args.workers,
            emergency=not args.no_emergency,
        )
        rows = result["controllers"]
        mp = rows.get("max-pressure", {}).get("mean_delay", {}).get("median")
        for row in rows.values():
            if mp:
                row["ratio_to_max_pressure"] = round(row["mean_delay"]["median"] / mp, 3)
        result["anchors"] = ANCHORS.get(name, {})
        out["maps"][name] = result  # type: ignore[index]
        print(f"{name} done", file=sys.stderr)
    out["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
