"""The traffic bench: every controller × seed on one map, in parallel worker processes.

libsumo holds one simulation per process, so each episode runs in a worker process of its own
(``spawn``, so that nothing of the parent — threads, database connections — is inherited), a
fresh one per episode: SUMO keeps state from one run to the next in a process, and an episode
could come out differently after another one had run there, which would break "the same seed
gives the same episode". The result is the
JSON the issue asks for: per controller the median, quartiles and per-seed mean delays, plus
throughput, never-departed vehicles and wall time.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from citybrain.scenarios.traffic.controllers import PhaseChooser
from citybrain.scenarios.traffic.networks import TrafficMap, sumo_version
from citybrain.scenarios.traffic.registry import make_controller

Job = tuple[dict[str, Any], str, int, bool | None]  # map, controller, seed, emergency priority


def _map_from(data: dict[str, Any]) -> TrafficMap:
    return TrafficMap(
        data["name"],
        Path(data["net"]),
        tuple(Path(r) for r in data["routes"]),
        float(data["begin"]),
        float(data["end"]),
    )


def run_job(job: Job) -> dict[str, Any]:
    """Run one (map, controller, seed) episode; the unit of work of every executor."""
    from citybrain.scenarios.traffic.emergency import EmergencyRun
    from citybrain.scenarios.traffic.episode import run_episode

    traffic_map, controller, seed, priority = job
    emergency = None if priority is None else EmergencyRun(priority=priority)
    result = run_episode(_map_from(traffic_map), controller, seed, emergency=emergency).to_dict()
    return result | {"process": os.getpid()}


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(q1, median, q3) with the inclusive method; one value gives itself three times."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def summarise(traffic_map: TrafficMap, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The bench JSON: one entry per controller, seeds in order."""
    controllers: dict[str, Any] = {}
    plain = [r for r in results if "emergency" not in r["extra"]]
    for name in dict.fromkeys(r["controller"] for r in plain):
        runs = sorted((r for r in plain if r["controller"] == name), key=lambda r: r["seed"])
        delays = [r["mean_delay"] for r in runs]
        q1, median, q3 = quartiles(delays)
        sim_s = sum(r["sim_s"] for r in runs)
        controllers[name] = {
            "mean_delay": {
                "median": round(median, 2),
                "q1": round(q1, 2),
                "q3": round(q3, 2),
                "per_seed": [round(d, 2) for d in delays],
            },
            "seeds": [r["seed"] for r in runs],
            "vehicles": statistics.median(r["vehicles"] for r in runs),
            "throughput": statistics.median(r["throughput"] for r in runs),
            "never_departed": statistics.median(r["never_departed"] for r in runs),
            "unfinished": statistics.median(r["unfinished"] for r in runs),
            "wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
            "decision_share": round(sum(r["decide_s"] for r in runs) / sim_s, 3) if sim_s else 0,
        }
        emergency = _emergency_summary([r for r in results if r["controller"] == name])
        if emergency:
            controllers[name]["emergency"] = emergency
    return {
        "map": traffic_map.name,
        "sumo_version": sumo_version(),
        "episode": {"begin": traffic_map.begin, "end": traffic_map.end},
        "controllers": controllers,
    }


def _emergency_summary(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Emergency vehicle travel time and everyone else's delay, without and with priority."""
    pairs: dict[int, dict[bool, dict[str, Any]]] = {}
    for r in runs:
        if "emergency" in r["extra"]:
            pairs.setdefault(r["seed"], {})[r["extra"]["emergency"]["priority"]] = r
    pairs = {seed: p for seed, p in pairs.items() if len(p) == 2}
    if not pairs:
        return None

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 2)

    travel = {
        flag: [p[flag]["extra"]["emergency"]["travel_time_s"] for p in pairs.values()]
        for flag in (False, True)
    }
    others = {flag: [p[flag]["mean_delay"] for p in pairs.values()] for flag in (False, True)}
    return {
        "seeds": sorted(pairs),
        "travel_time_s": {"without": med(travel[False]), "with": med(travel[True])},
        "time_saved_s": med([a - b for a, b in zip(travel[False], travel[True], strict=True)]),
        "arrived_with_priority": sum(
            p[True]["extra"]["emergency"]["arrived"] for p in pairs.values()
        ),
        "preempted_signals": med(
            [p[True]["extra"]["emergency"]["preempted_signals"] for p in pairs.values()]
        ),
        "others_mean_delay_s": {"without": med(others[False]), "with": med(others[True])},
        "others_delay_change_pct": med(
            [100 * (b - a) / a for a, b in zip(others[False], others[True], strict=True) if a]
        ),
    }


def run_bench(
    traffic_map: TrafficMap,
    controllers: Sequence[str],
    seeds: Sequence[int],
    *,
    workers: int = 2,
    emergency: bool = False,
    ray_address: str | None = None,
    progress: Callable[[dict[str, Any], int], None] | None = None,
) -> dict[str, Any]:
    """Every controller with every seed on ``traffic_map``; returns the bench JSON.

    ``progress`` is called with each episode's result and the number of episodes in all.
    """
    switching = []
    for name in controllers:  # unknown names fail here, before any process starts
        if isinstance(make_controller(name), PhaseChooser):
            switching.append(name)
    data = traffic_map.to_dict()
    jobs: list[Job] = [(data, c, s, None) for c in controllers for s in seeds]
    if emergency:  # each controller that switches phases: an ambulance without and with priority
        jobs += [(data, c, s, flag) for c in switching for s in seeds for flag in (False, True)]
    report = (lambda result: progress(result, len(jobs))) if progress else None
    if ray_address:
        results = _run_on_ray(jobs, ray_address, report)
    else:
        # every episode in a fresh process: SUMO keeps state between runs in one process, and
        # an episode could come out differently after another one ran there (seen on cologne1)
        results = []
        with ProcessPoolExecutor(
            max_workers=max(workers, 1), mp_context=get_context("spawn"), max_tasks_per_child=1
        ) as pool:
            for result in pool.map(run_job, jobs):
                results.append(result)
                if report:
                    report(result)
    return summarise(traffic_map, results)


def _run_on_ray(
    jobs: list[Job], address: str, progress: Callable[[dict[str, Any]], None] | None
) -> list[dict[str, Any]]:
    """The same jobs as Ray tasks on an existing cluster (``pip install citybrain[ray]``)."""
    from citybrain.kernel.errors import InvalidInput

    try:
        import ray
    except ImportError:
        raise InvalidInput("ray: --ray needs the ray package (extra 'ray')", field="ray") from None
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(run_job)
    pending = [remote.remote(job) for job in jobs]
    results = []
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        results.append(ray.get(done[0]))
        if progress:
            progress(results[-1])
    return results
