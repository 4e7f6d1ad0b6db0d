"""`--ray`: the bench's jobs on a local Ray instance give the same figures as worker processes.
Runs when Ray is installed (extra ``ray``); Ray is not a service this machine starts."""

from __future__ import annotations

import pytest

from citybrain.scenarios.traffic.bench import run_bench

ray = pytest.importorskip("ray")


def test_ray_runs_the_same_jobs_as_processes(small_map):
    try:
        on_ray = run_bench(small_map, ["fixed", "citybrain"], [1, 2], ray_address="local")
    finally:
        ray.shutdown()
    local = run_bench(small_map, ["fixed", "citybrain"], [1, 2], workers=2)
    for name in ("fixed", "citybrain"):
        assert (
            on_ray["controllers"][name]["mean_delay"]["per_seed"]
            == local["controllers"][name]["mean_delay"]["per_seed"]
        )
