"""CityBrain's pressures, computed with every shortcut (empty edges, lazy outgoing reads), equal
the same quantities read lane by lane, the plain way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from citybrain.scenarios.traffic.citybrain_control import CityBrainControl
from citybrain.scenarios.traffic.episode import start_sumo, sumo_args
from citybrain.scenarios.traffic.networks import TrafficMap, resco_map


def plain_pressures(ctrl: CityBrainControl, k: int) -> list[float]:
    """The controller's pressure definition, every lane read directly."""
    sim, inter = ctrl.sim, ctrl.intersections[k]
    halting, count, length, waiting = (
        sim.lane.getLastStepHaltingNumber,
        sim.lane.getLastStepVehicleNumber,
        sim.lane.getLength,
        sim.lane.getWaitingTime,
    )
    result = []
    for p, movements in enumerate(inter.green_movements):
        total = 0.0
        for m in movements:
            i, o = inter.movement_lanes[m]
            approach, out = inter.approach_lanes[i], inter.out_lanes[o]
            lane = approach[0]
            queue = sum(halting(x) for x in approach)
            waited = sum(waiting(x) for x in approach if halting(x)) / ctrl.wait_unit_s
            moving = count(lane) - halting(lane)
            weight = ctrl.approach_weight * min(1.0, ctrl.approach_range_m / max(length(lane), 1))
            entry = ctrl.entry_factor if ctrl.boundary.intersection(approach) else 1.0
            storage = ctrl.spillback_share * length(out) / ctrl.vehicle_space_m
            yields = not any(inter.greens[p][x] == "G" for x in inter.movements[m].links)
            share = ctrl.permissive_weight if yields else 1.0
            if halting(out) < storage:
                total += (queue + waited + weight * moving) * entry * share
        result.append(total)
    return result


def _compare(traffic_map: TrafficMap, steps: int, tmp_path: Path) -> dict[str, Any]:
    sim = start_sumo(sumo_args(traffic_map, 1, tmp_path / "tripinfo.xml", []))
    seen = {"decisions": 0, "busy": 0}
    try:
        ctrl = CityBrainControl()
        ctrl.attach(sim)
        choose = ctrl.choose

        def checked(k: int, now: float) -> int:
            fast = ctrl.pressures(k)
            assert fast == pytest.approx(plain_pressures(ctrl, k), abs=1e-9), (k, now)
            seen["decisions"] += 1
            seen["busy"] += any(fast)
            return choose(k, now)

        ctrl.choose = checked  # type: ignore[method-assign]
        now = sim.simulation.getTime()
        for _ in range(steps):
            ctrl.step(now)
            sim.simulationStep()
            now = sim.simulation.getTime()
    finally:
        sim.close()
    return seen


def test_pressures_equal_the_plain_definition_on_the_small_grid(small_map, tmp_path):
    seen = _compare(small_map, 600, tmp_path)
    assert seen["busy"] > 100


@pytest.mark.parametrize("name", ["cologne8", "arterial4x4"])
def test_pressures_equal_the_plain_definition_on_resco_maps(name, tmp_path):
    # cologne8: approach lanes fed by lanes further upstream, edges of several lanes;
    # arterial4x4 (oversaturated): outgoing lanes spilled back
    seen = _compare(resco_map(name), 900, tmp_path)
    assert seen["busy"] > 100


def test_sumo_lists_a_lanes_vehicles_from_the_back(small_map, tmp_path):
    # CityBrainControl.arriving reads them from the stop line back and stops early
    sim = start_sumo(sumo_args(small_map, 1, tmp_path / "tripinfo.xml", []))
    checked = 0
    try:
        for _ in range(400):
            sim.simulationStep()
            for lane in sim.lane.getIDList():
                vehicles = sim.lane.getLastStepVehicleIDs(lane)
                if len(vehicles) > 1:
                    at = [sim.vehicle.getLanePosition(v) for v in vehicles]
                    assert at == sorted(at), (lane, vehicles, at)
                    checked += 1
    finally:
        sim.close()
    assert checked > 1000


def test_arriving_reads_from_the_stop_line_back_and_stops_early(small_map, tmp_path):
    ctrl = CityBrainControl()
    sim = start_sumo(sumo_args(small_map, 1, tmp_path / "tripinfo.xml", []))
    try:
        ctrl.attach(sim)
    finally:
        sim.close()
    # one lane, stop line at 100 m, nobody behind 50 m can arrive within the gap
    state = {"far": (10.0, 20.0), "slow": (40.0, 5.0), "near": (95.0, 8.0), "halted": (99.0, 0.0)}
    read: list[str] = []
    ctrl._lane_vehicles = lambda lane: tuple(order)
    ctrl._position = lambda v: state[v][0]
    ctrl._speed = lambda v: read.append(v) or state[v][1]
    lanes = [("L", 100.0, 50.0)]
    order = ["far", "slow", "near", "halted"]
    assert ctrl.arriving(lanes)  # "near" is 5 m away at 8 m/s
    assert read == ["halted", "near"]
    read.clear()
    order = ["far", "slow", "halted"]
    assert not ctrl.arriving(lanes)  # "slow" needs 12 s and sits behind 50 m: stop there
    assert read == ["halted", "slow"]
