"""Episodes on a small netgenerate grid: safe signal sequences, timing, determinism, and the
metric counting vehicles that never got in."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import pytest

from citybrain.kernel.errors import InvalidInput
from citybrain.scenarios.traffic.bench import run_bench
from citybrain.scenarios.traffic.emergency import EmergencyRun
from citybrain.scenarios.traffic.episode import run_episode, start_sumo, sumo_args
from citybrain.scenarios.traffic.networks import custom_map, resco_map
from citybrain.scenarios.traffic.registry import make_controller
from citybrain.scenarios.traffic.signals import GREEN, Intersection, Movement, transition
from tests.scenarios.traffic.conftest import write_trips

CHOOSERS = ["max-pressure", "citybrain"]


def _program_greens(net: Path, tls: str) -> tuple[set[str], float]:
    """The green states of the network's own program, and its yellow time (read from the XML)."""
    import xml.etree.ElementTree as ET

    logic = next(e for e in ET.parse(net).getroot().iter("tlLogic") if e.get("id") == tls)
    states = [p.get("state", "") for p in logic.iter("phase")]
    greens = {s for s in states if "y" not in s and any(c in GREEN for c in s)}
    yellow = max(float(p.get("duration", 0)) for p in logic.iter("phase") if "y" in p.get("state"))
    return greens, yellow


def assert_safe_sequences(net: Path, trace: dict[str, list[tuple[float, str]]]) -> None:
    """Every state shown is a designed green or the yellow between two; timings respected."""
    for tls, shown in trace.items():
        greens, yellow = _program_greens(net, tls)
        assert len(shown) > 4, "the controller never switched"
        for (t0, state), (t1, nxt) in pairwise(shown):
            if state in greens:
                # a green is left only through the yellow towards another designed green
                assert "y" in nxt, (tls, t0, state, nxt)
                assert t1 - t0 >= 5.0, f"{tls}: green {state} held only {t1 - t0} s"
            else:
                assert "y" in state, f"{tls}: undesigned state {state} at {t0}"
                assert nxt in greens
                assert t1 - t0 >= yellow
                prev = next(s for t, s in reversed(shown) if t < t0 and s in greens)
                assert state == transition(prev, nxt)


@pytest.mark.parametrize("controller", CHOOSERS)
def test_only_designed_greens_with_yellow_between_and_timing_respected(small_map, controller):
    trace: dict[str, list[tuple[float, str]]] = {}
    result = run_episode(small_map, controller, 1, trace=trace)
    assert result.throughput > 200
    assert set(trace) == {"A0", "A1", "B0", "B1"}
    assert_safe_sequences(small_map.net, trace)


@pytest.mark.parametrize("controller", CHOOSERS)
def test_sumo_shows_what_the_driver_records(all_red_map, controller, tmp_path):
    # the driver sets the first phase of a switch only and SUMO runs the yellow and all-red on
    # to the target green by itself: what SUMO shows must be what the driver recorded
    sim = start_sumo(sumo_args(all_red_map, 1, tmp_path / "tripinfo.xml", []))
    trace: dict[str, list[tuple[float, str]]] = {}
    try:
        ctrl = make_controller(controller)
        ctrl.attach(sim, trace=trace)
        assert {d.inter.all_red_s for d in ctrl.drivers} == {2.0}
        now = sim.simulation.getTime()
        while now < all_red_map.end:
            ctrl.step(now)
            sim.simulationStep()
            for tls, shown in trace.items():
                expected = [state for t, state in shown if t <= now][-1]
                assert sim.trafficlight.getRedYellowGreenState(tls) == expected, (tls, now)
            now = sim.simulation.getTime()
    finally:
        sim.close()
    states = [state for shown in trace.values() for _, state in shown]
    assert any(all(c in "rs" for c in state) for state in states)  # all-reds were shown
    assert_safe_sequences_with_all_red(trace)


def assert_safe_sequences_with_all_red(trace: dict[str, list[tuple[float, str]]]) -> None:
    """Every switch goes green → yellow (3 s) → all-red (2 s) → another green."""
    for shown in trace.values():
        for (t0, state), (t1, nxt) in pairwise(shown):
            if "y" in state:
                assert all(c in "rs" for c in nxt) and t1 - t0 >= 3.0
            elif all(c in "rs" for c in state):
                assert any(c in GREEN for c in nxt) and t1 - t0 >= 2.0
            else:
                assert "y" in nxt


def test_a_max_pressure_variant_holds_its_own_minimum_green(small_map):
    trace: dict[str, list[tuple[float, str]]] = {}
    result = run_episode(small_map, "max-pressure@12/2", 1, trace=trace)
    assert result.controller == "max-pressure@12/2"
    assert_safe_sequences(small_map.net, trace)
    held = [
        t1 - t0
        for shown in trace.values()
        for (t0, state), (t1, _) in pairwise(shown)
        if "y" not in state
    ]
    assert held and min(held) >= 12.0
    default = run_episode(small_map, "max-pressure", 1)
    assert (result.mean_delay, result.throughput) != (default.mean_delay, default.throughput)


def test_a_variant_cannot_decide_faster_than_the_simulation_steps():
    with pytest.raises(InvalidInput, match="least is 1 s") as caught:
        make_controller("max-pressure@5/0.5")
    assert caught.value.field == "controllers"


@pytest.mark.parametrize("controller", CHOOSERS)
def test_ambulance_green_wave_is_safe_and_faster(small_map, controller):
    without = run_episode(small_map, controller, 1, emergency=EmergencyRun(priority=False))
    trace: dict[str, list[tuple[float, str]]] = {}
    with_ = run_episode(
        small_map, controller, 1, emergency=EmergencyRun(priority=True), trace=trace
    )
    before, after = without.extra["emergency"], with_.extra["emergency"]
    assert before["preempted_signals"] == 0
    assert after["arrived"] and after["preempted_signals"] >= 1
    assert after["travel_time_s"] <= before["travel_time_s"]
    assert after["time_loss_s"] < before["time_loss_s"]
    assert_safe_sequences(small_map.net, trace)  # pre-emption keeps yellow and minimum green
    # the ambulance is reported apart: everyone else's count is unchanged
    assert with_.vehicles == without.vehicles == 300


def test_priority_needs_a_controller_that_switches(small_map):
    with pytest.raises(InvalidInput, match="emergency"):
        run_episode(small_map, "fixed", 1, emergency=EmergencyRun(priority=True))


def test_a_movement_is_protected_by_any_priority_green_on_its_links():
    # one movement over links 0-1; phase by phase its links are GG, Gg, gg, gr
    inter = Intersection(
        tls_id="x",
        program="0",
        greens=["GG", "Gg", "gg", "gr"],
        movements=[Movement("in_0", "out_0", (0, 1))],
        green_movements=[[0], [0], [0], [0]],
        yellow_s=3.0,
        all_red_s=0.0,
        min_green_s=5.0,
    )
    assert [inter.protects(0, p) for p in range(4)] == [True, True, False, False]


def test_transition_keeps_common_greens_and_yellows_the_rest():
    assert transition("GGrr", "GrGr") == "Gyrr"
    assert transition("GGrr", "GrGr", all_red=True) == "Grrr"
    assert transition("gsrG", "rsGG") == "ysrG"


@pytest.mark.parametrize("controller", ["fixed", *CHOOSERS])
def test_same_seed_same_episode(small_map, controller):
    first = run_episode(small_map, controller, 3)
    again = run_episode(small_map, controller, 3)
    assert first.mean_delay == again.mean_delay
    assert (first.throughput, first.unfinished) == (again.throughput, again.unfinished)


def test_seeds_change_the_episode(small_map):
    delays = {round(run_episode(small_map, "fixed", seed).mean_delay, 6) for seed in (1, 2, 3)}
    assert len(delays) > 1


def test_pressure_beats_fixed_time_on_a_busy_grid(small_map):
    fixed = run_episode(small_map, "fixed", 1).mean_delay
    pressure = run_episode(small_map, "max-pressure", 1).mean_delay
    assert pressure < fixed


def test_actuated_runs_the_networks_phases(small_map):
    result = run_episode(small_map, "actuated", 1)
    assert result.controller == "actuated"
    assert result.throughput > 200


def test_vehicles_that_never_got_in_are_counted(small_net, tmp_path):
    # 400 vehicles asked to enter within one minute cannot all get in before the end
    routes = write_trips(tmp_path / "burst.rou.xml", count=400, span=60)
    burst = custom_map(small_net, [routes], end=120)
    result = run_episode(burst, "fixed", 1)
    assert result.never_departed > 0
    assert result.vehicles == 400
    # each of them waited at least (end − latest planned departure) = 60 s
    assert result.mean_delay * result.vehicles >= 60 * result.never_departed


def test_bad_files_are_one_line_errors(small_net, tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        custom_map(tmp_path / "missing.net.xml", [tmp_path / "r.rou.xml"])
    broken = tmp_path / "broken.net.xml"
    broken.write_text("<net><edge id='a'>", "utf-8")
    with pytest.raises(InvalidInput, match="not well-formed"):
        custom_map(broken, [tmp_path / "r.rou.xml"])
    routes = tmp_path / "routes.xml"
    routes.write_text("<additional/>", "utf-8")
    with pytest.raises(InvalidInput, match="expected <routes>"):
        custom_map(small_net, [routes])
    unknown = tmp_path / "unknown.rou.xml"
    unknown.write_text('<routes><trip id="x" depart="0" from="nowhere" to="A0left0"/></routes>')
    with pytest.raises(InvalidInput, match="SUMO could not load") as err:
        run_episode(custom_map(small_net, [unknown], end=10), "fixed", 1)
    assert "\n" not in str(err.value)
    with pytest.raises(InvalidInput, match="unknown RESCO map"):
        resco_map("atlantis")


def test_the_bench_runs_every_episode_in_a_fresh_process(small_map):
    # SUMO keeps state between runs in one process; an episode must not depend on what ran
    # before it, so no worker runs two (one worker included)
    short = custom_map(small_map.net, list(small_map.routes), end=120)
    for workers in (1, 2):
        seen: list[dict[str, object]] = []
        result = run_bench(
            short,
            ["fixed", "citybrain"],
            [1, 2],
            workers=workers,
            progress=lambda r, _, seen=seen: seen.append(r),
        )
        assert len(seen) == 4
        assert len({r["process"] for r in seen}) == 4
        assert os.getpid() not in {r["process"] for r in seen}
        assert len(result["controllers"]["citybrain"]["mean_delay"]["per_seed"]) == 2
